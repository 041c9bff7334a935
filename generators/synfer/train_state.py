"""Checkpoints of a synfer training run (from scratch or pretrained-adapter): the trained
weights, the EMA shadow weights, AdamW's moments and the step, in one safetensors file plus a
JSON step marker, written to a temporary name and renamed. A resumed run continues from the
saved step with the same optimiser and EMA state, so it ends equal to an uninterrupted one
(batches and noise are pure functions of seed and step).

A checkpoint also records a fingerprint of what it was trained from (:func:`fingerprint`: the
data, the seed, the architecture and every training setting except the step count). A
checkpoint with another fingerprint is ignored and training starts from step 0, so a workdir
can never continue a different run. A longer run may continue a shorter one with the same
fingerprint: the learning rate is constant, so that equals an uninterrupted longer run."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

_MOMENTS = ("step", "exp_avg", "exp_avg_sq")
#: Settings that may differ between a checkpoint and the run that continues it.
_RESUMABLE = ("train_steps", "checkpoint_every")
log = logging.getLogger("ferbench")


def schedule_config(scheduler) -> dict:
    """A diffusers scheduler's config without its private keys: ``_use_default_values`` is a
    list built from a set, so its order changes from one Python process to the next (hash
    randomisation) and a fingerprint over it would never match a checkpoint written by an
    earlier process."""
    return {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")}


def fingerprint(cfg: dict, tensors: dict, extra: dict, net_state: dict) -> str:
    """sha256 over the training settings (``cfg`` without the step count), the training tensors
    (``name -> tensor``: images, captions, AUs), ``extra`` (seed, CFG dropout, ...) and the
    names and shapes of the trained weights (the architecture)."""
    h = hashlib.sha256()
    h.update(json.dumps({"cfg": {k: v for k, v in cfg.items() if k not in _RESUMABLE},
                         "extra": extra,
                         "arch": [[k, list(v.shape)] for k, v in sorted(net_state.items())]},
                        sort_keys=True, default=str).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{list(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


def save_train_state(ckpt: Path, net_state: dict, ema, opt, step: int, fp: str = "") -> None:
    """Write ``net_state`` (name -> tensor), ``ema.shadow_params`` and ``opt``'s AdamW state
    to ``ckpt`` atomically, then ``<stem>.json`` with ``{"step": step, "fingerprint": fp}``."""
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
    ckpt.with_suffix(".json").write_text(json.dumps({"step": int(step), "fingerprint": fp}))


def load_train_state(ckpt: Path, ema, opt, n_params: int, device, fp: str = ""
                     ) -> tuple[dict, int] | None:
    """Restore EMA and AdamW state from ``ckpt`` (None if there is no checkpoint, or if it was
    written by a run with another fingerprint ``fp``); returns the saved net weights
    (name -> tensor) for the caller to load, and the step to resume from."""
    from safetensors.torch import load_file

    marker = ckpt.with_suffix(".json")
    if not ckpt.exists() or not marker.exists():
        return None
    meta = json.loads(marker.read_text())
    if meta.get("fingerprint", "") != fp:
        log.warning("synfer: ignoring the checkpoint in %s: it was trained from other data or "
                    "settings (fingerprint %s, this run %s); training from step 0",
                    ckpt.parent, meta.get("fingerprint") or "none", fp)
        return None
    state = load_file(str(ckpt))
    step = int(meta["step"])
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
