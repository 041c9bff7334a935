"""AU fidelity: do synthetic faces show the action units they should?

Both scores take AU *measurements* from an AU estimator (:mod:`ferbench.aus_estimate`) and use
only the estimator's ``usable_aus`` (validated on toyfaces; the others are listed in
``excluded_aus``).

(a) :func:`requested_vs_measured` -- for generators conditioned on AUs: per AU, the Pearson
    correlation between the requested and the measured intensity over the synthetic images,
    and the mean absolute error when the estimator's ``unit`` is the FACS scale (else the MAE is
    not computable: the scales differ). Summary: mean r and mean MAE over usable AUs.
(b) :func:`au_profile_distance` -- for every generator and folder submission: per class, the
    mean measured intensity of each usable AU on the synthetic set and on the real set
    (measured by the same estimator); the distance is the mean absolute difference between the
    two profiles, per class and averaged over classes. 0 means the synthetic classes activate
    the AUs as the real ones do.

Small sets (decision): a correlation needs at least 3 images with non-constant values; a class
profile needs at least :data:`MIN_PER_CLASS` images on each side. Otherwise the entry is NaN with
``not_computable``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ferbench.errors import DataError
from ferbench.metrics.common import NAN

__all__ = ["requested_vs_measured", "au_profile_distance", "au_profiles", "MIN_PER_CLASS"]

MIN_PER_CLASS = 5


def _matrix(a, n_cols: int, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != n_cols:
        raise DataError(f"{name} must be (N, {n_cols}), got {a.shape}")
    return a


def _usable(names: Sequence[str], usable: Sequence[str] | None) -> tuple[list[str], list[str]]:
    use = [n for n in names if usable is None or n in usable]
    return use, [n for n in names if n not in use]


def requested_vs_measured(requested, requested_names: Sequence[str], measured,
                          measured_names: Sequence[str], *, usable: Sequence[str] | None = None,
                          unit: str = "facs") -> dict:
    """Score (a). ``requested``: ``(N, len(requested_names))`` AU intensities the generator was
    asked for; ``measured``: the estimator's ``(N, len(measured_names))`` on the images."""
    req = _matrix(requested, len(requested_names), "requested AUs")
    mea = _matrix(measured, len(measured_names), "measured AUs")
    if len(req) != len(mea):
        raise DataError(f"{len(req)} requested AU rows but {len(mea)} measured")
    common = [n for n in requested_names if n in measured_names]
    use, excluded = _usable(common, usable)
    per = {}
    for n in use:
        r_ = req[:, list(requested_names).index(n)]
        m_ = mea[:, list(measured_names).index(n)]
        ok = np.isfinite(r_) & np.isfinite(m_)
        entry = {"n": int(ok.sum()), "r": NAN, "mae": NAN, "not_computable": None}
        if unit == "facs" and ok.any():
            entry["mae"] = float(np.abs(r_[ok] - m_[ok]).mean())
        if ok.sum() < 3 or r_[ok].std() == 0 or m_[ok].std() == 0:
            entry["not_computable"] = "correlation needs >= 3 images with varying values"
        else:
            entry["r"] = float(np.corrcoef(r_[ok], m_[ok])[0, 1])
        per[n] = entry
    rs = [e["r"] for e in per.values() if np.isfinite(e["r"])]
    maes = [e["mae"] for e in per.values() if np.isfinite(e["mae"])]
    return {"per_au": per, "mean_r": float(np.mean(rs)) if rs else NAN,
            "mean_mae": float(np.mean(maes)) if maes else NAN, "unit": unit,
            "usable_aus": use, "excluded_aus": excluded +
            [n for n in requested_names if n not in measured_names],
            "n": int(len(req)),
            "mae_not_computable": None if unit == "facs" else
            f"estimator unit '{unit}' is not the FACS scale of the requested AUs"}


def au_profiles(measured, labels, classes: Sequence, au_names: Sequence[str],
                *, usable: Sequence[str] | None = None) -> dict:
    """Per-class mean of each usable AU: ``{class: {"n": n, "mean": {au: value}}}``."""
    m = _matrix(measured, len(au_names), "measured AUs")
    y = np.asarray(labels)
    if len(y) != len(m):
        raise DataError(f"{len(m)} AU rows but {len(y)} labels")
    use, _ = _usable(au_names, usable)
    cols = [list(au_names).index(n) for n in use]
    out = {}
    for c in classes:
        sel = m[y == c][:, cols]
        with warnings.catch_warnings():  # all-NaN columns (no face measured) give NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(sel, axis=0) if len(sel) else np.full(len(cols), np.nan)
        out[str(c)] = {"n": int(len(sel)), "mean": dict(zip(use, map(float, means)))}
    return out


def au_profile_distance(measured_syn, labels_syn, measured_real, labels_real,
                        classes: Sequence, au_names: Sequence[str], *,
                        usable: Sequence[str] | None = None,
                        min_per_class: int = MIN_PER_CLASS) -> dict:
    """Score (b): distance between synthetic and real per-class AU activation profiles.

    ``labels_*`` and ``classes`` share one label space. Returns ``per_class`` (``distance`` =
    mean |syn - real| over usable AUs, ``n_syn``, ``n_real``, ``not_computable``), ``mean``
    over computable classes, the two ``profiles``, ``usable_aus`` and ``excluded_aus``.
    """
    use, excluded = _usable(au_names, usable)
    ps = au_profiles(measured_syn, labels_syn, classes, au_names, usable=use)
    pr = au_profiles(measured_real, labels_real, classes, au_names, usable=use)
    per = {}
    for c in map(str, classes):
        ns, nr = ps[c]["n"], pr[c]["n"]
        if min(ns, nr) < min_per_class:
            per[c] = {"distance": NAN, "n_syn": ns, "n_real": nr,
                      "not_computable": f"needs >= {min_per_class} images per class on each "
                                        f"side, got {ns} synthetic and {nr} real"}
            continue
        diff = np.array([ps[c]["mean"][a] - pr[c]["mean"][a] for a in use])
        per[c] = {"distance": float(np.nanmean(np.abs(diff))) if use else NAN,
                  "n_syn": ns, "n_real": nr, "not_computable": None if use else "no usable AUs"}
    vals = [e["distance"] for e in per.values() if np.isfinite(e["distance"])]
    return {"per_class": per, "mean": float(np.mean(vals)) if vals else NAN,
            "n_computable": len(vals), "profiles": {"synthetic": ps, "real": pr},
            "usable_aus": use, "excluded_aus": excluded, "min_per_class": int(min_per_class)}
