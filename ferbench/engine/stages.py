"""The stage functions: fit, pool, cell. Each is a pure function of its job's spec plus the
on-disk artefacts of its dependencies (:mod:`ferbench.engine.artifacts`), so an executor may
run it in this process or anywhere else that sees ``$FERBENCH_HOME``.

The generator only ever sees a :class:`~ferbench.data.TrainSet` built from the (low-data) real
training subset. The classifier it is scored with is created and trained in :func:`run_cell`,
after generation, and is never passed to it.
"""

from __future__ import annotations

import logging
import math
import time
import warnings

import numpy as np

from ferbench.api.generator import (
    GENERATORS,
    MAX_TOP_UPS,
    Budget,
    accepts_kwarg,
    shared_fit_key,
)
from ferbench.api.results import CELL_METRICS, CellResult, CellSpec, PoolSpec, Provenance
from ferbench.data.base import FaceData, TrainSet
from ferbench.engine import artifacts
from ferbench.engine.context import Context, data_hash, restrict_to
from ferbench.errors import FerbenchError
from ferbench.protocol.plan import Job

log = logging.getLogger("ferbench")


# -- fit ----------------------------------------------------------------------------------------

def real_for(pool: PoolSpec | CellSpec, ctx: Context) -> FaceData:
    return ctx.real_subset(pool.dataset, pool.train_split, pool.data_root, pool.resolution,
                           pool.channels, pool.real_per_class, pool.real_fraction, pool.seed,
                           pool.data_options)


def fitted_generator(pool: PoolSpec, ctx: Context):
    """The fitted generator of ``pool``: from this process's memo, from its saved fit, or
    fitted now (and saved).

    Safe under concurrency (several workers, several machines on one NFS ``$FERBENCH_HOME``):
    the load-or-fit is done holding an exclusive lock on ``fits/<fit_id>.lock``, so a second
    worker wanting the same fit waits, then loads the first one's saved fit instead of fitting
    again; the save itself is one rename (first writer wins), so even without the lock no
    reader ever sees half a fit. A fit shared by several generators (``fit_key``) is loaded
    once per requesting generator and given that generator's params (``set_params``)."""
    key = pool.fit_id
    memo = key if pool.fit_key is None else pool.pool_id
    if memo in ctx._fits:
        return ctx._fits[memo]
    gen = artifacts.load_fit(pool, ctx.device)
    if gen is None:
        with artifacts.fit_lock(key):
            gen = artifacts.load_fit(pool, ctx.device)  # fitted while we waited?
            if gen is None:
                gen = _fit(pool, ctx)
    ctx._fits[memo] = gen
    return gen


def _fit(pool: PoolSpec, ctx: Context):
    key = pool.fit_id
    real = real_for(pool, ctx)
    gen = GENERATORS.create(pool.generator, **pool.generator_params)
    log.info("fitting generator %s on %d real images", pool.generator, len(real))
    t0 = time.time()
    kwargs = {}
    if accepts_kwarg(gen.fit, "workdir"):
        wd = artifacts.fit_workdir(key)
        wd.mkdir(parents=True, exist_ok=True)
        kwargs["workdir"] = wd
    out = gen.fit(TrainSet(real), seed=pool.seed, budget=Budget(pool.budget),
                  device=ctx.device, **kwargs)
    if out is not gen:
        raise FerbenchError(f"generator '{pool.generator}': fit() must return self")
    log.info("fitted %s in %.1fs", pool.generator, time.time() - t0)
    if not artifacts.save_fit(gen, pool):
        log.info("generator %s has no save/load: its fit is not cached", pool.generator)
    return gen


def run_fit(job: Job, ctx: Context) -> None:
    fitted_generator(job.spec, ctx)


# -- pool ---------------------------------------------------------------------------------------

def block_request(pool: PoolSpec, real: FaceData, j: int) -> tuple[np.ndarray, np.ndarray | None,
                                                                     int]:
    """Block ``j``'s requested labels (a seeded permutation of the real labels, so any prefix
    of whole blocks has exactly the real class balance), target AUs, and generation seed."""
    rng = np.random.default_rng([pool.seed, j, 0xB10C])
    perm = rng.permutation(len(real))
    want = real.labels[perm]
    seed = int(rng.integers(2**31))
    aus = None
    if pool.au_targets is not None:
        from ferbench.aus import prototype_vector

        if pool.au_targets == "real" and real.aus is not None:
            aus = np.asarray(real.aus[perm], dtype=np.float32)
        else:
            from ferbench.labels import CANONICAL

            aus = np.stack([prototype_vector(CANONICAL[int(c)]) for c in want])
    return want, aus, seed


