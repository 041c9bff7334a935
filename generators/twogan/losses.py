"""Losses and the differentiable augmentation the two GANs train with.

- Identity GAN: the hinge loss (Lim & Ye 2017; SN-GAN, BigGAN) with DiffAugment (Zhao et al.
  2020) applied to real *and* fake images in both the D and G updates, so the discriminator
  cannot memorise a small training set and the generator still receives gradients through
  the (differentiable) augmentation.
- Expression GAN: WGAN-GP (Gulrajani et al. 2017) as StarGAN and paper A use it, with the
  gradient penalty on random interpolates between real and translated images.

All randomness comes from an explicit ``torch.Generator`` so that a fit is a pure function of
its seed and can be resumed exactly from a checkpoint (the generator state is saved with it).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

AUGMENTS = ("color", "translation", "cutout")


def _rand(shape, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=g).to(like.device, like.dtype)


def _randint(high_low, shape, g, device):
    lo, hi = high_low
    return torch.randint(lo, hi, shape, generator=g).to(device)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020, reference code's ``rand_*`` functions), seeded by ``g``.

    ``color``: brightness +-0.5, saturation x[0,2] (a no-op on one channel), contrast x[0.5,1.5];
    ``translation``: shift by up to 1/8 of the size with zero fill; ``cutout``: zero a random
    square of half the size.
    """
    b, c, h, w = x.shape
    for p in policy:
        if p == "color":
            x = x + (_rand((b, 1, 1, 1), g, x) - 0.5)
            if c > 1:
                m = x.mean(dim=1, keepdim=True)
                x = (x - m) * (_rand((b, 1, 1, 1), g, x) * 2) + m
            m = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - m) * (_rand((b, 1, 1, 1), g, x) + 0.5) + m
        elif p == "translation":
            sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
            tx = _randint((-sh, sh + 1), (b, 1, 1), g, x.device)
            ty = _randint((-sw, sw + 1), (b, 1, 1), g, x.device)
            gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device),
                                        torch.arange(h, device=x.device),
                                        torch.arange(w, device=x.device), indexing="ij")
            gx = torch.clamp(gx + tx + 1, 0, h + 1)
            gy = torch.clamp(gy + ty + 1, 0, w + 1)
            xp = F.pad(x, [1, 1, 1, 1])
            x = xp.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)
        elif p == "cutout":
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            ox = _randint((0, h + (1 - ch % 2)), (b, 1, 1), g, x.device)
            oy = _randint((0, w + (1 - cw % 2)), (b, 1, 1), g, x.device)
            gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device),
                                        torch.arange(ch, device=x.device),
                                        torch.arange(cw, device=x.device), indexing="ij")
            gx = torch.clamp(gx + ox - ch // 2, 0, h - 1)
            gy = torch.clamp(gy + oy - cw // 2, 0, w - 1)
            mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
            mask[gb, gx, gy] = 0
            x = x * mask.unsqueeze(1)
        else:
            raise ValueError(f"twogan: unknown DiffAugment policy '{p}'; choose from {AUGMENTS}")
    return x


def parse_policy(policy: str) -> tuple[str, ...]:
    out = tuple(p.strip() for p in policy.split(",") if p.strip())
    bad = [p for p in out if p not in AUGMENTS]
    if bad:
        raise ValueError(f"twogan: parameter 'diffaugment' has unknown policy {bad}; "
                         f"choose from {AUGMENTS}")
    return out


def hinge_d(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_g(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def gradient_penalty(critic_src, real: torch.Tensor, fake: torch.Tensor,
                     g: torch.Generator) -> torch.Tensor:
    """WGAN-GP: ``E[(||grad_xhat D(xhat)||_2 - 1)^2]`` on ``xhat = a*real + (1-a)*fake``,
    ``a ~ U(0,1)`` per image. ``critic_src`` maps images to (patch) scores; the penalty keeps
    the graph (``create_graph=True``) so it can be back-propagated into the critic."""
    a = _rand((len(real), 1, 1, 1), g, real)
    xhat = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    out = critic_src(xhat)
    (grad,) = torch.autograd.grad(out.sum(), xhat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
