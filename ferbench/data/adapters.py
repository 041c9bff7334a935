"""Dataset adapters: a dataset's own files -> records -> :class:`~ferbench.data.base.FaceData`.

An adapter knows one dataset's layout and label order. It lists **records** (file or pixel
source, canonical label, optional AUs, optional face box) and assigns each to a canonical split
(``train``/``val``/``test``). :func:`decode_records` turns records into arrays; the prepared
cache (:mod:`ferbench.data.cache`) calls it once per (dataset, split, resolution, channels,
seed) and never again. The adapter interface is documented in :mod:`ferbench.data.registry`.

Decoding rules (fixed; :data:`DECODE_VERSION` and :data:`RESAMPLE_NAME` are part of every
prepared-cache key):

- Pixels are read with Pillow and converted to ``'L'`` (channels=1, ITU-R 601-2 luma) or
  ``'RGB'`` (channels=3).
- A face box (ExpW, AffectNet CSV) is grown to a square around its centre (side = the longer
  box side, capped at the shorter image side) and shifted to stay inside the image; it is then
  cropped. An image without a box that is not square is centre-cropped to a square.
- The square is resized to ``resolution x resolution`` with :data:`RESAMPLE` (Pillow BICUBIC,
  which Pillow antialiases when downscaling). Images already at that size are not resampled.
- Files that cannot be decoded (corrupt, truncated, missing, wrong pixel count) are **skipped**:
  one :class:`SkippedFilesWarning` per load names them (the first few, plus a count). If every
  record of a split fails, that is a :class:`~ferbench.errors.DataError`.

Split rules:

- Official splits are used where a dataset has them (FER2013 Training/PublicTest/PrivateTest,
  FER+ the same, RAF-DB train/test, AffectNet train/val).
- **AffectNet's official validation set serves as ``test``** (its test set is not public).
- Where no validation split exists (RAF-DB, AffectNet, an image folder or manifest with only
  train/test), ``val`` is carved from ``train``: a seeded, per-class stratified
  :data:`VAL_FRACTION` (10 %) of the official training files; ``train`` is the rest.
- Where no split exists at all (image folder of classes, manifest without a ``split`` column,
  CK+, KDEF, ExpW) a seeded split of :data:`SPLIT_FRACTIONS` (80/10/10 train/val/test) is drawn:
  stratified by class, except CK+ (grouped by subject ``S###`` when every file name carries
  one) and KDEF (grouped by identity, e.g. ``F01``) so that no person appears in two splits.
- Seeded splits are deterministic: records are sorted by relative path, then shuffled with
  ``numpy.random.default_rng(seed)``; they do not depend on directory listing order. Each
  class (or the group list) with at least three members gets at least one val and one test item.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ferbench.errors import ConfigError, DataError
from ferbench.labels import BASIC7, CANONICAL, INDEX, canonical

#: The resampling filter used for every resize (recorded in each prepared cache entry's meta).
RESAMPLE = Image.Resampling.BICUBIC
RESAMPLE_NAME = "bicubic"
#: Threads used to decode image files. Measured on FER2013 (2 shared cores): a plain loop
#: decodes 28,709 48x48 JPEGs in ~4 s, two threads in ~5.8 s (GIL contention on tiny images),
#: and for 400x400 JPEGs two threads gained <5 %, so the default is the plain loop.
DECODE_WORKERS = 1
#: File extensions treated as images when walking folders (lower case).
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                        ".pgm", ".ppm"})
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Seeded split used where a dataset has no official one.
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
#: Share of an official training split carved out as ``val`` where no official val exists.
VAL_FRACTION = 0.1
#: Bumped when the decoding rules above change; every adapter's cache key includes it.
DECODE_VERSION = "1"

_SPLIT_ALIASES = {
    "train": "train", "training": "train", "train_set": "train", "trainset": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val", "val_set": "val",
    "test": "test", "testing": "test", "test_set": "test",
}
_MAX_NAMED = 5



def _label_lines(label_file: Path):
    """Yield ``(where, line, parts)`` for the non-blank lines of a whitespace-separated label
    file (RAF-DB, ExpW); ``where`` is ``file:line`` for error messages."""
    with open(label_file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if parts:
                yield f"{label_file}:{line_no}", line, parts

class SkippedFilesWarning(UserWarning):
    """Some files of a data set could not be decoded and were left out."""


def canonical_split(split: str) -> str:
    """``'training'`` -> ``'train'``, ``'validation'`` -> ``'val'``, ... (DataError if unknown)."""
    key = str(split).strip().lower()
    if key not in _SPLIT_ALIASES:
        raise DataError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    return _SPLIT_ALIASES[key]


# --------------------------------------------------------------------------------------------
# Records and decoding
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One face to decode.

    ``id`` is the name stored in ``FaceData.ids`` (a path relative to the dataset root, with
    ``#face<k>`` or ``:<line>`` appended where one file holds several faces). The pixels come
    from ``path`` (an image file) or ``pixels`` (a 2-D uint8 array, or FER2013's
    space-separated pixel string). ``label`` is a canonical index or any class name that
    :func:`ferbench.labels.canonical` accepts. ``box`` is ``(left, top, right, bottom)`` in
    source pixels; ``aus`` are values in the record set's ``au_names`` order.
    """

    id: str
    label: int | str
    path: str | Path | None = None
    pixels: np.ndarray | str | None = None
    box: tuple[float, float, float, float] | None = None
    aus: tuple[float, ...] | None = None


