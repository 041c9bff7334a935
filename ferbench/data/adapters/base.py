"""The file-backed adapter base (:class:`FileAdapter`, :class:`Index`), cheap file
fingerprints, folder walking and the small file/CSV helpers the built-in adapters share."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ferbench.data.decode import IMAGE_EXTS, Record, RecordSet, _label_index
from ferbench.data.splits import (
    SPLITS,
    canonical_split,
)
from ferbench.errors import DataError
from ferbench.labels import CANONICAL, INDEX, canonical


def _label_lines(label_file: Path):
    """Yield ``(where, line, parts)`` for the non-blank lines of a whitespace-separated label
    file (RAF-DB, ExpW); ``where`` is ``file:line`` for error messages."""
    try:
        with open(label_file, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                parts = line.split()
                if parts:
                    yield f"{label_file}:{line_no}", line, parts
    except UnicodeDecodeError as e:
        raise DataError(_not_text(label_file, e)) from None


def _not_text(path: Path, e: UnicodeDecodeError) -> str:
    """One line for a file that should be text but is not UTF-8 (an archive, an image)."""
    return (f"{path} is not a UTF-8 text file (byte {e.start} is 0x{e.object[e.start]:02x}); "
            f"is it an archive or an image?")


from ferbench.identity import file_sha256  # noqa: E402 - re-exported: the one file hasher


def stat_fingerprint(root: Path, paths: Iterable[Path], hashed: Iterable[Path] = ()) -> str:
    """sha256 over sorted (relative path, size, mtime_ns) of ``paths`` and the sha256 of each
    file in ``hashed`` (index files such as CSVs). Missing files count as size -1."""
    rows = []
    for p in paths:
        try:
            st = os.stat(p)
            rows.append(f"{_rel(p, root)}\t{st.st_size}\t{st.st_mtime_ns}")
        except OSError:
            rows.append(f"{_rel(p, root)}\t-1\t-1")
    rows.sort()
    h = hashlib.sha256()
    for p in sorted(hashed, key=lambda p: _rel(p, root)):
        h.update(f"{_rel(p, root)}\t{file_sha256(p)}\n".encode())
    h.update("\n".join(rows).encode())
    return h.hexdigest()


def _rel(p, root) -> str:
    """``p`` relative to ``root`` with ``/`` separators (string ops: pathlib is slow here)."""
    p, r = os.fspath(p), os.fspath(root).rstrip(os.sep)
    if p.startswith(r + os.sep):
        return p[len(r) + 1:].replace(os.sep, "/")
    try:
        return Path(p).relative_to(r).as_posix()
    except ValueError:
        return Path(p).as_posix()


def walk_images(folder) -> list[str]:
    """Image files under ``folder`` (recursive, hidden entries ignored), sorted, as strings."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.fspath(folder)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            if not fn.startswith(".") and os.path.splitext(fn)[1].lower() in IMAGE_EXTS:
                out.append(os.path.join(dirpath, fn))
    out.sort()
    return out


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _existing(root, dataset: str) -> Path:
    if root is None:
        raise DataError(f"dataset '{dataset}' needs root=<path to its files>")
    p = Path(root).expanduser()
    if not p.exists():
        raise DataError(f"{dataset}: root not found: {p}")
    return p


def _need_file(path: Path, dataset: str, what: str = "") -> Path:
    if not path.is_file():
        extra = f" ({what})" if what else ""
        raise DataError(f"{dataset}: expected file not found: {path}{extra}")
    return path


