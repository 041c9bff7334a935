"""The fixed classifiers, the one training loop, and prediction.

Every protocol trains the *same* classifier with the *same* loop on real, synthetic or mixed
images and tests it on real held-out faces; only the training images change. Nothing here
knows where the images came from.

Classifiers (:data:`CLASSIFIERS`, built by :func:`build_classifier`):

``noncomplex-cnn``
    The "noncomplex" CNN of Gholipour Picha et al. (VISAPP 2023): conv32 - conv64 - maxpool -
    dropout(0.25) - conv128 - maxpool - conv128 - maxpool - dropout(0.25) - dense1024 -
    dropout(0.5) - dense K. 3x3 convolutions with same padding and ReLU, 2x2 max-pooling,
    Keras default initialisation (Glorot-uniform weights, zero biases) as in the paper's Keras
    code. It outputs logits; the softmax lives in the loss (and in :func:`predict`). Any
    resolution divisible by 8 works (48 and 64 are the usual ones).
``resnet18``
    torchvision's ResNet-18 (``weights=None``, trained from scratch) with ``channels`` input
    planes and ``num_classes`` outputs. For small inputs (resolution <= 64) the ImageNet stem
    (7x7 stride-2 conv + 3x3 stride-2 max-pool, a 4x down-sampling) would leave a 2x2 map at
    the last stage for 48x48 faces, so the stem is replaced, as is usual for CIFAR-sized
    images, by a 3x3 stride-1 conv and no max-pool.

The training loop (:func:`train_classifier`) keeps the whole uint8 training set as one tensor
on the device and builds each batch with batched tensor ops: index, random translation
(zero-padded random crop), horizontal flip, conversion to float, brightness/contrast jitter,
normalisation to [-1, 1]. There is no ``Dataset``/``DataLoader``, no PIL and no per-image
Python code; on a 2-core CPU this is what makes training several times faster than the usual
ImageFolder pipeline (see ``benchmarks/README.md``).

Reproducibility: a run is a function of ``(images, labels, seed, config)``. Weight
initialisation and dropout use the global torch RNG, seeded with ``seed`` inside a
:func:`torch.random.fork_rng` block so the caller's RNG state is left untouched; shuffling and
augmentation draw from their own :class:`torch.Generator`. On CPU two runs with the same seed
give bit-identical weights (with the same number of threads and the same ``amp``). On CUDA,
cuDNN kernels are not bit-reproducible; the numbers agree statistically, not bitwise.

Mixed precision: ``amp="auto"`` means bf16 autocast on CUDA devices that support it, and on
CPUs whose oneDNN has native bf16 kernels (AVX512-BF16/AMX); elsewhere fp32. Weights and the
optimiser state stay fp32 either way. The resolved choice is recorded on the returned model
as ``model.ferbench_train_info`` so that it can be stored with the scores.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferbench.errors import ConfigError
from ferbench.registry import did_you_mean

__all__ = [
    "CLASSIFIERS",
    "NoncomplexCNN",
    "TrainConfig",
    "build_classifier",
    "classifier_names",
    "predict",
    "resolve_amp",
    "resolve_channels_last",
    "train_classifier",
    "train_config",
]


# --------------------------------------------------------------------------- classifiers


class NoncomplexCNN(nn.Module):
    """Paper A's noncomplex CNN (see the module docstring). Outputs logits."""

    def __init__(self, num_classes: int = 7, channels: int = 1, resolution: int = 48) -> None:
        super().__init__()
        if resolution % 8 or resolution < 8:
            raise ConfigError(f"noncomplex-cnn needs a resolution divisible by 8, got {resolution}")

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(channels, 32), *conv(32, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
            *conv(64, 128), nn.MaxPool2d(2),
            *conv(128, 128), nn.MaxPool2d(2), nn.Dropout(0.25),
        )
        side = resolution // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, 1024), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(1024, num_classes),
        )
        for m in self.modules():  # Keras defaults: glorot_uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _resnet18(num_classes: int, channels: int, resolution: int) -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=num_classes)
    if resolution <= 64:
        # CIFAR-style stem: keep the spatial resolution for small faces (see module docstring).
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif channels != 3:
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


#: name -> factory(num_classes, channels, resolution) -> nn.Module
CLASSIFIERS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "noncomplex-cnn": lambda k, c, r: NoncomplexCNN(k, c, r),
    "resnet18": _resnet18,
}


def classifier_names() -> list[str]:
    return sorted(CLASSIFIERS)


