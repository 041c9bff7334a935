"""Training configuration: :class:`TrainConfig`, the documented per-budget defaults
(:func:`train_config`) and the device-dependent choices (bf16 autocast, channels-last)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from ferbench.classify.models import CLASSIFIERS, classifier_names
from ferbench.errors import ConfigError
from ferbench.registry import did_you_mean

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
