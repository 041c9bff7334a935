"""FD, KID, PRDC and diversity: checked against clean-fid / prdc reference code and known values."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from scipy import linalg

from ferbench.errors import DataError
from ferbench.metrics.diversity import diversity, per_class_diversity, vendi_score
from ferbench.metrics.frechet import feature_stats, frechet_distance, per_class_frechet
from ferbench.metrics.kid import kernel_distance
from ferbench.metrics.prdc import prdc


def _feats(seed, n=300, d=16, shift=0.0, scale=1.0):
    mix = np.random.default_rng(12345).normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ mix * scale + shift


def _fd_eig(mu1, s1, mu2, s2):
    """Independent FD: tr(sqrt(S1 S2)) from the eigenvalues of sqrt(S1) S2 sqrt(S1)."""
    r1 = linalg.sqrtm(s1).real
    ev = np.linalg.eigvalsh(r1 @ s2 @ r1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def test_fd_matches_cleanfid_and_independent_formula():
    from cleanfid.fid import fid_from_feats

    a, b = _feats(0), _feats(1, shift=0.3, scale=1.2)
    ours = frechet_distance(a, b)["fd"]
    with contextlib.redirect_stdout(io.StringIO()):
        ref = fid_from_feats(a, b)  # clean-fid end to end, from features
    assert ours == pytest.approx(ref, rel=1e-6)
    assert ours == pytest.approx(_fd_eig(*feature_stats(a), *feature_stats(b)), rel=1e-6)
    assert ours > 1.0


@pytest.mark.parametrize("n_a,n_b", [(60, 60), (40, 90), (90, 300)])
def test_fd_of_rank_deficient_sets_matches_cleanfid(n_a, n_b):
    """n <= dim (every per-class FID, FID at N <= 2048): the nuclear-norm path is used, and it
    equals clean-fid's sqrtm value and the independent eigenvalue formula."""
    from cleanfid.fid import fid_from_feats

    a, b = _feats(0, n=n_a, d=128), _feats(1, n=n_b, d=128, shift=0.2, scale=1.1)
    r = frechet_distance(a, b)
    assert r["method"] == "nuclear-norm" and "rank-deficient" in r["note"]
    with contextlib.redirect_stdout(io.StringIO()):
        ref = fid_from_feats(a, b)
    assert r["fd"] == pytest.approx(ref, rel=1e-6)
    # independent: tr sqrt(S1 S2) from eigh, with S1's square root from its own eigh (exact
    # for a singular PSD matrix, where scipy's sqrtm in _fd_eig loses about 1e-4)
    mu1, s1 = feature_stats(a)
    mu2, s2 = feature_stats(b)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.linalg.eigvalsh(r1 @ s2 @ r1)
    want = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) \
        - 2 * np.sqrt(np.clip(ev, 0, None)).sum()
    assert r["fd"] == pytest.approx(want, rel=1e-6)
    assert abs(frechet_distance(a, a)["fd"]) < 1e-9 * r["fd"]
    assert frechet_distance(_feats(0), _feats(1))["method"] == "clean-fid sqrtm"  # n > dim


def test_fd_self_is_zero_and_mean_shift_adds_squared_norm():
    a, b = _feats(0), _feats(1)
    assert abs(frechet_distance(a, a)["fd"]) < 1e-6
    shift = np.linspace(-1, 2, a.shape[1])
    base = frechet_distance(a, b)["fd"]
    moved = frechet_distance(a, b + shift)["fd"]
    # shifting b's mean by v changes ||mu_a - mu_b||^2 by 2 v.(mu_b - mu_a) + ||v||^2
    d = b.mean(0) - a.mean(0)
    assert moved - base == pytest.approx(2 * shift @ d + shift @ shift, rel=1e-6)
    assert frechet_distance(a, a + shift)["fd"] == pytest.approx(shift @ shift, rel=1e-6)


def test_fd_small_sets_and_bad_input():
    r = frechet_distance(_feats(0, n=1), _feats(1))
    assert np.isnan(r["fd"]) and "at least 2" in r["not_computable"] and r["n_a"] == 1
    r = frechet_distance(_feats(0, n=5), _feats(1, n=5))
    assert r["not_computable"] is None and "rank-deficient" in r["note"]
    with pytest.raises(DataError, match="dimensions differ"):
        frechet_distance(_feats(0), _feats(1, d=8))
    with pytest.raises(DataError, match="NaN"):
        frechet_distance(np.full((4, 3), np.nan), _feats(1, d=3))


def test_per_class_fd_marks_small_classes():
    a, b = _feats(0, n=200), _feats(1, n=200)
    la = np.r_[np.zeros(190, int), np.ones(10, int)]
    lb = np.r_[np.zeros(150, int), np.ones(50, int)]
    r = per_class_frechet(a, la, b, lb, classes=[0, 1, 2])
    assert r["per_class"]["0"]["not_computable"] is None
    assert r["per_class"]["0"]["fd"] == pytest.approx(frechet_distance(a[:190], b[:150])["fd"])
    assert "at least 20" in r["per_class"]["1"]["not_computable"]
    assert r["per_class"]["2"]["n_a"] == 0 and r["n_computable"] == 1
    assert r["mean"] == pytest.approx(r["per_class"]["0"]["fd"])


