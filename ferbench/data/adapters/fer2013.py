"""FER2013 (the original CSV or its image-folder exports) and FER+ (its relabelling)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ferbench.data.adapters.base import (
    FileAdapter,
    Index,
    _class_folder_entries,
    _existing,
    _need_file,
    _read_csv,
    _rel,
    _require_columns,
    _subdirs,
    walk_images,
)
from ferbench.data.decode import Record
from ferbench.data.splits import _SPLIT_ALIASES
from ferbench.errors import DataError
from ferbench.labels import BASIC7, CANONICAL, INDEX, canonical

FER2013_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_FER_USAGE = {"training": "train", "publictest": "val", "privatetest": "test"}
#: Bad CSV rows named in the one-line error (the rest are counted).
_MAX_BAD_ROWS = 20
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
        """Every row is checked before any error is raised, so that one DataError lists all
        bad rows (the first :data:`_MAX_BAD_ROWS`, then a count). Pixel strings are checked at
        decode time (a bad one is a skipped file, not an error)."""
        bad: list[tuple[int, str]] = []
        rows = _read_csv(path, self.name, bad=bad)
        _, header = next(rows)
        _require_columns(header, ("emotion", "pixels", "Usage"), path, self.name)
        entries = []
        for line, row in rows:
            problems = []
            try:
                code = int(row["emotion"])
            except ValueError:
                code = -1
            if 0 <= code < len(self.label_map):
                label = self.label_map[code]
            else:  # a negative code would otherwise index from the end
                problems.append(f"bad emotion '{row['emotion']}' (expected 0..6)")
            usage = row["Usage"].strip().lower()
            if usage not in _FER_USAGE:
                problems.append(f"bad Usage '{row['Usage']}' (expected Training, PublicTest "
                                f"or PrivateTest)")
            if problems:
                bad.append((line, ", ".join(problems)))
                continue
            entries.append((Record(id=f"{path.name}:{line}", label=label, pixels=row["pixels"]),
                            _FER_USAGE[usage]))
        if bad:
            bad.sort()
            shown = "; ".join(f"line {n}: {m}" for n, m in bad[:_MAX_BAD_ROWS])
            more = (f"; and {len(bad) - _MAX_BAD_ROWS} more"
                    if len(bad) > _MAX_BAD_ROWS else "")
            raise DataError(f"{self.name}: {path} has {len(bad)} bad row(s): {shown}{more}")
        return Index(entries=entries, classes=self.classes, root=path.parent)


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
