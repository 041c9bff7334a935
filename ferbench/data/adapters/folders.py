"""Generic layouts: a folder of class folders (and CK+, which is one), and a CSV manifest."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ferbench.data.adapters.base import (
    FileAdapter,
    Index,
    _class_folder_entries,
    _classes_of,
    _existing,
    _read_csv,
    _require_columns,
    _subdirs,
    walk_images,
)
from ferbench.data.decode import IMAGE_EXTS, Record
from ferbench.data.grouping import (
    compile_group_pattern,
    groups_from_pattern,
    warn_groups_across_splits,
    warn_if_identity_named,
)
from ferbench.data.splits import (
    _SPLIT_ALIASES,
    canonical_split,
    carve_val,
    seeded_split,
)
from ferbench.errors import DataError
from ferbench.labels import CANONICAL, INDEX, canonical


class ImageFolderAdapter(FileAdapter):
    """``<root>/<split>/<class>/*`` or ``<root>/<class>/*``.

    With split folders (``train``/``val``/``test``; ``training``, ``validation``, ``valid``,
    ``dev``, ``testing`` also recognised) those splits are used; a missing ``val`` is carved from
    ``train`` (seeded, stratified 10 %). With class folders only, a seeded stratified 80/10/10
    split is drawn. Class folder names go through :func:`ferbench.labels.canonical`; an unknown
    one is a DataError naming the folder. Files are found recursively within class folders.
    The classes are the folders found (over all splits).

    ``group_pattern`` (option, part of the cache key): a regex whose first capture group,
    searched in each file name, is the person's identity (see :mod:`ferbench.data.grouping`).
    With it the seeded split (and a carved ``val``) keeps every identity in one split. Without
    it, a seeded split of files whose names look identity-prefixed warns once
    (:class:`~ferbench.data.grouping.UngroupedSplitWarning`).
    """

    name = "imagefolder"
    version = "1"
    description = "Generic folder of images: <root>/<split>/<class>/* or <root>/<class>/*"
    license = "whatever applies to your files"
    seeded = True
    allowed: tuple[str, ...] | None = None

    def __init__(self, group_pattern: str | None = None) -> None:
        self.group_pattern = group_pattern
        self._group_re = (None if group_pattern is None
                          else compile_group_pattern(group_pattern, self.name))

    @property
    def options(self) -> dict:
        # empty without grouping, so that existing cache keys stay valid
        return {} if self.group_pattern is None else {"group_pattern": self.group_pattern}

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
        """Identity per record, or None for a class-stratified split."""
        if self._group_re is None:
            return None
        return groups_from_pattern([r.id for r in recs], self._group_re, self.name)

    def index(self, root: Path, seed: int) -> Index:
        split_dirs, subs = self._layout(root)
        if split_dirs:
            entries = []
            for split, d in sorted(split_dirs.items()):
                entries += _class_folder_entries(root, d, split, self.allowed, self.name)
            if "val" not in split_dirs:
                entries = carve_val(entries, seed, groups=self._groups([r for r, _ in entries]))
        else:
            raw = _class_folder_entries(root, root, None, self.allowed, self.name)
            recs = [r for r, _ in raw]
            groups = self._groups(recs)
            if groups is None:
                warn_if_identity_named(
                    self.name, root, [r.id for r in recs],
                    "group it by a file-name regex whose first group is the identity: "
                    "ferbench run ... --data-option group_pattern='^(S\\d+)_' (Python: "
                    "load(..., options={'group_pattern': ...}))")
            assigned = seeded_split([r.id for r in recs], [int(r.label) for r in recs], seed,
                                    groups=groups)
            entries = list(zip(recs, assigned))
        return Index(entries=entries, classes=_classes_of(entries), root=root)


class CKPlusAdapter(ImageFolderAdapter):
    """CK+ as the common folder of class names (``anger contempt disgust fear happy sadness
    surprise``, optionally ``neutral``), e.g. the CK+48 distribution. Split: seeded 80/10/10,
    grouped by subject (``S005_001_00000011.png`` -> ``S005``) when every file name starts with
    a subject id, else stratified by class; an explicit ``group_pattern`` overrides this.
    Split folders, if present, are honoured (a carved ``val`` is grouped by subject too)."""

    name = "ckplus"
    version = "2"  # 2: val carved from a train folder is grouped by subject
    classes = ("happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
    description = ("Extended Cohn-Kanade (CK+), folder of class names (7 incl. contempt); "
                   "subject-grouped split")
    license = "non-commercial research; CK+ licence agreement (University of Pittsburgh / CMU)"
    allowed = CANONICAL  # a neutral folder, where a distribution has one, is kept

    def _groups(self, recs):
        if self._group_re is not None:
            return super()._groups(recs)
        subj = [re.match(r"^(S\d+)_", os.path.basename(r.id)) for r in recs]
        if recs and all(subj):
            return [m.group(1) for m in subj]
        return None


_AU_COL = re.compile(r"^AU0*(\d+)$", re.IGNORECASE)


class ManifestAdapter(FileAdapter):
    """A CSV manifest: ``path,label`` plus an optional ``split`` column and optional action-unit
    columns named ``AU1``, ``AU12``, ... (which become ``aus``/``au_names``, in column order).
    ``root`` is the CSV file (or a folder holding exactly one ``*.csv``/``manifest.csv``);
    paths are relative to the CSV's folder (absolute paths are allowed). Labels are class names
    (synonyms allowed); numbers are refused so that no label order is ever guessed. Without a
    ``split`` column a seeded stratified 80/10/10 split is drawn; with one, a missing ``val`` is
    carved from ``train``. An optional ``group`` column names each face's person (any string):
    the seeded split and a carved ``val`` then keep every group in one split, and a group that
    the ``split`` column puts in two splits is warned about (the user's split stands). Without
    it, a
    seeded split of files whose names look identity-prefixed warns once (see
    :mod:`ferbench.data.grouping`). A malformed row is a DataError naming the file and line; a
    root that is an archive, an image or any non-text file is a one-line DataError."""

    name = "manifest"
    version = "1"
    description = "CSV manifest: path,label[,split][,group][,AU1,AU2,...]"
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
        kind = _not_a_manifest(root)
        if kind:
            raise DataError(f"{self.name}: root {root} is {kind}, not a CSV manifest; pass the "
                            f"CSV file or the folder holding it")
        return root

    def _parse(self, path: Path):
        rows = _read_csv(path, self.name)
        _, header = next(rows)
        _require_columns(header, ("path", "label"), path, self.name)
        au_cols = [h for h in header if _AU_COL.match(h)]
        au_names = tuple(f"AU{int(_AU_COL.match(h).group(1))}" for h in au_cols)
        has_split = "split" in header
        has_group = "group" in header
        base = path.parent
        out = []
        groups: list[str] = []
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
            if has_group:
                group = row["group"].strip()
                if not group:
                    raise DataError(f"{self.name}: empty group at {where}")
                groups.append(group)
            p = Path(rel)
            p = p if p.is_absolute() else base / p
            out.append((Record(id=rel, label=label, path=p, aus=aus), split))
        return out, au_names, has_split, (groups if has_group else None)

    def source_files(self, root: Path):
        entries = self._parse(root)[0]
        return [r.path for r, _ in entries], [root]

    def index(self, root: Path, seed: int) -> Index:
        raw, au_names, has_split, groups = self._parse(root)
        if not raw:
            raise DataError(f"{self.name}: {root} has no rows")
        if has_split:
            entries = raw
            if groups is not None:
                warn_groups_across_splits(self.name, root, groups, [s for _, s in raw])
            if not any(s == "val" for _, s in entries):
                entries = carve_val(entries, seed, groups=groups)
        else:
            recs = [r for r, _ in raw]
            if groups is None:
                warn_if_identity_named(self.name, root, [r.id for r in recs],
                                       "add a 'group' column naming each face's person")
            entries = list(zip(recs, seeded_split([r.id for r in recs],
                                                  [int(r.label) for r in recs], seed,
                                                  groups=groups)))
        return Index(entries=entries, classes=_classes_of(entries), root=root.parent,
                     au_names=au_names)


_ARCHIVE_EXTS = (".tar", ".tar.gz", ".tgz", ".gz", ".zip", ".bz2", ".xz", ".7z", ".rar", ".zst",
                 ".npz")


def _not_a_manifest(path: Path) -> str:
    """What ``path`` is when its name says it cannot be a CSV ('a .tar.gz archive',
    'an image (.png)'), else ''. Other binary files are caught when read (``_read_csv``)."""
    name = path.name.lower()
    for ext in sorted(_ARCHIVE_EXTS, key=len, reverse=True):
        if name.endswith(ext):
            return f"a {ext} archive"
    if path.suffix.lower() in IMAGE_EXTS:
        return f"an image ({path.suffix.lower()})"
    return ""