def _check_batch(name: str, batch, n: int, real: FaceData) -> tuple[np.ndarray, ...]:
    x = np.asarray(batch.images)
    y = np.asarray(batch.labels, dtype=np.int64)
    expect = (real.resolution, real.resolution, real.channels)
    if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != expect:
        raise FerbenchError(f"generator '{name}' returned images {x.dtype} {x.shape}; "
                            f"expected uint8 (n, {', '.join(map(str, expect))})")
    if len(y) != len(x):
        raise FerbenchError(f"generator '{name}' returned {len(x)} images but {len(y)} labels")
    if len(x) < n:
        raise FerbenchError(f"generator '{name}' returned {len(x)} images for {n} requested; "
                            "it must return at least as many as asked for")
    bad = set(np.unique(y).tolist()) - set(real.class_indices.tolist())
    if bad:
        raise FerbenchError(f"generator '{name}' claimed labels outside the dataset's "
                            f"classes: {sorted(bad)}")
    req = batch.requested
    if req is None:
        if len(x) != n:
            raise FerbenchError(f"generator '{name}' returned {len(x)} candidates for {n} "
                                "requested without saying what each was generated for "
                                "(SampleBatch.requested)")
        req = None
    else:
        req = np.asarray(req, dtype=np.int64)
        if len(req) != len(x):
            raise FerbenchError(f"generator '{name}': 'requested' has {len(req)} entries for "
                                f"{len(x)} images")
    conf = batch.confidence
    if conf is not None:
        conf = np.asarray(conf, dtype=np.float64)
        if conf.shape != (len(x),) or not np.isfinite(conf).all():
            raise FerbenchError(f"generator '{name}': 'confidence' must be {len(x)} finite "
                                "numbers")
    aus = None if batch.aus is None else np.asarray(batch.aus, dtype=np.float32)
    return x, y, req, conf, aus


def generate_exact(gen, name: str, want: np.ndarray, aus: np.ndarray | None, seed: int,
                   real: FaceData) -> tuple[dict[str, np.ndarray], dict]:
    """Ask ``gen`` for ``want`` and apply the relabel-and-drop rule of the contract
    (:mod:`ferbench.api.generator`): the result has exactly the labels ``want``, position by
    position, and the statistics say what was relabelled and dropped."""
    n = len(want)
    batch = gen.generate(want, seed=seed, aus=aus)
    x, y, req, conf, out_aus = _check_batch(name, batch, n, real)
    info = [dict(batch.info or {})]
    if req is None and np.array_equal(y, want):  # the common case: exactly what was asked
        arrays = {"images": x, "labels": y, "requested": want.copy()}
        if aus is not None:
            arrays["aus_requested"] = aus
        if out_aus is not None:
            arrays["aus"] = out_aus
        return arrays, {"requested": n, "returned": n, "kept": n, "relabelled": 0,
                        "top_ups": 0, "generator_info": info}
    if req is None:
        req = want.copy()
    # Candidates: (images, final labels, generated-for labels, confidence, AUs) accumulated
    cx, cy, creq = [x], [y], [req]
    cconf = [conf if conf is not None else -np.arange(len(x), dtype=np.float64)]
    caus = [out_aus]
    top_ups = 0
    while True:
        ally = np.concatenate(cy)
        short = {int(c): int((want == c).sum() - (ally == c).sum()) for c in np.unique(want)}
        short = {c: k for c, k in short.items() if k > 0}
        if not short:
            break
        if top_ups >= MAX_TOP_UPS:
            raise FerbenchError(
                f"generator '{name}' could not deliver the requested class balance after "
                f"{MAX_TOP_UPS} top-ups; short: "
                + ", ".join(f"class {c}: {k}" for c, k in short.items()))
        top_ups += 1
        extra = np.concatenate([np.full(k, c, dtype=np.int64) for c, k in short.items()])
        extra_aus = None
        if aus is not None:
            extra_aus = np.stack([aus[np.flatnonzero(want == c)[i % (want == c).sum()]]
                                  for c, k in short.items() for i in range(k)])
        b = gen.generate(extra, seed=seed + 7919 * top_ups + 1_000_003, aus=extra_aus)
        bx, by, breq, bconf, baus = _check_batch(name, b, len(extra), real)
        info.append(dict(b.info or {}))
        cx.append(bx)
        cy.append(by)
        creq.append(breq if breq is not None else extra)
        offset = -len(np.concatenate(cconf)) - np.arange(len(bx), dtype=np.float64)
        cconf.append(bconf if bconf is not None else offset)
        caus.append(baus)
    X, Y, REQ = np.concatenate(cx), np.concatenate(cy), np.concatenate(creq)
    CONF = np.concatenate(cconf)
    take = np.empty(n, dtype=np.int64)
    for c in np.unique(want):
        slots = np.flatnonzero(want == c)
        cand = np.flatnonzero(Y == c)
        order = cand[np.argsort(-CONF[cand], kind="stable")]
        take[slots] = order[: len(slots)]
    arrays = {"images": X[take], "labels": Y[take], "requested": REQ[take]}
    if aus is not None:
        arrays["aus_requested"] = aus
    if all(a is not None for a in caus):
        arrays["aus"] = np.concatenate(caus)[take]
    returned = len(X)
    stats = {"requested": n, "returned": returned, "kept": n,
             "relabelled": int((arrays["labels"] != arrays["requested"]).sum()),
             "top_ups": top_ups, "generator_info": info}
    return arrays, stats


