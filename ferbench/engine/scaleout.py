"""Run a plan's jobs in other processes: a local process pool or SLURM, both through submitit.

Both paths go through the same code: submitit pickles :func:`run_job` and its arguments
(cloudpickle) into a folder, a fresh Python process (a local subprocess, or an ``sbatch`` job
running ``srun python -m submitit.core._submit``) unpickles and runs it, and the pickled result
or traceback comes back through the same folder. That folder must be shared (``$FERBENCH_HOME``
on NFS for SLURM).

Who writes what:

- A worker builds its own :class:`Context`, runs one stage function, and (cells) writes the
  cell's record as JSON into ``jobs/<run>/records/<cell_id>.json`` in one rename
  (:func:`ferbench.paths.atomic_write_json`). Fits and pool blocks go to the shared caches,
  atomically too (and fitting holds a per-fit file lock, :mod:`ferbench.engine.stages`).
- The parent is the only writer into the DuckDB store: it ingests each record as its job
  finishes. A record on disk but not in the store (the parent was killed) is ingested on the
  next run without recomputing it; a job that died leaves no record, so nothing half-done is
  stored.

Stage dependencies are resolved by the parent, not by SLURM: fit and pool of one
(generator, data, seed) run as one ``pool`` job (the fit runs inside it, once), real-only cells
are submitted at once, and a synthetic cell is submitted as soon as its pool job has
succeeded. A failed pool job fails its cells (reported, not run); everything else still runs.
No ``afterok`` chains, so a failure never leaves jobs pending forever in the queue, and the same
scheduler serves the local pool. On SLURM, each wave of ready cells is one job array, throttled
by ``--slurm-array-parallelism``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ferbench import paths
from ferbench.api.results import CellResult, CellSpec
from ferbench.engine import artifacts
from ferbench.engine.context import Context
from ferbench.errors import FerbenchError
from ferbench.protocol.plan import CELL, POOL, SCORE, Job, Plan

log = logging.getLogger("ferbench")


def cpu_count() -> int:
    """CPUs this process may use (affinity-aware: SLURM's cgroup, taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_job(job: Job, device: str, n_boot: int, record_path: str | None,
            threads: int | None) -> str | None:
    """The body of one job, in the worker process: a ``pool`` job (fit, if needed, then the
    missing blocks) or a ``cell`` job (its record written atomically to ``record_path``)."""
    import torch

    from ferbench.engine import stages

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(max(1, threads or cpu_count()))
    ctx = Context(device=device, progress=False, n_boot=n_boot)
    if job.kind == POOL:
        stages.run_pool(job, ctx)
        return None
    res = stages.run_cell(job, ctx)
    paths.atomic_write_json(record_path, res.to_record())
    return record_path


def run_id(plan: Plan) -> str:
    """A plan's folder name: the hash of its cell ids (stable across re-runs of one spec)."""
    h = hashlib.sha256("\n".join(sorted(c.cell_id for c in plan.cells)).encode())
    return h.hexdigest()[:16]


def describe(cell: CellSpec) -> str:
    gen = f"generator {cell.generator}, " if cell.generator else ""
    return (f"cell {cell.cell_id[:12]} ({cell.protocol} on {cell.dataset}, {gen}mode "
            f"{cell.mode}, k={cell.ratio:g}, seed {cell.seed})")


@dataclass
class SlurmOptions:
    partition: str | None = None
    time_min: int = 60
    gpus: int = 1
    mem_gb: float | None = None
    cpus: int | None = None
    array_parallelism: int = 32
    extra: dict = field(default_factory=dict)   # slurm_additional_parameters


