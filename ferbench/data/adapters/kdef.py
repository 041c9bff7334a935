"""KDEF (Karolinska Directed Emotional Faces)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ferbench.data.adapters.base import (
    FileAdapter,
    Index,
    _rel,
    walk_images,
)
from ferbench.data.decode import Record
from ferbench.data.splits import seeded_split
from ferbench.errors import ConfigError, DataError
from ferbench.labels import BASIC7, INDEX, canonical

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

    def __init__(self, angles: Sequence[str] | str = ("S",)) -> None:
        if isinstance(angles, str):  # "S,HL" as given on a command line
            angles = [a for a in angles.split(",") if a.strip()]
        self.angles = tuple(a.strip().upper() for a in angles)
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
