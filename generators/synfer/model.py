"""The compact conditional UNet (diffusers ``UNet2DConditionModel``) and the diffusion sampler
with classifier-free guidance and SynFER's semantic guidance.

The UNet is trained from scratch in pixel space at the protocol's resolution (no VAE: at
48 px a latent space would save nothing and no pretrained autoencoder may be downloaded; the
latent path with a local Stable Diffusion folder is :mod:`.pretrained`, which reuses
:func:`sample` with its own solver factory). The condition enters through
cross-attention and, pooled, through the timestep embedding (see :class:`Net`).

Semantic guidance (SynFER, Sec. 3.3)
    On the last steps (``guidance_start``: fraction of the solver steps after which guidance
    is on), the sampler predicts x̂0 from x_t with the CFG noise estimate, scores it with the
    generator's own guidance classifier, and moves the text-token embedding ``c`` against the
    gradient of the cross-entropy toward the target label: ``c <- c - λ ∇_c L / ||∇_c L||_2``
    (per image). The updated ``c`` is carried into the following steps (one UNet backward per
    guided step; re-running the UNet with the new ``c`` in the same step would double the cost
    for little change). Optionally (``classifier_scale`` > 0) classic classifier guidance also
    shifts the noise estimate: ``eps <- eps + s sqrt(1 - ᾱ_t) ∇_{x_t} L``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attention import install_au_processors

NUM_TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"


def build_unet(resolution: int, channels: int, cfg: dict, num_text_tokens: int):
    """A ``UNet2DConditionModel`` sized by the budget row ``cfg``, with AU processors."""
    from diffusers import UNet2DConditionModel

    chans = tuple(int(c) for c in cfg["channels"])
    n = len(chans)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
    up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
    d = int(cfg["cross_dim"])
    unet = UNet2DConditionModel(
        sample_size=resolution, in_channels=channels, out_channels=channels,
        down_block_types=down, up_block_types=up, block_out_channels=chans,
        layers_per_block=int(cfg["layers_per_block"]), cross_attention_dim=d,
        attention_head_dim=int(cfg["heads"]), norm_num_groups=min(8, chans[0]),
        # the pooled condition (see Net.eps), added to the timestep embedding
        class_embed_type="projection", projection_class_embeddings_input_dim=2 * d,
    )
    install_au_processors(unet, num_text_tokens)
    return unet


def make_noise_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE)


def make_solver(solver: str, steps: int):
    """The sampler for pixel-space images in [-1, 1].

    The x0 prediction is clipped to [-1, 1] at every step: DPM-Solver++ and UniPC with
    ``thresholding=True, sample_max_value=1.0`` (diffusers' dynamic thresholding with its
    ceiling at 1 is a plain clip), DDPM with its default ``clip_sample``. Without it the first
    step is unstable under the cosine schedule: ᾱ at t = 999 is 2.4e-9, so x0 = (x_t -
    sqrt(1-ᾱ) eps) / sqrt(ᾱ) multiplies the noise estimate's error by ~2e4 and the data-
    prediction solvers carry that into x_t (measured on synfer version 1: x_t's std went from
    1 to 150 in one step and every sample saturated; ``tests/test_synfer.py`` checks the
    sampler with a bounded, slightly wrong oracle denoiser)."""
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    common = dict(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule=BETA_SCHEDULE)
    clip = dict(thresholding=True, sample_max_value=1.0)
    if solver == "dpmsolver++":
        s = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
                                        lower_order_final=True, **clip, **common)
    elif solver == "unipc":
        s = UniPCMultistepScheduler(solver_order=2, lower_order_final=True, **clip, **common)
    elif solver == "ddpm":
        s = DDPMScheduler(clip_sample=True, **common)
    else:
        raise ValueError(f"unknown solver '{solver}'; choose dpmsolver++, unipc or ddpm")
    s.set_timesteps(steps)
    return s


class Net(nn.Module):
    """UNet plus conditioner: everything the diffusion model learns (EMA'd together).

    The condition enters twice: the text and AU tokens through (decoupled) cross-attention,
    and their means, ``[mean(text), mean(au)]``, through the UNet's projection class
    embedding, added to the timestep embedding in every ResNet block. Measured without the
    pooled path (version 1): after a ``quick`` fit the model ignored its condition (conditional
    and unconditional noise estimates differed by ~0.005 on average, with equal MSE; label
    fidelity at chance, semantic guidance without effect): cross-attention alone is learnt too
    slowly at this size and budget. Zero tokens (dropped conditions) give a zero pooled vector,
    so the null condition is still one fixed input, learnt through the CFG dropout."""

    def __init__(self, unet, cond):
        super().__init__()
        self.unet = unet
        self.cond = cond

    def eps(self, x, t, text, au):
        pooled = torch.cat([text.mean(1), au.mean(1)], -1)
        return self.unet(x, t, encoder_hidden_states=torch.cat([text, au], 1),
                         class_labels=pooled).sample


def x0_from_eps(x, eps, alpha_bar):
    return (x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()


def guidance_step(net: Net, clf: nn.Module, x, t, text, au, target, cfg_scale: float,
                  lam: float, alpha_bar, classifier_scale: float = 0.0, clamp: bool = True):
    """One semantic-guidance step. Returns ``(eps, new_text, loss_per_image)``: the CFG noise
    estimate (with classic classifier guidance when ``classifier_scale`` > 0), the text tokens
    moved by ``-lam * grad / ||grad||`` per image, and the cross-entropy before the move.
    ``clamp=False`` for latents (x̂0 is not an image in [-1, 1]; ``clf`` decodes it)."""
    text = text.detach().requires_grad_(True)
    xg = x.detach().requires_grad_(classifier_scale > 0)
    with torch.no_grad():
        eps_u = net.eps(x, t, torch.zeros_like(text), torch.zeros_like(au))
    eps_c = net.eps(xg, t, text, au)
    eps = eps_u + cfg_scale * (eps_c - eps_u)
    x0 = x0_from_eps(xg, eps, alpha_bar)
    x0 = x0.clamp(-1, 1) if clamp else x0
    loss = F.cross_entropy(clf(x0), target, reduction="none")
    wrt = [text, xg] if classifier_scale > 0 else [text]
    grads = torch.autograd.grad(loss.sum(), wrt)
    g = grads[0]
    norm = g.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
    new_text = (text - lam * g / norm).detach()
    eps = eps.detach()
    if classifier_scale > 0:
        eps = eps + classifier_scale * (1 - alpha_bar).sqrt() * grads[1]
    return eps, new_text, loss.detach()


def sample(net: Net, text, au, noise, *, steps: int, cfg_scale: float, solver: str = "dpmsolver++",
           clf: nn.Module | None = None, target=None, lam: float = 0.0, guidance_start: float = 1.0,
           classifier_scale: float = 0.0, counter: dict | None = None,
           generator: torch.Generator | None = None, make_solver=make_solver,
           clamp: bool = True):
    """Denoise ``noise`` ``(B, C, H, W)`` under text/AU tokens. Returns images in [-1, 1].
    ``counter`` (optional) accumulates UNet evaluations (images × forward passes). The
    pretrained (latent) path passes its own ``make_solver`` (the folder's noise schedule) and
    ``clamp=False`` (latents are returned unclamped)."""
    sched = make_solver(solver, steps)
    x = noise * sched.init_noise_sigma
    zt, za = torch.zeros_like(text), torch.zeros_like(au)
    ac = sched.alphas_cumprod
    start = int(np.floor(guidance_start * len(sched.timesteps)))
    guided_on = clf is not None and lam > 0 or (clf is not None and classifier_scale > 0)
    for i, t in enumerate(sched.timesteps):
        xin = sched.scale_model_input(x, t)
        if guided_on and i >= start:
            eps, text, _ = guidance_step(net, clf, xin, t, text, au, target, cfg_scale, lam,
                                         ac[int(t)].to(x.device), classifier_scale, clamp)
            n_eval = 2 * len(x)
        else:
            with torch.no_grad():
                if cfg_scale == 1.0:
                    eps = net.eps(xin, t, text, au)
                    n_eval = len(x)
                else:
                    e = net.eps(torch.cat([xin, xin]), t, torch.cat([text, zt]),
                                torch.cat([au, za]))
                    eps_c, eps_u = e.chunk(2)
                    eps = eps_u + cfg_scale * (eps_c - eps_u)
                    n_eval = 2 * len(x)
        if counter is not None:
            counter["unet_evals"] = counter.get("unet_evals", 0) + n_eval
        if solver == "ddpm":  # stochastic: draw its noise from the seeded generator
            x = sched.step(eps, t, x, generator=generator).prev_sample
        else:
            x = sched.step(eps, t, x).prev_sample
    return x.clamp(-1, 1) if clamp else x
