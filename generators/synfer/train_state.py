"""Checkpoints of a synfer training run (from scratch or pretrained-adapter): the trained
weights, the EMA shadow weights, AdamW's moments and the step, in one safetensors file plus a
JSON step marker, written to a temporary name and renamed. A resumed run continues from the
saved step with the same optimiser and EMA state, so it ends equal to an uninterrupted one
(batches and noise are pure functions of seed and step)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

_MOMENTS = ("step", "exp_avg", "exp_avg_sq")


def save_train_state(ckpt: Path, net_state: dict, ema, opt, step: int) -> None:
    """Write ``net_state`` (name -> tensor), ``ema.shadow_params`` and ``opt``'s AdamW state
    to ``ckpt`` atomically, then ``<stem>.json`` with ``{"step": step}``."""
    from safetensors.torch import save_file

    state = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net_state.items()}
    state.update({f"ema.{i}": p.detach().cpu().contiguous()
                  for i, p in enumerate(ema.shadow_params)})
    for i, st in opt.state_dict()["state"].items():
        for key in _MOMENTS:
            state[f"opt.{i}.{key}"] = torch.as_tensor(st[key]).detach().cpu().contiguous()
    tmp = ckpt.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, ckpt)
    ckpt.with_suffix(".json").write_text(json.dumps({"step": int(step)}))


def load_train_state(ckpt: Path, ema, opt, n_params: int, device) -> tuple[dict, int] | None:
    """Restore EMA and AdamW state from ``ckpt`` (None if there is no checkpoint); returns the
    saved net weights (name -> tensor) for the caller to load, and the step to resume from."""
    from safetensors.torch import load_file

    if not ckpt.exists():
        return None
    state = load_file(str(ckpt))
    step = int(json.loads(ckpt.with_suffix(".json").read_text())["step"])
    for i, sp in enumerate(ema.shadow_params):
        sp.copy_(state[f"ema.{i}"])
    ema.optimization_step = step
    opt_state = opt.state_dict()
    for i in range(n_params):
        if f"opt.{i}.exp_avg" in state:
            st = {k: state[f"opt.{i}.{k}"].to(device) for k in _MOMENTS}
            st["step"] = st["step"].cpu()
            opt_state["state"][i] = st
    opt.load_state_dict(opt_state)
    net = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    return net, step
