"""On-disk cache of real-set features, so a repeat run extracts nothing for the real data.

The key is derived, never user-chosen: sha256 over (dataset content hash, split, number of
images and the sha256 of the exact image array, extractor name, weights sha256, resize mode,
dim). Entries are ``<home>/<key>.npy`` (float64 ``(N, dim)``) written to a temporary file and
moved into place with ``os.replace``, so a crash never leaves a partial entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

__all__ = ["feature_cache_key", "cached_features"]


def _images_sha(images: np.ndarray) -> str:
    h = hashlib.sha256(repr(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()


def feature_cache_key(extractor, dataset_hash: str, split: str, images: np.ndarray) -> str:
    fields = {"data": dataset_hash, "split": split, "images": _images_sha(images),
              "extractor": extractor.name, "weights": extractor.weights_sha256,
              "resize": extractor.resize_mode, "dim": int(extractor.dim)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def cached_features(extractor, images: np.ndarray, *, home: str | Path, dataset_hash: str,
                    split: str) -> tuple[np.ndarray, bool]:
    """``(features, cache_hit)``: from ``home`` if present, else extracted and stored."""
    home = Path(home)
    path = home / f"{feature_cache_key(extractor, dataset_hash, split, images)}.npy"
    if path.is_file():
        feats = np.load(path, allow_pickle=False)
        if feats.shape == (len(images), extractor.dim):
            return feats, True
    feats = np.asarray(extractor(images), dtype=np.float64)
    from ferbench.paths import atomic_write

    atomic_write(path, lambda f: np.save(f, feats, allow_pickle=False))
    return feats, False
