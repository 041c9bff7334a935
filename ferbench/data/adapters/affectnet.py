"""AffectNet (7 or 8 classes)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ferbench.data.adapters.base import (
    FileAdapter,
    Index,
    _existing,
    _read_csv,
    _rel,
    _require_columns,
    walk_images,
)
from ferbench.data.decode import Record
from ferbench.data.splits import carve_val
from ferbench.errors import ConfigError, DataError
from ferbench.labels import CANONICAL, INDEX, canonical

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
