"""The DuckDB results store: round trip, immutability, atomicity, concurrency, kill safety."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from factories import make_record  # noqa: F401 - also imported by the writer subprocess
from ferbench.errors import FerbenchError
from ferbench.results.store import SCHEMA_VERSION, ResultStore, default_store_path

TESTS_DIR = Path(__file__).resolve().parent


def child_counts(path: Path) -> dict[str, tuple]:
    """cell_id -> (n per_class rows, n confusion rows, n prediction rows, n_test, n classes)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("""
            SELECT c.cell_id,
                   (SELECT count(*) FROM per_class p WHERE p.cell_id = c.cell_id),
                   (SELECT count(*) FROM confusion f WHERE f.cell_id = c.cell_id),
                   (SELECT count(*) FROM predictions q WHERE q.cell_id = c.cell_id),
                   c.n_test, len(c.classes)
            FROM cells c""").fetchall()
        orphans = con.execute("""
            SELECT count(*) FROM (SELECT cell_id FROM per_class UNION ALL
                                  SELECT cell_id FROM confusion UNION ALL
                                  SELECT cell_id FROM predictions)
            WHERE cell_id NOT IN (SELECT cell_id FROM cells)""").fetchone()[0]
    finally:
        con.close()
    assert orphans == 0
    return {r[0]: r[1:] for r in rows}


