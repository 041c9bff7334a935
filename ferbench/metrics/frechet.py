"""Fréchet distance between two feature sets (FID on Inception features, expression-space FD on
the reference evaluator's features), overall and per class.

The distance itself is clean-fid's ``frechet_distance`` (``cleanfid.fid``; scipy ``sqrtm``,
``eps`` retry on a singular product), applied to the sample mean and the unbiased (``ddof=1``)
covariance that clean-fid's ``fid_from_feats`` uses. clean-fid prints a line when it retries;
that output is captured and reported in ``note``.

Sample size (decision): FD is biased upward at small N and meaningful only between scores at the
same N, so every result carries ``n_a``/``n_b``. It is *not computable* below ``min_n`` images
per set (default 2: a covariance needs two points). ``note`` says when ``n < dim + 1``, i.e.
when a covariance is rank-deficient and the value is dominated by the bias. For per-class FD
the default ``min_n`` is 20 (:data:`PER_CLASS_MIN_N`).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence

import numpy as np

from ferbench.metrics.common import NAN, as_features, not_computable, same_dim

__all__ = ["feature_stats", "frechet_from_stats", "frechet_distance", "per_class_frechet",
           "PER_CLASS_MIN_N"]

PER_CLASS_MIN_N = 20


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of ``(N, D)`` features (as clean-fid's ``fid_from_feats``)."""
    f = as_features(feats, "features")
    if len(f) < 2:
        raise ValueError(f"feature statistics need at least 2 rows, got {len(f)}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_from_stats(mu1, sigma1, mu2, sigma2) -> tuple[float, str]:
    """clean-fid's Fréchet distance of two Gaussians; returns ``(value, captured message)``."""
    from cleanfid.fid import frechet_distance as _cleanfid_fd

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy's sqrtm(disp=...) notice
        value = _cleanfid_fd(np.asarray(mu1), np.asarray(sigma1), np.asarray(mu2),
                             np.asarray(sigma2))
    return float(value), buf.getvalue().strip()


def frechet_distance(feats_a, feats_b, *, min_n: int = 2) -> dict:
    """FD between two ``(N, D)`` feature sets: ``{fd, n_a, n_b, dim, note, not_computable}``."""
    a = as_features(feats_a, "feats_a")
    b = as_features(feats_b, "feats_b")
    same_dim(a, b, "frechet_distance")
    base = {"n_a": len(a), "n_b": len(b), "dim": a.shape[1], "note": ""}
    min_n = max(2, int(min_n))
    if min(len(a), len(b)) < min_n:
        return not_computable(f"needs at least {min_n} images per set, got "
                              f"{len(a)} and {len(b)}", values=("fd",), **base)
    fd, msg = frechet_from_stats(*feature_stats(a), *feature_stats(b))
    notes = [msg] if msg else []
    if min(len(a), len(b)) < a.shape[1] + 1:
        notes.append(f"n < dim+1 ({min(len(a), len(b))} < {a.shape[1] + 1}): rank-deficient "
                     f"covariance, value dominated by small-sample bias")
    return {"fd": fd, **base, "note": "; ".join(notes), "not_computable": None}


def per_class_frechet(feats_a, labels_a, feats_b, labels_b, classes: Sequence,
                      *, min_n: int = PER_CLASS_MIN_N) -> dict:
    """Intra-class FD: ``{"per_class": {class: frechet_distance result}, "mean": ...}``.

    ``labels_*`` and ``classes`` use the same label space (e.g. canonical indices, or class
    positions). ``mean`` averages the computable classes only; ``n_computable`` says how many.
    """
    a = as_features(feats_a, "feats_a")
    b = as_features(feats_b, "feats_b")
    la, lb = np.asarray(labels_a), np.asarray(labels_b)
    if len(la) != len(a) or len(lb) != len(b):
        raise ValueError("per_class_frechet: labels and features differ in length")
    out = {}
    for c in classes:
        out[str(c)] = frechet_distance(a[la == c], b[lb == c], min_n=min_n)
    vals = [r["fd"] for r in out.values() if r["not_computable"] is None]
    return {"per_class": out, "mean": float(np.mean(vals)) if vals else NAN,
            "n_computable": len(vals), "min_n": int(min_n)}
