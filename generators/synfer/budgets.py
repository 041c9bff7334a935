"""Every budget-dependent number of ``synfer`` in one table (shown by ``get_params()``).

Measured on this project's shared 2-core CPU (see ``benchmarks/README.md``, "synfer"). The
``quick`` trade-off, written down because the issue asks for it: the default mix run samples a
pool of several thousand faces at 48 px, and every solver step costs two UNet evaluations
(classifier-free guidance) plus, on guided steps, a backward pass. So ``quick`` uses a small
UNet (channels 16/32/32, about 0.45 M parameters, one layer per block, attention at 24 and 12
px only), 8 DPM-Solver++ steps (2nd order, first order on the last step) and semantic guidance
only on the last 25 % of steps (2 of 8), and trains the UNet for a fixed number of
optimiser steps rather than epochs. ``full`` is for a GPU: a wider UNet, 20 steps, guidance
on the last 40 %.
"""

from __future__ import annotations

DEFAULT_BUDGETS: dict[str, dict] = {
    "smoke": {
        "channels": [8, 8], "layers_per_block": 1, "heads": 1, "cross_dim": 8,
        "num_au_tokens": 2, "train_steps": 4, "batch_size": 8, "lr": 1e-3,
        "ema_decay": 0.999, "sample_steps": 3, "guidance_start": 0.5, "clf_epochs": 1,
        "clf_width": 8, "ens_epochs": 1, "ens_width": 4, "ens_members": 3,
        "checkpoint_every": 4, "sample_batch": 64,
    },
    "quick": {
        "channels": [16, 32, 32], "layers_per_block": 1, "heads": 2, "cross_dim": 32,
        "num_au_tokens": 4, "train_steps": 1200, "batch_size": 32, "lr": 2e-3,
        "ema_decay": 0.995, "sample_steps": 8, "guidance_start": 0.75, "clf_epochs": 10,
        "clf_width": 16, "ens_epochs": 8, "ens_width": 8, "ens_members": 3,
        "checkpoint_every": 250, "sample_batch": 128,
    },
    "full": {
        "channels": [64, 128, 192, 256], "layers_per_block": 2, "heads": 8, "cross_dim": 256,
        "num_au_tokens": 4, "train_steps": 100_000, "batch_size": 128, "lr": 2e-4,
        "ema_decay": 0.9999, "sample_steps": 20, "guidance_start": 0.6, "clf_epochs": 40,
        "clf_width": 32, "ens_epochs": 30, "ens_width": 16, "ens_members": 3,
        "checkpoint_every": 2000, "sample_batch": 256,
    },
}

#: The pretrained (``pretrained=PATH``) path's numbers. They replace the same keys of the
#: from-scratch row (the classifier numbers are shared), and a ``"pretrained"`` sub-dict in a
#: user's ``budgets`` row overrides them. Only the AU adapter trains, at SD's usual adapter
#: learning rate (1e-4, IP-Adapter); ``quick``/``full`` assume a GPU (SD 1.5 at 512 px), smoke
#: is for the tiny test pipeline. Small sampling batches because guided steps backpropagate
#: through the UNet and the VAE decoder.
PRETRAINED_BUDGETS: dict[str, dict] = {
    "smoke": {"num_au_tokens": 2, "train_steps": 4, "batch_size": 4, "lr": 1e-3,
              "ema_decay": 0.999, "sample_steps": 3, "guidance_start": 0.5,
              "checkpoint_every": 4, "sample_batch": 8},
    "quick": {"num_au_tokens": 4, "train_steps": 2000, "batch_size": 16, "lr": 1e-4,
              "ema_decay": 0.999, "sample_steps": 20, "guidance_start": 0.75,
              "checkpoint_every": 250, "sample_batch": 16},
    "full": {"num_au_tokens": 4, "train_steps": 20_000, "batch_size": 32, "lr": 1e-4,
             "ema_decay": 0.9999, "sample_steps": 30, "guidance_start": 0.6,
             "checkpoint_every": 1000, "sample_batch": 16},
}


def pretrained_row(budgets: dict, name: str) -> dict:
    """The budget row the pretrained path uses (see :data:`PRETRAINED_BUDGETS`)."""
    row = {k: v for k, v in budgets[name].items() if k != "pretrained"}
    row.update(PRETRAINED_BUDGETS[name])
    row.update(budgets[name].get("pretrained", {}))
    return row
