"""68-point facial landmarks with dlib's shape predictor, offline.

The predictor file ships in the ``face-recognition-models`` package and dlib itself in the
prebuilt ``dlib-bin`` wheel (see :mod:`ferbench.assets`).

Decision (measured on toyfaces 48x48, see benchmarks/README.md): FER images are face crops, often
48 px, where dlib's HOG face detector misses many faces. Each image is upsampled 4x (PIL
bicubic) and the detector is run once (no further upsampling); its largest box is used when it
finds one, else a fixed box covering the fractions ``DEFAULT_BOX`` of the crop (the median
detector box on toyfaces crops). The shape predictor then runs in that box on the upsampled
image and the points are mapped back to input pixels (pixel centre ``k`` at ``k``, the
dlib/OpenCV and toyfaces convention). ``detected`` says which images had a detector box.

Measured on toyfaces 48x48 (ground-truth landmarks known): the HOG detector on the raw 48-px
image (its own 1x upsampling) found 41 of 70 faces; on the 4x bicubic upsample 82 of 105.
Mean landmark error: 1.84 px with the whole-image rectangle as the box, 0.83 px with the
ground-truth landmarks' bounding box, 0.73 px with detector boxes, 0.78 px with the fixed box,
0.77 px for this detector-or-fixed-box scheme (350 test faces). Averaging with the mirrored
image's prediction gained about 0.02 px and was not adopted (twice the time).
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ferbench.assets import asset_path, path_sha256
from ferbench.errors import DataError, FerbenchError

__all__ = ["DlibLandmarks", "DEFAULT_BOX", "UPSAMPLE"]

#: fallback face box as fractions (left, top, right, bottom) of the crop
DEFAULT_BOX = (0.193, 0.193, 0.844, 0.844)
UPSAMPLE = 4


def _gray(img: np.ndarray) -> np.ndarray:
    if img.shape[2] == 1:
        return img[..., 0]
    return np.asarray(Image.fromarray(img).convert("L"))


class DlibLandmarks:
    """Callable: uint8 ``(N,H,W,C)`` -> ``(landmarks float64 (N,68,2), detected bool (N,))``."""

    name = "dlib-68"

    def __init__(self, *, use_detector: bool = True, upsample: int = UPSAMPLE) -> None:
        try:
            import dlib
        except ImportError as exc:  # pragma: no cover - dlib-bin is a dependency
            raise FerbenchError("landmarks need dlib (pip install dlib-bin)") from exc
        path = asset_path("dlib-shape-predictor-68")
        self.weights_sha256 = path_sha256(path)
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(path))
        self._detector = dlib.get_frontal_face_detector() if use_detector else None
        self.upsample = int(upsample)

    def describe(self) -> dict:
        return {"landmarks": self.name, "weights_sha256": self.weights_sha256,
                "upsample": self.upsample, "detector": self._detector is not None,
                "fallback_box": list(DEFAULT_BOX)}

    def one(self, img: np.ndarray) -> tuple[np.ndarray, bool]:
        dlib = self._dlib
        g = _gray(img)
        h, w = g.shape
        s = self.upsample
        up = g if s == 1 else np.asarray(Image.fromarray(g).resize((w * s, h * s),
                                                                    Image.BICUBIC))
        box, found = None, False
        if self._detector is not None:
            dets = self._detector(up, 0)
            if len(dets):
                box, found = max(dets, key=lambda r: r.width() * r.height()), True
        if box is None:
            fx0, fy0, fx1, fy1 = DEFAULT_BOX
            box = dlib.rectangle(int(round(fx0 * w * s)), int(round(fy0 * h * s)),
                                 int(round(fx1 * w * s)), int(round(fy1 * h * s)))
        shape = self._predictor(up, box)
        p = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)
        return (p + 0.5) / s - 0.5, found

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
            raise DataError(f"images must be uint8 (N,H,W,C) with C=1 or 3, got "
                            f"{images.dtype} {images.shape}")
        out = np.zeros((len(images), 68, 2))
        found = np.zeros(len(images), bool)
        for i, img in enumerate(images):
            out[i], found[i] = self.one(img)
        return out, found


class FlatLandmarks:
    """A landmarker seen as a feature extractor, so that ``ferbench.features.cache`` can keep the
    real set's landmarks on disk like its Inception features: ``images -> (N, 136)`` float64
    (x0, y0, x1, y1, ...). The cache key covers the landmarker's name, weights sha256,
    upsampling and detector settings (through ``name``); ``detected`` is not kept (the AU
    estimator uses the landmarks only)."""

    resize_mode = "none"
    dim = 68 * 2

    def __init__(self, landmarker) -> None:
        self.landmarker = landmarker
        d = landmarker.describe() if hasattr(landmarker, "describe") else {}
        self.name = "landmarks:" + json.dumps(d, sort_keys=True)
        self.weights_sha256 = d.get("weights_sha256", "")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.landmarker(images)[0], dtype=np.float64).reshape(len(images), -1)

    @staticmethod
    def unflatten(feats: np.ndarray) -> np.ndarray:
        return np.asarray(feats, dtype=np.float64).reshape(len(feats), 68, 2)
