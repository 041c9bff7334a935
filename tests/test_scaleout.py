"""Scale-out executors (ferbench.engine.scaleout): a local process pool and SLURM, both through
submitit, on the smoke mix (1 epoch, ratio 1, small n_boot).

The test generators live in a throw-away plugin (a module plus a ``.dist-info`` with an
entry point) on ``sys.path`` and ``PYTHONPATH``, so worker processes find them exactly as they
would find an installed plugin. SLURM is faked by ``sbatch``/``srun``/``sacct``/``squeue``/
``scancel`` scripts on PATH that log their arguments and run the job script here, so
submitit's real SLURM code path (sbatch file, job arrays, sacct polling) runs end to end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from ferbench import paths
from ferbench.api.generator import GENERATORS
from ferbench.engine import Context, run_protocol
from ferbench.engine.scaleout import SlurmOptions, SubmititExecutor, run_id
from ferbench.errors import FerbenchError
from ferbench.protocol import load_protocol
from ferbench.results.store import ResultStore

PLUGIN = '''
import os, time
from ferbench.api import GeneratorMeta
from ferbench_generators.baselines import NoiseGenerator


class SlowGen(NoiseGenerator):
    """Noise, but fitting takes a second and is logged (to count fits across processes)."""
    meta = GeneratorMeta(name="slowgen", version="1", family="baseline", conditioning=("label",),
                         license="Apache-2.0", parameters=0, description="test")

    def __init__(self, smooth: int = 3, tag: str = ""):
        super().__init__(smooth)
        self.tag = tag

    def fit(self, train, *, seed, budget, device="cpu", workdir=None):
        with open(os.environ["FIT_LOG"], "a") as f:
            f.write(f"{os.getpid()} start\\n")
        time.sleep(2.0)
        super().fit(train, seed=seed, budget=budget, device=device)
        with open(os.environ["FIT_LOG"], "a") as f:
            f.write(f"{os.getpid()} end\\n")
        return self


class FailGen(NoiseGenerator):
    """Noise that cannot be fitted for seed 1."""
    meta = GeneratorMeta(name="failgen", version="1", family="baseline", conditioning=("label",),
                         license="Apache-2.0", parameters=0, description="test")

    def __init__(self, smooth: int = 3, tag: str = ""):
        super().__init__(smooth)
        self.tag = tag

    def fit(self, train, *, seed, budget, device="cpu", workdir=None):
        if seed == 1:
            raise RuntimeError("failgen cannot fit seed 1")
        return super().fit(train, seed=seed, budget=budget, device=device)
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    d = tmp_path / "plugin"
    d.mkdir()
    (d / "ferbench_scaleout_testgens.py").write_text(PLUGIN)
    info = d / "ferbench_scaleout_testgens-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ferbench-scaleout-testgens\n"
                                   "Version: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[ferbench.generators]\nslowgen = ferbench_scaleout_testgens:SlowGen\n"
        "failgen = ferbench_scaleout_testgens:FailGen\n")
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(d)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    monkeypatch.setenv("FIT_LOG", str(tmp_path / "fits.log"))
    GENERATORS.refresh()
    yield d
    GENERATORS.refresh()


def smoke_spec(seeds=(0, 1)):
    return load_protocol("mix").override(budget="smoke", ratios=(1,), seeds=seeds, epochs=1)


def test_concurrent_fits_fit_once(shared_home, plugin, tmp_path):
    """Two processes wanting the same fit at once: one fits, the other waits and loads it."""
    tag = uuid.uuid4().hex
    script = textwrap.dedent(f"""
        from ferbench.engine import Context, plan_protocol
        from ferbench.engine.stages import fitted_generator
        from ferbench.protocol import load_protocol
        spec = load_protocol("mix").override(budget="smoke", ratios=(1,), seeds=(0,))
        ctx = Context(progress=False)
        plan = plan_protocol(spec, "slowgen", {{"tag": "{tag}"}}, ctx)
        fit = [j for j in plan.jobs if j.kind == "fit"][0]
        gen = fitted_generator(fit.spec, ctx)
        print(float(gen.mean_.sum()))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    log = (tmp_path / "fits.log").read_text().split()
    assert log.count("start") == 1 and log.count("end") == 1, log
    assert outs[0][0] == outs[1][0]  # the waiter loaded the very fit the other saved


def _records(store: ResultStore, ids):
    return {r["cell_id"]: r for r in store.get_cells(ids)}


