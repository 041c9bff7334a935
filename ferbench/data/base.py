"""In-memory face data: the one format every stage of ferbench exchanges.

``FaceData`` holds one split of one dataset as compact arrays:

- ``images``: ``uint8`` array of shape ``(N, H, W, C)`` with ``C`` = 1 (grayscale) or 3 (RGB);
- ``labels``: ``int64`` array of shape ``(N,)`` holding **canonical** label indices
  (see :mod:`ferbench.labels`);
- ``classes``: the canonical class names this dataset uses (e.g. the 7 basic ones), in
  canonical order; a classifier trained on it has ``len(classes)`` outputs;
- ``aus`` (optional): ``float32`` ``(N, len(au_names))`` action-unit intensities (0..5 FACS scale);
- ``landmarks`` (optional): ``float32`` ``(N, K, 2)`` pixel coordinates (x, y);
- ``ids`` (optional): per-image identifiers (file names), for warnings and provenance.

``TrainSet`` is the read-only, training-only view that a generator is handed. It has no way
back to the dataset, its other splits or any scoring model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ferbench.labels import CANONICAL, INDEX


@dataclass
class FaceData:
    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    aus: np.ndarray | None = None
    au_names: tuple[str, ...] = ()
    landmarks: np.ndarray | None = None
    ids: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"{self.name}/{self.split}: images must be uint8 (N,H,W,C), got "
                             f"{self.images.dtype} {self.images.shape}")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}/{self.split}: {len(self.images)} images but "
                             f"{len(self.labels)} labels")
        for c in self.classes:
            if c not in INDEX:
                raise ValueError(f"{self.name}: class '{c}' is not canonical")
        self.classes = tuple(sorted(self.classes, key=INDEX.__getitem__))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    @property
    def class_indices(self) -> np.ndarray:
        """Canonical indices of ``classes`` (the classifier's output order)."""
        return np.array([INDEX[c] for c in self.classes], dtype=np.int64)

    def contiguous_labels(self, classes: tuple[str, ...] | None = None) -> np.ndarray:
        """Labels as 0..K-1 positions in ``classes`` (default: this dataset's own)."""
        classes = classes or self.classes
        lut = np.full(len(CANONICAL), -1, dtype=np.int64)
        for pos, c in enumerate(classes):
            lut[INDEX[c]] = pos
        out = lut[self.labels]
        if (out < 0).any():
            bad = sorted({CANONICAL[i] for i in self.labels[out < 0]})
            raise ValueError(f"{self.name}/{self.split}: labels {bad} not in classes {classes}")
        return out

    def subset(self, idx: np.ndarray) -> FaceData:
        idx = np.asarray(idx)
        return FaceData(
            name=self.name, split=self.split, images=self.images[idx], labels=self.labels[idx],
            classes=self.classes,
            aus=None if self.aus is None else self.aus[idx], au_names=self.au_names,
            landmarks=None if self.landmarks is None else self.landmarks[idx],
            ids=None if self.ids is None else self.ids[idx], meta=dict(self.meta),
        )

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == INDEX[c]).sum()) for c in self.classes}

    def content_hash(self) -> str:
        """sha256 over pixels, labels and class list: the dataset identity stored with scores."""
        h = hashlib.sha256()
        h.update(repr((self.images.shape, self.classes)).encode())
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(self.labels.astype("<i8").tobytes())
        return h.hexdigest()


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = a.view()
    a.setflags(write=False)
    return a


class TrainSet:
    """Training-only, read-only view handed to a generator's ``fit``.

    It carries the training images, labels (canonical indices), classes, and the AUs and
    landmarks if the dataset has them. It holds no reference to other splits or to the
    dataset object, so a generator cannot reach validation/test data or scoring models
    through it.
    """

    __slots__ = ("_images", "_labels", "_aus", "_landmarks", "classes", "au_names", "name")

    def __init__(self, data: FaceData) -> None:
        if data.split != "train":
            raise ValueError(f"a generator may only be fitted on a train split, not '{data.split}'")
        self._images = _frozen(data.images)
        self._labels = _frozen(data.labels)
        self._aus = _frozen(data.aus)
        self._landmarks = _frozen(data.landmarks)
        self.classes = tuple(data.classes)
        self.au_names = tuple(data.au_names)
        self.name = data.name

    images = property(lambda self: self._images, doc="uint8 (N,H,W,C), read-only")
    labels = property(lambda self: self._labels, doc="int64 canonical indices, read-only")
    aus = property(lambda self: self._aus, doc="float32 (N,A) or None, read-only")
    landmarks = property(lambda self: self._landmarks, doc="float32 (N,K,2) or None")

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def resolution(self) -> int:
        return int(self._images.shape[1])

    @property
    def channels(self) -> int:
        return int(self._images.shape[3])
