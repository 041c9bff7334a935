"""Fréchet distance between two feature sets (FID on Inception features, expression-space FD on
the reference evaluator's features), overall and per class.

The distance itself is clean-fid's ``frechet_distance`` (``cleanfid.fid``; scipy ``sqrtm``,
``eps`` retry on a singular product), applied to the sample mean and the unbiased (``ddof=1``)
covariance that clean-fid's ``fid_from_feats`` uses. clean-fid prints a line when it retries;
that output is captured and reported in ``note``.

Rank-deficient sets (decision): when a set has no more images than feature dimensions
(``min(n_a, n_b) <= dim``: every per-class FID, and FID at N <= 2048), both covariances are
Gram matrices of the centred features, ``S_a = A Aᵀ`` and ``S_b = B Bᵀ`` (``A = (X_a -
mean) / sqrt(n_a - 1)``), and the trace term is computed exactly as the nuclear norm
``tr sqrt(S_a S_b) = ||Aᵀ B||_*`` (the nonzero eigenvalues of ``S_a S_b`` are the squared
singular values of ``Aᵀ B``; Mathiasen & Hvilshøj, "Backpropagating through Fréchet Inception
Distance", 2020). It equals clean-fid's value (``tests/test_fidelity_metrics.py``, rel. 1e-6)
and costs milliseconds, where scipy's ``sqrtm`` of a singular 2048x2048 product takes about
30 s on one core and warns that the matrix is singular. Larger sets use clean-fid's function.

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

__all__ = ["feature_stats", "frechet_from_stats", "frechet_distance", "frechet_low_rank",
           "per_class_frechet", "PER_CLASS_MIN_N"]

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
    if min(len(a), len(b)) <= a.shape[1]:
        fd, msg, method = frechet_low_rank(a, b), "", "nuclear-norm"
    else:
        fd, msg = frechet_from_stats(*feature_stats(a), *feature_stats(b))
        method = "clean-fid sqrtm"
    notes = [msg] if msg else []
    if min(len(a), len(b)) < a.shape[1] + 1:
        notes.append(f"n < dim+1 ({min(len(a), len(b))} < {a.shape[1] + 1}): rank-deficient "
                     f"covariance, value dominated by small-sample bias; trace term by the "
                     f"nuclear norm (exact)")
    return {"fd": fd, **base, "method": method, "note": "; ".join(notes),
            "not_computable": None}


def frechet_low_rank(feats_a, feats_b) -> float:
    """The Fréchet distance of the two sets' Gaussians (mean, unbiased covariance), with the
    trace term as the nuclear norm of ``Aᵀ B`` (see the module docstring). Exact for any sizes;
    cheap when one set has at most a few thousand images."""
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ca = (a - ma) / np.sqrt(len(a) - 1)
    cb = (b - mb) / np.sqrt(len(b) - 1)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
    diff = ma - mb
    return float(diff @ diff + (ca * ca).sum() + (cb * cb).sum() - 2.0 * cross)


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
