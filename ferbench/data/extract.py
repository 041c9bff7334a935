"""Extract a dataset archive once into a cache folder, and notice when the archive changes.

Why: the FER2013 copy that tests and benchmarks read (``../shared/datasets/fer2013-kaggle.tar.gz``)
was replaced by a different archive with the same name, layout and file count (the old one
had a low-pass-filtered training split). A reuse check that only counts files keeps serving
the stale extraction forever. So the extraction is stamped with the archive's identity, and
reused only while the archive still matches the stamp.

Decisions:

- **Where this lives.** In the package (not in ``tests/`` or ``benchmarks/``) so that the
  tests, the benchmark scripts and a user extracting their own copy all import one helper
  without ``sys.path`` tricks; it is generic (any ``.tar``/``.tar.gz``/``.zip`` archive with
  one top-level folder) and imports nothing heavy.
- **The stamp** is a small JSON file *next to* the extraction
  (``<parent>/.<name>.extract.json``), not inside it, so the extracted folder holds exactly
  the archive's files (adapters and content hashes see nothing extra). It records the
  archive's path, size, mtime (ns) and sha256, plus the number of extracted files.
- **What counts as "the same archive"**: equal sha256 and size. The mtime is recorded for
  the reader but not compared: a re-copied, identical archive need not be re-extracted, and a
  different archive with an unchanged mtime (``cp -p``, ``touch -r``) must not be reused.
  Hashing ~50 MB takes well under a second, against tens of seconds for an extraction.
- **A missing or unreadable stamp means "stale"**: an extraction made before stamps existed
  (or by hand) is replaced, because nothing says which archive it came from.
- **Atomic replacement**: the archive is extracted into a temporary folder beside the target,
  the stamp is written only after the new folder is in place, and the old folder is renamed
  away and deleted only after the new one is complete. An interrupted extraction leaves the
  old folder (and no stamp for it) or a stray temporary folder, never a half-extracted target
  with a valid stamp. Between the two renames the target is briefly absent (POSIX has no
  portable directory exchange). Concurrent callers serialise on a lock file (``fcntl``, where
  available).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ferbench.errors import DataError
from ferbench.identity import file_sha256

STAMP_VERSION = 1


@dataclass(frozen=True)
class Extracted:
    """Result of :func:`extract_cached`: the folder, and whether this call extracted it."""

    path: Path
    extracted: bool
    reason: str  # "reused", "no extraction", "no stamp", "archive changed", ...


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    return file_sha256(path, chunk)


def archive_stamp(archive: Path) -> dict:
    """The identity of ``archive`` as written into the stamp."""
    st = archive.stat()
    return {"version": STAMP_VERSION, "archive": str(archive.resolve()), "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(archive)}


def stamp_path(target: Path) -> Path:
    return target.parent / f".{target.name}.extract.json"


def read_stamp(target: Path) -> dict | None:
    try:
        data = json.loads(stamp_path(target).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _stale_reason(target: Path, current: dict) -> str | None:
    if not target.is_dir():
        return "no extraction"
    stamp = read_stamp(target)
    if stamp is None:
        return "no stamp"
    if stamp.get("version") != STAMP_VERSION:
        return "old stamp format"
    if stamp.get("sha256") != current["sha256"] or stamp.get("size") != current["size"]:
        return "archive changed"
    return None


def _extract_all(archive: Path, dest: Path) -> None:
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(dest)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"{archive}: cannot extract ({type(e).__name__}: {e})") from e


@contextlib.contextmanager
def _lock(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def extract_cached(archive: str | os.PathLike, parent: str | os.PathLike,
                   member: str) -> Extracted:
    """Make ``<parent>/<member>`` an extraction of ``archive``'s top-level folder ``member``.

    Reused as is when the stamp next to it matches the archive (sha256 and size); otherwise
    extracted afresh into a temporary folder in ``parent`` and swapped in (see the module
    docstring). Raises :class:`DataError` when the archive is missing, cannot be read, or has
    no top-level ``member`` folder.
    """
    archive, parent = Path(archive), Path(parent)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    target = parent / member
    parent.mkdir(parents=True, exist_ok=True)
    with _lock(parent / f".{member}.extract.lock"):
        current = archive_stamp(archive)
        reason = _stale_reason(target, current)
        if reason is None:
            return Extracted(target, False, "reused")
        tmp = Path(tempfile.mkdtemp(prefix=f".{member}.new-", dir=parent))
        try:
            _extract_all(archive, tmp)
            new = tmp / member
            if not new.is_dir():
                raise DataError(f"{archive}: no top-level folder '{member}' in the archive")
            stamp_path(target).unlink(missing_ok=True)  # no valid stamp while swapping
            old = None
            if target.exists():
                old = parent / f".{member}.old-{os.getpid()}"
                os.rename(target, old)
            os.rename(new, target)
            current["n_files"] = _count_files(target)
            sp = stamp_path(target)
            sp_tmp = sp.with_suffix(f".tmp-{os.getpid()}")
            sp_tmp.write_text(json.dumps(current, indent=1) + "\n")
            os.replace(sp_tmp, sp)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Extracted(target, True, reason)
