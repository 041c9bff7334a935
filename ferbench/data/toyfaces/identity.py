"""Who is drawn: an identity seed -> face shape, colouring, hair, glasses, beard, clothes
(:class:`_Identity`), drawn from one seeded stream so the same seed always gives the same person."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Base of every toyfaces random stream (identity, AU sampling, nuisances); fixed forever.
_BASE_SEED = 20240917


@dataclass(frozen=True)
class _Identity:
    face_a: float
    ear_y: float
    chin_y: float
    top_y: float
    jaw_n: float
    skin: tuple
    hair_style: int          # 0 bald, 1 short, 2 long, 3 fringe
    hair: tuple
    hairline: float
    eye_y: float
    eye_dx: float
    eye_hw: float
    eye_hh: float
    eye_tilt: float
    iris: tuple
    brow_h: float
    brow_th: float
    brow_arch: float
    brow: tuple
    nose_tip: float
    nose_w: float
    mouth_y: float
    mouth_hw: float
    lip_up: float
    lip_lo: float
    lips: tuple
    fold: float
    glasses: int             # 0 none, 1 glasses
    glasses_col: tuple
    beard: float             # 0 none, else opacity
    shirt: tuple


def _mix(a, b, t):
    return tuple(float(x) * (1 - t) + float(y) * t for x, y in zip(a, b))


_SKIN_LIGHT = (238, 205, 180)
_SKIN_DARK = (92, 62, 44)
_HAIR_COLOURS = [(22, 18, 16), (58, 40, 28), (105, 72, 44), (196, 160, 104), (150, 148, 146),
                 (140, 62, 30)]
_IRIS_COLOURS = [(70, 45, 25), (40, 28, 20), (70, 110, 150), (80, 110, 70)]


def _identity(identity_seed: int) -> _Identity:
    r = np.random.default_rng([_BASE_SEED, 7, int(identity_seed)])
    v = iter(r.random(48).tolist())

    def u(lo, hi):
        return lo + (hi - lo) * next(v)

    def pick(p):
        return int(np.searchsorted(np.cumsum(p), next(v) * sum(p), side="right"))

    skin = _mix(_SKIN_LIGHT, _SKIN_DARK, u(0, 1) ** 1.3)
    skin = tuple(c * u(0.95, 1.05) for c in skin)
    hair = _HAIR_COLOURS[min(pick([.3, .28, .17, .1, .08, .07]), len(_HAIR_COLOURS) - 1)]
    hair = tuple(c * u(0.85, 1.15) for c in hair)
    style = min(pick([0.08, 0.45, 0.3, 0.17]), 3)
    eye_y = u(-0.2, -0.08)
    lips = _mix(skin, (175, 70, 75), u(0.25, 0.45))
    lips = tuple(c * u(0.68, 0.82) for c in lips)
    glasses = int(u(0, 1) < 0.12)
    beard_on, beard_full, beard_a = u(0, 1) < 0.12, u(0, 1) < 0.5, u(0, 1)
    beard = 0.0 if not beard_on else (0.8 + 0.15 * beard_a if beard_full else 0.3 + 0.2 * beard_a)
    hair_hi = u(-0.72, -0.55)
    hair_lo = u(-0.52, -0.42)
    frame = (u(0, 200), u(0, 200), u(0, 200))
    return _Identity(
        face_a=u(0.6, 0.74), ear_y=eye_y + u(0.02, 0.08), chin_y=u(0.8, 0.9),
        top_y=u(-1.12, -0.95), jaw_n=u(1.9, 3.0), skin=skin, hair_style=style, hair=hair,
        hairline=hair_hi if style != 3 else hair_lo,
        eye_y=eye_y, eye_dx=u(0.26, 0.33), eye_hw=u(0.12, 0.155), eye_hh=u(0.05, 0.068),
        eye_tilt=u(-0.015, 0.025),
        iris=_IRIS_COLOURS[min(int(u(0, len(_IRIS_COLOURS))), len(_IRIS_COLOURS) - 1)],
        brow_h=u(0.13, 0.19), brow_th=u(0.035, 0.06), brow_arch=u(0.0, 0.04),
        brow=_mix(hair, (20, 15, 12), u(0.3, 0.8)),
        nose_tip=u(0.15, 0.26), nose_w=u(0.09, 0.14),
        mouth_y=u(0.45, 0.56), mouth_hw=u(0.18, 0.25), lip_up=u(0.03, 0.05),
        lip_lo=u(0.035, 0.065), lips=lips, fold=u(0.0, 0.25),
        glasses=glasses, glasses_col=_mix((15, 15, 15), frame, u(0, 0.6)),
        beard=beard, shirt=(u(20, 235), u(20, 235), u(20, 235)),
    )
