"""Improved precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al.
2020), computed by the authors' ``prdc`` package (NAVER, MIT) with ``k = 5`` nearest neighbours,
the value both papers recommend.

Real features define the real manifold (k-NN balls around real points), fake features the fake
one. ``prdc`` prints a line per call; it is silenced here.

Small sets (decision): every set needs more than ``k`` points (a point's k-th neighbour must
exist besides itself); otherwise the result is *not computable* with the reason. The values are
biased by N (larger sets cover more), so each result carries ``n_real``/``n_fake``.
"""

from __future__ import annotations

import contextlib
import io

from ferbench.metrics.common import as_features, not_computable, same_dim

__all__ = ["prdc", "NEAREST_K"]

NEAREST_K = 5
_VALUES = ("precision", "recall", "density", "coverage")


def prdc(real_feats, fake_feats, *, k: int = NEAREST_K) -> dict:
    """``{precision, recall, density, coverage, k, n_real, n_fake, not_computable}``."""
    from prdc import compute_prdc

    real = as_features(real_feats, "real_feats")
    fake = as_features(fake_feats, "fake_feats")
    same_dim(real, fake, "prdc")
    base = {"k": int(k), "n_real": len(real), "n_fake": len(fake)}
    if min(len(real), len(fake)) <= k:
        return not_computable(f"needs more than k={k} images per set, got {len(real)} real "
                              f"and {len(fake)} fake", values=_VALUES, **base)
    with contextlib.redirect_stdout(io.StringIO()):
        r = compute_prdc(real_features=real, fake_features=fake, nearest_k=int(k))
    return {**{v: float(r[v]) for v in _VALUES}, **base, "not_computable": None}
