"""Rasterising: the supersampled :class:`_Canvas` that collects shapes and draws them in one
pass after the pose transform, the colour helper, backgrounds and the pose / framing jitter."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw


def _scale_for(resolution: int) -> int:
    return max(2, math.ceil(144 / resolution))


class _Canvas:
    """Records polygons and lines in canonical coordinates; ``flush`` transforms all points at
    once (pose + canonical -> supersampled pixels) and draws them in order."""

    def __init__(self, S: int, A: np.ndarray, t: np.ndarray, scale: float):
        self.S = S
        self.A = A * (S / 2.0)
        self.t = (t + 1.0) * (S / 2.0) - 0.5
        self.k = S / 2.0 * scale
        self.ops = []

    def poly(self, p, col, alpha=1.0):
        if p is not None and alpha > 0.004:
            self.ops.append((p, _col(col, alpha), 0))

    def line(self, p, col, width, alpha=1.0):
        if alpha > 0.004:
            self.ops.append((p, _col(col, alpha), max(1, int(width * self.k + 0.5))))

    def flush(self, im: Image.Image) -> Image.Image:
        d = ImageDraw.Draw(im, "RGBA")
        pts = np.concatenate([op[0] for op in self.ops]) @ self.A.T + self.t
        flat = pts.ravel().tolist()
        i = 0
        for p, col, w in self.ops:
            n = 2 * len(p)
            xy = flat[i:i + n]
            i += n
            if w == 0:
                d.polygon(xy, fill=col)
            else:
                d.line(xy, fill=col, width=w, joint="curve" if n > 4 else None)
        return im


def _col(c, alpha=1.0):
    return (int(c[0] + 0.5), int(c[1] + 0.5), int(c[2] + 0.5),
            int(255.0 * (alpha if alpha < 1.0 else 1.0) + 0.5))


def _background(r: np.random.Generator | None, S: int) -> Image.Image:
    if r is None:
        return Image.new("RGB", (S, S), (150, 150, 150))
    kind = r.choice(3, p=[0.45, 0.4, 0.15])
    base = r.uniform(30, 230, 3) * r.uniform(0.6, 1.0)
    if kind == 0:       # smooth gradient
        small = base + r.uniform(-60, 60, (2, 2, 3))
    elif kind == 1:     # blotchy texture
        n = int(r.integers(4, 9))
        small = base + r.uniform(-50, 50, (n, n, 1)) + r.uniform(-20, 20, (n, n, 3))
    else:               # stripes / tiles
        n = int(r.integers(3, 8))
        v = np.where(np.arange(n * 2) % 2 == 0, 1.0, -1.0)[:, None, None] * r.uniform(15, 45)
        small = base + np.broadcast_to(v, (n * 2, 1, 1)) + np.zeros((1, 1, 3))
        if r.uniform() < 0.5:
            small = small.transpose(1, 0, 2)
    small = np.clip(small, 0, 255).astype(np.uint8)
    resample = Image.NEAREST if kind == 2 else Image.BILINEAR
    return Image.fromarray(small, "RGB").resize((S, S), resample)


_FACE_SCALE = 0.93
_FACE_DY = -0.1


def _pose(r: np.random.Generator | None):
    if r is None:
        return np.eye(2), np.zeros(2), 1.0
    ang = math.radians(r.normal(0.0, 4.0))
    ang = max(min(ang, math.radians(10)), math.radians(-10))
    sc = r.uniform(0.92, 1.04)
    A = sc * np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    t = r.uniform(-0.05, 0.05, 2)
    return A, t, sc
