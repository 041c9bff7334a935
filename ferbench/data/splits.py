"""Canonical split names and seeded splits for datasets without official ones.

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
  ``imagefolder`` groups by identity when given the ``group_pattern`` option (a file-name regex
  whose first group is the identity) and ``manifest`` when its CSV has a ``group`` column; a
  ``val`` carved from ``train`` is then grouped too. Ungrouped seeded splits of files whose
  names look identity-prefixed warn once (:mod:`ferbench.data.grouping`).
- Seeded splits are deterministic: records are sorted by relative path, then shuffled with
  ``numpy.random.default_rng(seed)``; they do not depend on directory listing order. Each
  class (or the group list) with at least three members gets at least one val and one test item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ferbench.data.decode import Record, _label_index
from ferbench.errors import DataError

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Seeded split used where a dataset has no official one.
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
#: Share of an official training split carved out as ``val`` where no official val exists.
VAL_FRACTION = 0.1

_SPLIT_ALIASES = {
    "train": "train", "training": "train", "train_set": "train", "trainset": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val", "val_set": "val",
    "test": "test", "testing": "test", "test_set": "test",
}


def canonical_split(split: str) -> str:
    """``'training'`` -> ``'train'``, ``'validation'`` -> ``'val'``, ... (DataError if unknown)."""
    key = str(split).strip().lower()
    if key not in _SPLIT_ALIASES:
        raise DataError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    return _SPLIT_ALIASES[key]


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


def carve_val(entries: list[tuple[Record, str]], seed: int,
              groups: Sequence[str] | None = None) -> list[tuple[Record, str]]:
    """Move a seeded, stratified :data:`VAL_FRACTION` of the ``train`` entries to ``val``.

    With ``groups`` (one per entry, same order) whole groups move instead, so a person whose
    faces are in ``train`` never also lands in ``val``."""
    train_idx = [i for i, (_, s) in enumerate(entries) if s == "train"]
    recs = [entries[i][0] for i in train_idx]
    assigned = seeded_split([r.id for r in recs], [_label_index(r.label, r.id) for r in recs],
                            seed, {"train": 1 - VAL_FRACTION, "val": VAL_FRACTION},
                            groups=None if groups is None else [groups[i] for i in train_idx])
    out = list(entries)
    for i, s in zip(train_idx, assigned):
        out[i] = (entries[i][0], s)
    return out
