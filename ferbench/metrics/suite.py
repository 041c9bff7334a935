"""All feature-based fidelity scores of one synthetic set against one real set, in one call.

The fidelity protocol calls this once per feature extractor (Inception -> FID/KID/PRDC/...,
reference evaluator -> expression-space FD/...). Inputs are feature arrays and labels in one
label space (e.g. canonical indices); ``classes`` lists the classes to score per class.

Returned dict (every entry carries its own ``n``/``not_computable``):
``fd`` (:func:`~ferbench.metrics.frechet.frechet_distance`), ``kid``
(:func:`~ferbench.metrics.kid.kernel_distance`), ``prdc`` (:func:`~ferbench.metrics.prdc.prdc`,
real = reference manifold), ``per_class_fd``
(:func:`~ferbench.metrics.frechet.per_class_frechet`), ``diversity_synthetic`` /
``diversity_real`` (:func:`~ferbench.metrics.diversity.per_class_diversity`, the real one as the
yardstick for the synthetic one).
"""

from __future__ import annotations

from collections.abc import Sequence

from ferbench.metrics.diversity import per_class_diversity
from ferbench.metrics.frechet import PER_CLASS_MIN_N, frechet_distance, per_class_frechet
from ferbench.metrics.kid import kernel_distance
from ferbench.metrics.prdc import NEAREST_K, prdc

__all__ = ["feature_scores"]


def feature_scores(real_feats, real_labels, syn_feats, syn_labels, classes: Sequence, *,
                   seed: int = 0, kid_subsets: int = 100, kid_subset_size: int = 1000,
                   k: int = NEAREST_K, per_class_min_n: int = PER_CLASS_MIN_N,
                   diversity_max_n: int | None = 1000) -> dict:
    return {
        "fd": frechet_distance(real_feats, syn_feats),
        "kid": kernel_distance(real_feats, syn_feats, num_subsets=kid_subsets,
                               max_subset_size=kid_subset_size, seed=seed),
        "prdc": prdc(real_feats, syn_feats, k=k),
        "per_class_fd": per_class_frechet(real_feats, real_labels, syn_feats, syn_labels,
                                          classes, min_n=per_class_min_n),
        "diversity_synthetic": per_class_diversity(syn_feats, syn_labels, classes,
                                                   max_n=diversity_max_n, seed=seed),
        "diversity_real": per_class_diversity(real_feats, real_labels, classes,
                                              max_n=diversity_max_n, seed=seed),
    }
