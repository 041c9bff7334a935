"""Geometric AU estimator: action-unit intensities from 68 facial landmarks.

Why: no AU detector ships in any installable package, but landmark geometry sees several AUs
(brow raise, lid aperture, lip-corner height, mouth width and opening ...). This estimator is
the built-in, offline fallback; a user with OpenFace / py-feat / LibreFace can register a better
one in :data:`ferbench.aus_estimate.AU_ESTIMATORS`.

Pipeline:

1. **Canonical frame.** Landmarks are translated to the midpoint of the two eye centres,
   rotated so that the eye line is horizontal and divided by the inter-ocular distance (IOD),
   which removes translation, in-plane rotation and scale.
2. **One geometric measure per AU** (:data:`MEASURES`, iBUG 68-point indices, image y points
   down, signed so that larger = more activation): e.g. AU1 = height of the inner brow points
   above the inner eye corners, AU5 = height of the upper lid above the eye-corner line, AU12 =
   height of the lip corners above the lip centre line, AU26 = chin-to-nose distance.
3. **Reference normalisation** (:meth:`GeometricAUEstimator.fit_reference`, on the REAL
   training set): each measure is z-scored against the real set's neutral faces (median and
   standard deviation over faces labelled ``neutral``; all faces if fewer than 10 are neutral),
   so identity-average geometry maps to 0.
4. **Scale.** If the real training set carries AU labels (toyfaces does), a per-AU affine map
   ``intensity = a·z + b`` is fitted by least squares on it and the output is on the 0..5 FACS
   scale (``unit == "facs"``); otherwise the output is ``max(z, 0)`` in neutral-sd units
   (``unit == "neutral-sd"``) and absolute errors against requested intensities are not
   meaningful (correlations are).

Which AUs are usable is decided by validation on toyfaces (``benchmarks/au_validation.py``,
table in ``benchmarks/README.md``): :data:`USABLE_AUS` are those whose estimate from
dlib-detected landmarks correlates with ground truth at Pearson r >= :data:`MIN_R` = 0.4 on the
toyfaces test split (48 px); the others are estimated but excluded from the AU-fidelity scores.
Decision: 0.4 rather than 0.5, because at 48 px dlib's landmarks (0.77 px mean error) leave only
AU15 above 0.5 while the geometry itself reaches 0.65-0.85 on ground-truth landmarks for AU1,
AU2, AU4, AU12, AU15; and the class-profile score averages over many faces, where per-face noise
cancels. The per-face score (requested vs measured) is the one that suffers from this noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ferbench.errors import DataError, FerbenchError
from ferbench.labels import INDEX

__all__ = ["MEASURES", "MIN_R", "USABLE_AUS", "GeometricAUEstimator", "canonical_frame",
           "geometric_measures"]


def canonical_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of each point, each ``(N, 68)``, in the eye-aligned, IOD-scaled frame."""
    L = np.asarray(landmarks, dtype=np.float64)
    if L.ndim != 3 or L.shape[1:] != (68, 2):
        raise DataError(f"landmarks must be (N, 68, 2), got {L.shape}")
    le, re = L[:, 36:42].mean(1), L[:, 42:48].mean(1)
    c, v = (le + re) / 2, re - le
    iod = np.linalg.norm(v, axis=1)
    iod = np.where(iod > 1e-9, iod, np.nan)  # degenerate faces give NaN, not a crash
    cos, sin = v[:, 0] / iod, v[:, 1] / iod
    X = L - c[:, None]
    x = (X[..., 0] * cos[:, None] + X[..., 1] * sin[:, None]) / iod[:, None]
    y = (-X[..., 0] * sin[:, None] + X[..., 1] * cos[:, None]) / iod[:, None]
    return x, y


def _mean(y, *idx):
    return y[:, list(idx)].mean(1)


#: AU -> measure(x, y) in IOD units, larger = more activation
MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    # inner / outer brow height above the inner / outer eye corners
    "AU1": lambda x, y: (_mean(y, 39, 42) - _mean(y, 21, 22)),
    "AU2": lambda x, y: (_mean(y, 36, 45) - _mean(y, 17, 26)),
    # brows knitted: inner brow ends closer together
    "AU4": lambda x, y: -(x[:, 22] - x[:, 21]),
    # upper lid above the eye-corner line
    "AU5": lambda x, y: _mean(y, 36, 39, 42, 45) - _mean(y, 37, 38, 43, 44),
    # eye aperture narrowed (cheek raise pushes the lower lid up)
    "AU6": lambda x, y: -(_mean(y, 40, 41, 46, 47) - _mean(y, 37, 38, 43, 44)),
    # lower lid raised towards the eye-corner line
    "AU7": lambda x, y: -(_mean(y, 40, 41, 46, 47) - _mean(y, 36, 39, 42, 45)),
    # nostril wings raised towards the eyes
    "AU9": lambda x, y: -_mean(y, 31, 35),
    # upper lip raised towards the nose
    "AU10": lambda x, y: -(y[:, 51] - y[:, 33]),
    # lip corners above / below the lip centre line
    "AU12": lambda x, y: _mean(y, 51, 57) - _mean(y, 48, 54),
    "AU15": lambda x, y: _mean(y, 48, 54) - _mean(y, 51, 57),
    # lower lip pushed up towards the nose
    "AU17": lambda x, y: -(y[:, 57] - y[:, 33]),
    # mouth widened
    "AU20": lambda x, y: x[:, 54] - x[:, 48],
    # lips thinned (red of the upper + lower lip)
    "AU23": lambda x, y: -((y[:, 62] - y[:, 51]) + (y[:, 57] - y[:, 66])),
    # inner lips apart
    "AU25": lambda x, y: y[:, 66] - y[:, 62],
    # jaw dropped: chin away from the nose
    "AU26": lambda x, y: y[:, 8] - y[:, 33],
}