class SubmititExecutor:
    """Run pool and cell jobs through submitit: ``kind="local"`` (at most ``jobs`` worker
    processes on this machine) or ``kind="slurm"``."""

    def __init__(self, kind: str = "local", jobs: int = 2, slurm: SlurmOptions | None = None,
                 poll_s: float = 0.5):
        if kind not in ("local", "slurm"):
            raise FerbenchError(f"unknown executor '{kind}'; use in-process, local or slurm")
        if jobs < 1:
            raise FerbenchError(f"--jobs must be >= 1, got {jobs}")
        self.kind, self.jobs, self.slurm = kind, int(jobs), slurm or SlurmOptions()
        self.poll_s = poll_s
        self.name = kind

    # -- submission ----------------------------------------------------------------------------

    def _executor(self, folder: Path):
        import submitit

        if self.kind == "local":
            ex = submitit.LocalExecutor(folder=folder)
            ex.update_parameters(timeout_min=24 * 60)
            return ex
        s = self.slurm
        ex = submitit.SlurmExecutor(folder=folder)
        params = dict(time=int(s.time_min), gpus_per_node=int(s.gpus), ntasks_per_node=1,
                      array_parallelism=int(s.array_parallelism), job_name="ferbench")
        if s.partition:
            params["partition"] = s.partition
        if s.mem_gb:
            params["mem"] = f"{int(s.mem_gb)}GB"
        if s.cpus:
            params["cpus_per_task"] = int(s.cpus)
        if s.extra:
            params["additional_parameters"] = dict(s.extra)
        ex.update_parameters(**params)
        return ex

    def _threads(self) -> int | None:
        # local: share this machine's cores; SLURM: the worker uses what its cgroup gives it
        return max(1, cpu_count() // self.jobs) if self.kind == "local" else None

    def _local_gpus(self) -> list[int]:
        """GPU indices a local worker may be pinned to (this process's CUDA devices)."""
        import torch

        n = torch.cuda.device_count()
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        if env:
            ids = [x.strip() for x in env.split(",") if x.strip()]
            if all(x.isdigit() for x in ids):
                return [int(x) for x in ids][:n]
        return list(range(n))

    def _submit(self, ex, batch: list[tuple[Job, str | None]], device: str, n_boot: int):
        threads = self._threads()
        if self.kind == "local" and device.startswith("cuda"):
            # submitit hides every GPU from a local job unless told: pin each job to one GPU,
            # round robin, and let it call that GPU "cuda".
            gpus = self._local_gpus()
            if not gpus:
                raise FerbenchError("--device cuda with --executor local, but no CUDA device")
            subs = []
            for job, rec in batch:
                self._gpu_turn = getattr(self, "_gpu_turn", -1) + 1
                ex.update_parameters(gpus_per_node=1,
                                     visible_gpus=(gpus[self._gpu_turn % len(gpus)],))
                subs.append(ex.submit(run_job, job, "cuda", n_boot, rec, threads))
            return subs
        if self.kind == "slurm" and len(batch) > 1:
            with ex.batch():
                subs = [ex.submit(run_job, job, device, n_boot, rec, threads)
                        for job, rec in batch]
            return subs
        return [ex.submit(run_job, job, device, n_boot, rec, threads) for job, rec in batch]

    # -- the loop ------------------------------------------------------------------------------

    def execute(self, plan: Plan, store, ctx: Context, finished: set[str]
                ) -> dict[str, CellResult]:
        from tqdm.auto import tqdm

        root = paths.jobs_dir() / run_id(plan)
        records = root / "records"
        results: dict[str, CellResult] = {}

        def ingest(cell_id: str) -> None:
            res = CellResult.from_record(_read_json(records / f"{cell_id}.json"))
            store.write_cell(res)
            results[cell_id] = res

        # Records a previous (killed) parent never ingested: store them, do not recompute.
        finished = set(finished)
        for c in plan.cells:
            if c.cell_id not in finished and (records / f"{c.cell_id}.json").is_file():
                ingest(c.cell_id)
                finished.add(c.cell_id)
        if results:
            log.info("ingested %d finished cell records from %s", len(results), records)

        needed = plan.needed(finished)
        if any(j.kind == SCORE for j in needed):
            raise FerbenchError(f"the {self.kind} executor does not run pool-level scoring "
                                "(the fidelity protocol) yet; run it with --executor in-process")
        cells = [j for j in needed if j.kind == CELL]
        if not cells:
            return results
        pools = {j.key: j for j in needed if j.kind == POOL}
        done_pools = {k for k, j in pools.items() if artifacts.pool_complete(k, j.n_blocks)}
        waiting = {k: [c for c in cells if k in c.deps] for k in pools}
        ready: list[Job] = [p for k, p in pools.items() if k not in done_pools]
        ready += [c for c in cells if all(d in done_pools or d not in pools for d in c.deps)]
        for k in done_pools:
            waiting.pop(k, None)
        ex = self._executor(root / "logs")
        cap = self.jobs if self.kind == "local" else len(ready) + len(cells) + len(pools)
        running: dict[str, tuple[Job, object]] = {}
        failures: list[str] = []
        log.info("%s executor: %d pool and %d cell jobs; records and logs under %s", self.kind,
                 len([r for r in ready if r.kind == POOL]), len(cells), root)
        bar = tqdm(total=len(cells), desc="cells", disable=not ctx.progress)
        try:
            while ready or running:
                free = cap - len(running)
                if ready and free > 0:
                    # pools first: they unlock cells
                    ready.sort(key=lambda j: j.kind != POOL)
                    batch, ready = ready[:free], ready[free:]
                    subs = self._submit(ex, [(j, str(records / f"{j.key}.json")
                                              if j.kind == CELL else None) for j in batch],
                                        ctx.device, ctx.n_boot)
                    for j, s in zip(batch, subs):
                        running[j.key] = (j, s)
                    continue
                time.sleep(self.poll_s)
                for key, (job, sub) in list(running.items()):
                    if not sub.done():
                        continue
                    del running[key]
                    err = _error(sub)
                    if job.kind == POOL:
                        blocked = waiting.pop(key, [])
                        if err is None:
                            ready += blocked
                        else:
                            for c in blocked:
                                failures.append(
                                    f"{describe(c.spec)}: its pool job {sub.job_id} failed: "
                                    f"{err}; log {sub.paths.stderr}")
                                bar.update(1)
                        continue
                    if err is None and (records / f"{key}.json").is_file():
                        ingest(key)
                    else:
                        failures.append(f"{describe(job.spec)}: job {sub.job_id} failed: "
                                        f"{err or 'no record written'}; log {sub.paths.stderr}")
                    bar.update(1)
        except BaseException:
            for _, sub in running.values():  # do not leave orphans computing for nobody
                try:
                    sub.cancel(check=False)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            raise
        finally:
            bar.close()
        if failures:
            raise FerbenchError(f"{len(failures)} of {len(cells)} cells failed "
                                f"({len(results)} stored):\n" + "\n".join(failures))
        return results


def _read_json(path: Path) -> dict:
    import json

    return json.loads(Path(path).read_text())


def _error(sub) -> str | None:
    """None if the job succeeded, else one line: the last line of the job's traceback (the
    exception and its message), not submitit's wrapper text."""
    try:
        exc = sub.exception()
    except Exception as e:  # noqa: BLE001 - e.g. UncompletedJobError: the job vanished
        exc = e
    if exc is None:
        return None
    lines = [ln.rstrip() for ln in str(exc).splitlines()]
    rules = [i for i, ln in enumerate(lines) if len(ln) > 5 and set(ln.strip()) == {"-"}]
    if len(rules) >= 2:  # FailedJobError: "... with trace:\n-----\n<traceback>\n-----\n..."
        lines = lines[rules[0] + 1:rules[1]]
    lines = [ln.strip() for ln in lines if ln.strip()]
    return lines[-1] if lines else type(exc).__name__
