"""Cell count and wall-time model: every built-in generator x protocol x 5 seeds on FER2013
at ``full``, on one machine (one job at a time) versus N parallel GPU jobs.

The plan is the real one (:func:`ferbench.protocol.plan.build_plan` on fake data hashes), so
the counts are exact: cells shared between generators (the mix's real-only cells) and fits and
pools shared between protocols are counted once. Times are a model:

- a cell costs ``unit * (n_train / n_real)``: ``full`` trains every cell for the same number
  of epochs over its own training set, so a k-mix cell costs (1 + k) real-only cells;
- a pool job (fit + ``n_blocks`` blocks) costs ``pool_s``; each job pays ``startup_s``;
- the scheduler is ferbench's: pools and real-only cells first, a pool's cells as soon as it is
  done, longest first, on ``n`` identical workers (a list-scheduling simulation).

    python benchmarks/scaleout_model.py --unit-min 6 --pool-min 5 --startup-s 60 --jobs 32
"""

from __future__ import annotations

import argparse
import heapq

from ferbench.protocol import load_protocol
from ferbench.protocol.plan import CELL, POOL, DataInfo, build_plan

GENERATORS = ("noise", "real-augment")
PROTOCOLS = ("real", "mix", "synthetic")


def full_plan(seeds: int = 5):
    jobs, seen = [], set()
    info = DataInfo(dataset_hash="d", test_dataset_hash="t", train_hash="r", val_split="val",
                    val_dataset_hash="v")
    for proto in PROTOCOLS:
        spec = load_protocol(proto).override(dataset="fer2013", budget="full",
                                             seeds=tuple(range(seeds)))
        for gen in (GENERATORS if spec.needs_generator else (None,)):
            plan = build_plan(spec, gen, "1", {}, lambda s: info, amp="bf16")
            for j in plan.jobs:
                if j.key in seen:
                    if j.kind == POOL:  # one pool serves both protocols: keep the larger
                        i = next(i for i, x in enumerate(jobs) if x.key == j.key)
                        if j.n_blocks > jobs[i].n_blocks:
                            jobs[i] = j
                    continue
                seen.add(j.key)
                jobs.append(j)
    return jobs


def cost(job, unit: float) -> float:
    s = job.spec
    real = 0.0 if s.mode == "synthetic" else 1.0
    return unit * (real + s.ratio)


def makespan(jobs, n: int, unit: float, pool_s: float, startup_s: float) -> float:
    pools = [j for j in jobs if j.kind == POOL]
    cells = [j for j in jobs if j.kind == CELL]
    free = [0.0] * n                       # when each worker is next free
    heapq.heapify(free)
    pool_done = {}
    for p in pools:                        # pools are submitted first
        t = heapq.heappop(free)
        pool_done[p.key] = t + startup_s + pool_s
        heapq.heappush(free, pool_done[p.key])
    ready = sorted(cells, key=lambda c: (max([pool_done.get(d, 0.0) for d in c.deps] or [0]),
                                         -cost(c, unit)))
    end = max(pool_done.values(), default=0.0)
    for c in ready:
        t = max(heapq.heappop(free), max([pool_done.get(d, 0.0) for d in c.deps] or [0]))
        done = t + startup_s + cost(c, unit)
        end = max(end, done)
        heapq.heappush(free, done)
    return end


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit-min", type=float, default=6.0,
                    help="minutes of one real-only full cell on one GPU (assumed)")
    ap.add_argument("--pool-min", type=float, default=5.0, help="minutes of one pool job")
    ap.add_argument("--startup-s", type=float, default=60.0, help="per-job start-up seconds")
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    jobs = full_plan(a.seeds)
    cells = [j for j in jobs if j.kind == CELL]
    pools = [j for j in jobs if j.kind == POOL]
    units = sum(cost(c, 1.0) for c in cells)
    print(f"{len(cells)} cells ({units:g} real-only-cell units of work), "
          f"{len([j for j in jobs if j.kind == 'fit'])} fits, {len(pools)} pools "
          f"({sum(p.n_blocks for p in pools)} blocks)")
    unit, pool, st = a.unit_min * 60, a.pool_min * 60, a.startup_s
    for n in (1, a.jobs):
        h = makespan(jobs, n, unit, pool, st) / 3600
        print(f"{n:>3} GPU job(s) at a time: {h:.1f} h")


if __name__ == "__main__":
    main()
