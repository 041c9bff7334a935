"""Validation of a submission: ``manifest.csv`` and every image, before anything is stored.

``manifest.csv`` has a header with ``path`` and ``label`` and optionally AU columns named as in
:data:`ferbench.aus.AU_NAMES` (``AU1,AU2,AU4,...``; any subset, intensities 0..5). ``path`` is
relative to the manifest's folder; ``label`` is any canonical name or synonym
(:func:`ferbench.labels.canonical`) or a canonical index 0..7.

Every problem is collected and reported together, each as ``manifest.csv:LINE: ...`` or
``<image path>: ...``, so a submitter fixes everything in one round. Checks: the columns; each
path is relative, stays inside the submission and exists; each label maps to the canonical
space; each AU value is a number in 0..5; each image decodes under PIL's decompression-bomb
guard (warnings are errors) and :data:`MAX_PIXELS`; every image has the same size and mode
(mode ``L`` or ``RGB``; the majority is the reference and the others are listed). The images
are kept at their submitted size; resizing to a protocol's resolution happens when the
generator serves them, and is stated in the validation report and recorded in pool info.
"""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ferbench.aus import AU_NAMES
from ferbench.errors import DataError
from ferbench.labels import CANONICAL, INDEX, canonical
from ferbench.submit.archive import safe_member_name

MANIFEST = "manifest.csv"
#: largest image accepted, in pixels (far above any FER resolution; PIL's own guard is 89M)
MAX_PIXELS = 4096 * 4096
MODES = ("L", "RGB")


@dataclass
class Validated:
    """A submission that passed validation (images at their submitted size)."""

    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int64 canonical indices
    aus: np.ndarray | None  # float32 (N, len(AU_NAMES)) with NaN where a column is absent
    au_columns: list[str]
    paths: list[str]
    size: tuple[int, int]
    mode: str
    counts: dict[str, int] = field(default_factory=dict)


class SubmissionError(DataError):
    """A submission failed validation; ``problems`` lists every problem, one line each."""

    def __init__(self, summary: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join([summary, *("  " + p for p in self.problems)]))


def _label(value: str, where: str) -> int:
    v = value.strip()
    if v.isdigit():
        i = int(v)
        if not 0 <= i < len(CANONICAL):
            raise DataError(f"{where}: label {i} is not a canonical index 0..{len(CANONICAL) - 1}")
        return i
    try:
        return INDEX[canonical(v)]
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def _open_image(path: Path, rel: str) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise DataError(f"{rel}: {w}x{h} pixels is more than the cap of {MAX_PIXELS}")
                im.load()
                return im.copy()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DataError(f"{rel}: refused as a decompression bomb ({exc})") from exc
        except DataError:
            raise
        except Exception as exc:  # PIL raises many types on corrupt files
            raise DataError(f"{rel}: does not decode as an image ({type(exc).__name__}: "
                            f"{exc})") from exc


def validate(root: str | Path) -> Validated:
    """Check the submission in folder ``root``; SubmissionError listing every problem."""
    root = Path(root)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise SubmissionError(f"{root}: no {MANIFEST}", [f"{MANIFEST}: missing; it needs "
                                                         "columns path,label[,AU1,...]"])
    problems: list[str] = []
    with open(mpath, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise SubmissionError(f"{mpath}: empty", [f"{MANIFEST}:1: empty file"]) from None
        missing = [c for c in ("path", "label") if c not in header]
        if missing:
            raise SubmissionError(f"{mpath}: bad header", [
                f"{MANIFEST}:1: missing column(s) {', '.join(missing)} (header: "
                f"{','.join(header)}; need path,label[,AU1,...])"])
        au_cols = [h for h in header if h not in ("path", "label")]
        for h in au_cols:
            if h not in AU_NAMES:
                problems.append(f"{MANIFEST}:1: unknown column '{h}' (AU columns are "
                                f"{','.join(AU_NAMES)})")
        au_cols = [h for h in au_cols if h in AU_NAMES]
        rows = list(enumerate(reader, start=2))
    if not rows:
        problems.append(f"{MANIFEST}: no images listed")
    col = {h: header.index(h) for h in header}
    images, labels, aus, paths, shapes = [], [], [], [], []
    seen: set[str] = set()
    for line, row in rows:
        where = f"{MANIFEST}:{line}"
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(f"{where}: {len(row)} fields, header has {len(header)}")
            continue
        rel = row[col["path"]].strip()
        try:
            rp = safe_member_name(rel, where)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if str(rp) in seen:
            problems.append(f"{where}: '{rel}' is listed twice")
            continue
        seen.add(str(rp))
        try:
            lab = _label(row[col["label"]], where)
        except DataError as exc:
            problems.append(str(exc))
            continue
        vec = np.full(len(AU_NAMES), np.nan, dtype=np.float32)
        bad = False
        for h in au_cols:
            try:
                v = float(row[col[h]])
                if not 0 <= v <= 5:
                    raise ValueError
            except ValueError:
                problems.append(f"{where}: {h} = '{row[col[h]]}' is not a number in 0..5")
                bad = True
                continue
            vec[AU_NAMES.index(h)] = v
        p = root / rp
        if p.is_symlink():
            problems.append(f"{rel}: symlinks are not allowed ({where})")
            continue
        if not p.is_file():
            problems.append(f"{rel}: file not found ({where})")
            continue
        try:
            im = _open_image(p, rel)
        except DataError as exc:
            problems.append(f"{exc} ({where})")
            continue
        if im.mode not in MODES:
            problems.append(f"{rel}: mode {im.mode}; submit L (grayscale) or RGB ({where})")
            continue
        if bad:
            continue
        images.append(np.asarray(im, dtype=np.uint8))
        shapes.append((im.size, im.mode, rel, where))
        labels.append(lab)
        aus.append(vec)
        paths.append(str(rp))
    size, mode = (0, 0), "L"
    if shapes:
        (size, mode), _ = Counter((s, m) for s, m, _, _ in shapes).most_common(1)[0]
        for s, m, rel, where in shapes:
            if (s, m) != (size, mode):
                problems.append(f"{rel}: {s[0]}x{s[1]} {m}, but the submission is "
                                f"{size[0]}x{size[1]} {mode} ({where})")
    if problems:
        raise SubmissionError(f"{root}: submission rejected, {len(problems)} problem(s):",
                              problems)
    arr = np.stack(images)
    if arr.ndim == 3:
        arr = arr[:, :, :, None]
    lab = np.asarray(labels, dtype=np.int64)
    counts = {CANONICAL[i]: int((lab == i).sum()) for i in sorted(set(labels))}
    return Validated(images=arr, labels=lab,
                     aus=np.stack(aus) if au_cols else None, au_columns=au_cols, paths=paths,
                     size=(int(size[0]), int(size[1])), mode=mode, counts=counts)


def allowed_ratios(counts: dict[str, int], real_per_class: int, classes) -> dict:
    """The largest mix ratio k the counts allow without reusing an image: a k x mix needs k
    times the real count of every class, so k = min over the dataset's classes of
    ``count // real_per_class``."""
    per_class = {c: counts.get(c, 0) // real_per_class for c in classes}
    return {"real_per_class": real_per_class, "per_class_max_ratio": per_class,
            "max_ratio": min(per_class.values()) if per_class else 0,
            "missing_classes": [c for c in classes if counts.get(c, 0) == 0]}
