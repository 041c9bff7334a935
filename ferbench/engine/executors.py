"""Executors run a plan's jobs: in this process, in order (the default), or as separate jobs
on a local process pool or SLURM (:mod:`ferbench.engine.scaleout`), behind one ``execute``.

Whatever the executor, the parent process is the only writer into the results store, and a
cell is written once, in one transaction, only after it has finished: an interruption loses
only the job in flight (fits and pool blocks are on disk, written atomically).
"""

from __future__ import annotations

import logging
import time

from ferbench.api.results import CellResult
from ferbench.engine import artifacts, stages
from ferbench.engine.context import Context
from ferbench.protocol.plan import CELL, FIT, POOL, SCORE, Plan

log = logging.getLogger("ferbench")


def describe(job) -> str:
    """One line naming a job, for ``-v``: kind, key, generator, ratio, seed."""
    sp = job.spec
    gen = getattr(sp, "generator", None) or "real only"
    extra = f" ratio {sp.ratio:g}" if job.kind == CELL else ""
    return f"{job.kind} {job.key[:12]} ({gen}{extra}, seed {sp.seed})"


class InProcessExecutor:
    """Run the needed jobs here, dependencies first, writing each cell as it finishes."""

    name = "in-process"

    def execute(self, plan: Plan, store, ctx: Context, finished: set[str]
                ) -> dict[str, CellResult]:
        protocol, version = plan.protocol
        from tqdm.auto import tqdm

        jobs = plan.needed(finished)
        pools = {j.key: j for j in plan.jobs if j.kind == POOL}
        results: dict[str, CellResult] = {}
        cells = [j for j in jobs if j.kind in (CELL, SCORE)]
        bar = tqdm(total=len(cells), desc="cells", disable=not ctx.progress or not cells)
        log.debug("plan: %d job(s), %d to run here (%s)", len(plan.jobs), len(jobs),
                  ", ".join(f"{sum(j.kind == k for j in jobs)} {k}" for k in
                            (FIT, POOL, CELL, SCORE)))
        try:
            for job in jobs:
                t0 = time.monotonic()
                log.debug("start %s", describe(job))
                if job.kind == FIT:
                    # Only fit when a pool that needs this fit still lacks blocks.
                    if any(not artifacts.pool_complete(p.key, p.n_blocks)
                           for p in pools.values() if job.key in p.deps):
                        stages.run_fit(job, ctx)
                elif job.kind == SCORE:
                    from ferbench.engine.fidelity import run_score_pool

                    res = run_score_pool(job, ctx, protocol, version)
                    store.write_pool_result(res)
                    results[job.key] = res
                    bar.update(1)
                elif job.kind == POOL:
                    stages.run_pool(job, ctx)
                elif job.kind == CELL:
                    res = stages.run_cell(job, ctx)
                    store.write_cell(res)
                    results[job.key] = res
                    bar.update(1)
                log.debug("done %s in %.1f s", describe(job), time.monotonic() - t0)
        finally:
            bar.close()
        return results


EXECUTORS = ("in-process", "local", "slurm")


def make_executor(args):
    """The executor the ``run`` command's flags ask for (``--executor``, ``--jobs``,
    ``--slurm-*``); ``args`` is the argparse namespace."""
    kind = getattr(args, "executor", None) or "in-process"
    if kind == "in-process":
        return InProcessExecutor()
    from ferbench.engine.scaleout import SlurmOptions, SubmititExecutor

    slurm = SlurmOptions(partition=args.slurm_partition, time_min=args.slurm_time,
                         gpus=args.slurm_gpus, mem_gb=args.slurm_mem, cpus=args.slurm_cpus,
                         array_parallelism=args.slurm_array_parallelism)
    return SubmititExecutor(kind, jobs=args.jobs, slurm=slurm)
