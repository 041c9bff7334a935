"""One face: :func:`render` (identity seed + AUs [+ nuisance seed] -> image and landmarks) and
the drawing order of the face parts (:func:`_draw_face`)."""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageFilter

from ferbench.aus import AU_NAMES
from ferbench.data.toyfaces.canvas import (
    _FACE_DY,
    _FACE_SCALE,
    _background,
    _Canvas,
    _pose,
    _scale_for,
)
from ferbench.data.toyfaces.geometry import _RECT, _Geo, _geometry, _pts
from ferbench.data.toyfaces.identity import _BASE_SEED, _Identity, _identity

#: Bump whenever the rendered pixels, labels, AUs or landmarks change.
RENDER_VERSION = "1.0"


def render(identity_seed: int, aus: np.ndarray, resolution: int = 48, channels: int = 1,
           nuisance_seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render one face.

    ``aus``: 15 intensities (0..5, order ``AU_NAMES``). ``nuisance_seed=None`` renders a clean,
    frontal, evenly lit face on a plain grey background; an integer draws pose, gaze, background,
    lighting, blur and noise from it. Returns ``(image uint8 (H, W, C), landmarks float32 (68, 2))``
    with landmarks in output-pixel coordinates (pixel centre ``k`` at ``k``).
    """
    aus = np.asarray(aus, dtype=np.float64).reshape(-1)
    if aus.shape != (len(AU_NAMES),):
        raise ValueError(f"aus must have {len(AU_NAMES)} values (order {AU_NAMES}), got {aus.shape}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    resolution = int(resolution)
    if resolution < 8:
        raise ValueError(f"resolution must be >= 8, got {resolution}")
    idn = _identity(identity_seed)
    r = None if nuisance_seed is None else np.random.default_rng([_BASE_SEED, 9, int(nuisance_seed)])
    # draw every resolution-independent random number first
    A, t, scale = _pose(r)
    # the face model is drawn a little smaller and higher, so every landmark stays inside
    # the image under any pose jitter and jaw drop
    t = A @ np.array([0.0, _FACE_DY]) + t
    A = A * _FACE_SCALE
    scale = scale * _FACE_SCALE
    gaze = (0.0, 0.0) if r is None else tuple(r.uniform(-1, 1, 2))
    g = _geometry(idn, aus, gaze)
    ss = _scale_for(resolution)
    S = resolution * ss
    cv = _Canvas(S, A, t, scale)
    _draw_face(cv, idn, g)
    im = cv.flush(_background(r, S))
    im = im.reduce(ss)
    if channels == 1:
        im = im.convert("L")
    if r is not None:
        blur = r.uniform(0.0, 0.8) if r.uniform() < 0.35 else 0.0
        gain = r.uniform(0.8, 1.2)
        contrast = r.uniform(0.85, 1.15)
        ga = r.uniform(0, 2 * np.pi)
        gstr = r.uniform(0.0, 0.3)
        offset = r.uniform(-15, 15)
        sigma = r.uniform(0.0, 5.0)
        if blur > 0.15:
            im = im.filter(ImageFilter.GaussianBlur(blur * resolution / 48.0))
        x = np.asarray(im, dtype=np.float32)
        if x.ndim == 2:
            x = x[:, :, None]
        ramp = (np.arange(resolution, dtype=np.float32) / (resolution - 1) - 0.5)
        light = 1.0 + gstr * (math.cos(ga) * ramp[None, :] + math.sin(ga) * ramp[:, None])
        x = (x - 128.0) * contrast + 128.0
        x = x * (gain * light)[:, :, None] + offset
        x += r.standard_normal(x.shape, dtype=np.float32) * sigma
        img = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    else:
        img = np.asarray(im, dtype=np.uint8)
        if img.ndim == 2:
            img = img[:, :, None]
        img = np.ascontiguousarray(img)
    lm = g.lm @ A.T + t
    lm = (lm + 1.0) * (resolution / 2.0) - 0.5
    return img, lm.astype(np.float32)


def _draw_face(cv: _Canvas, idn: _Identity, g: _Geo) -> None:
    skin = idn.skin
    dark = tuple(c * 0.45 for c in skin)
    shade = tuple(c * 0.82 for c in skin)
    if g.hair_back is not None:
        cv.poly(g.hair_back, idn.hair)
    cv.poly(g.shirt, idn.shirt)
    cv.poly(g.neck, shade)
    for ear in g.ears:
        cv.poly(ear, shade)
    cv.poly(g.face, skin)
    for ch, al in g.cheeks:
        cv.poly(ch, (255, 235, 225), min(al, 0.35))
    if g.beard is not None:
        cv.poly(g.beard, idn.hair, idn.beard)
    # nose
    cv.line(g.bridge_shadow, dark, 0.02, 0.25)
    for ala in g.alae:
        cv.line(ala, dark, 0.014, 0.45)
    for n in g.nostrils:
        cv.poly(n, tuple(c * 0.25 for c in skin), 0.9)
    # folds and wrinkles
    for pts, al, w in g.lines:
        cv.line(pts, dark, w, min(al, 0.85))
    # eyes
    for e in g.eyes:
        cv.poly(e["almond"], (232, 228, 222))
        cv.poly(e["iris"], idn.iris)
        cv.poly(e["pupil"], (12, 10, 10))
        cv.line(e["crease"], dark, 0.012, 0.35)
        cv.line(e["upper"], (25, 18, 15), 0.022)
        cv.line(e["lower"], dark, 0.01, 0.5)
    # mouth
    if g.mouth_gap > 0.006:
        cv.poly(g.mouth_inner, (70, 20, 25))
        cv.poly(g.teeth_up, (235, 230, 215))
        cv.poly(g.teeth_lo, (215, 210, 195))
    cv.poly(g.lip_upper, idn.lips)
    cv.poly(g.lip_lower, tuple(c * 1.08 for c in idn.lips))
    cv.line(g.lip_line, tuple(c * 0.4 for c in idn.lips), 0.012, 0.8)
    # hair and brows
    if g.hair_cap is not None:
        cv.poly(g.hair_cap, idn.hair)
    for b in g.brows:
        cv.poly(b, idn.brow)
    if idn.glasses:
        for e in g.eyes:
            c = e["centre"]
            rect = _RECT * (0.2, 0.12) + c + (0, 0.01)
            cv.poly(rect, (200, 220, 240), 0.12)
            cv.line(np.vstack([rect, rect[:1]]), idn.glasses_col, 0.022)
        lx = g.eyes[0]["centre"][0] + 0.2
        cv.line(_pts([lx, -lx], [g.eyes[0]["centre"][1]] * 2), idn.glasses_col, 0.02)
