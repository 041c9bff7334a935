"""The toyfaces data set: which face is image ``i`` of a split (:func:`item`, :func:`sample_aus`,
:func:`identity_seed`), rendering a whole split (:func:`load_toyfaces`) and the registry adapter
(:class:`ToyFacesAdapter`)."""

from __future__ import annotations

import numpy as np

from ferbench.aus import AU_INDEX, AU_NAMES, PROTOTYPES
from ferbench.data.base import FaceData
from ferbench.data.toyfaces.identity import _BASE_SEED
from ferbench.data.toyfaces.render import RENDER_VERSION, render
from ferbench.labels import BASIC7, INDEX

CLASSES: tuple[str, ...] = BASIC7
SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_PER_CLASS: dict[str, int] = {"train": 500, "val": 100, "test": 200}

_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
#: identity seed of image i in a split = offset + i (i < 10**7): disjoint between splits.
_IDENTITY_OFFSET = {"train": 10_000_000, "val": 20_000_000, "test": 30_000_000}

# Expression sampling (difficulty calibration; see benchmarks/toyfaces_difficulty.py).
_GAIN_RANGE = (0.3, 1.3)      # overall prototype strength, uniform
_AU_JITTER = (0.6, 1.4)       # per-AU multiplicative jitter
_DROP_P = 0.25                # probability to drop each prototype AU (at least one is kept)
_NOISE_P = 0.15               # probability that any AU gets a small random activation
_NOISE_MAX = 1.6              # max intensity of that activation


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODE:
        raise ValueError(f"toyfaces has splits {SPLITS}, not '{split}'")


def identity_seed(split: str, i: int) -> int:
    """Identity seed of image ``i`` of ``split`` (disjoint between splits)."""
    _check_split(split)
    return _IDENTITY_OFFSET[split] + int(i)


def sample_aus(cls: str, rng: np.random.Generator) -> np.ndarray:
    """Draw AU intensities for one image of class ``cls`` (prototype, gain, drops, AU noise)."""
    out = np.zeros(len(AU_NAMES))
    proto = PROTOTYPES[cls]
    gain = rng.uniform(*_GAIN_RANGE)
    names = list(proto)
    keep = rng.uniform(size=len(names)) >= _DROP_P
    jitter = rng.uniform(*_AU_JITTER, size=len(names))
    if names and not keep.any():
        keep[int(rng.integers(len(names)))] = True
    for n, k, j in zip(names, keep, jitter):
        if k:
            out[AU_INDEX[n]] = proto[n] * gain * j
    noise_on = rng.uniform(size=len(AU_NAMES)) < _NOISE_P
    noise = rng.uniform(0.0, _NOISE_MAX, size=len(AU_NAMES))
    out = out + np.where(noise_on, noise, 0.0)
    return np.clip(out, 0.0, 5.0)


def item(split: str, i: int) -> tuple[int, int, np.ndarray, int]:
    """``(canonical label, identity seed, aus, nuisance seed)`` of image ``i`` of ``split``."""
    _check_split(split)
    cls = CLASSES[int(i) % len(CLASSES)]
    rng = np.random.default_rng([_BASE_SEED, _SPLIT_CODE[split], int(i), 1])
    aus = sample_aus(cls, rng).astype(np.float32)   # rendered exactly as recorded
    nseed = _SPLIT_CODE[split] * 10_000_000 + int(i)
    return INDEX[cls], identity_seed(split, i), aus, nseed


def load_toyfaces(split: str, resolution: int = 48, channels: int = 1,
                  n_per_class: int | None = None, progress: bool = True) -> FaceData:
    """Render one split of toyfaces (``n_per_class`` default: 500 train, 100 val, 200 test)."""
    _check_split(split)
    n_per_class = DEFAULT_PER_CLASS[split] if n_per_class is None else int(n_per_class)
    if n_per_class < 0:
        raise ValueError("n_per_class must be >= 0")
    n = n_per_class * len(CLASSES)
    images = np.zeros((n, resolution, resolution, channels), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    aus = np.zeros((n, len(AU_NAMES)), dtype=np.float32)
    lms = np.zeros((n, 68, 2), dtype=np.float32)
    it = range(n)
    if progress:
        try:
            from tqdm.auto import tqdm
            it = tqdm(it, desc=f"toyfaces/{split} {resolution}px", leave=False, disable=None)
        except ImportError:  # pragma: no cover
            pass
    for i in it:
        lab, ids, a, ns = item(split, i)
        img, lm = render(ids, a, resolution, channels, ns)
        images[i], labels[i], aus[i], lms[i] = img, lab, a, lm
    return FaceData(
        name="toyfaces", split=split, images=images, labels=labels, classes=CLASSES,
        aus=aus, au_names=AU_NAMES, landmarks=lms,
        ids=np.array([f"toyfaces/{split}/{i:06d}" for i in range(n)]),
        meta={"renderer": "ferbench.data.toyfaces", "render_version": RENDER_VERSION,
              "n_per_class": n_per_class, "resolution": resolution, "channels": channels,
              "landmarks": "ibug68", "note": "procedural smoke-test data, not FER results"},
    )


class ToyFacesAdapter:
    """Registry adapter for the built-in procedural toyfaces data set."""

    name = "toyfaces"
    version = RENDER_VERSION
    classes = CLASSES
    needs_root = False
    splits = SPLITS
    description = ("Built-in procedurally rendered faces driven by FACS action units (7 basic "
                   "expressions, ground-truth AUs and 68 iBUG landmarks); offline, deterministic. "
                   "A pipeline smoke test, not an FER benchmark.")
    license = "CC0-1.0 (procedurally generated by ferbench)"

    def build(self, split: str, resolution: int = 48, channels: int = 1, seed: int = 0,
              n_per_class: int | None = None) -> FaceData:
        """Render ``split``; ``seed`` is ignored (the data set is fixed)."""
        return load_toyfaces(split, resolution, channels, n_per_class=n_per_class)
