"""Metrics, one family per module (torch-fidelity style).

- :mod:`ferbench.metrics.classification`: accuracy / balanced accuracy / macro-F1 with
  bootstrap CIs, paired deltas, seed summaries (re-exported here, as before the split);
- :mod:`ferbench.metrics.frechet`: Fréchet distance of feature sets, overall and per class;
- :mod:`ferbench.metrics.kid`: kernel inception distance (unbiased MMD², cubic kernel);
- :mod:`ferbench.metrics.prdc`: improved precision/recall, density/coverage;
- :mod:`ferbench.metrics.diversity`: within-class Vendi score and mean pairwise distance;
- :mod:`ferbench.metrics.evaluator`: the reference FER evaluator and label fidelity;
- :mod:`ferbench.metrics.au_fidelity`: AU fidelity scores from an AU estimator;
- :mod:`ferbench.metrics.suite`: all feature-based scores of one set pair in one call.

Small-set rule shared by the fidelity metrics: when a set is too small for a statistic, the
function returns ``NaN`` for the value plus ``not_computable`` with a one-line reason
(see :mod:`ferbench.metrics.common`) instead of raising.
"""

from ferbench.metrics.classification import (
    bootstrap_indices,
    classification_scores,
    paired_delta,
    seed_summary,
)

__all__ = ["classification_scores", "paired_delta", "seed_summary", "bootstrap_indices"]
