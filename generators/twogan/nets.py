"""The four networks: identity generator/discriminator and expression generator/critic.

All of them work at a resolution ``R`` divisible by 8 (32, 48 and 64 are the benchmark's
sizes) and with ``C`` = 1 or 3 channels; ``width`` is the base channel count.

Identity GAN: why DCGAN-class with spectral norm, hinge loss and DiffAugment, not StyleGAN2
---------------------------------------------------------------------------------------------
Paper A used StyleGAN2 for identities. Here the identity GAN has to learn from a few hundred
to a few thousand 48-64 px faces, and at the ``quick`` budget in about a minute of CPU time.
StyleGAN2's mapping network, modulated convolutions, path-length and lazy R1 regularisation pay
off at 256 px and above with tens of thousands of images and days of GPU; at 48 px with
hundreds of images they mainly add cost and instability. The small-data GAN literature
(Miyato et al. 2018, spectral norm; Lim & Ye 2017, hinge loss; Zhao et al. 2020,
DiffAugment) shows that a plain conv generator with a spectrally normalised discriminator,
the hinge loss and differentiable augmentation of both real and fake images is stable with
few images and few steps, which is what this budget needs. The spirit of paper A (an
unconditional GAN that invents new identities, separate from the expression model) is kept.

The generator uses batch norm (DCGAN); before sampling its statistics are re-estimated over
many generated batches ("standing statistics", as in BigGAN) so that sampling in eval mode is
independent of the batch composition and therefore exactly reproducible per seed.

Expression GAN: StarGAN (Choi et al. 2018), as in paper A
---------------------------------------------------------
``G(x, c)``: the image concatenated with the one-hot target tiled over space, a 7x7 conv,
two stride-2 down-sampling convs, ``n_res`` residual blocks, two up-sampling steps and a 7x7
conv, instance norm throughout. One deviation, chosen for short CPU budgets: the output is
``tanh(atanh(x) + h)`` with the last conv initialised to zero, so G starts as the identity
map and only has to learn the *change* of expression (the cycle loss is then satisfied from
step 0 and the classification loss drives the edits). The critic is StarGAN's PatchGAN with
leaky ReLU and no normalisation (WGAN-GP forbids batch statistics in the critic), with two
heads: a real/fake patch map and an expression classifier.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm


def check_resolution(res: int) -> None:
    if res % 8 or res < 16:
        raise ValueError(f"twogan: working resolution must be a multiple of 8 and >= 16, got {res}")


class IdentityG(nn.Module):
    """z -> face. Linear to ``4w x R/8 x R/8``, three (upsample, conv, BN, ReLU) stages."""

    def __init__(self, z_dim: int, res: int, channels: int, width: int):
        super().__init__()
        check_resolution(res)
        self.base = res // 8
        w = width
        self.fc = nn.Linear(z_dim, 4 * w * self.base * self.base)
        self.bn0 = nn.BatchNorm2d(4 * w)
        chans = [4 * w, 4 * w, 2 * w, w]
        blocks = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(w, channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), -1, self.base, self.base)
        h = F.relu(self.bn0(h))
        return torch.tanh(self.out(self.blocks(h)))


class IdentityD(nn.Module):
    """Spectrally normalised conv net -> one hinge-loss score per image."""

    def __init__(self, res: int, channels: int, width: int):
        super().__init__()
        check_resolution(res)
        w = width
        chans = [channels, w, 2 * w, 4 * w]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [spectral_norm(nn.Conv2d(cin, cout, 3, padding=1)),
                       nn.LeakyReLU(0.2, inplace=True),
                       spectral_norm(nn.Conv2d(cout, cout, 4, stride=2, padding=1)),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.fc = spectral_norm(nn.Linear(4 * w * (res // 8) ** 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1)).squeeze(1)


class _Res(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.InstanceNorm2d(ch, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.InstanceNorm2d(ch, affine=True))

    def forward(self, x):
        return x + self.body(x)


class ExpressionG(nn.Module):
    """StarGAN generator ``G(x, c)`` (see the module docstring for the residual output)."""

    def __init__(self, res: int, channels: int, n_classes: int, width: int, n_res: int):
        super().__init__()
        check_resolution(res)
        w = width

        def block(cin, cout, k, s, p):
            return [nn.Conv2d(cin, cout, k, s, p, bias=False),
                    nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True)]

        layers = block(channels + n_classes, w, 7, 1, 3)
        layers += block(w, 2 * w, 4, 2, 1) + block(2 * w, 4 * w, 4, 2, 1)
        layers += [_Res(4 * w) for _ in range(n_res)]
        for cin, cout in ((4 * w, 2 * w), (2 * w, w)):
            layers += [nn.Upsample(scale_factor=2, mode="nearest")] + block(cin, cout, 3, 1, 1)
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(w, channels, 7, padding=3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        cmap = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        h = self.out(self.body(torch.cat([x, cmap], dim=1)))
        return torch.tanh(torch.atanh(x.clamp(-0.999, 0.999)) + h)


class ExpressionD(nn.Module):
    """StarGAN critic: three stride-2 convs, a patch-map source head and a class head."""

    def __init__(self, res: int, channels: int, n_classes: int, width: int):
        super().__init__()
        check_resolution(res)
        w = width
        chans = [channels, w, 2 * w, 4 * w, 8 * w]
        layers = []
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(cin, cout, 4 if stride == 2 else 3, stride, 1),
                       nn.LeakyReLU(0.01, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.src = nn.Conv2d(8 * w, 1, 3, padding=1)
        self.cls = nn.Conv2d(8 * w, n_classes, res // 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.src(h), self.cls(h).flatten(1)
