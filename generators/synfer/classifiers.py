"""The generator's own small FER classifiers: the semantic-guidance classifier and the
pseudo-label ensemble.

Both are trained by ``SynFER.fit`` on the real *training* split it is handed, and nothing
else: they are part of the generator, never the benchmark's scoring classifier (that one is
trained by the harness on the pool and is out of a generator's reach).

Decisions
    - One architecture, :class:`TinyCNN` (3 conv stages with BatchNorm, global average pool),
      because it trains in seconds on a CPU at 48 px; the guidance classifier is twice as wide
      as an ensemble member so that it is a different model from every member.
    - The guidance classifier sees predicted clean images x̂0 during sampling, which are
      blurrier and noisier than real faces, so it is trained with random Gaussian blur and
      additive noise (noise-robust, like the x̂0 classifiers in training-free guidance work).
    - Ensemble members differ by seed (initialisation and batch order), SynFER's ensemble
      voting in miniature.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self, channels: int, num_classes: int, width: int = 16):
        super().__init__()
        w = width

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
                                 nn.ReLU(inplace=True), nn.Conv2d(o, o, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(o), nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(channels, w), block(w, 2 * w), block(2 * w, 4 * w))
        self.head = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, H, W)`` in [-1, 1]; returns logits over the generator's classes."""
        return self.head(self.features(x).mean(dim=(2, 3)))


def _augment(x: torch.Tensor, g: torch.Generator, robust: bool) -> torch.Tensor:
    """Random draws on the CPU (``g``), applied on ``x``'s device: same draws on CPU and CUDA."""
    dev = x.device
    flip = (torch.rand(len(x), generator=g) < 0.5).to(dev)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if robust:
        # Blur half of the batch with a 3x3 box and add noise of random strength: x̂0-like.
        blur = (torch.rand(len(x), generator=g) < 0.5).to(dev)
        k = torch.full((x.shape[1], 1, 3, 3), 1 / 9.0, device=dev)
        xb = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])
        x = torch.where(blur[:, None, None, None], xb, x)
        sigma = torch.rand(len(x), 1, 1, 1, generator=g) * 0.3
        x = x + (sigma * torch.randn(x.shape, generator=g)).to(dev)
    return x


def train_tiny_cnn(x: torch.Tensor, y: torch.Tensor, *, num_classes: int, width: int,
                   epochs: int, seed: int, robust: bool, batch_size: int = 64,
                   lr: float = 2e-3) -> TinyCNN:
    """Train a :class:`TinyCNN` on ``x`` (``(N, C, H, W)`` in [-1, 1]) and contiguous labels
    ``y`` with Adam and a cosine schedule, on ``x``'s device; deterministic for a seed on CPU.
    Returns it in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyCNN(x.shape[1], num_classes, width).to(x.device)
    g = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, epochs * int(np.ceil(len(x) / batch_size)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), batch_size):
            idx = perm[s:s + batch_size].to(x.device)
            if len(idx) < 2:
                continue
            loss = F.cross_entropy(model(_augment(x[idx], g, robust)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval().requires_grad_(False)


@torch.no_grad()
def ensemble_probs(models: list[nn.Module], x: torch.Tensor, batch_size: int = 256
                   ) -> torch.Tensor:
    """Per-member softmax probabilities ``(M, N, K)`` (on the CPU) for images ``x`` in [-1, 1]
    (on the members' device)."""
    out = []
    for m in models:
        out.append(torch.cat([F.softmax(m(x[s:s + batch_size]), dim=1)
                              for s in range(0, len(x), batch_size)]))
    return torch.stack(out).cpu()