@pytest.mark.slow
def test_local_pool_matches_in_process(shared_home, tmp_path, monkeypatch):
    """Same cells, same predictions and metrics, in-process vs two worker processes (at the
    same intra-op thread count: CPU numbers depend on it)."""
    import torch

    spec = smoke_spec()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of 2 workers gets on 2 cores ... on any machine:
    monkeypatch.setattr("ferbench.engine.scaleout.cpu_count", lambda: 2)
    try:
        a = ResultStore(tmp_path / "a.duckdb")
        ref = run_protocol(spec, "noise", {}, a, Context(progress=False, n_boot=50))
    finally:
        torch.set_num_threads(threads)
    ids = [c.cell_id for c in ref.plan.cells]
    for pool in {r["pool_id"] for r in ref.records if r["pool_id"]}:  # the workers make
        shutil.rmtree(paths.pools_dir() / pool)
    b = ResultStore(tmp_path / "b.duckdb")
    out = run_protocol(spec, "noise", {}, b, Context(progress=False, n_boot=50),
                       executor=SubmititExecutor("local", jobs=2))
    assert out.ran == len(ids) == 4
    ra, rb = _records(a, ids), _records(b, ids)
    assert set(ra) == set(rb) == set(ids)
    for i in ids:
        assert ra[i]["y_pred"] == rb[i]["y_pred"]
        assert ra[i]["metrics"] == rb[i]["metrics"]
        assert ra[i]["pool_stats"] == rb[i]["pool_stats"]
    # records landed as JSON in the run's folder, one per cell
    recs = list((paths.jobs_dir() / run_id(out.plan) / "records").glob("*.json"))
    assert sorted(p.stem for p in recs) == sorted(ids)


@pytest.mark.slow
def test_failed_job_names_cell_and_log(shared_home, plugin, tmp_path):
    spec = smoke_spec()
    store = ResultStore(tmp_path / "s.duckdb")
    with pytest.raises(FerbenchError) as e:
        run_protocol(spec, "failgen", {"tag": uuid.uuid4().hex}, store,
                     Context(progress=False, n_boot=20), executor=SubmititExecutor("local", 2))
    lines = str(e.value).splitlines()
    assert lines[0].startswith("1 of 4 cells failed (3 stored)")
    assert len(lines) == 2 and "generator failgen" in lines[1] and "seed 1" in lines[1]
    assert "failgen cannot fit seed 1" in lines[1]
    log = Path(lines[1].rsplit("log ", 1)[1])
    assert log.is_file() and "failgen cannot fit seed 1" in log.read_text()
    with store._read() as con:
        rows = con.execute("SELECT seed, ratio FROM cells ORDER BY seed, ratio").fetchall()
    assert rows == [(0, 0.0), (0, 1.0), (1, 0.0)]


@pytest.mark.slow
def test_resume_after_parent_killed(shared_home, tmp_path):
    """SIGKILL the parent and its workers once some cells have landed: a re-run ingests the
    finished records, recomputes only the rest, and nothing half-done is stored."""
    store = tmp_path / "k.duckdb"
    args = [sys.executable, "-m", "ferbench.cli", "run", "-g", "noise", "-p", "mix", "-b",
            "smoke", "--ratios", "1", "--seeds", "2", "--epochs", "1", "--store", str(store),
            "--no-progress", "--device", "cpu", "--executor", "local", "--jobs", "2"]
    t0 = time.time() - 1
    proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    jobs = paths.jobs_dir()
    deadline = time.time() + 900
    landed: list[Path] = []
    while time.time() < deadline and not landed:
        time.sleep(0.5)
        landed = [p for p in jobs.glob("*/records/*.json") if p.stat().st_mtime > t0]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert landed, "no cell finished"
    time.sleep(1)
    run_dir = landed[0].parent.parent
    before = {p.name: p.read_bytes() for p in run_dir.glob("records/*.json")}
    assert 1 <= len(before) < 4
    submitted = set(run_dir.glob("logs/*_submitted.pkl"))
    out = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    assert f"ingested {len(before)} finished cell records" in out.stderr
    from submitit.core.utils import DelayedSubmission

    new = set(run_dir.glob("logs/*_submitted.pkl")) - submitted
    kinds = [DelayedSubmission.load(p).args[0].kind for p in new]
    assert kinds.count("cell") == 4 - len(before)  # only unfinished cells were submitted again
    for name, data in before.items():  # the finished ones were not recomputed
        assert (run_dir / "records" / name).read_bytes() == data
    s = ResultStore(store)
    with s._read() as con:
        assert con.execute("SELECT count(*) FROM cells").fetchone()[0] == 4


