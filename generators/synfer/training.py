"""The epsilon-prediction training loop, shared by the from-scratch UNet (pixel space) and the
pretrained path's AU adapter (latents of a frozen Stable Diffusion VAE, see :mod:`.pretrained`).

Rules (one place, both paths):

- A fixed number of optimiser steps (``cfg["train_steps"]``) of ``cfg["batch_size"]`` images;
  each epoch's order is a pure function of ``(seed, epoch)`` and each step's flips, noise,
  timesteps and condition dropout of ``(seed, step)``, all drawn on the CPU. So a run that
  resumes from a checkpoint equals an uninterrupted one, and CPU and CUDA runs see the same
  batches and noise (the arithmetic then differs by floating-point rounding only).
- Horizontal flips unless the classes include ``contempt`` (one-sided; the caller decides).
- Classifier-free-guidance dropout: all conditions with ``p_uncond``, text alone and AU alone
  with ``p_uncond / 2`` each (zero tokens are the null condition).
- AdamW (no weight decay), gradient clipping at 1.0, diffusers ``EMAModel`` with warm-up; the
  EMA weights are copied into ``params`` at the end.
- With ``ckpt``, weights, EMA, optimiser state and step are written atomically every
  ``cfg["checkpoint_every"]`` steps and at the end (:mod:`.train_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .train_state import fingerprint, load_train_state, save_train_state, schedule_config


def train_eps(net, params: list, *, x: torch.Tensor, ids: torch.Tensor, aus: torch.Tensor,
              cfg: dict, seed: int, derived_seed: Callable[..., int], noise_sched,
              p_uncond: float, flip_ok: bool, device, ckpt: Path | None,
              state_dict: Callable[[], dict], load_state_dict: Callable[[dict], None],
              encode: Callable[[torch.Tensor], torch.Tensor] | None = None
              ) -> tuple[int, float]:
    """Train ``params`` of ``net`` (``net.cond(ids, aus)`` -> text/AU tokens,
    ``net.eps(x_t, t, text, au)`` -> noise estimate) on images ``x`` (CPU, ``(N, C, H, W)`` in
    [-1, 1]) with caption ids ``ids`` and AU vectors ``aus`` (CPU). ``encode`` maps a batch of
    images to what is noised (latents); without it the pixels are. Returns
    ``(steps run in this call, last loss)``."""
    from diffusers.training_utils import EMAModel

    device = torch.device(device)
    opt = torch.optim.AdamW(params, lr=float(cfg["lr"]), weight_decay=0.0)
    ema = EMAModel(params, decay=float(cfg["ema_decay"]), use_ema_warmup=True, power=2 / 3)
    steps, bs = int(cfg["train_steps"]), int(cfg["batch_size"])
    start = 0
    fp = "" if ckpt is None else fingerprint(
        cfg, {"x": x, "ids": ids, "aus": aus},
        {"seed": int(seed), "p_uncond": float(p_uncond), "flip_ok": bool(flip_ok),
         "encoded": encode is not None, "noise_schedule": schedule_config(noise_sched)},
        state_dict())
    restored = None if ckpt is None else load_train_state(ckpt, ema, opt, len(params), device,
                                                          fp)
    if restored is not None:
        load_state_dict(restored[0])
        start = restored[1]
    num_t = int(noise_sched.config.num_train_timesteps)
    n = len(x)
    per_epoch = max(1, n // bs)
    last = float("nan")
    for step in range(start, steps):
        epoch, j = divmod(step, per_epoch)
        perm = np.random.default_rng(derived_seed(seed, 41, epoch)).permutation(n)
        idx = torch.from_numpy(perm[j * bs:(j + 1) * bs] if n >= bs else perm)
        g = torch.Generator().manual_seed(derived_seed(seed, 43, step))
        x0 = x[idx]
        if flip_ok:
            flip = torch.rand(len(idx), generator=g) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        z0 = x0.to(device) if encode is None else encode(x0)
        noise = torch.randn(z0.shape, generator=g).to(device)
        t = torch.randint(0, num_t, (len(idx),), generator=g).to(device)
        zt = noise_sched.add_noise(z0, noise, t)
        text, au = net.cond(ids[idx].to(device), aus[idx].to(device))
        u = torch.rand(len(idx), 3, generator=g)
        drop_all = u[:, 0] < p_uncond
        keep_text = ~(drop_all | (u[:, 1] < p_uncond / 2))[:, None, None]
        keep_au = ~(drop_all | (u[:, 2] < p_uncond / 2))[:, None, None]
        text, au = text * keep_text.to(device), au * keep_au.to(device)
        loss = F.mse_loss(net.eps(zt, t, text, au).float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.step(params)
        done = step + 1
        if ckpt is not None and (done % int(cfg["checkpoint_every"]) == 0 or done == steps):
            save_train_state(ckpt, state_dict(), ema, opt, done, fp)
        last = float(loss.detach())
    ema.copy_to(params)
    return steps - start, last
