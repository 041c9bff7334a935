"""End-to-end: the mix protocol on toyfaces at the smoke budget, resume after SIGKILL,
nested pools, and reproducibility."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import run_cli
from ferbench.engine import Context, run_protocol
from ferbench.protocol import load_protocol
from ferbench.results.store import ResultStore


def test_mix_end_to_end_smoke(shared_home, tmp_path):
    store = tmp_path / "r.duckdb"
    proc = run_cli("run", "--generator", "real-augment", "--protocol", "mix", "--budget",
                   "smoke", "--store", store, "--no-progress", "--device", "cpu")
    out = proc.stdout
    assert "real only" in out and "best k =" in out and "smoke test of the pipeline" in out
    # the run ends by saying where its results went, the wall time and how to browse them
    assert f"6 result(s) in {store} (6 computed now, 0 from earlier runs); wall time" \
        in proc.stderr
    assert f"ferbench leaderboard --store {store}" in proc.stderr
    rows = ResultStore(store).cells()
    assert sorted(r["ratio"] for r in rows) == [0, 1, 2, 3, 4, 5]
    for r in rows:
        rec = ResultStore(store).get_cell(r["cell_id"])
        # Provenance on every cell.
        for k in ("ferbench_version", "protocol_version", "dataset_hash", "torch_version",
                  "device", "wall_time_s", "classifier", "budget", "seed"):
            assert rec[k] not in (None, ""), k
        if rec["ratio"] > 0:
            assert rec["generator"] == "real-augment" and rec["pool_id"]
            assert rec["pool_stats"]["relabel_rate"] == 0.0
            assert rec["generator_params"]["rotation"] == 10.0
            assert rec["n_synthetic"] == rec["ratio"] * rec["n_real"]
        assert 0 <= rec["metrics"]["accuracy"] <= 1
        assert rec["metrics"]["accuracy_lo"] <= rec["metrics"]["accuracy"] <= rec["metrics"]["accuracy_hi"]
        assert np.asarray(rec["confusion"]).sum() == rec["n_test"]
    # Smoke trains for seconds (it checks the pipeline, not accuracy), but the real cells
    # and the mix cells each really trained on their own data: the predictions differ.
    preds = {r["ratio"]: ResultStore(store).get_cell(r["cell_id"])["y_pred"] for r in rows}
    assert len({tuple(p) for p in preds.values()}) > 1
    # `results` prints the same table; --json exports every cell.
    table = run_cli("results", "--store", store).stdout
    assert "real + real-augment" in table
    exported = json.loads(run_cli("results", "--store", store, "--json").stdout)
    assert len(exported) == 6 and all("metrics" in e for e in exported)
    # another generator at the same setting reuses the real-only cell, and says it is that
    # shared baseline, not a resumed run
    other = run_cli("run", "--generator", "noise", "--protocol", "mix", "--budget", "smoke",
                    "--ratios", "1", "--store", store, "--no-progress", "--device", "cpu")
    assert "reusing 1 real-only baseline cell(s)" in other.stderr
    assert "resuming" not in other.stderr
    assert "(1 computed now, 1 from earlier runs)" in other.stderr


def test_same_seed_same_numbers(shared_home, tmp_path):
    spec = load_protocol("mix").override(budget="smoke", ratios=(1,))
    accs = []
    for i in range(2):
        store = ResultStore(tmp_path / f"r{i}.duckdb")
        out = run_protocol(spec, "noise", {}, store, Context(progress=False, n_boot=200))
        accs.append([store.get_cell(r["cell_id"])["y_pred"] for r in out.records])
    assert accs[0] == accs[1]


def test_pools_are_nested(shared_home, tmp_path):
    from ferbench.engine.run import plan_protocol
    from ferbench.engine.stages import read_pool, real_for, run_fit, run_pool

    ctx = Context(progress=False)
    spec = load_protocol("mix").override(budget="smoke", ratios=(1, 2))
    plan = plan_protocol(spec, "noise", {"smooth": 3}, ctx)
    fit, pool = [j for j in plan.jobs if j.kind == "fit"], [j for j in plan.jobs if j.kind == "pool"]
    assert len(fit) == 1 and len(pool) == 1 and pool[0].n_blocks == 2  # one fit, one pool
    cells = [j for j in plan.jobs if j.kind == "cell"]
    assert all(j.deps == (pool[0].key,) for j in cells if j.spec.ratio > 0)
    run_fit(fit[0], ctx)
    run_pool(pool[0], ctx)
    real = real_for(pool[0].spec, ctx)
    p1, _ = read_pool(pool[0].key, 1.0, real)
    p2, _ = read_pool(pool[0].key, 2.0, real)
    p15, stats = read_pool(pool[0].key, 1.5, real)
    assert np.array_equal(p2.images[: len(p1)], p1.images)
    assert len(p2) == 2 * len(real) and len(p15) == int(1.5 * len(real))
    for data, k in ((p1, 1), (p2, 2), (p15, 1.5)):
        assert data.counts() == {c: int(round(k * n)) for c, n in real.counts().items()}
    assert stats["relabel_rate"] == 0.0 and stats["drop_rate"] == 0.0


def _finished(store_path):
    try:
        return len(ResultStore(store_path).cells())
    except Exception:
        return 0


def test_resume_after_sigkill(shared_home, tmp_path):
    store = tmp_path / "r.duckdb"
    args = [sys.executable, "-m", "ferbench.cli", "run", "--generator", "real-augment",
            "--protocol", "mix", "--budget", "smoke", "--ratios", "1,2,3", "--store", str(store),
            "--no-progress", "--device", "cpu"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 300
    while _finished(store) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, "run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    st = ResultStore(store)
    first = {r["cell_id"]: r["created_at"] for r in st.cells()}
    assert 2 <= len(first) < 4
    for cid in first:  # every stored cell is complete
        rec = st.get_cell(cid)
        assert len(rec["y_pred"]) == rec["n_test"] and rec["per_class"]
    pools = list((shared_home / "pools").rglob("block_*.npz"))
    mtimes = {p: p.stat().st_mtime for p in pools}
    again = run_cli("run", *args[4:])
    assert "resuming: " in again.stderr
    after = {r["cell_id"]: r["created_at"] for r in ResultStore(store).cells()}
    assert len(after) == 4
    assert all(after[c] == t for c, t in first.items())  # finished cells untouched
    assert all(p.stat().st_mtime == t for p, t in mtimes.items())  # pool blocks reused
    assert not list(shared_home.rglob("*.tmp*"))  # no half-written cache entries left


def test_real_protocol_at_64px_rgb(shared_home, tmp_path):
    spec = load_protocol("real").override(budget="smoke", resolution=64, channels=3,
                                          real_per_class=10)
    store = ResultStore(tmp_path / "r.duckdb")
    out = run_protocol(spec, None, None, store, Context(progress=False, n_boot=100))
    rec = store.get_cell(out.records[0]["cell_id"])
    assert (rec["resolution"], rec["channels"], rec["n_real"]) == (64, 3, 70)
    assert rec["classifier_config"]["resolution"] == 64
    assert rec["classifier_config"]["channels"] == 3


def test_pool_grid_png_for_every_generator_and_the_generators_own(shared_home, tmp_path):
    """Every pool gets ``grid.png`` (rows = classes, the first 8 faces of each, from block 0);
    a generator with the optional ``sample_grid(path, *, seed)`` hook also gets its own."""
    from PIL import Image

    from ferbench.engine import artifacts
    from ferbench.engine.run import plan_protocol
    from ferbench.engine.stages import run_fit, run_pool

    ctx = Context(progress=False)
    spec = load_protocol("mix").override(budget="smoke", ratios=(1,))
    calls = []
    plan = plan_protocol(spec, "noise", {"smooth": 2}, ctx)  # a pool no other test makes
    fit = next(j for j in plan.jobs if j.kind == "fit")
    pool = next(j for j in plan.jobs if j.kind == "pool")
    run_fit(fit, ctx)
    from ferbench_generators.baselines import NoiseGenerator

    def hook(self, path, *, seed):
        calls.append(seed)
        Image.new("L", (10, 7)).save(path)

    NoiseGenerator.sample_grid = hook
    try:
        run_pool(pool, ctx)
    finally:
        del NoiseGenerator.sample_grid
    grid = Image.open(artifacts.grid_path(pool.spec.pool_id))
    h = w = spec.resolution
    n_classes = len(set(np.load(artifacts.block_path(pool.spec.pool_id, 0))["labels"]))
    assert grid.size == (8 * (w + 2) - 2, n_classes * (h + 2) - 2)
    assert np.asarray(grid).std() > 0  # faces were pasted, not a blank canvas
    own = Image.open(artifacts.grid_path(pool.spec.pool_id, "generator_grid.png"))
    assert own.size == (10, 7) and calls == [pool.spec.seed]
    assert not list(artifacts.pool_dir(pool.spec.pool_id).glob("tmp*"))
