"""Wall time and peak RSS of the default ``ferbench run ... --protocol mix`` on toyfaces.

Runs the real console command in a child process with a fresh ``FERBENCH_HOME`` (so toyfaces
rendering, the prepared cache, the generator fit, the pools and every cell are included),
and reads the child's peak RSS from ``getrusage(RUSAGE_CHILDREN)``.

    python benchmarks/bench_run.py --budget smoke            # ~1 min
    python benchmarks/bench_run.py --budget quick            # ~10-15 min on 2 cores
    python benchmarks/bench_run.py --budget smoke --write-readme
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

README = Path(__file__).with_name("README.md")
TARGETS = {"smoke": (90, None), "quick": (15 * 60, 4.0)}


def machine() -> str:
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"Python {platform.python_version()}, {date.today().isoformat()}")


def run(budget: str, generator: str) -> dict:
    with tempfile.TemporaryDirectory() as home:
        cmd = [sys.executable, "-m", "ferbench.cli", "run", "--generator", generator,
               "--protocol", "mix", "--budget", budget, "--device", "cpu", "--no-progress"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env={**os.environ, "FERBENCH_HOME": home})
        wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"run failed:\n{proc.stdout}\n{proc.stderr}")
    rss_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return {"budget": budget, "generator": generator, "wall_s": wall, "peak_rss_gib": rss_gib,
            "table": proc.stdout.strip()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", default="smoke", choices=("smoke", "quick", "full"))
    ap.add_argument("--generator", default="real-augment")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    res = run(args.budget, args.generator)
    wall_t, rss_t = TARGETS.get(args.budget, (None, None))
    verdict = []
    if wall_t:
        verdict.append(f"target ≤ {wall_t:.0f} s: {'met' if res['wall_s'] <= wall_t else 'MISSED'}")
    if rss_t:
        verdict.append(f"target ≤ {rss_t} GiB: {'met' if res['peak_rss_gib'] <= rss_t else 'MISSED'}")
    block = (f"`ferbench run --generator {res['generator']} --protocol mix --budget "
             f"{res['budget']}` from a cold cache: **{res['wall_s']:.0f} s wall, peak RSS "
             f"{res['peak_rss_gib']:.2f} GiB** ({'; '.join(verdict)}).\n"
             f"Machine: {machine()}.\n\n```\n{res['table']}\n```\n")
    print(block)
    if args.write_readme:
        text = README.read_text()
        tag = f"bench_run:{res['budget']}"
        new = f"<!-- {tag}:begin -->\n{block}<!-- {tag}:end -->"
        pat = re.compile(rf"<!-- {re.escape(tag)}:begin -->.*?<!-- {re.escape(tag)}:end -->", re.S)
        text = pat.sub(new, text) if pat.search(text) else text.rstrip() + "\n\n" + new + "\n"
        README.write_text(text)


if __name__ == "__main__":
    main()
