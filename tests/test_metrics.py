"""Metrics against scikit-learn references, bootstrap CIs, paired deltas, seed summaries."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from ferbench.metrics import classification_scores, paired_delta, seed_summary

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _noisy(n: int, k: int, p_correct: float, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < p_correct, y, rng.integers(0, k, n))
    return y, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_estimates_match_sklearn(seed):
    y, pred = _noisy(300, 7, 0.5, seed)
    s = classification_scores(y, pred, CLASSES, n_boot=200, seed=seed)
    assert s["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert s["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert s["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
    assert s["n_test"] == 300
    assert np.array(s["confusion"]).sum() == 300
    assert np.trace(np.array(s["confusion"])) == int((y == pred).sum())
    assert [c["class"] for c in s["per_class"]] == list(CLASSES)
    assert sum(c["support"] for c in s["per_class"]) == 300
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert s[f"{key}_lo"] <= s[key] <= s[f"{key}_hi"]


def test_vectorised_bootstrap_matches_sklearn_per_resample():
    """The per-resample balanced accuracy / macro-F1 equal sklearn on the same resample,
    including resamples where a class is missing (sklearn's conventions)."""
    from ferbench.metrics.classification import (
        _balanced_acc_and_macro_f1,
        _boot_confusions,
        bootstrap_indices,
    )

    y, pred = _noisy(25, 5, 0.4, 3)  # small: some classes drop out of resamples
    (idx,) = list(bootstrap_indices(len(y), 20, seed=5))
    bal, mf1 = _balanced_acc_and_macro_f1(_boot_confusions(y * 5 + pred, idx, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(20):
            yt, yp = y[idx[r]], pred[idx[r]]
            assert bal[r] == pytest.approx(balanced_accuracy_score(yt, yp), abs=1e-12)
            assert mf1[r] == pytest.approx(f1_score(yt, yp, average="macro"), abs=1e-12)


def test_ci_is_seeded_and_shrinks_with_n():
    small = classification_scores(*_noisy(200, 7, 0.6, 0), CLASSES, n_boot=500, seed=0)
    again = classification_scores(*_noisy(200, 7, 0.6, 0), CLASSES, n_boot=500, seed=0)
    large = classification_scores(*_noisy(5000, 7, 0.6, 0), CLASSES, n_boot=500, seed=0)
    assert small == again
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        w_small = small[f"{key}_hi"] - small[f"{key}_lo"]
        w_large = large[f"{key}_hi"] - large[f"{key}_lo"]
        assert 0 < w_large < w_small / 3  # sqrt(25) = 5x narrower in expectation


def test_bootstrap_is_fast():
    y, pred = _noisy(5000, 7, 0.6, 0)
    t = time.perf_counter()
    classification_scores(y, pred, CLASSES, n_boot=1000, seed=0)
    assert time.perf_counter() - t < 3.0  # typically ~0.2 s; generous for a shared CI box


def test_no_bootstrap_gives_nan_bounds_and_bad_input_raises():
    s = classification_scores([0, 1, 1], [0, 1, 0], ("happy", "sad"), n_boot=0)
    assert math.isnan(s["accuracy_lo"]) and s["accuracy"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        classification_scores([0, 2], [0, 1], ("happy", "sad"))
    with pytest.raises(ValueError):
        classification_scores([0, 1], [0], ("happy", "sad"))
    with pytest.raises(ValueError):
        classification_scores([], [], ("happy", "sad"))


def test_paired_delta_identical_is_exactly_zero():
    y, pred = _noisy(500, 7, 0.5, 0)
    d = paired_delta(y, pred, pred.copy(), n_boot=300)
    assert d["delta"] == 0.0 and d["lo"] == 0.0 and d["hi"] == 0.0
    assert d["p_value"] == 1.0


def test_paired_delta_known_case():
    # 100 items: both right on 50, both wrong on 40, only a right on 10
    y = np.zeros(100, dtype=np.int64)
    a = np.r_[np.zeros(60), np.ones(40)].astype(np.int64)
    b = np.r_[np.zeros(50), np.ones(50)].astype(np.int64)
    d = paired_delta(y, a, b, n_boot=2000, seed=1)
    assert d["delta"] == pytest.approx(0.10, abs=1e-12)
    assert d["a_only"] == 10 and d["b_only"] == 0
    assert 0 < d["lo"] <= 0.10 <= d["hi"]  # a is never worse on any item: CI stays above 0
    assert d["p_value"] == pytest.approx(2 * 0.5**10)  # exact McNemar
    rev = paired_delta(y, b, a, n_boot=2000, seed=1)
    assert rev["delta"] == pytest.approx(-0.10) and rev["lo"] == pytest.approx(-d["hi"])


def test_mcnemar_exact_p_matches_scipy_binomtest():
    from scipy.stats import binomtest

    from ferbench.metrics.classification import mcnemar_exact_p

    for a in range(0, 41, 3):
        for b in (0, 1, 2, 5, 17, 40, 200):
            ref = 1.0 if a + b == 0 else binomtest(a, a + b, 0.5).pvalue
            assert mcnemar_exact_p(a, b) == pytest.approx(ref, rel=1e-9, abs=1e-300), (a, b)


def test_importing_the_query_layer_does_not_import_sklearn():
    """The leaderboard's first render pays every import of the query path; sklearn (and
    scipy.stats through it) cost over a second and are only needed to score a cell."""
    import subprocess
    import sys

    code = ("import sys; from ferbench.results.query import leaderboard, ranked; "
            "from ferbench.metrics import paired_delta, seed_summary; "
            "print(sorted(m for m in ('sklearn', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_paired_ci_narrower_than_unpaired():
    """Two strongly correlated classifiers: the paired CI is far narrower than either
    accuracy's own CI (that is the point of pairing)."""
    y, a = _noisy(2000, 7, 0.6, 0)
    b = a.copy()
    flip = np.random.default_rng(1).choice(2000, 60, replace=False)
    b[flip] = (b[flip] + 1) % 7
    d = paired_delta(y, a, b, n_boot=500)
    s = classification_scores(y, a, CLASSES, n_boot=500)
    assert d["hi"] - d["lo"] < (s["accuracy_hi"] - s["accuracy_lo"]) / 2
    assert d["delta"] == pytest.approx(accuracy_score(y, a) - accuracy_score(y, b))


def test_seed_summary():
    s = seed_summary([0.5, 0.6, 0.7])
    assert s["mean"] == pytest.approx(0.6) and s["sd"] == pytest.approx(0.1) and s["n"] == 3
    one = seed_summary([0.42])
    assert one["mean"] == 0.42 and math.isnan(one["sd"]) and one["n"] == 1
    assert seed_summary(np.array([1.0, 3.0]))["sd"] == pytest.approx(math.sqrt(2))