MIN_R = 0.4
#: AUs whose dlib-based estimate tracks toyfaces ground truth (r >= MIN_R); see the module
#: docstring. tests/test_aus_estimate.py re-measures this and fails if the list goes stale.
USABLE_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU12", "AU15", "AU26")


def geometric_measures(landmarks: np.ndarray) -> np.ndarray:
    """Raw measures ``(N, len(MEASURES))`` in IOD units (order of :data:`MEASURES`)."""
    x, y = canonical_frame(landmarks)
    return np.stack([f(x, y) for f in MEASURES.values()], axis=1)


class GeometricAUEstimator:
    """Landmark-geometry AU estimator (see the module docstring).

    ``landmarker``: callable ``images -> (landmarks (N,68,2), detected (N,))``; default dlib
    (:class:`ferbench.aus_estimate.landmarks.DlibLandmarks`), built on first use.
    """

    name = "dlib-geometric"
    au_names: tuple[str, ...] = tuple(MEASURES)
    usable_aus: tuple[str, ...] = USABLE_AUS

    def __init__(self, landmarker=None, *, min_neutral: int = 10) -> None:
        self._landmarker = landmarker
        self.min_neutral = int(min_neutral)
        self.ref_center: np.ndarray | None = None
        self.ref_scale: np.ndarray | None = None
        self.calib: np.ndarray | None = None  # (A, 2): slope, intercept; NaN rows: none
        self.unit = "neutral-sd"
        self.reference_info: dict = {}

    @property
    def landmarker(self):
        if self._landmarker is None:
            from ferbench.aus_estimate.landmarks import DlibLandmarks

            self._landmarker = DlibLandmarks()
        return self._landmarker

    def describe(self) -> dict:
        lm = self._landmarker
        return {"au_estimator": self.name, "unit": self.unit, "usable_aus": list(self.usable_aus),
                "landmarks": lm.describe() if hasattr(lm, "describe") else repr(lm),
                **self.reference_info}

    def landmarks(self, images: np.ndarray) -> np.ndarray:
        return self.landmarker(images)[0]

    # -- reference ------------------------------------------------------------------------
    def fit_reference(self, images=None, labels=None, *, landmarks=None, aus=None,
                      au_names=()) -> GeometricAUEstimator:
        """Normalise against the REAL training set (images, or its ``landmarks``).

        ``labels``: canonical label indices (neutral faces set the zero point). ``aus`` /
        ``au_names``: the real set's AU labels, if any, to calibrate to the FACS scale.
        """
        if landmarks is None:
            if images is None:
                raise FerbenchError("fit_reference needs images or landmarks")
            landmarks = self.landmarks(images)
        m = geometric_measures(landmarks)
        ok = np.isfinite(m).all(1)
        neutral = ok.copy()
        if labels is not None:
            is_neutral = np.asarray(labels) == INDEX["neutral"]
            if (is_neutral & ok).sum() >= self.min_neutral:
                neutral &= is_neutral
        ref = m[neutral]
        if len(ref) < 2:
            raise DataError(f"fit_reference: needs at least 2 faces with valid landmarks, got "
                            f"{len(ref)}")
        self.ref_center = np.median(ref, axis=0)
        sd = ref.std(axis=0, ddof=1)
        self.ref_scale = np.where(sd > 1e-9, sd, 1.0)
        self.reference_info = {"reference_n": int(len(ref)),
                               "reference_neutral_only": bool(neutral.sum() < ok.sum())}
        self.calib, self.unit = None, "neutral-sd"
        if aus is not None:
            aus = np.asarray(aus, dtype=np.float64)
            z = (m - self.ref_center) / self.ref_scale
            calib = np.full((len(self.au_names), 2), np.nan)
            for j, name in enumerate(self.au_names):
                if name in au_names:
                    gt = aus[:, list(au_names).index(name)]
                    keep = ok & np.isfinite(gt)
                    if keep.sum() >= 3 and z[keep, j].std() > 0:
                        calib[j] = np.polyfit(z[keep, j], gt[keep], 1)
            if np.isfinite(calib).all(1).any():
                self.calib, self.unit = calib, "facs"
        return self

    # -- estimation -----------------------------------------------------------------------
    def from_landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        """AU estimates ``(N, A)`` (order :attr:`au_names`); NaN where a face is degenerate or
        an AU has no calibration."""
        if self.ref_center is None:
            raise FerbenchError("GeometricAUEstimator: call fit_reference(...) on the real "
                                "training set first")
        z = (geometric_measures(landmarks) - self.ref_center) / self.ref_scale
        if self.calib is None:
            return np.maximum(z, 0.0)
        return np.clip(z * self.calib[:, 0] + self.calib[:, 1], 0.0, 5.0)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.from_landmarks(self.landmarks(images))