@pytest.fixture
def store(tmp_path):
    return ResultStore(tmp_path / "sub" / "results.duckdb", timeout=20)


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.setenv("FERBENCH_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "results.duckdb"
    assert ResultStore().path == tmp_path / "results.duckdb"
    monkeypatch.delenv("FERBENCH_HOME")
    assert default_store_path() == Path("~/.cache/ferbench/results.duckdb").expanduser()


def test_empty_store_reads_without_creating(store):
    assert store.finished_ids(["a", "b"]) == set()
    assert not store.has_cell("a")
    assert store.cells() == [] and store.export_json() == [] and len(store) == 0
    frame = store.scores_frame()
    assert len(frame) == 0 and "accuracy" in frame.columns
    with pytest.raises(FerbenchError, match="no cell"):
        store.get_cell("a")
    assert not store.path.exists()


def test_round_trip(store, tmp_path):
    rec = make_record(1, extra_key={"kept": True})
    assert store.write_cell(rec) is True
    assert store.get_cell(rec["cell_id"]) == rec
    assert store.finished_ids([rec["cell_id"], "nope"]) == {rec["cell_id"]}
    assert store.has_cell(rec["cell_id"])
    assert store.predictions(rec["cell_id"]) == (rec["y_true"], rec["y_pred"])

    store.write_cell(make_record(2, generator=None, generator_version=None, budget="small"))
    rows = store.cells()
    assert [r["seed"] for r in rows] == [1, 2]
    assert rows[0]["accuracy"] == rec["metrics"]["accuracy"]
    assert json.loads(rows[0]["generator_params"]) == rec["generator_params"]
    assert [r["seed"] for r in store.cells(generator=None)] == [2]
    assert [r["seed"] for r in store.cells(generator="noise", protocol="p1")] == [1]
    assert len(store.cells(budget=["smoke", "small"], dataset="toyfaces")) == 2
    with pytest.raises(FerbenchError, match="filter"):
        store.cells(bogus=1)
    frame = store.scores_frame()
    assert list(frame["seed"]) == [1, 2] and frame["macro_f1"].dtype == float

    out = tmp_path / "export.json"
    exported = store.export_json(out)
    assert exported == json.loads(out.read_text()) and exported[0] == rec


def test_numpy_values_and_nan_are_accepted(store):
    rec = make_record(3)
    rec["y_pred"] = np.asarray(rec["y_pred"], dtype=np.int64)
    rec["confusion"] = np.asarray(rec["confusion"])
    rec["seed"] = np.int64(3)
    rec["metrics"]["macro_f1"] = float("nan")
    assert store.write_cell(rec)
    got = store.get_cell(rec["cell_id"])
    assert got["y_pred"] == rec["y_pred"].tolist() and math.isnan(got["metrics"]["macro_f1"])
    assert store.write_cell(rec) is False  # NaN compares equivalent to NaN


def test_immutable(store):
    rec = make_record(4)
    assert store.write_cell(rec) is True
    assert store.write_cell(json.loads(json.dumps(rec))) is False
    changed = make_record(4)
    changed["metrics"]["accuracy"] = 0.99
    with pytest.raises(FerbenchError, match="immutable"):
        store.write_cell(changed)
    changed = make_record(4, y_pred=[0] * 30)
    with pytest.raises(FerbenchError, match="immutable"):
        store.write_cell(changed)
    assert store.get_cell(rec["cell_id"]) == rec
    assert len(store) == 1


@pytest.mark.parametrize("field", ["cell_id", "metrics", "y_true", "dataset_hash", "git_sha"])
def test_missing_field(store, field):
    rec = make_record(5)
    del rec[field]
    with pytest.raises(ValueError, match=field):
        store.write_cell(rec)
    assert not store.path.exists()


def test_bad_fields(store):
    rec = make_record(5)
    del rec["metrics"]["macro_f1_hi"]
    with pytest.raises(ValueError, match="macro_f1_hi"):
        store.write_cell(rec)
    with pytest.raises(ValueError, match="confusion"):
        store.write_cell(make_record(5, confusion=[[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match="mode"):
        store.write_cell(make_record(5, mode="weird"))
    with pytest.raises(ValueError, match="seed"):
        store.write_cell(make_record(5, seed="0"))


def test_schema_version(store):
    store.write_cell(make_record(6))
    con = duckdb.connect(str(store.path))
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    for call in (lambda: store.write_cell(make_record(7)), store.cells,
                 lambda: store.finished_ids(["x"])):
        with pytest.raises(FerbenchError, match="newer"):
            call()


def test_failed_write_leaves_nothing(store, monkeypatch):
    store.write_cell(make_record(8))

    def boom(con, rec):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ResultStore, "_insert_predictions", staticmethod(boom))
    rec = make_record(9)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.write_cell(rec)
    assert not store.has_cell(rec["cell_id"])
    counts = child_counts(store.path)  # also asserts no orphan child rows
    assert list(counts) == [make_record(8)["cell_id"]]
    monkeypatch.undo()
    assert store.write_cell(rec) is True  # the failed cell can be written later
    assert store.get_cell(rec["cell_id"]) == rec


def test_lock_timeout_is_one_line_error(store):
    store.write_cell(make_record(10))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
         " print('held', flush=True); time.sleep(30)", str(store.path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        quick = ResultStore(store.path, timeout=0.5)
        with pytest.raises(FerbenchError) as info:
            quick.cells()
        msg = str(info.value)
        assert "\n" not in msg and str(store.path) in msg and "locked" in msg
    finally:
        holder.kill()
        holder.wait()
    assert quick.has_cell(make_record(10)["cell_id"])  # lock released when the holder dies


_WRITER = """
import sys, time; sys.path.insert(0, {tests!r})
from factories import make_record
from ferbench.results.store import ResultStore
s = ResultStore(sys.argv[1], timeout=30)
start = int(sys.argv[2])
for i in range(start, start + {n}):
    print(i, s.write_cell(make_record(i, n_test={n_test})), flush=True)
    time.sleep({pause})  # the training of the next cell
"""

_READER = """
import json, sys, time
from ferbench.results.store import ResultStore
s = ResultStore(sys.argv[1], timeout=30)
ids = json.loads(sys.argv[2])
seen, reads = [], 0
deadline = time.monotonic() + 25
while time.monotonic() < deadline:
    n = len(s.finished_ids(ids))
    rows = s.cells(protocol="p1")
    assert len(rows) >= n, (len(rows), n)
    reads += 1
    if n and (not seen or seen[-1] != n):
        seen.append(n)
    if len(rows) != (seen[-1] if seen else 0):
        seen.append(len(rows))
    if n == len(ids):
        break
    time.sleep(0.002)
print(json.dumps({"seen": seen, "reads": reads}))
"""


def test_concurrent_writer_and_reader(tmp_path):
    path = tmp_path / "results.duckdb"
    n = 40
    ids = [make_record(i)["cell_id"] for i in range(n)]
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(path), json.dumps(ids)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(tests=str(TESTS_DIR), n=n, n_test=30, pause=0.02),
         str(path), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    w_out, w_err = writer.communicate(timeout=60)
    r_out, r_err = reader.communicate(timeout=60)
    assert writer.returncode == 0, w_err
    assert reader.returncode == 0, r_err
    assert w_out.splitlines() == [f"{i} True" for i in range(n)]
    obs = json.loads(r_out)
    seen = obs["seen"]
    assert seen == sorted(seen), f"reader saw the number of cells go down: {seen}"
    assert seen[-1] == n
    assert len(seen) > 3, f"reader did not overlap the writer: {obs}"
    assert ResultStore(path).finished_ids(ids) == set(ids)
    assert all(c == (3, 9, 30, 30, 3) for c in child_counts(path).values())


def test_sigkill_while_writing_leaves_complete_cells(tmp_path):
    path = tmp_path / "results.duckdb"
    n_test = 2000
    script = _WRITER.format(tests=str(TESTS_DIR), n=10_000, n_test=n_test, pause=0)
    for start, delay in ((0, 1.0), (20_000, 1.7)):
        proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(start)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        proc.stdout.readline()  # at least one cell written
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = ResultStore(path, timeout=10)
        counts = child_counts(path)
        assert counts and all(c == (3, 9, n_test, n_test, 3) for c in counts.values())
        some = sorted(counts)[0]
        assert store.get_cell(some)["y_true"] == make_record(
            store.get_cell(some)["seed"], n_test=n_test)["y_true"]
        # still writable; the restarted writer skips what is stored (write_cell -> False)
        assert store.write_cell(make_record(50_000 + start, n_test=n_test))


def test_scores_frame_reads_only_the_asked_columns(store):
    store.write_cell(make_record(0))
    store.write_cell(make_record(1))
    full = store.scores_frame()
    light = store.scores_frame(columns=["cell_id", "generator", "created_at"])
    assert list(light.columns) == ["cell_id", "generator", "created_at"]
    assert light.equals(full[["cell_id", "generator", "created_at"]])
    with pytest.raises(FerbenchError, match="no such result column"):
        store.scores_frame(columns=["cell_id", "nope"])


def test_a_cell_with_damaged_json_is_skipped_with_a_warning_naming_it(store):
    """JSON damaged outside ferbench (a hand edit, a bad disk) hides only that cell: the read
    warns with the store path and the cell id, and every other result still reads."""
    good, bad = make_record(1), make_record(2)
    store.write_cell(good)
    store.write_cell(bad)
    con = duckdb.connect(str(store.path))
    con.execute("UPDATE cells SET metrics_json = '{\"accuracy\": 0.5,' WHERE cell_id = ?",
                [bad["cell_id"]])
    con.close()
    with pytest.warns(UserWarning, match=rf"{store.path}.*malformed: {bad['cell_id']}"):
        rows = store.get_cells([good["cell_id"], bad["cell_id"]])
    assert [r["cell_id"] for r in rows] == [good["cell_id"]] and rows[0] == good
