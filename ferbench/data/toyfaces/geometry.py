"""Face geometry: identity + AU intensities (+ gaze) -> every polygon, line and the 68 iBUG
landmarks of one face (:func:`_geometry`), in canonical coordinates: the output image spans
[-1, 1] x [-1, 1], y down, before the pose transform.

The face parts (outline, hair, brows, eyes, nose, mouth, folds) stay in one function on purpose:
they share intermediate values (the brow line caps the upper lid; the folds start at the eye
corners, nose wings and lip corners; the beard follows the jaw), so splitting them would mean
threading that state through new interfaces, not moving code.
"""

from __future__ import annotations

import numpy as np

from ferbench.data.toyfaces.identity import _Identity


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
