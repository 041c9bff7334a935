"""The in-process context of a run: device, progress, and memos of the data it has loaded.

Nothing here is shared between processes: an executor that runs jobs elsewhere builds its own
context there, and every job re-derives what it needs from its spec and the on-disk caches.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ferbench.data.base import FaceData
from ferbench.errors import FerbenchError
from ferbench.labels import CANONICAL, INDEX


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FerbenchError("--device cuda was asked for, but torch sees no CUDA device")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise FerbenchError(f"unknown device '{device}'; use cpu, cuda or auto")
    return device


def select_real(train: FaceData, real_per_class: int | None, real_fraction: float,
                seed: int) -> FaceData:
    """Seeded, stratified subset of the real training split (the low-data regime). The
    generator is fitted on exactly this subset, and the classifier's real part is it too."""
    if real_per_class is None and real_fraction >= 1.0:
        return train
    rng = np.random.default_rng([seed, 0xFE5])
    keep = []
    for c in train.class_indices:
        idx = np.flatnonzero(train.labels == c)
        n = len(idx)
        if real_fraction < 1.0:
            n = max(1, int(round(n * real_fraction))) if n else 0
        if real_per_class is not None:
            n = min(n, real_per_class)
        keep.append(np.sort(rng.permutation(idx)[:n]))
    sub = train.subset(np.concatenate(keep))
    sub.meta.pop("content_hash", None)  # the parent's hash is not the subset's
    return sub


def data_hash(d: FaceData) -> str:
    """Content hash of a split (cached in its meta by the prepared cache)."""
    h = d.meta.get("content_hash")
    if h is None:
        h = d.meta["content_hash"] = d.content_hash()
    return h


def restrict_to(data: FaceData, classes: tuple[str, ...]) -> FaceData:
    """Cross-dataset evaluation: keep the images whose class the classifier knows."""
    known = np.isin(data.labels, [INDEX[c] for c in classes])
    if known.all():
        return data
    dropped = sorted({CANONICAL[i] for i in data.labels[~known]})
    warnings.warn(f"{data.name}/{data.split}: dropping {int((~known).sum())} images of "
                  f"classes the training set lacks: {', '.join(dropped)}", stacklevel=2)
    out = data.subset(np.flatnonzero(known))
    out.meta.pop("content_hash", None)
    out.classes = tuple(c for c in data.classes if c in classes)
    return out


@dataclass
class Context:
    """What the jobs of one run share in this process (datasets, fitted generators)."""

    device: str = "cpu"
    progress: bool = True
    n_boot: int = 1000
    _data: dict = field(default_factory=dict)
    _fits: dict = field(default_factory=dict)
    _checks: dict = field(default_factory=dict)

    def dataset(self, name: str, split: str, root: str | None, resolution: int,
                channels: int, options: dict | None = None) -> FaceData:
        opts = dict(options or {})
        key = (name, split, root, resolution, channels, tuple(sorted(opts.items())))
        if key not in self._data:
            from ferbench.data.cache import load

            self._data[key] = load(name, split, root=root, resolution=resolution,
                                   channels=channels, options=opts)
        return self._data[key]

    def has_split(self, name: str, split: str | None) -> bool:
        from ferbench.data.registry import get_adapter

        return split is not None and split in tuple(get_adapter(name).splits)

    def real_subset(self, name: str, split: str, root: str | None, resolution: int,
                    channels: int, real_per_class: int | None, real_fraction: float,
                    seed: int, options: dict | None = None) -> FaceData:
        opts = dict(options or {})
        key = ("subset", name, split, root, resolution, channels, real_per_class,
               real_fraction, seed, tuple(sorted(opts.items())))
        if key not in self._data:
            full = self.dataset(name, split, root, resolution, channels, opts)
            self._data[key] = select_real(full, real_per_class, real_fraction, seed)
        return self._data[key]

    def data_checks(self, train: FaceData, test: FaceData) -> dict:
        """Train/test sanity checks, computed (and warned about) once per pair of splits."""
        from ferbench.data.checks import sharpness_mismatch

        key = (data_hash(train), data_hash(test))
        if key not in self._checks:
            a, b, warning = sharpness_mismatch(train.images, test.images)
            if warning:
                warnings.warn(f"{train.name}/{train.split} vs {test.name}/{test.split}: "
                              f"{warning}", stacklevel=2)
            self._checks[key] = {"train_sharpness": round(a, 3), "test_sharpness": round(b, 3),
                                 "warning": warning}
        return self._checks[key]