def run_pool(job: Job, ctx: Context) -> None:
    """Generate the missing blocks of a pool (block j is a pure function of the fit and j)."""
    from tqdm.auto import tqdm

    pool: PoolSpec = job.spec
    missing = [j for j in range(job.n_blocks) if not artifacts.has_block(pool.pool_id, j)]
    if not missing:
        return
    real = real_for(pool, ctx)
    gen = fitted_generator(pool, ctx)
    for j in tqdm(missing, desc=f"synthetic pool ({pool.generator})", leave=False,
                  disable=not ctx.progress):
        want, aus, seed = block_request(pool, real, j)
        parts, stats = [], []
        chunk = 512
        for start in range(0, len(want), chunk):
            a, s = generate_exact(gen, pool.generator, want[start:start + chunk],
                                  None if aus is None else aus[start:start + chunk],
                                  seed + start, real)
            parts.append(a)
            stats.append(s)
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]
                  if all(k in p for p in parts)}
        artifacts.write_block(pool.pool_id, j, arrays, _merge_stats(stats))
        if j == 0:
            _write_grids(gen, pool, arrays, real)


def _write_grids(gen, pool: PoolSpec, arrays: dict, real: FaceData) -> None:
    """The pool's ``grid.png`` (any generator) and, when the generator has the optional
    ``sample_grid(path, *, seed)``, its own ``generator_grid.png``. A picture is not a
    result: a failure here is logged, never fatal."""
    try:
        artifacts.write_pool_grid(pool.pool_id, arrays["images"], arrays["labels"],
                                  [int(c) for c in real.class_indices])
        hook = getattr(gen, "sample_grid", None)
        if callable(hook):
            import os
            import tempfile

            path = artifacts.grid_path(pool.pool_id, "generator_grid.png")
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                hook(os.path.join(tmp, path.name), seed=pool.seed)  # keeps the .png suffix
                os.replace(os.path.join(tmp, path.name), path)
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("sample grid of pool %s not written: %s", pool.pool_id[:12], exc)


def _merge_stats(stats: list[dict]) -> dict:
    out = {k: sum(s[k] for s in stats) for k in ("requested", "returned", "kept",
                                                 "relabelled", "top_ups")}
    out["generator_info"] = [i for s in stats for i in s["generator_info"] if i]
    return out


def pool_statistics(stats: list[dict]) -> dict:
    """Relabel and drop rates of the blocks a cell used (kept with the cell's record)."""
    tot = _merge_stats(stats) if stats else None
    if not tot or not tot["requested"]:
        return {}
    numeric: dict[str, float] = {}
    for i in tot.pop("generator_info"):
        for k, v in i.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                numeric[k] = numeric.get(k, 0) + v
    return {**tot, "relabel_rate": tot["relabelled"] / tot["kept"],
            "drop_rate": 1.0 - tot["kept"] / tot["returned"], "generator_info": numeric}


def read_pool(pool_id: str, ratio: float, real: FaceData) -> tuple[FaceData, dict]:
    """A cell's synthetic training images: the first ceil(ratio) blocks of the pool (a
    fractional last block is subsampled per class, keeping the class balance)."""
    images, labels, stats = [], [], []
    for j in range(math.ceil(ratio)):
        arrays, st = artifacts.read_block(pool_id, j)
        bx, by = arrays["images"], arrays["labels"]
        frac = ratio - j
        if frac < 1.0 - 1e-9:
            keep = []
            for c in real.class_indices:
                idx = np.flatnonzero(by == c)
                keep.append(idx[: int(round(frac * (real.labels == c).sum()))])
            sel = np.sort(np.concatenate(keep))
            bx, by = bx[sel], by[sel]
        images.append(bx)
        labels.append(by)
        stats.append(st)
    data = FaceData(name="synthetic-pool", split="train", images=np.concatenate(images),
                    labels=np.concatenate(labels), classes=real.classes)
    return data, pool_statistics([s for s in stats if s])


# -- cell ---------------------------------------------------------------------------------------

