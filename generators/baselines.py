"""Baseline generators the protocols need: ``noise`` (lower bound) and ``real-augment``
(the classic-augmentation control that paper A argues GANs must beat)."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import v2

from ferbench.api import Budget, GeneratorMeta, SampleBatch, init_params, load_fitted, save_fitted
from ferbench.data.base import TrainSet


class NoiseGenerator:
    """Lower bound: images with no facial content.

    ``fit`` measures the training images' per-pixel mean and the global standard deviation;
    ``generate`` returns smoothed Gaussian noise around that mean image. The mean is pooled over
    all classes, so the claimed labels carry no information by design: a classifier trained
    on it should sit at chance.
    """

    meta = GeneratorMeta(
        name="noise", version="1", family="baseline", conditioning=("label",),
        license="Apache-2.0", parameters=0,
        description="Class-agnostic smoothed Gaussian noise around the mean training face.",
    )

    def __init__(self, smooth: int = 3):
        self.smooth = smooth

    def get_params(self) -> dict:
        return init_params(self)

    def save(self, path) -> None:
        save_fitted(path, {"mean": self.mean_, "std": np.array([self.std_], dtype=np.float64)},
                    {"params": self.get_params(), "shape": list(self.shape_)})

    @classmethod
    def load(cls, path, *, device: str = "cpu") -> NoiseGenerator:
        tensors, config = load_fitted(path)
        gen = cls(**config["params"])
        gen.mean_ = tensors["mean"].numpy()
        gen.std_ = float(tensors["std"][0])
        gen.shape_ = tuple(config["shape"])
        return gen

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu"):
        x = train.images.astype(np.float32)
        self.mean_ = x.mean(axis=0)
        self.std_ = float(x.std())
        self.shape_ = train.images.shape[1:]
        return self

    def generate(self, labels, *, seed: int, aus=None) -> SampleBatch:
        labels = np.asarray(labels, dtype=np.int64)
        g = torch.Generator().manual_seed(int(seed))
        h, w, c = self.shape_
        z = torch.randn((len(labels), c, h, w), generator=g)
        if self.smooth > 1:
            z = v2.functional.gaussian_blur(z, kernel_size=[self.smooth * 2 + 1] * 2,
                                            sigma=[float(self.smooth)] * 2)
            z = z / z.flatten(1).std(dim=1).clamp_min(1e-6)[:, None, None, None]
        x = torch.from_numpy(self.mean_).permute(2, 0, 1)[None] + self.std_ * z
        imgs = x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return SampleBatch(images=np.ascontiguousarray(imgs), labels=labels)


class RealAugmentGenerator:
    """Classic augmentation of real training images: the "simple augmentation" control.

    For each requested label it draws a real training image of that class (uniformly, with a
    seeded generator) and applies horizontal flip, random resized crop, a small affine
    (rotation, translation, shear) and photometric jitter (brightness, contrast, gamma) with
    torchvision's v2 transforms. Labels are those of the source images, i.e. correct by
    construction.
    """

    meta = GeneratorMeta(
        name="real-augment", version="1", family="baseline", conditioning=("label",),
        license="Apache-2.0", parameters=0,
        description="Flip, resized crop, small affine and photometric jitter of real images.",
    )

    def __init__(self, rotation: float = 10.0, translate: float = 0.08, scale_min: float = 0.85,
                 shear: float = 5.0, brightness: float = 0.3, contrast: float = 0.3,
                 gamma: float = 0.2):
        self.rotation = rotation
        self.translate = translate
        self.scale_min = scale_min
        self.shear = shear
        self.brightness = brightness
        self.contrast = contrast
        self.gamma = gamma

    def get_params(self) -> dict:
        return init_params(self)

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu"):
        self._fit_arrays(train.images, train.labels)  # read-only view; nothing is copied
        return self

    def _fit_arrays(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images_ = images
        self.labels_ = np.asarray(labels, dtype=np.int64)
        self.by_class_ = {int(c): np.flatnonzero(self.labels_ == c)
                          for c in np.unique(self.labels_)}
        res = images.shape[1]
        self.transform_ = v2.Compose([
            v2.RandomHorizontalFlip(),
            v2.RandomResizedCrop(res, scale=(self.scale_min, 1.0), ratio=(0.9, 1.1),
                                 antialias=True),
            v2.RandomAffine(degrees=self.rotation, translate=(self.translate, self.translate),
                            shear=self.shear),
            v2.ColorJitter(brightness=self.brightness, contrast=self.contrast),
        ])

    def save(self, path) -> None:
        # Its "fit" is the training images themselves (kept as uint8, no pickles).
        save_fitted(path, {"images": np.ascontiguousarray(self.images_), "labels": self.labels_},
                    {"params": self.get_params()})

    @classmethod
    def load(cls, path, *, device: str = "cpu") -> RealAugmentGenerator:
        tensors, config = load_fitted(path)
        gen = cls(**config["params"])
        gen._fit_arrays(tensors["images"].numpy(), tensors["labels"].numpy())
        return gen

    def generate(self, labels, *, seed: int, aus=None) -> SampleBatch:
        labels = np.asarray(labels, dtype=np.int64)
        missing = sorted(set(labels.tolist()) - set(self.by_class_))
        if missing:
            raise ValueError(f"real-augment has no training images of class {missing}")
        rng = np.random.default_rng(seed)
        src = np.array([rng.choice(self.by_class_[int(c)]) for c in labels], dtype=np.int64)
        out = np.empty((len(labels), *self.images_.shape[1:]), dtype=np.uint8)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            for i, j in enumerate(src):
                x = torch.from_numpy(np.array(self.images_[j])).permute(2, 0, 1)
                x = self.transform_(x)
                if self.gamma:
                    gam = float(torch.empty(1).uniform_(1 - self.gamma, 1 + self.gamma))
                    x = v2.functional.adjust_gamma(x, gam)
                out[i] = x.permute(1, 2, 0).numpy()
        return SampleBatch(images=out, labels=labels)