FAKE_SBATCH = r'''#!PYTHON
# sbatch: log the call, answer with a job id, then run the job (or array) in the background
# once submitit has moved its pickles into place (as a real scheduler would, later).
import json, os, re, subprocess, sys, time
from pathlib import Path
state = Path(os.environ["FAKE_SLURM"])


def set_state(key, st):
    p = state / "states.json"
    states = json.loads(p.read_text()) if p.exists() else {}
    states[key] = st
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(states))
    os.replace(tmp, p)


if sys.argv[1] == "--run":
    jid, script = sys.argv[2], Path(sys.argv[3])
    text = script.read_text()
    m = re.search(r"^#SBATCH --array=0-(\d+)%(\d+)", text, re.M)
    time.sleep(1.0)
    for t in (range(int(m.group(1)) + 1) if m else [None]):
        env = dict(os.environ, SLURM_JOB_ID=jid, SLURM_NTASKS="1", SLURM_PROCID="0",
                   SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_JOB_NUM_NODES="1",
                   SLURM_JOB_NODELIST="localhost")
        key = jid
        if t is not None:
            env.update(SLURM_ARRAY_JOB_ID=jid, SLURM_ARRAY_TASK_ID=str(t))
            key = f"{jid}_{t}"
        rc = subprocess.run(["bash", str(script)], env=env).returncode
        set_state(key, "COMPLETED" if rc == 0 else "FAILED")
    sys.exit(0)

text = Path(sys.argv[-1]).read_text()
counter = state / "next_id"
jid = int(counter.read_text()) if counter.exists() else 1000
counter.write_text(str(jid + 1))
copy = state / f"job_{jid}.sh"
copy.write_text(text)
with open(state / "sbatch.jsonl", "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "job_id": jid,
                        "sbatch": [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]})
            + "\n")
subprocess.Popen([sys.executable, __file__, "--run", str(jid), str(copy)],
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, start_new_session=True)
print(f"Submitted batch job {jid}")
'''

FAKE_SRUN = r'''#!PYTHON
import os, subprocess, sys
args = sys.argv[1:]
out = err = None
while args and args[0].startswith("--"):
    opt = args.pop(0)
    if opt in ("--output", "--error"):
        val = args.pop(0)
        for k, v in (("%A", os.environ.get("SLURM_ARRAY_JOB_ID", "")),
                     ("%a", os.environ.get("SLURM_ARRAY_TASK_ID", "")),
                     ("%j", os.environ["SLURM_JOB_ID"]), ("%t", "0")):
            val = val.replace(k, v)
        if opt == "--output":
            out = val
        else:
            err = val
with open(out, "a") as o, open(err or out, "a") as e:
    sys.exit(subprocess.run(args, stdout=o, stderr=e).returncode)
'''

FAKE_SACCT = r'''#!PYTHON
import json, os, sys
from pathlib import Path
state = Path(os.environ["FAKE_SLURM"])
with open(state / "sacct.log", "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
states = json.loads((state / "states.json").read_text()) if (state / "states.json").exists() else {}
ids = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-j"]
print("JobID|State|NodeList")
for key, st in states.items():
    if key.split("_")[0] in ids:
        print(f"{key}|{st}|localhost")
'''

FAKE_NOOP = r'''#!PYTHON
import os, sys
from pathlib import Path
with open(Path(os.environ["FAKE_SLURM"]) / "other.log", "a") as f:
    f.write(" ".join(sys.argv) + "\n")
'''


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    state = tmp_path / "slurm"
    state.mkdir()
    for name, src in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT),
                      ("squeue", FAKE_NOOP), ("scancel", FAKE_NOOP)):
        p = bin_ / name
        p.write_text(src.replace("PYTHON", sys.executable, 1))
        p.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    return state


@pytest.mark.slow
def test_slurm_path_end_to_end(shared_home, fake_slurm, tmp_path):
    """The mix (2 seeds, k=1) through submitit's SLURM executor against fake SLURM tools:
    wave 1 is one array (2 pool jobs + 2 real-only cells), then the pools' cells."""
    spec = smoke_spec()
    store = ResultStore(tmp_path / "slurm.duckdb")
    ex = SubmititExecutor("slurm", slurm=SlurmOptions(
        partition="gpu", time_min=30, gpus=1, mem_gb=16, cpus=4, array_parallelism=3),
        poll_s=0.2)
    out = run_protocol(spec, "noise", {"smooth": 5}, store, Context(progress=False, n_boot=20),
                       executor=ex)
    assert out.ran == 4 and len(out.records) == 4
    subs = [json.loads(ln) for ln in (fake_slurm / "sbatch.jsonl").read_text().splitlines()]
    # wave 1 is one array; then each pool's cell as its pool job finishes (one array of 2 if
    # both pools finished between two polls, else two single jobs)
    assert len(subs) in (2, 3)
    for s in subs:
        flags = set(s["sbatch"])
        assert {"#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --gpus-per-node=1",
                "#SBATCH --mem=16GB", "#SBATCH --cpus-per-task=4", "#SBATCH --job-name=ferbench",
                "#SBATCH --ntasks-per-node=1"} <= flags, flags
    assert "#SBATCH --array=0-3%3" in subs[0]["sbatch"]
    later = [f for s in subs[1:] for f in s["sbatch"] if f.startswith("#SBATCH --array")]
    assert later == (["#SBATCH --array=0-1%2"] if len(subs) == 2 else [])
    with store._read() as con:
        assert con.execute("SELECT count(*) FROM cells").fetchone()[0] == 4