@dataclass
class RecordSet:
    """The records of one split, plus what they share."""

    records: list[Record]
    classes: tuple[str, ...]
    root: Path
    au_names: tuple[str, ...] = ()


@dataclass
class Decoded:
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    aus: np.ndarray | None
    skipped: list[str] = field(default_factory=list)  # "<id> (<reason>)"


def _label_index(label: int | str, where: str) -> int:
    if isinstance(label, str):
        return INDEX[canonical(label, where=where)]
    i = int(label)
    if not 0 <= i < len(CANONICAL):
        raise DataError(f"label {i} in {where} is not a canonical index (0..{len(CANONICAL) - 1})")
    return i


def _square_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = (float(v) for v in box)
    side = min(max(right - left, bottom - top), width, height)
    side = max(int(round(side)), 1)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy - side / 2))
    x0 = min(max(x0, 0), width - side)
    y0 = min(max(y0, 0), height - side)
    return x0, y0, x0 + side, y0 + side


def _pixels_image(pixels) -> Image.Image:
    if isinstance(pixels, str):
        try:
            values = np.array(pixels.split(), dtype=np.int64)
        except ValueError as e:
            raise ValueError("non-numeric pixel values") from e
        side = int(round(len(values) ** 0.5))
        if side * side != len(values) or len(values) == 0:
            raise ValueError(f"{len(values)} pixel values, not a square image")
        if values.min() < 0 or values.max() > 255:
            raise ValueError("pixel values outside 0..255")
        pixels = values.astype(np.uint8).reshape(side, side)
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"pixel array of dtype {arr.dtype}, expected uint8")
    return Image.fromarray(arr)


def decode_one(rec: Record, root: Path, resolution: int, channels: int) -> np.ndarray:
    """Decode one record to ``uint8 (resolution, resolution, channels)``; raises on failure."""
    if rec.pixels is not None:
        im = _pixels_image(rec.pixels)
    else:
        path = rec.path if rec.path is not None else root / rec.id
        with Image.open(path) as f:
            f.load()
            im = f
    mode = "L" if channels == 1 else "RGB"
    if im.mode != mode:
        im = im.convert(mode)
    w, h = im.size
    if rec.box is not None:
        im = im.crop(_square_box(rec.box, w, h))
    elif w != h:
        s = min(w, h)
        x0, y0 = (w - s) // 2, (h - s) // 2
        im = im.crop((x0, y0, x0 + s, y0 + s))
    if im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), RESAMPLE)
    arr = np.asarray(im, dtype=np.uint8)
    if channels == 1:
        arr = arr[:, :, None]
    return arr


def _try_decode(args) -> tuple[np.ndarray | None, str]:
    rec, root, resolution, channels = args
    try:
        return decode_one(rec, root, resolution, channels), ""
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, msg[:80]


