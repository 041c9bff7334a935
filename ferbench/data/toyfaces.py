"""toyfaces: ferbench's built-in, offline, procedurally rendered expression data set.

A deterministic renderer draws cartoon-like faces whose geometry is driven by FACS action
units (AUs). Each image is a pure function of ``(split, index, resolution, channels)``, so the
data set is reproducible anywhere and needs no download and no licence.

**Results on toyfaces are a smoke test of the ferbench pipeline, not facial-expression
recognition results.** The faces are drawn from a handful of polygons; a model that does well
here has learned this renderer, not human expressions.

What is rendered
----------------
- *Identity* (from an identity seed): face shape (width, chin height, jaw squareness), skin tone,
  hair style (bald / short / long / fringe) and colour, eye spacing, size and colour, brow
  thickness, height and arch, nose length and width, mouth width and lip thickness, occasional
  glasses and beards (stubble or full), shirt colour.
- *Action units* ``AU_NAMES`` on the 0..5 FACS intensity scale (float) move the geometry:
  AU1 / AU2 raise the inner / outer brows (and wrinkle the forehead), AU4 lowers and knits the
  brows (vertical furrows), AU5 raises the upper lids, AU7 tightens the lids, AU6 raises the
  cheeks (narrowed eyes, cheek bulge, crow's feet), AU9 wrinkles the nose (raised nostril wings,
  nose-root wrinkles, lowered inner brows), AU10 raises the upper lip (exposing teeth), AU12 pulls
  the lip corners out and up, AU15 pulls them down, AU17 pushes the chin and lower lip up,
  AU20 stretches the lips sideways, AU23 tightens / thins the lips, AU25 parts the lips and AU26
  drops the jaw. Nasolabial folds deepen with AU6/9/10/12.
- *Expressions* are EMFACS-style prototypes (``PROTOTYPES``) for the 7 basic classes, sampled at
  varied (often low) intensity, with some of the prototype's AUs dropped and with small random
  activations of other AUs, so the classes overlap.
- *Nuisances* (from a nuisance seed): small in-plane rotation / translation / scale, gaze,
  background (smooth gradient, blotchy texture or stripes), a lighting gradient with global
  brightness and contrast changes, blur and pixel noise.

Every rendered image records its ground-truth AU intensities (``FaceData.aus`` with
``au_names == AU_NAMES``) and 68 landmarks in the iBUG 300-W order (jaw 0-16, brows 17-26,
nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67; "left" and "right" as in iBUG, i.e.
point 0 / 17 / 36 / 48 are on the image's left). Landmarks are ``(x, y)`` in output pixels with
pixel ``k``'s centre at ``k`` (dlib / OpenCV convention), after the pose jitter.

Splits ``train`` / ``val`` / ``test`` hold 500 / 100 / 200 images per class by default; image
``i`` has class ``BASIC7[i % 7]`` so every prefix is balanced, and identities never repeat
across splits (identity seeds are ``split offset + i``, with disjoint offsets). Image ``i`` of a
split is a pure function of ``(split, i, resolution, channels)`` (seeded ``np.random.default_rng``
streams from a fixed base seed; every resolution-independent number is drawn before any
resolution-dependent one, so the same face comes out at 48 and 64 pixels). Pixels are
bit-identical across runs; across machines they are identical for the same Pillow version
(the rasteriser), and ``FaceData.content_hash`` would reveal any drift.

Difficulty and speed (measured, 2-core shared machine, ``torch.set_num_threads(1)``)
-------------------------------------------------------------------------------------
Rendering takes about 1.3-1.5 ms per 48x48 face and 1.5-2.0 ms per 64x64 face on one core.
The prototypes' AUs alone predict the class with about 94 % accuracy (gradient boosting on the
ground-truth AUs), roughly the ceiling for any image model. The small FER2013-style CNN in
``benchmarks/toyfaces_difficulty.py`` (48x48 gray, Adam 1e-3, batch 64, flips) reached 71 % test
accuracy with 500 images/class after 15 epochs and 32 % with 50 images/class after 30 epochs
(chance: 14 %). Re-run that script after any change to the renderer or the sampling constants,
and bump ``RENDER_VERSION``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ferbench.data.base import FaceData
from ferbench.labels import BASIC7, INDEX

#: Bump whenever the rendered pixels, labels, AUs or landmarks change.
RENDER_VERSION = "1.0"

AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU15", "AU17", "AU20",
    "AU23", "AU25", "AU26",
)
_AUI = {n: i for i, n in enumerate(AU_NAMES)}

#: EMFACS-style prototypes: canonical class name -> AU intensities (0..5) at full strength.
#: (Disgust uses 9+10+15+17 because AU16 is not rendered; contempt is not generated.)
PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 3.0, "AU12": 4.0},
    "sad": {"AU1": 3.5, "AU4": 2.5, "AU15": 3.5},
    "surprise": {"AU1": 4.0, "AU2": 4.0, "AU5": 2.0, "AU26": 4.0},
    "fear": {"AU1": 3.5, "AU2": 3.0, "AU4": 2.5, "AU5": 3.5, "AU7": 2.0, "AU20": 3.5, "AU26": 3.0},
    "disgust": {"AU9": 3.5, "AU10": 3.0, "AU15": 2.5, "AU17": 2.5},
    "anger": {"AU4": 4.0, "AU5": 3.0, "AU7": 3.0, "AU23": 3.5},
}

CLASSES: tuple[str, ...] = BASIC7
SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_PER_CLASS: dict[str, int] = {"train": 500, "val": 100, "test": 200}

_BASE_SEED = 20240917
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
#: identity seed of image i in a split = offset + i (i < 10**7): disjoint between splits.
_IDENTITY_OFFSET = {"train": 10_000_000, "val": 20_000_000, "test": 30_000_000}

# Expression sampling (difficulty calibration; see benchmarks/toyfaces_difficulty.py).
_GAIN_RANGE = (0.3, 1.3)      # overall prototype strength, uniform
_AU_JITTER = (0.6, 1.4)       # per-AU multiplicative jitter
_DROP_P = 0.25                # probability to drop each prototype AU (at least one is kept)
_NOISE_P = 0.15               # probability that any AU gets a small random activation
_NOISE_MAX = 1.6              # max intensity of that activation


# ----------------------------------------------------------------------------------------------
# identity


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


# ----------------------------------------------------------------------------------------------
# geometry (canonical coordinates: the output image spans [-1, 1] x [-1, 1], y down)


def _circle(n):
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(a), np.sin(a)], axis=1)


_CIRCLE = _circle(24)
_CIRCLE16 = _circle(16)
_CIRCLE12 = _circle(12)
_RECT = np.sign(_CIRCLE) * np.abs(_CIRCLE) ** 0.5           # rounded rectangle (glasses)
_PHI = np.linspace(0.0, np.pi, 33)
_PHI_C, _PHI_S = np.cos(_PHI), np.sin(_PHI)
_PHI_SGN, _PHI_AC, _PHI_AS = np.sign(_PHI_C), np.abs(_PHI_C), np.abs(_PHI_S)
_TH = np.linspace(0.0, np.pi, 21)[1:-1]
_TH_C, _TH_S = np.cos(_TH), np.sin(_TH)
_HB = np.linspace(np.pi, 0.0, 19)
_HB_C, _HB_S = np.cos(_HB), np.sin(_HB)
_HX = np.linspace(-1.0, 1.0, 21)
_HX3 = np.abs(_HX) ** 3
_HXW = 0.03 * np.cos(_HX * 23.0)
_HT_C, _HT_S = np.cos(np.linspace(0.0, np.pi, 21)), np.sin(np.linspace(0.0, np.pi, 21))
_TB9 = np.linspace(0.0, 1.0, 9)
_TB5 = np.linspace(0.0, 1.0, 5)
_T_DENSE = np.linspace(0.0, 1.0, 15)
_T_SIN = np.sin(np.pi * _T_DENSE)
_T_UP = np.sin(np.pi * _T_DENSE ** 0.85) ** 0.8
_T_LO = np.sin(np.pi * _T_DENSE ** 1.1)
_T3 = np.array([0.0, 1 / 3, 2 / 3, 1.0])
_TM = np.linspace(-1.0, 1.0, 25)
_TI = _TM * 0.92
_TT = np.linspace(-0.85, 0.85, 17)
_TL = np.linspace(-0.6, 0.6, 11)
_LM_TO = np.array([-1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1.0])
_LM_TLO = np.array([2 / 3, 1 / 3, 0, -1 / 3, -2 / 3])
_LM_TIU = np.array([-0.92, -0.45, 0.0, 0.45, 0.92])
_LM_TIL = np.array([0.45, 0.0, -0.45])
_TQ = np.linspace(0, 1, 9)[:, None]
_CHIN_X = np.linspace(-0.09, 0.09, 5)
_CHIN_C = 0.012 * np.cos(np.linspace(-1.5, 1.5, 5))


def _ellipse(cx, cy, rx, ry, circle=_CIRCLE):
    out = circle * (rx, ry)
    out += (cx, cy)
    return out


def _pts(x, y):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.shape[0], 2))
    out[:, 0] = x
    out[:, 1] = y
    return out


class _Geo:
    """All shapes of one face in canonical coordinates, before the pose transform."""


def _geometry(idn: _Identity, au: np.ndarray, gaze=(0.0, 0.0)) -> _Geo:
    a = np.clip(np.asarray(au, dtype=np.float64), 0.0, 5.0) / 5.0    # 0..1
    (u1, u2, u4, u5, u6, u7, u9, u10, u12, u15, u17, u20, u23, u25, u26) = a.tolist()
    g = _Geo()
    lm = np.zeros((68, 2))

    # --- jaw / face outline ------------------------------------------------------------------
    drop = 0.15 * u26 - 0.025 * u17
    e = 2.0 / idn.jaw_n
    jaw = _pts(-idn.face_a * _PHI_SGN * _PHI_AC ** e,
               idn.ear_y + (idn.chin_y - idn.ear_y) * _PHI_AS ** e + drop * _PHI_S ** 2)
    lm[0:17] = jaw[::2]
    fore = _pts(idn.face_a * 0.97 * _TH_C, idn.ear_y - (idn.ear_y - idn.top_y) * _TH_S)
    g.face = np.concatenate([jaw, fore])
    g.ears = [_ellipse(sd * idn.face_a * 0.98, idn.ear_y - 0.02, 0.075, 0.14, _CIRCLE16)
              for sd in (-1, 1)]
    cy = idn.chin_y
    g.neck = np.array([[-0.27, cy - 0.3], [0.27, cy - 0.3], [0.3, 1.3], [-0.3, 1.3]])
    g.shirt = np.array([[-1.3, 1.3], [-1.1, cy + 0.22], [-0.28, cy + 0.12], [0.0, cy + 0.28],
                        [0.28, cy + 0.12], [1.1, cy + 0.22], [1.3, 1.3]])

    # --- hair ------------------------------------------------------------------------------
    g.hair_back = None
    g.hair_cap = None
    if idn.hair_style == 2:
        g.hair_back = np.concatenate([
            _pts(idn.face_a * 1.2 * _HB_C, idn.ear_y - (idn.ear_y - idn.top_y + 0.08) * _HB_S),
            [[idn.face_a * 1.25, cy + 0.1], [-idn.face_a * 1.25, cy + 0.1]],
        ])
    if idn.hair_style != 0:
        outer = _pts(-idn.face_a * 1.08 * _HT_C,
                     idn.ear_y - 0.05 - (idn.ear_y - 0.05 - idn.top_y + 0.07) * _HT_S)
        hl = idn.hairline + (idn.ear_y - 0.1 - idn.hairline) * _HX3
        if idn.hair_style == 3:
            hl = hl + _HXW
        inner = _pts(_HX[::-1] * idn.face_a, hl[::-1])
        g.hair_cap = np.concatenate([outer, inner])

    # --- brows -----------------------------------------------------------------------------
    g.brows = []
    inner_x = idn.eye_dx - idn.eye_hw * 0.95 - 0.01
    outer_x = idn.eye_dx + idn.eye_hw * 1.15

    def brow_line(t):
        x = inner_x + (outer_x - inner_x) * t
        y = (idn.eye_y - idn.brow_h - idn.brow_arch * np.sin(np.pi * (0.25 + 0.65 * t))
             + 0.02 * t)
        y = (y - 0.13 * u1 * (1 - t) ** 1.5 - 0.12 * u2 * t ** 1.2
             + 0.09 * u4 * (1 - 0.45 * t) + 0.03 * u9 * (1 - t))
        x = x - 0.045 * u4 * (1 - t) - 0.012 * u9 * (1 - t) + 0.012 * u2 * t
        return x, y

    bx, by = brow_line(_TB9)
    thick = idn.brow_th * (1.0 - 0.45 * _TB9 ** 1.5)
    band = np.concatenate([_pts(bx, by - thick / 2), _pts(bx, by + thick / 2)[::-1]])
    px, py = brow_line(_TB5)
    lm[22:27] = _pts(px, py)                        # 22 inner -> 26 outer
    lm[17:22] = lm[26:21:-1] * (-1, 1)              # 17 outer -> 21 inner (mirror)
    g.brows = [band * (-1, 1), band]
    bmean = float(lm[17:27, 1].mean())

    # --- eyes ------------------------------------------------------------------------------
    h_up = idn.eye_hh * (1.0 + 0.9 * u5) * (1 - 0.25 * u7) * (1 - 0.2 * u6) * (1 - 0.2 * u4) \
        * (1 - 0.1 * u9)
    h_lo = idn.eye_hh * 0.85 * (1 - 0.6 * u7) * (1 - 0.45 * u6) * (1 - 0.25 * u9) \
        * (1 - 0.15 * u12) * (1 + 0.2 * u5)
    # the upper lid cannot rise into the (possibly lowered) brow
    _, by_c = brow_line(0.45)
    h_up = max(min(h_up, idn.eye_y - by_c - idn.brow_th * 0.5 - 0.02), 0.3 * idn.eye_hh)
    lo_pow = 0.9 + 0.8 * u7
    # right-hand eye (image right, iBUG 42-47) in eye-local terms, mirrored for the other
    cx = idn.eye_dx
    ix, ox = cx - idn.eye_hw, cx + idn.eye_hw
    iy, oy = idn.eye_y + 0.005, idn.eye_y - idn.eye_tilt - 0.01 * u7

    def lid_up(t, sup):
        return iy + (oy - iy) * t - h_up * sup

    def lid_lo(t, slo):
        return iy + (oy - iy) * t + h_lo * slo ** lo_pow

    ux = ix + (ox - ix) * _T_DENSE
    uy = lid_up(_T_DENSE, _T_UP)
    ly = lid_lo(_T_DENSE, _T_LO)
    upper = _pts(ux, uy)
    lower = _pts(ux, ly)
    almond = np.concatenate([upper, lower[-2:0:-1]])
    r_i = idn.eye_hh * 1.05
    icy = idn.eye_y - 0.15 * idn.eye_hh + gaze[1] * idn.eye_hh * 0.3

    def clip_disc(icx, r):
        lo_x = max(icx - r, ix) + 1e-6
        hi_x = min(icx + r, ox) - 1e-6
        xs = np.linspace(lo_x, hi_x, 13)
        half = np.sqrt(np.maximum(r * r - (xs - icx) ** 2, 0))
        t = (xs - ix) / (ox - ix)
        top = np.maximum(icy - half, lid_up(t, np.sin(np.pi * t ** 0.85) ** 0.8))
        bot = np.minimum(icy + half, lid_lo(t, np.sin(np.pi * t ** 1.1)))
        ok = top < bot
        if ok.sum() < 2:
            return None
        return np.concatenate([_pts(xs[ok], top[ok]), _pts(xs[ok], bot[ok])[::-1]])

    crease = _pts(ux, uy - idn.eye_hh * (0.55 + 0.3 * u5) * _T_SIN - 0.01)
    mirror = np.array([-1.0, 1.0])
    g.eyes = []
    for sd in (-1, 1):
        # gaze moves both irises the same way in image space
        icx = cx + sd * gaze[0] * idn.eye_hw * 0.35
        iris, pupil = clip_disc(icx, r_i), clip_disc(icx, r_i * 0.45)
        m = mirror if sd < 0 else 1.0
        g.eyes.append(dict(
            almond=almond * m, iris=None if iris is None else iris * m,
            pupil=None if pupil is None else pupil * m, upper=upper * m, lower=lower * m,
            crease=crease * m, corner_out=np.array([sd * ox, oy]),
            centre=np.array([sd * cx, idn.eye_y])))
    uyl = lid_up(_T3, np.sin(np.pi * _T3 ** 0.85) ** 0.8)
    lyl = lid_lo(_T3, np.sin(np.pi * _T3 ** 1.1))
    uxl = ix + (ox - ix) * _T3
    # 42 inner, 43 up 1/3, 44 up 2/3, 45 outer, 46 lo 2/3, 47 lo 1/3
    lm[42:48] = [[uxl[0], uyl[0]], [uxl[1], uyl[1]], [uxl[2], uyl[2]], [uxl[3], uyl[3]],
                 [uxl[2], lyl[2]], [uxl[1], lyl[1]]]
    # 36 outer, 37 up 2/3, 38 up 1/3, 39 inner, 40 lo 1/3, 41 lo 2/3 (mirror of 45,44,43,42,47,46)
    lm[36:42] = lm[[45, 44, 43, 42, 47, 46]] * mirror

    # --- nose ------------------------------------------------------------------------------
    nw = idn.nose_w * (1 + 0.12 * u9 + 0.05 * u10)
    tip = idn.nose_tip - 0.012 * u9
    wing_y = tip + 0.02 - 0.04 * u9 - 0.018 * u10
    top = idn.eye_y - 0.02
    lm[27:31, 1] = [top, top + (tip - top) / 3, top + 2 * (tip - top) / 3, tip]
    lm[31:36] = [[-nw, wing_y], [-nw * 0.5, wing_y + 0.025],
                 [0.0, tip + 0.05 - 0.02 * u9 - 0.01 * u10],
                 [nw * 0.5, wing_y + 0.025], [nw, wing_y]]
    g.nostrils = [_ellipse(sd * nw * 0.45, wing_y + 0.012, 0.032, 0.014, _CIRCLE12)
                  for sd in (-1, 1)]
    ala = np.array([[nw * 0.95, wing_y + 0.015], [nw * 1.12, wing_y - 0.02],
                    [nw * 1.0, wing_y - 0.05], [nw * 0.7, wing_y - 0.06]])
    g.alae = [ala * mirror, ala]
    g.bridge_shadow = np.array([[-0.045, top + 0.05], [-0.05, (top + tip) / 2],
                                [-nw * 0.75, tip - 0.03]])

    # --- mouth -----------------------------------------------------------------------------
    hw = idn.mouth_hw + 0.07 * u12 + 0.09 * u20 - 0.05 * u23 - 0.02 * u26 + 0.01 * u15 \
        - 0.01 * u17
    cy_corner = idn.mouth_y - 0.065 * u12 + 0.08 * u15 + 0.02 * u20 + 0.02 * u26 - 0.008 * u10
    cy_mid = idn.mouth_y - 0.025 * u17 - 0.01 * u9
    thu = idn.lip_up * (1 - 0.3 * u12) * (1 - 0.65 * u23) * (1 - 0.3 * u20)
    thl = idn.lip_lo * (1 - 0.15 * u12) * (1 - 0.65 * u23) * (1 - 0.3 * u20) * (1 + 0.25 * u17)
    op = (0.05 * u25 + 0.24 * u26) * (1 - 0.6 * u23)
    up10 = 0.05 * u10 + 0.012 * u9

    def lip_line(t):
        return cy_mid + (cy_corner - cy_mid) * np.abs(t) ** 2.2

    def up_inner(t):
        return lip_line(t) - up10 * (1 - np.abs(t) ** 3) - 0.2 * op * (1 - t * t) ** 0.7

    def lo_inner(t):
        return lip_line(t) + 0.8 * op * (1 - t * t) ** 0.7 - 0.012 * u17 * (1 - t * t)

    def up_outer(t):
        prof = (1 - np.abs(t) ** 2.5) ** 0.6
        dip = 0.3 * np.exp(-(t / 0.17) ** 2)
        return up_inner(t) - thu * prof * (1 - dip) - 0.3 * up10 * (1 - np.abs(t) ** 2)

    def lo_outer(t):
        return lo_inner(t) + thl * (1 - t * t) ** 0.6

    xi = _TI * hw
    ui_, li_ = up_inner(_TI), lo_inner(_TI)
    inner_up, inner_lo = _pts(xi, ui_), _pts(xi, li_)
    g.mouth_gap = float(np.max(li_ - ui_))
    g.lip_upper = np.concatenate([_pts(_TM * hw, up_outer(_TM)), inner_up[::-1]])
    g.lip_lower = np.concatenate([inner_lo, _pts(_TM * hw, lo_outer(_TM))[::-1]])
    g.lip_line = inner_up
    if g.mouth_gap > 0.006:
        g.mouth_inner = np.concatenate([inner_up, inner_lo[::-1]])
        ui, li = up_inner(_TT), lo_inner(_TT)
        g.teeth_up = np.concatenate([_pts(_TT * hw, ui), _pts(_TT * hw, np.minimum(ui + 0.045, li))[::-1]])
        ui2, li2 = up_inner(_TL), lo_inner(_TL)
        g.teeth_lo = np.concatenate([_pts(_TL * hw, np.maximum(li2 - 0.025, np.minimum(ui2 + 0.045, li2))),
                                     _pts(_TL * hw, li2)[::-1]])
    lm[48:55] = _pts(_LM_TO * hw, up_outer(_LM_TO))
    lm[55:60] = _pts(_LM_TLO * hw, lo_outer(_LM_TLO))
    lm[60:65] = _pts(_LM_TIU * hw, up_inner(_LM_TIU))
    lm[65:68] = _pts(_LM_TIL * hw, lo_inner(_LM_TIL))
    # the inner corners are where the lips meet
    lm[60, 1] = lm[64, 1] = lip_line(0.92)
    lo_chin = float(lo_outer(0.0))

    # --- folds and wrinkles: (points, alpha 0..1, width), built only when visible --------------
    lines = g.lines = []
    al = idn.fold + 0.6 * u12 + 0.55 * u10 + 0.45 * u9 + 0.25 * u6 + 0.15 * u20
    p0 = np.array([nw + 0.025, wing_y - 0.035])
    p2 = np.array([hw + 0.045, cy_corner + 0.06])
    p1 = np.array([max(nw, hw) + 0.1, (wing_y + cy_corner) / 2])
    curve = (1 - _TQ) ** 2 * p0 + 2 * (1 - _TQ) * _TQ * p1 + _TQ ** 2 * p2
    lines += [(curve * mirror, al, 0.016), (curve, al, 0.016)]
    if u6 > 0.01:     # crow's feet
        co = np.array([ox, oy])
        for dy in (-0.035, 0.0, 0.035):
            seg = np.array([co + [0.03, dy * 0.5], co + [0.1, dy * 1.4]])
            lines += [(seg * mirror, 0.8 * u6, 0.012), (seg, 0.8 * u6, 0.012)]
    al = 0.6 * u6 + 0.3 * u7
    if al > 0.01:     # infra-orbital furrow / lower-lid bulge
        seg = lower[2:-2] + [0.0, 0.045 + 0.02 * (1 - u6)]
        lines += [(seg * mirror, al, 0.012), (seg, al, 0.012)]
    if u1 + u2 > 0.01:    # horizontal forehead wrinkles
        for dy, span in ((0.12, 1.0), (0.19, 0.9), (0.26, 0.75)):
            y = bmean - dy
            lines.append((np.array([[-0.13, y + 0.01], [0.0, y], [0.13, y + 0.01]]),
                          0.8 * u1 + 0.2 * u2, 0.012))
            seg = np.array([[0.13, y + 0.01], [0.25, y + 0.02], [0.36 * span, y + 0.045]])
            lines += [(seg * mirror, 0.8 * u2 + 0.3 * u1, 0.012), (seg, 0.8 * u2 + 0.3 * u1, 0.012)]
    if u4 > 0.01:         # vertical furrows between the brows
        yb = float(lm[22, 1])
        x = 0.03 + 0.04 * float(lm[22, 0])
        seg = np.array([[x, yb - 0.05], [x * 1.1, yb + 0.06]])
        lines += [(seg * mirror, 0.9 * u4, 0.014), (seg, 0.9 * u4, 0.014)]
    if u9 > 0.01:         # nose-root wrinkles
        lines.append((np.array([[-0.05, top + 0.05], [0.05, top + 0.05]]), 0.7 * u9, 0.012))
        lines.append((np.array([[-0.06, top + 0.08], [0.06, top + 0.08]]), 0.7 * u9, 0.012))
    lines.append((_pts(_CHIN_X, lo_chin + 0.055 - _CHIN_C), 0.25 + 0.6 * u17, 0.014))
    if u15 > 0.01:        # depressor folds below the lip corners
        seg = np.array([[hw + 0.01, cy_corner + 0.02], [hw + 0.035, cy_corner + 0.1]])
        lines += [(seg * mirror, 0.8 * u15, 0.014), (seg, 0.8 * u15, 0.014)]
    if u20 > 0.01:        # stretched skin lateral to the lip corners
        seg = np.array([[hw + 0.03, cy_corner - 0.02], [hw + 0.06, cy_corner + 0.0],
                        [hw + 0.05, cy_corner + 0.04]])
        lines += [(seg * mirror, 0.7 * u20, 0.012), (seg, 0.7 * u20, 0.012)]
    if u23 > 0.01:        # tightened lips: vertical wrinkles above and below the red
        for xf in (-0.5, -0.15, 0.2, 0.55):
            x = xf * hw
            yu = float(up_outer(xf))
            yl = float(lo_outer(-xf))
            lines.append((np.array([[x, yu - 0.005], [x + 0.005, yu - 0.035]]), 0.6 * u23, 0.01))
            lines.append((np.array([[-x, yl + 0.005], [-x + 0.005, yl + 0.03]]), 0.5 * u23, 0.01))
    if u17 > 0.01:
        lines.append((np.array([[-0.05, lo_chin + 0.13 - 0.01 * u17],
                                [0.05, lo_chin + 0.13 - 0.01 * u17]]), 0.6 * u17, 0.012))
    al = 0.3 * u6 + 0.15 * u12
    g.cheeks = []
    if al > 0.01:
        ch = _ellipse(idn.eye_dx + 0.04, idn.eye_y + 0.26 - 0.06 * u6 - 0.02 * u12, 0.13, 0.075,
                      _CIRCLE16)
        g.cheeks = [(ch * mirror, al), (ch, al)]

    # beard: lower face below a line under the nose
    g.beard = None
    if idn.beard > 0:
        j = jaw[5:-5]
        ty = lm[33, 1] + 0.015
        g.beard = np.concatenate([j, [[j[-1, 0] * 0.97, ty + 0.12], [nw + 0.05, ty],
                                      [-nw - 0.05, ty], [j[0, 0] * 0.97, ty + 0.12]]])
    g.lm = lm
    return g


# ----------------------------------------------------------------------------------------------
# rendering


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


# ----------------------------------------------------------------------------------------------
# data set


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODE:
        raise ValueError(f"toyfaces has splits {SPLITS}, not '{split}'")


def identity_seed(split: str, i: int) -> int:
    """Identity seed of image ``i`` of ``split`` (disjoint between splits)."""
    _check_split(split)
    return _IDENTITY_OFFSET[split] + int(i)


def sample_aus(cls: str, rng: np.random.Generator) -> np.ndarray:
    """Draw AU intensities for one image of class ``cls`` (prototype, gain, drops, AU noise)."""
    out = np.zeros(len(AU_NAMES))
    proto = PROTOTYPES[cls]
    gain = rng.uniform(*_GAIN_RANGE)
    names = list(proto)
    keep = rng.uniform(size=len(names)) >= _DROP_P
    jitter = rng.uniform(*_AU_JITTER, size=len(names))
    if names and not keep.any():
        keep[int(rng.integers(len(names)))] = True
    for n, k, j in zip(names, keep, jitter):
        if k:
            out[_AUI[n]] = proto[n] * gain * j
    noise_on = rng.uniform(size=len(AU_NAMES)) < _NOISE_P
    noise = rng.uniform(0.0, _NOISE_MAX, size=len(AU_NAMES))
    out = out + np.where(noise_on, noise, 0.0)
    return np.clip(out, 0.0, 5.0)


def item(split: str, i: int) -> tuple[int, int, np.ndarray, int]:
    """``(canonical label, identity seed, aus, nuisance seed)`` of image ``i`` of ``split``."""
    _check_split(split)
    cls = CLASSES[int(i) % len(CLASSES)]
    rng = np.random.default_rng([_BASE_SEED, _SPLIT_CODE[split], int(i), 1])
    aus = sample_aus(cls, rng).astype(np.float32)   # rendered exactly as recorded
    nseed = _SPLIT_CODE[split] * 10_000_000 + int(i)
    return INDEX[cls], identity_seed(split, i), aus, nseed


def load_toyfaces(split: str, resolution: int = 48, channels: int = 1,
                  n_per_class: int | None = None, progress: bool = True) -> FaceData:
    """Render one split of toyfaces (``n_per_class`` default: 500 train, 100 val, 200 test)."""
    _check_split(split)
    n_per_class = DEFAULT_PER_CLASS[split] if n_per_class is None else int(n_per_class)
    if n_per_class < 0:
        raise ValueError("n_per_class must be >= 0")
    n = n_per_class * len(CLASSES)
    images = np.zeros((n, resolution, resolution, channels), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    aus = np.zeros((n, len(AU_NAMES)), dtype=np.float32)
    lms = np.zeros((n, 68, 2), dtype=np.float32)
    it = range(n)
    if progress:
        try:
            from tqdm.auto import tqdm
            it = tqdm(it, desc=f"toyfaces/{split} {resolution}px", leave=False, disable=None)
        except ImportError:  # pragma: no cover
            pass
    for i in it:
        lab, ids, a, ns = item(split, i)
        img, lm = render(ids, a, resolution, channels, ns)
        images[i], labels[i], aus[i], lms[i] = img, lab, a, lm
    return FaceData(
        name="toyfaces", split=split, images=images, labels=labels, classes=CLASSES,
        aus=aus, au_names=AU_NAMES, landmarks=lms,
        ids=np.array([f"toyfaces/{split}/{i:06d}" for i in range(n)]),
        meta={"renderer": "ferbench.data.toyfaces", "render_version": RENDER_VERSION,
              "n_per_class": n_per_class, "resolution": resolution, "channels": channels,
              "landmarks": "ibug68", "note": "procedural smoke-test data, not FER results"},
    )


class ToyFacesAdapter:
    """Registry adapter for the built-in procedural toyfaces data set."""

    name = "toyfaces"
    version = RENDER_VERSION
    classes = CLASSES
    needs_root = False
    splits = SPLITS
    description = ("Built-in procedurally rendered faces driven by FACS action units (7 basic "
                   "expressions, ground-truth AUs and 68 iBUG landmarks); offline, deterministic. "
                   "A pipeline smoke test, not an FER benchmark.")
    license = "CC0-1.0 (procedurally generated by ferbench)"

    def build(self, split: str, resolution: int = 48, channels: int = 1, seed: int = 0,
              n_per_class: int | None = None) -> FaceData:
        """Render ``split``; ``seed`` is ignored (the data set is fixed)."""
        return load_toyfaces(split, resolution, channels, n_per_class=n_per_class)