def build_classifier(name: str, num_classes: int, channels: int, resolution: int) -> nn.Module:
    """Build a fresh (randomly initialised) classifier that outputs ``num_classes`` logits."""
    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier '{name}'{did_you_mean(name, CLASSIFIERS)}; "
                          f"available: {', '.join(classifier_names())}")
    if channels not in (1, 3):
        raise ConfigError(f"classifier input must have 1 or 3 channels, got {channels}")
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
    return CLASSIFIERS[name](int(num_classes), int(channels), int(resolution))


# --------------------------------------------------------------------------- configuration

_AMP = ("auto", "bf16", "off")
_OPTIMIZERS = ("adam", "adamw", "sgd")
_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything the training loop needs besides data and seed.

    ``crop_padding``: random translation by up to this many pixels (zero-padded random crop,
    like ``RandomCrop(res, padding=crop_padding)``); 0 disables it. ``jitter``: brightness and
    contrast are each multiplied by a factor drawn from ``U(1-jitter, 1+jitter)``; 0 disables
    it. ``lr_schedule="cosine"`` decays the learning rate per step to 0 over the run after
    ``warmup_epochs`` of linear warm-up. ``amp``/``channels_last``: see :func:`resolve_amp` and
    :func:`resolve_channels_last`. ``min_steps``: train for ``epochs``, but for at least this
    many optimiser steps (more epochs on small sets), so that a small real-only cell is not
    left under-trained next to a large mix; 0 disables it.
    """

    epochs: int = 15
    min_steps: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    flip: bool = True
    crop_padding: int = 4
    jitter: float = 0.2
    label_smoothing: float = 0.0
    amp: str = "auto"
    channels_last: str | bool = "auto"

    def __post_init__(self) -> None:
        def bad(msg: str) -> None:
            raise ConfigError(f"TrainConfig: {msg}")

        if self.min_steps < 0:
            bad(f"min_steps must be >= 0, got {self.min_steps}")
        if self.epochs < 1 or self.batch_size < 1:
            bad(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.lr <= 0 or self.weight_decay < 0:
            bad(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if self.optimizer not in _OPTIMIZERS:
            bad(f"optimizer '{self.optimizer}' not in {_OPTIMIZERS}")
        if self.lr_schedule not in _SCHEDULES:
            bad(f"lr_schedule '{self.lr_schedule}' not in {_SCHEDULES}")
        if self.amp not in _AMP:
            bad(f"amp '{self.amp}' not in {_AMP}")
        if self.channels_last not in ("auto", True, False):
            bad(f"channels_last must be 'auto', True or False, got {self.channels_last!r}")
        if self.crop_padding < 0 or not 0 <= self.jitter < 1:
            bad("crop_padding must be >= 0 and jitter in [0, 1)")
        if not 0 <= self.label_smoothing < 1 or self.warmup_epochs < 0:
            bad("label_smoothing must be in [0, 1) and warmup_epochs >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def train_config(budget_name: str, classifier_name: str) -> TrainConfig:
    """The documented default :class:`TrainConfig` for a budget and classifier.

    ========  ==================  ==========================================================
    budget    noncomplex-cnn      resnet18
    ========  ==================  ==========================================================
    smoke     2 ep, bs 32, Adam   2 ep, bs 32, AdamW 1e-3 wd 5e-4
              1e-3, constant LR   constant LR
    quick     15 ep, bs 64, Adam  15 ep, bs 64, AdamW 1e-3 wd 5e-4, cosine, 1 warm-up ep
              1e-3, cosine        (a few minutes on a CPU for a few thousand images)
    full      60 ep, bs 64, Adam  60 ep, bs 128, SGD 0.1 momentum 0.9 nesterov wd 5e-4,
              1e-3, cosine        cosine, 2 warm-up ep (standard from-scratch recipe, GPU)
    ========  ==================  ==========================================================

    Minimum optimiser steps per training run (``min_steps``): smoke 0, quick 600, full 2000,
    so that a small (low-data, real-only) training set still gets enough updates to leave
    chance level; large sets are governed by ``epochs``.

    All budgets: augmentation = horizontal flip + random crop with padding 4 + brightness/
    contrast jitter 0.2, no label smoothing, ``amp="auto"``, ``channels_last="auto"``. The CNN
    uses Adam at 1e-3 as in paper A; ResNet-18 (batch norm, 11M parameters) uses decoupled
    weight decay, and SGD with a cosine schedule at full scale, where it is the better-known
    recipe.
    """
    from ferbench.api import Budget

    budget = Budget(budget_name)
    if classifier_name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier '{classifier_name}'"
                          f"{did_you_mean(classifier_name, CLASSIFIERS)}; "
                          f"available: {', '.join(classifier_names())}")
    epochs = budget.pick(2, 15, 60)
    min_steps = budget.pick(0, 600, 2000)
    schedule = budget.pick("constant", "cosine", "cosine")
    if classifier_name == "resnet18":
        if budget.name == "full":
            return TrainConfig(epochs=60, batch_size=128, lr=0.1, weight_decay=5e-4,
                               optimizer="sgd", momentum=0.9, lr_schedule="cosine",
                               warmup_epochs=2, min_steps=min_steps)
        return TrainConfig(epochs=epochs, batch_size=budget.pick(32, 64, 64), lr=1e-3,
                           weight_decay=5e-4, optimizer="adamw", lr_schedule=schedule,
                           warmup_epochs=budget.pick(0, 1, 1), min_steps=min_steps)
    return TrainConfig(epochs=epochs, batch_size=budget.pick(32, 64, 64), lr=1e-3,
                       optimizer="adam", lr_schedule=schedule, min_steps=min_steps)


# --------------------------------------------------------------------------- device choices


def _cpu_bf16_native() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # private op missing in some builds
        return False


def resolve_amp(amp: str, device: str | torch.device) -> bool:
    """Whether to train under bf16 autocast. ``"auto"``: on CUDA if the GPU supports bf16; on
    CPU if oneDNN has native bf16 kernels (AVX512-BF16 / AMX), where it is measurably faster
    (``benchmarks/README.md``); on CPUs without them oneDNN emulates bf16, which is generally slower, so fp32."""
    if amp not in _AMP:
        raise ConfigError(f"amp '{amp}' not in {_AMP}")
    if amp != "auto":
        return amp == "bf16"
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if dev.type == "cpu":
        return _cpu_bf16_native()
    return False


def resolve_channels_last(channels_last: str | bool, device: str | torch.device) -> bool:
    """Whether to use the channels-last memory format. ``"auto"``: yes on CUDA (tensor cores
    prefer NHWC) and on CPU (oneDNN convolutions run NHWC natively, so NCHW costs a layout
    conversion per layer); see ``benchmarks/README.md`` for the CPU numbers."""
    if channels_last == "auto":
        return torch.device(device).type in ("cuda", "cpu")
    return bool(channels_last)


# --------------------------------------------------------------------------- batches


def _to_device_uint8(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N,H,W,C) numpy -> uint8 (N,H,W,C) tensor on ``device`` (copied once)."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N,H,W,C), got {images.dtype} {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).to(device)


def _normalise(x_nhwc: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1] (as ``Normalize(0.5, 0.5)`` after ``ToTensor``)."""
    x = x_nhwc.permute(0, 3, 1, 2).float().mul_(2.0 / 255.0).sub_(1.0)
    # the permuted NHWC buffer already *is* channels-last; NCHW needs one copy
    return x.contiguous(memory_format=torch.channels_last if channels_last
                        else torch.contiguous_format)