def test_kid_matches_cleanfid_with_same_draws():
    from cleanfid.fid import kernel_distance as ref_kd

    a, b = _feats(0, n=120), _feats(1, n=90, shift=0.5)
    ours = kernel_distance(a, b, num_subsets=7, max_subset_size=50, seed=3)
    state = np.random.get_state()
    try:
        np.random.seed(3)  # clean-fid draws from the global RNG in the same order
        ref = ref_kd(a, b, num_subsets=7, max_subset_size=50)
    finally:
        np.random.set_state(state)
    assert ours["kid"] == pytest.approx(ref, rel=1e-6)
    assert ours["subset_size"] == 50 and ours["num_subsets"] == 7
    assert ours["kid"] > 10 * ours["kid_std"] / np.sqrt(7)  # a real shift is detected


def test_kid_unbiased_near_zero_for_same_distribution():
    vals = [kernel_distance(_feats(s, n=200), _feats(100 + s, n=200), num_subsets=20,
                            seed=s)["kid"] for s in range(5)]
    shifted = kernel_distance(_feats(0, n=200), _feats(1, n=200, shift=0.5), num_subsets=20)
    assert abs(np.mean(vals)) < 0.05 * shifted["kid"]
    assert min(vals) < 0 < max(vals) or abs(np.mean(vals)) < 1e-3  # unbiased: straddles zero


def test_kid_small_sets():
    r = kernel_distance(_feats(0, n=1), _feats(1, n=50))
    assert np.isnan(r["kid"]) and "at least 2" in r["not_computable"]
    r = kernel_distance(_feats(0, n=3), _feats(1, n=50), num_subsets=4)
    assert r["not_computable"] is None and r["subset_size"] == 3


def test_prdc_sanity():
    real = _feats(0, n=300)
    same = prdc(real, _feats(1, n=300))
    assert same["precision"] > 0.8 and same["recall"] > 0.8 and same["coverage"] > 0.8
    far = prdc(real, _feats(2, n=300, shift=50.0))
    assert far["precision"] == 0 and far["recall"] == 0 and far["coverage"] == 0
    # mode collapse: fake points all near one real point -> high precision, low recall/coverage
    collapsed = real[:1] + 0.01 * _feats(3, n=300)
    mc = prdc(real, collapsed)
    assert mc["precision"] > 0.9 and mc["recall"] < 0.1 and mc["coverage"] < 0.1
    small = prdc(real, real[:5])
    assert np.isnan(small["precision"]) and "k=5" in small["not_computable"]


def test_prdc_matches_reference_package():
    from prdc import compute_prdc

    real, fake = _feats(0, n=100), _feats(1, n=80, shift=0.2)
    ours = prdc(real, fake)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = compute_prdc(real, fake, 5)
    for k in ("precision", "recall", "density", "coverage"):
        assert ours[k] == pytest.approx(float(ref[k]))


def test_vendi_known_values_and_copy_generator_scores_low():
    assert vendi_score(np.tile([[1.0, 2.0, 3.0]], (10, 1))) == pytest.approx(1.0)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)
    real = _feats(0, n=200, shift=3.0)
    labels = np.repeat([0, 1], 100)
    copies = np.concatenate([np.tile(real[:1], (100, 1)), np.tile(real[100:101], (100, 1))])
    div_real = per_class_diversity(real, labels, [0, 1])
    div_copy = per_class_diversity(copies, labels, [0, 1])
    assert div_copy["mean_vendi"] == pytest.approx(1.0)
    assert div_copy["mean_pairwise_distance"] == pytest.approx(0.0)
    assert div_real["mean_vendi"] > 2.0 and div_real["mean_pairwise_distance"] > 1.0
    r = diversity(real[:1])
    assert np.isnan(r["vendi"]) and "at least 2" in r["not_computable"]
    assert diversity(real, max_n=50)["n"] == 50


def test_feature_scores_suite_small_set_reports_instead_of_crashing():
    from ferbench.metrics.suite import feature_scores

    real, syn = _feats(0, n=120), _feats(1, n=12)
    lr, ls = np.repeat([0, 1], 60), np.r_[np.zeros(10, int), np.ones(2, int)]
    r = feature_scores(real, lr, syn, ls, [0, 1], kid_subsets=5)
    assert r["fd"]["not_computable"] is None and r["fd"]["n_b"] == 12
    assert r["kid"]["subset_size"] == 12 and r["prdc"]["not_computable"] is None
    assert r["per_class_fd"]["n_computable"] == 0  # 10 and 2 synthetic < 20 per class
    assert r["diversity_synthetic"]["per_class"]["1"]["n"] == 2
    assert r["diversity_real"]["n_computable"] == 2


def test_fidelity_kid_interval_is_not_degenerate_when_n_equals_the_subset_cap():
    """At N = 1,000 (the quick budget) clean-fid's subset size min(n, 1000) makes every KID
    subset the whole set; the fidelity stage uses half the set, so the stored spread is real."""
    from ferbench.engine.fidelity import _feature_block

    rng = np.random.default_rng(0)
    rf, sf = rng.normal(size=(60, 8)), rng.normal(0.3, 1, size=(60, 8))
    ry = sy = np.repeat(np.arange(3), 20)
    kid = next(s for s in _feature_block("", rf, ry, sf, sy, [0, 1, 2], {}, 0)
               if s.metric == "kid")
    assert kid.lo < kid.value < kid.hi