def _read_csv(path: Path, dataset: str, *, delimiter: str = ",", bad: list | None = None):
    """Yield (line number, row dict) with stripped header names; the header must exist.

    A row with the wrong number of fields is a DataError, or, when ``bad`` is a list, appended
    to it as ``(line, message)`` and skipped (so a caller can report every bad row at once).
    A file that is not UTF-8 text (an archive, an image) is a one-line DataError naming it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise DataError(f"{dataset}: {path} is empty") from None
            yield 1, header
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    msg = f"{len(row)} fields, header has {len(header)}"
                    if bad is None:
                        raise DataError(f"{dataset}: {path}:{reader.line_num}: {msg}")
                    bad.append((reader.line_num, msg))
                    continue
                yield reader.line_num, dict(zip(header, row))
    except UnicodeDecodeError as e:
        raise DataError(f"{dataset}: {_not_text(path, e)}") from None
    except csv.Error as e:  # e.g. "line contains NUL": a binary file that happens to be UTF-8
        raise DataError(f"{dataset}: {path} is not a readable CSV ({e})") from None


def _require_columns(header: list[str], needed: Iterable[str], path: Path, dataset: str) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataError(f"{dataset}: {path} lacks column(s) {', '.join(missing)} "
                        f"(has {', '.join(header)})")


# --------------------------------------------------------------------------------------------
# Adapter base
# --------------------------------------------------------------------------------------------

@dataclass
class Index:
    """Every record of a dataset with its split, as an adapter sees it."""

    entries: list[tuple[Record, str]]
    classes: tuple[str, ...]
    root: Path
    au_names: tuple[str, ...] = ()


class FileAdapter:
    """Base for adapters that read files under a user-given root.

    Subclasses set the class attributes and implement ``locate(root) -> Path`` (validate and
    normalise the root), ``index(root, seed) -> Index`` and ``source_files(root) -> (stat
    paths, hashed paths)``; ``records`` and ``fingerprint`` follow.
    """

    name: str = ""
    version: str = "1"
    classes: tuple[str, ...] = ()
    needs_root: bool = True
    description: str = ""
    license: str = ""
    splits: tuple[str, ...] = SPLITS
    seeded: bool = False  # True if `seed` can change which files land in which split

    @property
    def options(self) -> dict:
        """Constructor options that change the output (part of the cache key)."""
        return {}

    def locate(self, root) -> Path:
        return _existing(root, self.name)

    def index(self, root: Path, seed: int) -> Index:  # pragma: no cover - abstract
        raise NotImplementedError

    def source_files(self, root: Path) -> tuple[list[Path], list[Path]]:  # pragma: no cover
        raise NotImplementedError

    def fingerprint(self, root, split: str) -> str:
        root = self.locate(root)
        stat_paths, hashed = self.source_files(root)
        return stat_fingerprint(root, stat_paths, hashed)

    def records(self, root, split: str, seed: int = 0) -> RecordSet:
        split = canonical_split(split)
        root = self.locate(root)
        idx = self.index(root, seed)
        recs = [r for r, s in idx.entries if s == split]
        if not recs:
            raise DataError(f"{self.name}: no images for split '{split}' under {root}")
        bad = {CANONICAL[_label_index(r.label, r.id)] for r in recs} - set(idx.classes)
        if bad:
            raise DataError(f"{self.name}: labels {sorted(bad)} not among classes {idx.classes}")
        return RecordSet(records=recs, classes=idx.classes, root=idx.root,
                         au_names=idx.au_names)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} v{self.version}>"


def _classes_of(entries: list[tuple[Record, str]]) -> tuple[str, ...]:
    found = {CANONICAL[_label_index(r.label, r.id)] for r, _ in entries}
    return tuple(c for c in CANONICAL if c in found)


def _class_folder_entries(root: Path, folder: Path, split: str | None,
                          allowed: tuple[str, ...] | None, dataset: str
                          ) -> list[tuple[Record, str | None]]:
    out = []
    for cdir in _subdirs(folder):
        cname = canonical(cdir.name, where=f"folder {cdir}")
        if allowed and cname not in allowed:
            raise DataError(f"{dataset}: class folder {cdir} ({cname}) is not one of "
                            f"{', '.join(allowed)}")
        for p in walk_images(cdir):
            out.append((Record(id=_rel(p, root), label=INDEX[cname], path=p), split))
    return out