def decode_records(rs: RecordSet, resolution: int, channels: int, *,
                   workers: int = DECODE_WORKERS) -> Decoded:
    """Decode every record of ``rs``; undecodable ones are skipped and listed in ``skipped``.

    This is the only place where image files are read (the cache calls it on a miss only).
    """
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, not {channels}")
    if int(resolution) < 1:
        raise ConfigError(f"resolution must be a positive integer, not {resolution}")
    resolution = int(resolution)
    labels = np.array([_label_index(r.label, r.id) for r in rs.records], dtype=np.int64)
    n = len(rs.records)
    images = np.zeros((n, resolution, resolution, channels), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    skipped: list[str] = []
    jobs = ((r, rs.root, resolution, channels) for r in rs.records)
    if workers > 1 and n > 64:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            results: Iterable = ex.map(_try_decode, jobs, chunksize=256)
            results = list(results)
    else:
        results = map(_try_decode, jobs)
    for i, (arr, reason) in enumerate(results):
        if arr is None:
            skipped.append(f"{rs.records[i].id} ({reason})")
        else:
            images[i] = arr
            ok[i] = True
    aus = None
    if rs.au_names:
        aus = np.array([r.aus if r.aus is not None else [np.nan] * len(rs.au_names)
                        for r in rs.records], dtype=np.float32).reshape(n, len(rs.au_names))
        aus = aus[ok]
    ids = np.array([r.id for r in rs.records], dtype=str) if n else np.zeros(0, dtype="<U1")
    return Decoded(images=images[ok], labels=labels[ok], ids=ids[ok], aus=aus, skipped=skipped)


def skipped_message(dataset: str, split: str, skipped: Sequence[str], total: int) -> str:
    shown = ", ".join(skipped[:_MAX_NAMED])
    more = f" and {len(skipped) - _MAX_NAMED} more" if len(skipped) > _MAX_NAMED else ""
    return (f"{dataset}/{split}: skipped {len(skipped)} of {total} file(s) that could not be "
            f"decoded: {shown}{more}")


def warn_skipped(dataset: str, split: str, skipped: Sequence[str], total: int) -> None:
    if skipped:
        warnings.warn(skipped_message(dataset, split, skipped, total), SkippedFilesWarning,
                      stacklevel=3)


# --------------------------------------------------------------------------------------------
# Seeded splits and fingerprints
# --------------------------------------------------------------------------------------------

def _allocate(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Counts per non-train split for ``n`` items (at least one each when ``n`` allows)."""
    others = [s for s in fractions if s != "train" and fractions[s] > 0]
    counts = {}
    for s in others:
        c = int(n * fractions[s] + 0.5)
        if c == 0 and n > len(others):
            c = 1
        counts[s] = c
    while sum(counts.values()) > n:
        counts[max(counts, key=counts.get)] -= 1
    return counts


def seeded_split(keys: Sequence[str], labels: Sequence[int], seed: int,
                 fractions: dict[str, float] | None = None,
                 groups: Sequence[str] | None = None) -> list[str]:
    """Assign each item a split name, deterministically from ``seed``.

    Stratified by ``labels``; if ``groups`` is given, whole groups are assigned instead (a
    person never straddles two splits). Items are ordered by ``keys`` first, so the result
    does not depend on the order in which files were listed.
    """
    fractions = dict(fractions or SPLIT_FRACTIONS)
    out = ["train"] * len(keys)
    rng = np.random.default_rng(seed)
    if groups is not None:
        by_group: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            by_group.setdefault(str(g), []).append(i)
        names = sorted(by_group)
        order = [names[j] for j in rng.permutation(len(names))]
        pos = 0
        for split, c in _allocate(len(order), fractions).items():
            for g in order[pos:pos + c]:
                for i in by_group[g]:
                    out[i] = split
            pos += c
        return out
    by_label: dict[int, list[int]] = {}
    for i in sorted(range(len(keys)), key=lambda i: keys[i]):
        by_label.setdefault(int(labels[i]), []).append(i)
    for lab in sorted(by_label):
        members = by_label[lab]
        perm = [members[j] for j in rng.permutation(len(members))]
        pos = 0
        for split, c in _allocate(len(perm), fractions).items():
            for i in perm[pos:pos + c]:
                out[i] = split
            pos += c
    return out


def carve_val(entries: list[tuple[Record, str]], seed: int) -> list[tuple[Record, str]]:
    """Move a seeded, stratified :data:`VAL_FRACTION` of the ``train`` entries to ``val``."""
    train_idx = [i for i, (_, s) in enumerate(entries) if s == "train"]
    recs = [entries[i][0] for i in train_idx]
    assigned = seeded_split([r.id for r in recs], [_label_index(r.label, r.id) for r in recs],
                            seed, {"train": 1 - VAL_FRACTION, "val": VAL_FRACTION})
    out = list(entries)
    for i, s in zip(train_idx, assigned):
        out[i] = (entries[i][0], s)
    return out


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def _read_csv(path: Path, dataset: str, *, delimiter: str = ","):
    """Yield (line number, row dict) with stripped header names; the header must exist."""
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
                raise DataError(f"{dataset}: {path}:{reader.line_num}: {len(row)} fields, "
                                f"header has {len(header)}")
            yield reader.line_num, dict(zip(header, row))


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


# --------------------------------------------------------------------------------------------
# Generic image folder
# --------------------------------------------------------------------------------------------

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


class ImageFolderAdapter(FileAdapter):
    """``<root>/<split>/<class>/*`` or ``<root>/<class>/*``.

    With split folders (``train``/``val``/``test``; ``training``, ``validation``, ``valid``,
    ``dev``, ``testing`` also recognised) those splits are used; a missing ``val`` is carved from
    ``train`` (seeded, stratified 10 %). With class folders only, a seeded stratified 80/10/10
    split is drawn. Class folder names go through :func:`ferbench.labels.canonical`; an unknown
    one is a DataError naming the folder. Files are found recursively within class folders.
    The classes are the folders found (over all splits).
    """

    name = "imagefolder"
    version = "1"
    description = "Generic folder of images: <root>/<split>/<class>/* or <root>/<class>/*"
    license = "whatever applies to your files"
    seeded = True
    allowed: tuple[str, ...] | None = None

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        if not root.is_dir():
            raise DataError(f"{self.name}: root is not a folder: {root}")
        return root

    def _layout(self, root: Path) -> tuple[dict[str, Path], list[Path]]:
        subs = _subdirs(root)
        split_dirs = {_SPLIT_ALIASES[d.name.lower()]: d for d in subs
                      if d.name.lower() in _SPLIT_ALIASES}
        if not subs:
            raise DataError(f"{self.name}: no class or split folders under {root}")
        return split_dirs, subs

    def source_files(self, root: Path):
        split_dirs, subs = self._layout(root)
        folders = list(split_dirs.values()) if split_dirs else subs
        return [p for d in folders for p in walk_images(d)], []

    def _groups(self, recs: list[Record]) -> list[str] | None:
        return None

    def index(self, root: Path, seed: int) -> Index:
        split_dirs, subs = self._layout(root)
        if split_dirs:
            entries = []
            for split, d in sorted(split_dirs.items()):
                entries += _class_folder_entries(root, d, split, self.allowed, self.name)
            if "val" not in split_dirs:
                entries = carve_val(entries, seed)
        else:
            raw = _class_folder_entries(root, root, None, self.allowed, self.name)
            recs = [r for r, _ in raw]
            assigned = seeded_split([r.id for r in recs], [int(r.label) for r in recs], seed,
                                    groups=self._groups(recs))
            entries = list(zip(recs, assigned))
        return Index(entries=entries, classes=_classes_of(entries), root=root)


class CKPlusAdapter(ImageFolderAdapter):
    """CK+ as the common folder of class names (``anger contempt disgust fear happy sadness
    surprise``, optionally ``neutral``), e.g. the CK+48 distribution. Split: seeded 80/10/10,
    grouped by subject (``S005_001_00000011.png`` -> ``S005``) when every file name starts with
    a subject id, else stratified by class. Split folders, if present, are honoured."""

    name = "ckplus"
    version = "1"
    classes = ("happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
    description = ("Extended Cohn-Kanade (CK+), folder of class names (7 incl. contempt); "
                   "subject-grouped split")
    license = "non-commercial research; CK+ licence agreement (University of Pittsburgh / CMU)"
    allowed = CANONICAL  # a neutral folder, where a distribution has one, is kept

    def _groups(self, recs):
        subj = [re.match(r"^(S\d+)_", os.path.basename(r.id)) for r in recs]
        if recs and all(subj):
            return [m.group(1) for m in subj]
        return None


# --------------------------------------------------------------------------------------------
# FER2013
# --------------------------------------------------------------------------------------------

FER2013_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_FER_USAGE = {"training": "train", "publictest": "val", "privatetest": "test"}
_FER_PREFIX = re.compile(r"^(Training|PublicTest|PrivateTest)_", re.IGNORECASE)


class FER2013Adapter(FileAdapter):
    """FER2013, from the original ``fer2013.csv`` (``emotion,pixels,Usage``; emotion order
    0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral) or from the image-folder
    layout ``train/<class>/Training_<id>.jpg``, ``test/<class>/{PublicTest,PrivateTest}_<id>.jpg``.
    Usage / file-name prefix gives the split: Training -> train, PublicTest -> val,
    PrivateTest -> test (a file without such a prefix takes its folder's split). ``root`` may be
    the folder holding ``fer2013/``, ``fer2013/`` itself, or the CSV file. 48x48 grayscale."""

    name = "fer2013"
    version = "1"
    classes = BASIC7
    description = "FER2013 (ICML 2013 challenge), 35,887 48x48 grayscale faces, 7 classes"
    license = "research use only; not redistributable (Kaggle / ICML 2013 challenge terms)"
    label_map = tuple(INDEX[canonical(n)] for n in FER2013_ORDER)

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        if root.is_file():
            if root.suffix.lower() != ".csv":
                raise DataError(f"{self.name}: {root} is neither a folder nor a .csv file")
            return root
        for base in (root, root / "fer2013"):
            if (base / "fer2013.csv").is_file():
                return base / "fer2013.csv"
            if any((base / d).is_dir() for d in ("train", "test")):
                return base
        raise DataError(f"{self.name}: no fer2013.csv and no train/ or test/ folder under {root}")

    def source_files(self, root: Path):
        if root.is_file():
            return [], [root]
        return [p for d in _subdirs(root) if d.name.lower() in _SPLIT_ALIASES
                for p in walk_images(d)], []

    def index(self, root: Path, seed: int) -> Index:
        if root.is_file():
            return self._index_csv(root)
        entries = []
        for d in _subdirs(root):
            if d.name.lower() not in _SPLIT_ALIASES:
                continue
            folder_split = _SPLIT_ALIASES[d.name.lower()]
            for rec, _ in _class_folder_entries(root, d, None, self.classes, self.name):
                m = _FER_PREFIX.match(os.path.basename(rec.id))
                split = _FER_USAGE[m.group(1).lower()] if m else folder_split
                entries.append((rec, split))
        if not entries:
            raise DataError(f"{self.name}: no images under {root}")
        return Index(entries=entries, classes=self.classes, root=root)

    def _index_csv(self, path: Path) -> Index:
        rows = _read_csv(path, self.name)
        _, header = next(rows)
        _require_columns(header, ("emotion", "pixels", "Usage"), path, self.name)
        entries = []
        for line, row in rows:
            where = f"{path}:{line}"
            try:
                code = int(row["emotion"])
                label = self.label_map[code]
            except (ValueError, IndexError):
                raise DataError(f"{self.name}: bad emotion '{row['emotion']}' at {where} "
                                f"(expected 0..6)") from None
            usage = row["Usage"].strip().lower()
            if usage not in _FER_USAGE:
                raise DataError(f"{self.name}: bad Usage '{row['Usage']}' at {where} "
                                f"(expected Training, PublicTest or PrivateTest)")
            entries.append((Record(id=f"{path.name}:{line}", label=label, pixels=row["pixels"]),
                            _FER_USAGE[usage]))
        return Index(entries=entries, classes=self.classes, root=path.parent)


# --------------------------------------------------------------------------------------------
# Manifest CSV
# --------------------------------------------------------------------------------------------

_AU_COL = re.compile(r"^AU0*(\d+)$", re.IGNORECASE)


class ManifestAdapter(FileAdapter):
    """A CSV manifest: ``path,label`` plus an optional ``split`` column and optional action-unit
    columns named ``AU1``, ``AU12``, ... (which become ``aus``/``au_names``, in column order).
    ``root`` is the CSV file (or a folder holding exactly one ``*.csv``/``manifest.csv``);
    paths are relative to the CSV's folder (absolute paths are allowed). Labels are class names
    (synonyms allowed); numbers are refused so that no label order is ever guessed. Without a
    ``split`` column a seeded stratified 80/10/10 split is drawn; with one, a missing ``val`` is
    carved from ``train``. A malformed row is a DataError naming the file and line."""

    name = "manifest"
    version = "1"
    description = "CSV manifest: path,label[,split][,AU1,AU2,...]"
    license = "whatever applies to your files"
    seeded = True

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        if root.is_dir():
            if (root / "manifest.csv").is_file():
                return root / "manifest.csv"
            csvs = sorted(root.glob("*.csv"))
            if len(csvs) != 1:
                raise DataError(f"{self.name}: expected manifest.csv (or exactly one .csv) in "
                                f"{root}, found {len(csvs)}")
            return csvs[0]
        return root

    def _parse(self, path: Path):
        rows = _read_csv(path, self.name)
        _, header = next(rows)
        _require_columns(header, ("path", "label"), path, self.name)
        au_cols = [h for h in header if _AU_COL.match(h)]
        au_names = tuple(f"AU{int(_AU_COL.match(h).group(1))}" for h in au_cols)
        has_split = "split" in header
        base = path.parent
        out = []
        for line, row in rows:
            where = f"{path}:{line}"
            rel = row["path"].strip()
            if not rel:
                raise DataError(f"{self.name}: empty path at {where}")
            lab = row["label"].strip()
            if re.fullmatch(r"-?\d+(\.\d*)?", lab):
                raise DataError(f"{self.name}: numeric label '{lab}' at {where}; write class "
                                f"names (e.g. 'happy') so the mapping is explicit")
            label = INDEX[canonical(lab, where=where)]
            aus = None
            if au_cols:
                try:
                    aus = tuple(float(row[c]) if row[c].strip() else float("nan")
                                for c in au_cols)
                except ValueError:
                    raise DataError(f"{self.name}: non-numeric AU value at {where}") from None
            split = canonical_split(row["split"]) if has_split else None
            p = Path(rel)
            p = p if p.is_absolute() else base / p
            out.append((Record(id=rel, label=label, path=p, aus=aus), split))
        return out, au_names, has_split

    def source_files(self, root: Path):
        entries, _, _ = self._parse(root)
        return [r.path for r, _ in entries], [root]

    def index(self, root: Path, seed: int) -> Index:
        raw, au_names, has_split = self._parse(root)
        if not raw:
            raise DataError(f"{self.name}: {root} has no rows")
        if has_split:
            entries = raw
            if not any(s == "val" for _, s in entries):
                entries = carve_val(entries, seed)
        else:
            recs = [r for r, _ in raw]
            entries = list(zip(recs, seeded_split([r.id for r in recs],
                                                  [int(r.label) for r in recs], seed)))
        return Index(entries=entries, classes=_classes_of(entries), root=root.parent,
                     au_names=au_names)


# --------------------------------------------------------------------------------------------
# RAF-DB
# --------------------------------------------------------------------------------------------

RAFDB_ORDER = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")  # 1..7


class RAFDBAdapter(FileAdapter):
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``; 1 surprise,
    2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral). Images from
    ``Image/aligned/<stem>_aligned.jpg`` when that folder exists (``prefer='aligned'``), else
    ``Image/original/<name>`` (used whole, uncropped). ``train_``/``test_`` prefix gives the
    split; ``val`` is a seeded stratified 10 % carved from the official train set. ``root`` may
    be the RAF-DB folder or its ``basic/`` subfolder."""

    name = "rafdb"
    version = "1"
    classes = BASIC7
    description = "RAF-DB basic emotions (aligned 100x100 faces), 7 classes; val carved from train"
    license = "non-commercial research; request from the RAF-DB authors"
    seeded = True
    label_map = {i + 1: INDEX[canonical(n)] for i, n in enumerate(RAFDB_ORDER)}
    LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"

    def __init__(self, prefer: str = "aligned") -> None:
        if prefer not in ("aligned", "original"):
            raise ConfigError(f"rafdb: prefer must be 'aligned' or 'original', not '{prefer}'")
        self.prefer = prefer

    @property
    def options(self) -> dict:
        return {"prefer": self.prefer}

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        for base in (root, root / "basic"):
            if (base / self.LABEL_FILE).is_file():
                return base
        return _need_file(root / self.LABEL_FILE, self.name, "RAF-DB basic label list").parent.parent

    def _image_dir(self, root: Path) -> tuple[Path, bool]:
        aligned = root / "Image" / "aligned"
        original = root / "Image" / "original"
        if self.prefer == "aligned" and aligned.is_dir():
            return aligned, True
        if original.is_dir():
            return original, False
        if aligned.is_dir():
            return aligned, True
        raise DataError(f"{self.name}: expected folder not found: {aligned} (or {original})")

    def _entries(self, root: Path):
        label_file = root / self.LABEL_FILE
        img_dir, aligned = self._image_dir(root)
        out = []
        for where, line, parts in _label_lines(label_file):
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in self.label_map:
                raise DataError(f"{self.name}: bad line at {where}: '{line.strip()}' "
                                f"(expected '<image> <1..7>')")
            fname = parts[0]
            if fname.lower().startswith("train"):
                split = "train"
            elif fname.lower().startswith("test"):
                split = "test"
            else:
                raise DataError(f"{self.name}: image '{fname}' at {where} has no "
                                f"train_/test_ prefix")
            stem, ext = os.path.splitext(fname)
            p = img_dir / (f"{stem}_aligned{ext}" if aligned else fname)
            out.append((Record(id=_rel(p, root), label=self.label_map[int(parts[1])], path=p),
                        split))
        return out

    def source_files(self, root: Path):
        return [r.path for r, _ in self._entries(root)], [root / self.LABEL_FILE]

    def index(self, root: Path, seed: int) -> Index:
        return Index(entries=carve_val(self._entries(root), seed), classes=self.classes,
                     root=root)


# --------------------------------------------------------------------------------------------
# AffectNet
# --------------------------------------------------------------------------------------------

AFFECTNET_ORDER = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


class AffectNetAdapter(FileAdapter):
    """AffectNet, 7 or 8 classes (0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust,
    6 anger, 7 contempt; codes above 7 — none, uncertain, no-face — are ignored; the 7-class
    variant also drops contempt).

    Layouts: ``{train_set,val_set}/images/<id>.jpg`` with ``annotations/<id>_exp.npy``; or the
    CSV form ``training.csv``/``validation.csv`` (columns ``subDirectory_filePath``,
    ``face_x``, ``face_y``, ``face_width``, ``face_height``, ..., ``expression``; found in the
    root or ``Manually_Annotated_file_lists/``; images under ``Manually_Annotated_Images/``,
    ``Manually_Annotated/Manually_Annotated_Images/`` or the root; the face box is cropped).
    **The official validation set is served as ``test``** (AffectNet's test set is not public);
    ``val`` is a seeded stratified 10 % carved from the official training set."""

    version = "1"
    license = "academic research licence from the AffectNet authors (University of Denver)"
    seeded = True
    _FOLDERS = {"train": "train_set", "test": "val_set"}
    _CSVS = {"train": "training.csv", "test": "validation.csv"}

    def __init__(self, n_classes: int = 8) -> None:
        if n_classes not in (7, 8):
            raise ConfigError(f"affectnet: n_classes must be 7 or 8, not {n_classes}")
        self.n_classes = n_classes
        self.name = f"affectnet{n_classes}"
        self.classes = CANONICAL[:n_classes]
        self.description = (f"AffectNet, {n_classes} classes; official val served as test, "
                            f"val carved from train")
        self.label_map = {i: INDEX[canonical(n)] for i, n in enumerate(AFFECTNET_ORDER)
                          if i < n_classes}

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        if (root / "train_set").is_dir() or (root / "val_set").is_dir():
            return root
        if self._csv_paths(root):
            return root
        raise DataError(f"{self.name}: expected {root / 'train_set'} + {root / 'val_set'} or "
                        f"training.csv/validation.csv under {root}")

    def _csv_paths(self, root: Path) -> dict[str, Path]:
        for base in (root, root / "Manually_Annotated_file_lists"):
            found = {s: base / n for s, n in self._CSVS.items() if (base / n).is_file()}
            if found:
                return found
        return {}

    def _csv_image_dir(self, root: Path) -> Path:
        for d in (root / "Manually_Annotated_Images",
                  root / "Manually_Annotated" / "Manually_Annotated_Images"):
            if d.is_dir():
                return d
        return root

    def _entries(self, root: Path, labels: bool = True
                 ) -> tuple[list[tuple[Record, str]], list, list[Path]]:
        """(entries, files to stat, files to hash); ``labels=False`` skips reading the
        per-image ``_exp.npy`` files (the fingerprint only needs their stats)."""
        entries, stat_paths, hashed = [], [], []
        if (root / "train_set").is_dir() or (root / "val_set").is_dir():
            for split, folder in self._FOLDERS.items():
                d = root / folder
                if not d.is_dir():
                    continue
                ann = d / "annotations"
                for p in walk_images(d / "images"):
                    a = ann / f"{os.path.splitext(os.path.basename(p))[0]}_exp.npy"
                    stat_paths += [p, a]
                    if not labels:
                        continue
                    try:
                        code = int(np.load(a, allow_pickle=False).item())
                    except FileNotFoundError:
                        raise DataError(f"{self.name}: expected file not found: {a}") from None
                    except (ValueError, OSError) as e:
                        raise DataError(f"{self.name}: unreadable annotation {a}: {e}") from None
                    if code in self.label_map:
                        entries.append((Record(id=_rel(p, root), label=self.label_map[code],
                                               path=p), split))
            return entries, stat_paths, hashed
        img_dir = self._csv_image_dir(root)
        for split, path in self._csv_paths(root).items():
            hashed.append(path)
            rows = _read_csv(path, self.name)
            _, header = next(rows)
            _require_columns(header, ("subDirectory_filePath", "expression"), path, self.name)
            has_box = all(c in header for c in ("face_x", "face_y", "face_width", "face_height"))
            for line, row in rows:
                where = f"{path}:{line}"
                try:
                    code = int(row["expression"])
                    box = None
                    if has_box:
                        x, y = float(row["face_x"]), float(row["face_y"])
                        box = (x, y, x + float(row["face_width"]), y + float(row["face_height"]))
                except ValueError:
                    raise DataError(f"{self.name}: bad row at {where}") from None
                if code not in self.label_map:
                    continue
                rel = row["subDirectory_filePath"].strip()
                p = img_dir / rel
                stat_paths.append(p)
                entries.append((Record(id=_rel(p, root), label=self.label_map[code], path=p,
                                       box=box), split))
        return entries, stat_paths, hashed

    def source_files(self, root: Path):
        _, stat_paths, hashed = self._entries(root, labels=False)
        return stat_paths, hashed

    def index(self, root: Path, seed: int) -> Index:
        entries, _, _ = self._entries(root)
        return Index(entries=carve_val(entries, seed), classes=self.classes, root=root)


# --------------------------------------------------------------------------------------------
# FER+
# --------------------------------------------------------------------------------------------

FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                 "contempt", "unknown", "NF")
_FERPLUS_DIRS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}


class FERPlusAdapter(FileAdapter):
    """FER+ (``fer2013new.csv``: ``Usage,Image name,neutral,happiness,surprise,sadness,anger,
    disgust,fear,contempt,unknown,NF``; images in ``FER2013Train/``, ``FER2013Valid/``,
    ``FER2013Test/``, in the root or ``data/``). Labels by the FER+ reference *majority* rule:
    single votes are dropped as outliers, then a class needs more than half of the remaining
    votes; rows with no such majority, or whose majority is ``unknown``/``NF``, are dropped, as
    are rows without an image name. Usage Training/PublicTest/PrivateTest -> train/val/test.
    8 classes (with contempt)."""

    name = "ferplus"
    version = "1"
    classes = CANONICAL
    description = "FER+ relabelled FER2013 (10 annotators, majority vote), 8 classes"
    license = "labels MIT (Microsoft FERPlus); images under FER2013's research-only terms"
    vote_map = tuple(INDEX[canonical(n)] for n in FERPLUS_VOTES[:8])

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        if root.is_file():
            root = root.parent
        return _need_file(root / "fer2013new.csv", self.name, "FER+ label file").parent

    def _image_base(self, root: Path) -> Path:
        for base in (root, root / "data"):
            if any((base / d).is_dir() for d in _FERPLUS_DIRS.values()):
                return base
        raise DataError(f"{self.name}: expected folder not found: {root / 'FER2013Train'} "
                        f"(or under {root / 'data'})")

    @staticmethod
    def majority(votes: Sequence[float]) -> int | None:
        """Index into :data:`FERPLUS_VOTES` of the majority, or None (FER+ reference rule)."""
        v = [0.0 if x <= 1.0 else float(x) for x in votes]
        total = sum(v)
        best = max(range(len(v)), key=lambda i: v[i])
        if total <= 0 or v[best] <= 0.5 * total:
            return None
        return best

    def _entries(self, root: Path):
        path = root / "fer2013new.csv"
        base = self._image_base(root)
        rows = _read_csv(path, self.name)
        _, header = next(rows)
        _require_columns(header, ("Usage", "Image name", *FERPLUS_VOTES), path, self.name)
        out = []
        for line, row in rows:
            where = f"{path}:{line}"
            usage = row["Usage"].strip().lower()
            if usage not in _FER_USAGE:
                raise DataError(f"{self.name}: bad Usage '{row['Usage']}' at {where}")
            name = row["Image name"].strip()
            if not name:
                continue
            try:
                votes = [float(row[c]) for c in FERPLUS_VOTES]
            except ValueError:
                raise DataError(f"{self.name}: non-numeric vote at {where}") from None
            best = self.majority(votes)
            if best is None or best >= 8:
                continue
            split = _FER_USAGE[usage]
            p = base / _FERPLUS_DIRS[split] / name
            out.append((Record(id=_rel(p, root), label=self.vote_map[best], path=p), split))
        return out

    def source_files(self, root: Path):
        return [r.path for r, _ in self._entries(root)], [root / "fer2013new.csv"]

    def index(self, root: Path, seed: int) -> Index:
        return Index(entries=self._entries(root), classes=self.classes, root=root)


# --------------------------------------------------------------------------------------------
# KDEF
# --------------------------------------------------------------------------------------------

KDEF_CODES = {"AF": "afraid", "AN": "angry", "DI": "disgusted", "HA": "happy", "NE": "neutral",
              "SA": "sad", "SU": "surprised"}
_KDEF_NAME = re.compile(r"^([AB])([FM])(\d\d)(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.jpe?g$",
                        re.IGNORECASE)


class KDEFAdapter(FileAdapter):
    """KDEF: files like ``AF01ANS.JPG`` anywhere under the root (session A/B, sex F/M, two-digit
    id, expression code AF afraid, AN angry, DI disgusted, HA happy, NE neutral, SA sad,
    SU surprised, angle S/HL/HR/FL/FR). By default only straight (``S``) views are kept. Split:
    seeded 80/10/10 by identity (sex + id, e.g. ``F01``), so no person is in two splits. The
    562x762 portraits are centre-cropped to a square before resizing. Other files are ignored."""

    name = "kdef"
    version = "1"
    classes = BASIC7
    description = "Karolinska Directed Emotional Faces, 70 actors, 7 classes; identity split"
    license = "KDEF licence: non-commercial research (Karolinska Institutet)"
    seeded = True

    def __init__(self, angles: Sequence[str] = ("S",)) -> None:
        self.angles = tuple(a.upper() for a in angles)
        bad = set(self.angles) - {"S", "HL", "HR", "FL", "FR"}
        if bad:
            raise ConfigError(f"kdef: unknown angle(s) {sorted(bad)}; use S, HL, HR, FL, FR")

    @property
    def options(self) -> dict:
        return {"angles": list(self.angles)}

    def _files(self, root: Path):
        out = []
        for p in walk_images(root):
            m = _KDEF_NAME.match(os.path.basename(p))
            if m and m.group(5).upper() in self.angles:
                out.append((p, m))
        return out

    def source_files(self, root: Path):
        return [p for p, _ in self._files(root)], []

    def index(self, root: Path, seed: int) -> Index:
        files = self._files(root)
        if not files:
            raise DataError(f"{self.name}: no KDEF images (e.g. AF01ANS.JPG) under {root}")
        recs = [Record(id=_rel(p, root),
                       label=INDEX[canonical(KDEF_CODES[m.group(4).upper()], where=str(p))],
                       path=p)
                for p, m in files]
        groups = [(m.group(2) + m.group(3)).upper() for _, m in files]
        assigned = seeded_split([r.id for r in recs], [int(r.label) for r in recs], seed,
                                groups=groups)
        return Index(entries=list(zip(recs, assigned)), classes=self.classes, root=root)


# --------------------------------------------------------------------------------------------
# ExpW
# --------------------------------------------------------------------------------------------

EXPW_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class ExpWAdapter(FileAdapter):
    """Expression in-the-Wild: ``label/label.lst`` lines ``image_name face_id top left right
    bottom confidence label`` (0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
    6 neutral); images in ``image/origin/`` (or ``origin/``); each face box is cropped. No
    official split: seeded stratified 80/10/10."""

    name = "expw"
    version = "1"
    classes = BASIC7
    description = "Expression in-the-Wild (ExpW), ~91k face boxes in web images, 7 classes"
    license = "non-commercial research (CUHK Multimedia Lab)"
    seeded = True
    label_map = tuple(INDEX[canonical(n)] for n in EXPW_ORDER)
    LABEL_FILE = Path("label") / "label.lst"

    def locate(self, root) -> Path:
        root = _existing(root, self.name)
        return _need_file(root / self.LABEL_FILE, self.name, "ExpW label list").parent.parent

    def _image_dir(self, root: Path) -> Path:
        for d in (root / "image" / "origin", root / "origin", root / "image"):
            if d.is_dir():
                return d
        raise DataError(f"{self.name}: expected folder not found: {root / 'image' / 'origin'}")

    def _records(self, root: Path) -> list[Record]:
        label_file = root / self.LABEL_FILE
        img_dir = self._image_dir(root)
        out = []
        for where, line, parts in _label_lines(label_file):
            try:
                if len(parts) != 8:
                    raise ValueError
                top, left, right, bottom = (float(v) for v in parts[2:6])
                code = int(parts[7])
                label = self.label_map[code]
            except (ValueError, IndexError):
                raise DataError(f"{self.name}: bad line at {where}: '{line.strip()}'") from None
            p = img_dir / parts[0]
            out.append(Record(id=f"{_rel(p, root)}#face{parts[1]}", label=label, path=p,
                              box=(left, top, right, bottom)))
        return out

    def source_files(self, root: Path):
        return sorted({r.path for r in self._records(root)}), [root / self.LABEL_FILE]

    def index(self, root: Path, seed: int) -> Index:
        recs = self._records(root)
        assigned = seeded_split([r.id for r in recs], [int(r.label) for r in recs], seed)
        return Index(entries=list(zip(recs, assigned)), classes=self.classes, root=root)


def builtin_adapters() -> list[FileAdapter]:
    """One instance of every file-backed built-in adapter, in listing order."""
    return [FER2013Adapter(), FERPlusAdapter(), RAFDBAdapter(), AffectNetAdapter(7),
            AffectNetAdapter(8), CKPlusAdapter(), KDEFAdapter(), ExpWAdapter(),
            ImageFolderAdapter(), ManifestAdapter()]
