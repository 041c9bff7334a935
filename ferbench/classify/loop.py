"""The one training loop (:func:`train_classifier`): on-device uint8 batches, batched tensor
augmentation, optimiser and LR schedule; and :func:`predict`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferbench.classify.config import TrainConfig, resolve_amp, resolve_channels_last
from ferbench.classify.models import build_classifier


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
