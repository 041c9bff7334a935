"""First-render time of the Streamlit leaderboard on a store of 10,000 synthetic cells.

Builds the store with the test factory (tests/factories.py, so every record is a valid
``CellResult``) in one bulk write transaction, then times ``AppTest.from_file(app).run()``
(the whole script: store reads, query layer, tables and charts; no browser) twice: the
first run (cold imports) and a second one.

    python benchmarks/bench_leaderboard.py               # 10,000 cells
    python benchmarks/bench_leaderboard.py --cells 1000
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from factories import make_result  # noqa: E402
from ferbench.results.store import ResultStore, validate_record  # noqa: E402

APP = str(ROOT / "leaderboard" / "app.py")


def build(path: Path, n_cells: int) -> int:
    """Settings x generators x ratios x seeds mix cells plus one real-only cell per setting
    and seed, written in one transaction."""
    settings = [dict(real_per_class=rpc, resolution=res) for rpc in (30, 100) for res in (48, 64)]
    gens, ratios = [f"gen-{g:02d}" for g in range(25)], [1.0, 2.0, 3.0, 4.0, 5.0]
    per_seed = len(settings) * len(gens) * len(ratios)
    seeds = max(1, n_cells // per_seed)
    store = ResultStore(path)
    con = store._begin_write()  # bulk: one transaction instead of one per cell
    n = 0
    for s in range(seeds):
        for st in settings:
            recs = [make_result(s, acc=0.5, val_acc=0.5, ratio=0.0, mode="real", generator=None,
                                generator_version=None, generator_params={}, **st)]
            for gi, g in enumerate(gens):
                for k in ratios:
                    recs.append(make_result(s, acc=0.4 + 0.01 * gi + 0.005 * k,
                                            val_acc=0.4 + 0.01 * gi, ratio=k, mode="mix",
                                            generator=g, generator_version="1",
                                            generator_params={}, **st))
            for r in recs:
                rec = validate_record(r.to_record())
                store._insert_cell(con, rec)
                store._insert_per_class(con, rec)
                store._insert_confusion(con, rec)
                store._insert_predictions(con, rec)
                n += 1
    con.commit()
    con.close()
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--store", help="keep the built store here and reuse it on the next run "
                    "(building 10k cells takes minutes)")
    ap.add_argument("--profile", help="write a cProfile of the first render to this file")
    args = ap.parse_args()
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.store) if args.store else Path(tmp) / "r.duckdb"
        if not db.exists():
            t0 = time.perf_counter()
            n = build(db, args.cells)
            print(f"built {n} cells in {time.perf_counter() - t0:.1f} s")
        os.environ["FERBENCH_STORE"] = str(db)
        for run in ("first", "second"):
            prof = None
            if run == "first" and args.profile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            t0 = time.perf_counter()
            at = AppTest.from_file(APP, default_timeout=600).run()
            dt = time.perf_counter() - t0
            if prof is not None:
                prof.disable()
                prof.dump_stats(args.profile)
            assert not at.exception, at.exception
            print(f"{run} render: {dt:.2f} s ({len(at.dataframe)} tables)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
