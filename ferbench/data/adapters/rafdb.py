"""RAF-DB and ExpW: both read a whitespace-separated label file (:func:`_label_lines`)."""

from __future__ import annotations

import os
from pathlib import Path

from ferbench.data.adapters.base import (
    FileAdapter,
    Index,
    _existing,
    _label_lines,
    _need_file,
    _rel,
)
from ferbench.data.decode import Record
from ferbench.data.splits import (
    carve_val,
    seeded_split,
)
from ferbench.errors import ConfigError, DataError
from ferbench.labels import BASIC7, INDEX, canonical

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
