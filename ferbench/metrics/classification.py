"""Classification metrics with bootstrap confidence intervals.

Point estimates come from scikit-learn; the 95% intervals are percentile bootstraps over test
images, computed vectorised: every resample is a row of test indices drawn with a seeded
``numpy`` generator, and each resample's confusion matrix is one slice of a single
``np.bincount``, from which accuracy, balanced accuracy and macro-F1 follow without a Python
loop over resamples (1000 resamples of 5000 images take a few tens of milliseconds).

Conventions follow scikit-learn's defaults so the point estimate and the resamples agree:
balanced accuracy averages recall over the classes present in ``y_true`` (of that resample);
macro-F1 averages F1 over the classes present in ``y_true`` or ``y_pred``.

scikit-learn (and through it ``scipy.stats``, together over a second to import) is imported
inside the functions that need it: the query layer and the leaderboard use only the paired
delta and seed summaries, which need numpy and ``scipy.special``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["classification_scores", "paired_delta", "seed_summary", "bootstrap_indices",
           "mcnemar_exact_p"]

#: resamples per chunk, so that index arrays stay small (chunk * n int64)
_CHUNK_ELEMENTS = 4_000_000


def _as_labels(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got {y.dtype}")
    return y.astype(np.int64, copy=False)


def bootstrap_indices(n: int, n_boot: int, seed: int):
    """Yield chunks of resampled index rows, shape ``(chunk, n)``, ``n_boot`` rows in total.

    The same ``(n, n_boot, seed)`` always yields the same indices, so two statistics
    bootstrapped with the same seed are paired.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n))
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        yield rng.integers(0, n, size=(m, n))
        done += m


def _ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    if values.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return float(lo), float(hi)


def _boot_confusions(codes: np.ndarray, idx: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices ``(m, k, k)`` (rows = true) of ``m`` resamples in one bincount."""
    m = idx.shape[0]
    offsets = (np.arange(m, dtype=np.int64) * (k * k))[:, None]
    flat = np.bincount((codes[idx] + offsets).ravel(), minlength=m * k * k)
    return flat.reshape(m, k, k)


def _balanced_acc_and_macro_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised balanced accuracy and macro-F1 from confusion matrices ``(m, k, k)``."""
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    support = cm.sum(axis=2).astype(np.float64)  # true counts per class
    predicted = cm.sum(axis=1).astype(np.float64)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, tp / support, 0.0)
        bal = recall.sum(axis=1) / present.sum(axis=1)
        denom = support + predicted  # 2tp + fp + fn
        in_union = denom > 0
        f1 = np.where(in_union, 2.0 * tp / denom, 0.0)
        macro_f1 = f1.sum(axis=1) / in_union.sum(axis=1)
    return bal, macro_f1


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's balanced accuracy, without its note that ``y_pred`` holds classes
    absent from ``y_true``. That note is expected, not a fault: in a cross-dataset run (or on
    a small test set) the classifier may predict a class the test set lacks; by the
    convention above such a class simply adds no recall term. Only that one warning is
    silenced, here at its source, so callers need no blanket filter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true",
                                category=UserWarning)
        from sklearn.metrics import balanced_accuracy_score

        return float(balanced_accuracy_score(y_true, y_pred))


