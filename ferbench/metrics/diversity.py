"""Within-class diversity of a feature set: Vendi score and mean pairwise distance.

Why within class: a generator that returns one face per class (or a few near-copies) can still
get a fair FID from a class-pooled set; its within-class diversity exposes it.

- **Vendi score** (Friedman & Dieng 2023): ``exp(entropy of the eigenvalues of K/n)`` with the
  cosine-similarity kernel ``K = X̂ X̂ᵀ`` on L2-normalised features. It is the "effective number
  of distinct items": 1 for n copies of one image, n for n mutually orthogonal features. The
  eigenvalues come from the smaller of the ``n×n`` Gram matrix and the ``d×d`` second-moment
  matrix (same non-zero spectrum).
- **Mean pairwise distance**: the mean Euclidean distance between distinct items
  (``scipy.spatial.distance.pdist``); 0 for copies.

Both grow with n, so (decision) each class is sub-sampled to at most ``max_n`` items (seeded)
and n is reported; scores are comparable only at equal n. A class with fewer than 2 items is
*not computable*.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import pdist

from ferbench.metrics.common import NAN, as_features, not_computable

__all__ = ["vendi_score", "mean_pairwise_distance", "diversity", "per_class_diversity"]


def vendi_score(feats) -> float:
    """Vendi score with the cosine kernel (see the module docstring)."""
    x = as_features(feats, "features")
    n = len(x)
    if n == 0:
        return NAN
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.where(norms > 0, x / np.where(norms > 0, norms, 1.0), 0.0)
    gram = x @ x.T if n <= x.shape[1] else x.T @ x
    lam = np.linalg.eigvalsh(gram / n)
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()  # zero-norm rows leave trace < 1; renormalise the spectrum
    return float(np.exp(-(lam * np.log(lam)).sum()))


def mean_pairwise_distance(feats) -> float:
    x = as_features(feats, "features")
    return float(pdist(x).mean()) if len(x) >= 2 else NAN


def diversity(feats, *, max_n: int | None = 1000, seed: int = 0) -> dict:
    """``{vendi, mean_pairwise_distance, n, not_computable}`` of one set."""
    x = as_features(feats, "features")
    if max_n is not None and len(x) > max_n:
        x = x[np.random.default_rng(seed).choice(len(x), max_n, replace=False)]
    if len(x) < 2:
        return not_computable(f"needs at least 2 images, got {len(x)}",
                              values=("vendi", "mean_pairwise_distance"), n=len(x))
    return {"vendi": vendi_score(x), "mean_pairwise_distance": mean_pairwise_distance(x),
            "n": len(x), "not_computable": None}


def per_class_diversity(feats, labels, classes: Sequence, *, max_n: int | None = 1000,
                        seed: int = 0) -> dict:
    """:func:`diversity` of each class (``labels == c`` for ``c`` in ``classes``), plus the
    mean Vendi score over computable classes."""
    x = as_features(feats, "features")
    y = np.asarray(labels)
    if len(y) != len(x):
        raise ValueError("per_class_diversity: labels and features differ in length")
    per = {str(c): diversity(x[y == c], max_n=max_n, seed=seed) for c in classes}
    ok = [r for r in per.values() if r["not_computable"] is None]
    return {"per_class": per,
            "mean_vendi": float(np.mean([r["vendi"] for r in ok])) if ok else NAN,
            "mean_pairwise_distance": float(np.mean([r["mean_pairwise_distance"] for r in ok]))
            if ok else NAN, "n_computable": len(ok), "max_n": max_n}
