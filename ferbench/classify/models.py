"""The fixed classifiers (see :mod:`ferbench.classify`) and their registry, :data:`CLASSIFIERS`."""

from __future__ import annotations

import torch
from torch import nn

from ferbench.errors import ConfigError
from ferbench.registry import Registry, did_you_mean


class NoncomplexCNN(nn.Module):
    """Paper A's noncomplex CNN (see the module docstring). Outputs logits."""

    def __init__(self, num_classes: int = 7, channels: int = 1, resolution: int = 48) -> None:
        super().__init__()
        if resolution % 8 or resolution < 8:
            raise ConfigError(f"noncomplex-cnn needs a resolution divisible by 8, got {resolution}")

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(channels, 32), *conv(32, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
            *conv(64, 128), nn.MaxPool2d(2),
            *conv(128, 128), nn.MaxPool2d(2), nn.Dropout(0.25),
        )
        side = resolution // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, 1024), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(1024, num_classes),
        )
        for m in self.modules():  # Keras defaults: glorot_uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _resnet18(num_classes: int, channels: int, resolution: int) -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(weights=None, num_classes=num_classes)
    if resolution <= 64:
        # CIFAR-style stem: keep the spatial resolution for small faces (see module docstring).
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif channels != 3:
        model.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


#: name -> factory(num_classes, channels, resolution) -> nn.Module; plugins add their own
#: under the ``ferbench.classifiers`` entry-point group.
CLASSIFIERS: Registry = Registry("classifier", group="ferbench.classifiers", builtins={
    "noncomplex-cnn": lambda k, c, r: NoncomplexCNN(k, c, r),
    "resnet18": _resnet18,
})


def classifier_names() -> list[str]:
    return CLASSIFIERS.names()


def build_classifier(name: str, num_classes: int, channels: int, resolution: int) -> nn.Module:
    """Build a fresh (randomly initialised) classifier that outputs ``num_classes`` logits."""
    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier '{name}'{did_you_mean(name, CLASSIFIERS)}; "
                          f"available: {', '.join(classifier_names())}")
    if channels not in (1, 3):
        raise ConfigError(f"classifier input must have 1 or 3 channels, got {channels}")
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
    return CLASSIFIERS.get(name)(int(num_classes), int(channels), int(resolution))