def _augment_batch(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                   channels_last: bool) -> torch.Tensor:
    """Batched augmentation of a uint8 NHWC batch; returns normalised float NCHW.

    Geometry (flip, translation) is done on uint8 with one gather; photometric jitter on
    float. All randomness comes from ``gen``, drawn on the CPU so a seed gives the same
    augmentations on every device.
    """
    b, h, w, _ = x.shape
    dev = x.device
    rows = torch.arange(h).expand(b, h)
    cols = torch.arange(w).expand(b, w)
    geometric = False
    if cfg.crop_padding > 0:
        p = cfg.crop_padding
        off = torch.randint(0, 2 * p + 1, (b, 2), generator=gen)
        rows = rows + off[:, :1] - p
        cols = cols + off[:, 1:] - p
        geometric = True
    if cfg.flip:
        flip = torch.rand(b, generator=gen) < 0.5
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        geometric = True
    if geometric:
        # zero padding: out-of-range coordinates read a zero row/column appended at index h/w
        valid_r = (rows >= 0) & (rows < h)
        valid_c = (cols >= 0) & (cols < w)
        rows = torch.where(valid_r, rows, h).to(dev)
        cols = torch.where(valid_c, cols, w).to(dev)
        xp = F.pad(x, (0, 0, 0, 1, 0, 1))  # (B, H+1, W+1, C), last row/col zero
        bi = torch.arange(b, device=dev)[:, None, None]
        x = xp[bi, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    out = x.permute(0, 3, 1, 2).float()  # NHWC storage viewed as NCHW = channels-last
    if cfg.jitter > 0:
        j = cfg.jitter
        factors = (torch.rand(b, 2, generator=gen) * (2 * j) + (1 - j)).to(dev)
        bright = factors[:, 0].view(b, 1, 1, 1)
        contrast = factors[:, 1].view(b, 1, 1, 1)
        out = out * bright  # values now in [0, 255*(1+j)]
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean).mul_(contrast).add_(mean).clamp_(0.0, 255.0)
    out = out.mul_(2.0 / 255.0).sub_(1.0)
    return out.contiguous(memory_format=torch.channels_last if channels_last
                          else torch.contiguous_format)


