"""Records and decoding: an adapter's records -> arrays (the one place pixels are read).

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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ferbench.errors import ConfigError, DataError
from ferbench.labels import CANONICAL, INDEX, canonical

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
#: Bumped when the decoding rules above change; every adapter's cache key includes it.
DECODE_VERSION = "1"
_MAX_NAMED = 5
#: A skip reason longer than this loses trailing sentences (never part of a sentence).
_REASON_CHARS = 120


class SkippedFilesWarning(UserWarning):
    """Some files of a data set could not be decoded and were left out."""


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
        return None, short_reason(str(e) or type(e).__name__)


def short_reason(msg: str, limit: int = _REASON_CHARS) -> str:
    """A decoder's error message as one short line, shortened by whole sentences.

    Only the first line is kept; if it is longer than ``limit``, trailing sentences are
    dropped, but the first sentence is always kept whole (a reason cut mid-word, such as
    Pillow's decompression-bomb message ending in "could be decom", tells the user nothing).
    """
    lines = [ln.strip() for ln in str(msg).splitlines() if ln.strip()]
    line = " ".join(lines[0].split()) if lines else ""
    if len(line) <= limit:
        return line
    sentences = re.split(r"(?<=[.!?;])\s+", line)
    out = sentences[0]
    for sent in sentences[1:]:
        if len(out) + 1 + len(sent) > limit:
            break
        out += " " + sent
    return out


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
