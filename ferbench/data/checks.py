"""Cheap sanity checks on prepared data that a FER researcher would want to hear about.

``sharpness`` is the mean absolute difference between neighbouring pixels (horizontal plus
vertical), a blur proxy on the 0..255 scale. A training split much blurrier than its test
split has lost detail, and every score trained on it drops. This check caught a real defect:
an earlier FER2013 archive shared with this project had a low-pass-filtered training split
(train median ~6.7, PublicTest/PrivateTest ~26 on this measure; real-only accuracy 32.6%
against the published 60-66%). That archive has since been replaced by an untouched copy,
whose splits measure alike (see benchmarks/README.md and ``benchmarks/fer2013_sharpness.py``).
Copies like the old one circulate, so ferbench warns instead of letting them pass silently.
"""

from __future__ import annotations

import numpy as np

#: warn when one split is this many times sharper than the other
SHARPNESS_RATIO_WARN = 2.0


def sharpness_per_image(images: np.ndarray) -> np.ndarray:
    """Per image (N,H,W,C uint8), the mean absolute horizontal plus vertical neighbour
    difference of the channel-mean image; shape (N,), float32."""
    x = images.astype(np.float32).mean(axis=3)
    dx = np.abs(np.diff(x, axis=2)).mean(axis=(1, 2))
    dy = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2))
    return dx + dy


def sharpness(images: np.ndarray, max_images: int = 2000) -> float:
    """Median over (the first ``max_images``) images of :func:`sharpness_per_image`."""
    x = images[:max_images]
    return float(np.median(sharpness_per_image(x))) if len(x) else float("nan")


def sharpness_mismatch(train: np.ndarray, test: np.ndarray) -> tuple[float, float, str | None]:
    """Return (train sharpness, test sharpness, warning text or None)."""
    a, b = sharpness(train), sharpness(test)
    if not (a > 0 and b > 0):
        return a, b, None
    ratio = max(a, b) / min(a, b)
    if ratio < SHARPNESS_RATIO_WARN:
        return a, b, None
    blurrier = "train" if a < b else "test"
    return a, b, (f"the {blurrier} images are {ratio:.1f}x blurrier than the "
                  f"{'test' if blurrier == 'train' else 'train'} images (mean |pixel gradient| "
                  f"train {a:.1f} vs test {b:.1f}): the splits differ in image quality; expect "
                  f"lower scores than published")
