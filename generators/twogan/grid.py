"""Sample grid for the leaderboard: identities (rows) x expressions (columns), one PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ferbench.labels import CANONICAL


def sample_grid(gen, path, *, n_identities: int = 8, seed: int = 0, scale: int = 2) -> Path:
    """Write ``path`` (PNG): row ``i`` is identity ``i`` drawn from ``seed``; column 0 is the
    identity GAN's raw face, then one column per training class, in canonical order, each the
    expression GAN's translation of that same face. Pixels are upscaled ``scale``x (nearest)
    with a 2-pixel white gutter. Returns the path. The column names are written to the PNG's
    text chunk ``columns`` (no font rendering, so the file is identical everywhere)."""
    from PIL import PngImagePlugin

    from .generator import _to_uint8

    classes = [int(c) for c in gen.classes_]
    faces = gen.identities(n_identities, seed=seed)
    cols = [_to_uint8(faces, gen.shape_[0])]
    for c in classes:
        out = gen.translate(faces, np.full(n_identities, c, dtype=np.int64))
        cols.append(_to_uint8(out, gen.shape_[0]))
    h, w, ch = gen.shape_
    gut = 2
    rows_px, cols_px = n_identities * (h + gut) + gut, len(cols) * (w + gut) + gut
    canvas = np.full((rows_px, cols_px, ch), 255, dtype=np.uint8)
    for j, col in enumerate(cols):
        for i in range(n_identities):
            y0, x0 = gut + i * (h + gut), gut + j * (w + gut)
            canvas[y0:y0 + h, x0:x0 + w] = col[i]
    img = Image.fromarray(canvas[..., 0] if ch == 1 else canvas)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    info = PngImagePlugin.PngInfo()
    info.add_text("columns", ",".join(["identity"] + [CANONICAL[c] for c in classes]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, pnginfo=info)
    return path