def classification_scores(y_true, y_pred, class_names: Sequence[str], *, n_boot: int = 1000,
                          seed: int = 0, level: float = 0.95) -> dict:
    """Accuracy, balanced accuracy and macro-F1 with percentile-bootstrap CIs, per-class
    precision/recall/F1/support, and the confusion matrix.

    ``y_true``/``y_pred`` are class positions ``0..K-1`` with ``K = len(class_names)``.
    Returns ``accuracy``, ``accuracy_lo``, ``accuracy_hi`` (likewise ``balanced_accuracy_*``,
    ``macro_f1_*``), ``per_class`` (list of ``{class, recall, precision, f1, support}``),
    ``confusion`` (list of lists, rows = true class), ``n_test``, ``n_boot``, ``ci_level``.
    With ``n_boot=0`` the interval bounds are NaN.
    """
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    k = len(class_names)
    n = len(y_true)
    if len(y_pred) != n:
        raise ValueError(f"y_true has {n} items but y_pred has {len(y_pred)}")
    if n == 0:
        raise ValueError("no test items")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.min() < 0 or y.max() >= k:
            raise ValueError(f"{name} must lie in 0..{k - 1} ({k} classes), got "
                             f"{y.min()}..{y.max()}")

    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    out: dict = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }

    codes = y_true * k + y_pred
    correct = (y_true == y_pred).astype(np.float64)
    acc_b, bal_b, f1_b = [], [], []
    for idx in bootstrap_indices(n, n_boot, seed):
        acc_b.append(correct[idx].mean(axis=1))
        bal, mf1 = _balanced_acc_and_macro_f1(_boot_confusions(codes, idx, k))
        bal_b.append(bal)
        f1_b.append(mf1)
    for key, samples in (("accuracy", acc_b), ("balanced_accuracy", bal_b), ("macro_f1", f1_b)):
        lo, hi = _ci(np.concatenate(samples) if samples else np.empty(0), level)
        out[f"{key}_lo"], out[f"{key}_hi"] = lo, hi

    labels = list(range(k))
    prec, rec, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    out["per_class"] = [
        {"class": str(c), "recall": float(r), "precision": float(p), "f1": float(f),
         "support": int(s)}
        for c, p, r, f, s in zip(class_names, prec, rec, f1, support)
    ]
    out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    out["n_test"] = int(n)
    out["n_boot"] = int(n_boot)
    out["ci_level"] = float(level)
    return out


def paired_delta(y_true, pred_a, pred_b, *, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """Accuracy(a) - accuracy(b) on the same test items, with a paired bootstrap CI.

    Both classifiers are scored on the *same* resampled test indices, so the interval
    reflects only their disagreement, not the test set's difficulty. ``p_value`` is the
    exact two-sided McNemar test (binomial test on the discordant items); ``a_only`` /
    ``b_only`` count items only a (only b) gets right.
    """
    y_true = _as_labels(y_true, "y_true")
    pred_a = _as_labels(pred_a, "pred_a")
    pred_b = _as_labels(pred_b, "pred_b")
    n = len(y_true)
    if len(pred_a) != n or len(pred_b) != n:
        raise ValueError(f"lengths differ: y_true {n}, pred_a {len(pred_a)}, "
                         f"pred_b {len(pred_b)}")
    if n == 0:
        raise ValueError("no test items")
    ca = y_true == pred_a
    cb = y_true == pred_b
    d = ca.astype(np.int64) - cb.astype(np.int64)  # +1: only a right, -1: only b right
    # exact rational mean first: identical predictions give exactly 0.0
    delta = float(d.sum()) / n
    boot = np.concatenate([d[idx].sum(axis=1) / n for idx in bootstrap_indices(n, n_boot, seed)]
                          ) if n_boot > 0 else np.empty(0)
    lo, hi = _ci(boot, level)
    a_only = int((d > 0).sum())
    b_only = int((d < 0).sum())
    p = mcnemar_exact_p(a_only, b_only)
    return {"delta": delta, "lo": lo, "hi": hi, "p_value": p, "a_only": a_only,
            "b_only": b_only, "n_test": int(n), "n_boot": int(n_boot), "ci_level": float(level)}


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: the binomial test of ``a_only`` successes in
    ``a_only + b_only`` discordant items at p = 1/2. The distribution is symmetric, so the
    two-sided p is twice the smaller tail, capped at 1 (equal to
    ``scipy.stats.binomtest(a_only, n, 0.5).pvalue``; tested), computed with
    ``scipy.special.bdtr`` to keep ``scipy.stats`` out of the import path."""
    from scipy.special import bdtr

    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * bdtr(min(a_only, b_only), n, 0.5)))


def seed_summary(values) -> dict:
    """Mean, sample standard deviation (ddof=1; NaN for a single value) and count."""
    v = np.asarray(list(values), dtype=np.float64)
    n = int(v.size)
    mean = float(v.mean()) if n else float("nan")
    sd = float(v.std(ddof=1)) if n > 1 else float("nan")
    return {"mean": mean, "sd": sd, "n": n}
