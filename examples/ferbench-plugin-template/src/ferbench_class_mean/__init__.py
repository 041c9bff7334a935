"""Example ferbench plugin: the per-class mean training face plus seeded Gaussian noise.

It really learns (a mean image and a pixel standard deviation per class) and is label
conditional, so a classifier trained on it can beat chance; it is a template, not a model.
"""

from __future__ import annotations

import numpy as np

from ferbench.api import Budget, GeneratorMeta, SampleBatch, init_params, load_fitted, save_fitted
from ferbench.data.base import TrainSet


class ClassMeanGenerator:
    meta = GeneratorMeta(
        name="class-mean", version="0.1.0", family="baseline", conditioning=("label",),
        license="Apache-2.0", parameters=0,
        description="Per-class mean training face plus Gaussian noise (plugin template).",
        url="https://example.org/ferbench-class-mean",
    )

    def __init__(self, noise: float = 0.5):
        self.noise = noise  # hyper-parameters only; learnt state ends in "_"

    def get_params(self) -> dict:
        return init_params(self)

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu"):
        x = train.images.astype(np.float32)
        self.classes_ = np.unique(train.labels)
        self.mean_ = np.stack([x[train.labels == c].mean(axis=0) for c in self.classes_])
        self.std_ = np.array([x[train.labels == c].std() for c in self.classes_], np.float32)
        return self

    def generate(self, labels, *, seed: int, aus=None) -> SampleBatch:
        labels = np.asarray(labels, dtype=np.int64)
        rng = np.random.default_rng(int(seed))
        idx = np.searchsorted(self.classes_, labels)
        if np.any(self.classes_[np.minimum(idx, len(self.classes_) - 1)] != labels):
            raise ValueError("requested a class the generator was not fitted on")
        z = rng.standard_normal((len(labels), *self.mean_.shape[1:])).astype(np.float32)
        x = self.mean_[idx] + self.noise * self.std_[idx, None, None, None] * z
        return SampleBatch(images=np.clip(np.rint(x), 0, 255).astype(np.uint8), labels=labels)

    def save(self, path) -> None:
        save_fitted(path, {"classes": self.classes_, "mean": self.mean_, "std": self.std_},
                    {"params": self.get_params()})

    @classmethod
    def load(cls, path, *, device: str = "cpu") -> ClassMeanGenerator:
        tensors, config = load_fitted(path, device)
        gen = cls(**config["params"])
        gen.classes_ = tensors["classes"].numpy()
        gen.mean_ = tensors["mean"].numpy()
        gen.std_ = tensors["std"].numpy()
        return gen
