"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial
kernel ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets.

The estimator is clean-fid's ``kernel_distance`` line for line (same kernel, same unbiased
within-set terms, same draw order: a subset of ``feats_b`` then one of ``feats_a`` per
repetition, without replacement), with two changes that a benchmark needs: the subsets come
from a seeded local ``numpy.random.RandomState`` instead of the global RNG (same seed -> same
number; with the global RNG seeded to the same value the result equals clean-fid's, which
``tests/test_fidelity_metrics.py`` checks), and the per-subset values are kept so that their
standard deviation is reported beside the mean.

Subset sizes (decision, stated with every result): ``num_subsets=100`` subsets of
``subset_size = min(n_a, n_b, max_subset_size=1000)`` images each, clean-fid's defaults. KID is
unbiased in N, so it may be compared across set sizes, but its variance grows as N shrinks.
It is *not computable* with fewer than 2 images in either set (the within-set term divides by
``m - 1``).
"""

from __future__ import annotations

import numpy as np

from ferbench.metrics.common import as_features, not_computable, same_dim

__all__ = ["kernel_distance"]


def kernel_distance(feats_a, feats_b, *, num_subsets: int = 100, max_subset_size: int = 1000,
                    seed: int = 0) -> dict:
    """KID of two ``(N, D)`` feature sets.

    Returns ``{kid, kid_std, subset_size, num_subsets, n_a, n_b, seed, not_computable}``;
    ``kid_std`` is the standard deviation of the per-subset estimates.
    """
    a = as_features(feats_a, "feats_a")
    b = as_features(feats_b, "feats_b")
    same_dim(a, b, "kernel_distance")
    m = min(len(a), len(b), int(max_subset_size))
    base = {"subset_size": int(m), "num_subsets": int(num_subsets), "n_a": len(a),
            "n_b": len(b), "seed": int(seed)}
    if m < 2:
        return not_computable(f"needs at least 2 images per set, got {len(a)} and {len(b)}",
                              values=("kid", "kid_std"), **base)
    d = a.shape[1]
    rng = np.random.RandomState(seed)
    vals = np.empty(num_subsets)
    for i in range(num_subsets):
        x = b[rng.choice(len(b), m, replace=False)]
        y = a[rng.choice(len(a), m, replace=False)]
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m - 1)
        vals[i] = (within - k_xy.sum() * 2 / m) / m
    return {"kid": float(vals.mean()), "kid_std": float(vals.std(ddof=1)) if num_subsets > 1
            else float("nan"), **base, "not_computable": None}
