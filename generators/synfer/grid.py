"""A sample grid PNG for the leaderboard: rows = classes, columns = seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def sample_grid(path, gen, *, seeds=(0, 1, 2, 3, 4, 5, 6, 7), classes=None, scale: int = 2,
                pad: int = 2) -> Path:
    """Render one image per (class, seed) with ``gen.generate(all classes, seed=s)`` (one call
    per seed, so one column is one batch) and write a grid PNG to ``path`` (rows: ``classes``, default the fitted ones, in canonical order;
    columns: ``seeds``). Returns the path. ``scale`` enlarges each face (nearest)."""
    from ferbench.labels import INDEX

    classes = list(classes or gen.classes_)
    want = np.array([INDEX[c] for c in classes], dtype=np.int64)
    cols = []
    for s in seeds:
        b = gen.generate(want, seed=int(s))
        # with pseudo-labelling a column's images may come back in another order: by label
        order = np.argsort(np.asarray(b.labels), kind="stable")
        cols.append(np.asarray(b.images)[order])
    tiles = [[col[r] for col in cols] for r in range(len(classes))]
    h, w, ch = tiles[0][0].shape
    H, W = h * scale, w * scale
    canvas = np.full((len(classes) * (H + pad) + pad, len(seeds) * (W + pad) + pad, 3), 255,
                     np.uint8)
    for r, row in enumerate(tiles):
        for c, img in enumerate(row):
            img = np.repeat(np.repeat(img, scale, 0), scale, 1)
            if ch == 1:
                img = np.repeat(img, 3, 2)
            y0, x0 = pad + r * (H + pad), pad + c * (W + pad)
            canvas[y0:y0 + H, x0:x0 + W] = img
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path