# --------------------------------------------------------------------------- training


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                           weight_decay=cfg.weight_decay, foreach=True)


def _lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def _autocast(device: torch.device, enabled: bool):
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train_classifier(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    seed: int,
    config: TrainConfig,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "",
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> nn.Module:
    """Train classifier ``name`` from scratch and return it in eval mode.

    ``images``: uint8 ``(N,H,W,C)``; ``labels``: int ``0..num_classes-1``. ``on_epoch_end``,
    if given, is called after every epoch with ``(epoch, {"loss", "seconds", "images"})``
    (used by the benchmark and for logging). The returned model carries
    ``model.ferbench_train_info`` (seed, config, resolved amp/channels-last, device).
    """
    from tqdm.auto import tqdm

    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("no training images")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    dev = torch.device(device)
    use_amp = resolve_amp(config.amp, dev)
    use_cl = resolve_channels_last(config.channels_last, dev)
    n, res, _, channels = images.shape

    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = build_classifier(name, num_classes, channels, res).to(dev)
        if use_cl:
            model = model.to(memory_format=torch.channels_last)
        x_all = _to_device_uint8(images, dev)
        y_all = torch.from_numpy(labels.astype(np.int64)).to(dev)
        gen = torch.Generator().manual_seed(seed)  # CPU generator: same draws on every device

        bs = min(config.batch_size, n)
        steps_per_epoch = math.ceil(n / bs)
        epochs = max(config.epochs, math.ceil(config.min_steps / steps_per_epoch))
        total = steps_per_epoch * epochs
        warmup = int(round(config.warmup_epochs * steps_per_epoch))
        opt = _make_optimizer(model, config)
        base_lrs = [g["lr"] for g in opt.param_groups]
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

        model.train()
        step = 0
        bar = tqdm(total=total, desc=desc or name, unit="step", leave=False,
                   disable=None if progress else True)
        try:
            for epoch in range(epochs):
                t0 = time.perf_counter()
                perm = torch.randperm(n, generator=gen).to(dev)
                loss_sum = torch.zeros((), device=dev)
                seen = 0
                for start in range(0, n, bs):
                    idx = perm[start:start + bs]
                    if len(idx) < 2 and n >= 2:  # batch norm cannot train on a single image
                        continue
                    xb = _augment_batch(x_all[idx], config, gen, use_cl)
                    yb = y_all[idx]
                    f = _lr_factor(step, total, warmup, config.lr_schedule)
                    for g, lr0 in zip(opt.param_groups, base_lrs):
                        g["lr"] = lr0 * f
                    with _autocast(dev, use_amp):
                        logits = model(xb)
                    loss = loss_fn(logits.float(), yb)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    loss_sum += loss.detach() * len(idx)
                    seen += len(idx)
                    step += 1
                    bar.update(1)
                mean_loss = float(loss_sum) / max(1, seen)  # one sync per epoch
                bar.set_postfix(epoch=epoch + 1, loss=f"{mean_loss:.3f}")
                if on_epoch_end is not None:
                    on_epoch_end(epoch, {"loss": mean_loss, "images": float(seen),
                                         "seconds": time.perf_counter() - t0})
        finally:
            bar.close()

    model.eval()
    model.ferbench_train_info = {
        "classifier": name, "seed": int(seed), "config": config.to_dict(),
        "amp": "bf16" if use_amp else "off", "channels_last": use_cl, "device": str(dev),
        "num_classes": int(num_classes), "resolution": int(res), "channels": int(channels),
        "n_train": int(n), "epochs_run": int(epochs), "steps": int(step),
    }
    return model


@torch.inference_mode()
def predict(model: nn.Module, images: np.ndarray, *, device: str | torch.device = "cpu",
            batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Predict in fp32 without augmentation. Returns ``(pred int64 (N,), probs float32 (N,K))``.

    The model is moved to ``device`` and put in eval mode.
    """
    dev = torch.device(device)
    model = model.to(dev).eval()
    info = getattr(model, "ferbench_train_info", {})
    use_cl = bool(info.get("channels_last", False))
    probs = []
    for start in range(0, len(images), batch_size):
        xb = _normalise(_to_device_uint8(images[start:start + batch_size], dev), use_cl)
        probs.append(torch.softmax(model(xb).float(), dim=1).cpu())
    if not probs:
        k = model(torch.zeros(1, images.shape[3], images.shape[1], images.shape[2],
                              device=dev)).shape[1]
        return np.zeros(0, np.int64), np.zeros((0, k), np.float32)
    p = torch.cat(probs).numpy().astype(np.float32, copy=False)
    return p.argmax(1).astype(np.int64), p