def _pool_of(cell: CellSpec, real: FaceData) -> PoolSpec:
    return PoolSpec(generator=cell.generator, generator_version=cell.generator_version,
                    generator_params=cell.generator_params, dataset=cell.dataset,
                    train_split=cell.train_split, dataset_hash=cell.dataset_hash,
                    train_hash=data_hash(real), resolution=cell.resolution,
                    channels=cell.channels, real_per_class=cell.real_per_class,
                    real_fraction=cell.real_fraction, seed=cell.seed, budget=cell.budget,
                    au_targets=cell.au_targets, data_options=cell.data_options,
                    data_root=cell.data_root, fit_key=shared_fit_key(
                        GENERATORS.create(cell.generator, **cell.generator_params)))


def _scores(model, data: FaceData, classes, seed: int, n_boot: int, device: str):
    from ferbench import classify
    from ferbench.metrics import classification_scores

    y_true = data.contiguous_labels(classes)
    y_pred, _ = classify.predict(model, data.images, device=device)
    with warnings.catch_warnings():  # sklearn's note on classes absent from y_true
        warnings.simplefilter("ignore", UserWarning)
        scores = classification_scores(y_true, y_pred, list(classes), n_boot=n_boot, seed=seed)
    return y_true, y_pred, scores


def run_cell(job: Job, ctx: Context) -> CellResult:
    """Train the fixed classifier on the cell's training set; score it on real test (and
    validation) images. Nothing is stored here."""
    from ferbench import classify

    cell: CellSpec = job.spec
    t0 = time.time()
    root = cell.data_root
    opts = cell.data_options
    train_full = ctx.dataset(cell.dataset, cell.train_split, root, cell.resolution,
                             cell.channels, opts)
    real = ctx.real_subset(cell.dataset, cell.train_split, root, cell.resolution, cell.channels,
                           cell.real_per_class, cell.real_fraction, cell.seed, opts)
    same = cell.test_dataset == cell.dataset
    test_root = cell.test_data_root or (root if same else None)
    test = ctx.dataset(cell.test_dataset, cell.test_split, test_root, cell.resolution,
                       cell.channels, opts if same else None)
    classes = real.classes
    test = restrict_to(test, classes)
    checks = ctx.data_checks(train_full, test)

    parts_x, parts_y = [], []
    if cell.mode in ("real", "mix"):
        parts_x.append(real.images)
        parts_y.append(real.contiguous_labels(classes))
    n_syn, pool_id, pool_stats = 0, None, None
    if cell.synthetic:
        pool_id = _pool_of(cell, real).pool_id
        syn, pool_stats = read_pool(pool_id, cell.ratio, real)
        parts_x.append(syn.images)
        parts_y.append(syn.contiguous_labels(classes))
        n_syn = len(syn)
    x = np.concatenate(parts_x)
    y = np.concatenate(parts_y)

    config = classify.train_config(cell.budget, cell.classifier)
    if cell.epochs:
        config = config.replace(epochs=int(cell.epochs))
    model = classify.train_classifier(
        cell.classifier, x, y, len(classes), seed=cell.seed, config=config,
        device=ctx.device, progress=ctx.progress,
        desc=f"{cell.mode} k={cell.ratio:g} seed={cell.seed}")
    y_true, y_pred, scores = _scores(model, test, classes, cell.seed, cell.n_boot, ctx.device)
    val_metrics, n_val = None, None
    if cell.val_split:
        val = restrict_to(ctx.dataset(cell.dataset, cell.val_split, root, cell.resolution,
                                      cell.channels, opts), classes)
        _, _, vs = _scores(model, val, classes, cell.seed, cell.n_boot, ctx.device)
        keys = [f"{m}{s}" for m in CELL_METRICS for s in ("", "_lo", "_hi")]
        val_metrics = {k: vs[k] for k in keys + ["n_test"]}
        n_val = len(val)
    metric_keys = [f"{m}{s}" for m in CELL_METRICS for s in ("", "_lo", "_hi")] + ["n_test"]
    info = getattr(model, "ferbench_train_info", {})
    return CellResult(
        spec=cell, n_real=len(real) if cell.mode != "synthetic" else 0, n_synthetic=n_syn,
        n_test=len(test), metrics={k: scores[k] for k in metric_keys},
        per_class=scores["per_class"], confusion=scores["confusion"], classes=list(classes),
        y_true=[int(v) for v in y_true], y_pred=[int(v) for v in y_pred],
        provenance=Provenance.collect(ctx.device, time.time() - t0),
        val_metrics=val_metrics, n_val=n_val, pool_id=pool_id, pool_stats=pool_stats,
        classifier_config=info, data_checks=checks)
