"""Wall time of the smoke mix in-process versus ``--executor local --jobs N``.

Both runs use one fresh ``FERBENCH_HOME`` whose toyfaces cache is prepared first (not timed);
fits and pools are deleted before each run, so both runs include fit, pool and every cell.
Per-stage times come from the cells' stored ``wall_time_s`` (cell stage) and the rest of the
wall time (start-up, planning, fit and pool stages, and for the pool executor, job start-up).

    python benchmarks/bench_scaleout.py --seeds 3 --ratios 1 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str], env: dict) -> float:
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "ferbench.cli", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.time() - t0


def cell_times(store: Path, env: dict) -> list[float]:
    out = subprocess.run([sys.executable, "-m", "ferbench.cli", "results", "--store",
                          str(store), "--json"], env=env, check=True, capture_output=True,
                         text=True).stdout
    return [float(r["wall_time_s"]) for r in json.loads(out)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="3")
    ap.add_argument("--ratios", default="1")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--generator", default="noise")
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ferbench-scaleout-"))
    env = dict(os.environ, FERBENCH_HOME=str(home))
    base = ["run", "-g", a.generator, "-p", "mix", "-b", "smoke", "--seeds", a.seeds,
            "--ratios", a.ratios, "--device", "cpu", "--no-progress"]
    subprocess.run([sys.executable, "-c", "from ferbench.data.cache import load\n"
                    "for s in ('train','val','test'): load('toyfaces', s)"], env=env,
                   check=True)
    rows = []
    for name, extra in (("in-process", []),
                        (f"local --jobs {a.jobs}", ["--executor", "local", "--jobs",
                                                    str(a.jobs)])):
        for d in ("fits", "pools"):
            shutil.rmtree(home / d, ignore_errors=True)
        store = home / f"{name.split()[0]}.duckdb"
        wall = run(base + ["--store", str(store)] + extra, env)
        cells = cell_times(store, env)
        rows.append((name, wall, len(cells), sum(cells), max(cells)))
    print(f"smoke mix, {a.generator}, seeds {a.seeds}, ratios {a.ratios}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| executor | wall s | cells | sum of cell s | slowest cell s | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, wall, n, tot, mx in rows:
        print(f"| {name} | {wall:.0f} | {n} | {tot:.0f} | {mx:.0f} | {rows[0][1] / wall:.2f}x |")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
