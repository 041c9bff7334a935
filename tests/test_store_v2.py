"""Schema version 2: the v1 -> v2 migration, and pool-level results round-tripping."""

from __future__ import annotations

import json

import duckdb
import pytest

from factories import make_pool_result, make_result
from ferbench.api.results import SCHEMA_VERSION, CellResult, PoolResult
from ferbench.errors import FerbenchError
from ferbench.results.store import ResultStore

# The version-1 layout, frozen as ferbench 0.1.0 (schema 1) wrote it.
_V1_DDL = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE cells (cell_id VARCHAR PRIMARY KEY, schema_version INTEGER, protocol VARCHAR,"
    " protocol_version INTEGER, mode VARCHAR, ratio DOUBLE, dataset VARCHAR, train_split VARCHAR,"
    " test_dataset VARCHAR, test_split VARCHAR, dataset_hash VARCHAR, test_dataset_hash VARCHAR,"
    " resolution INTEGER, channels INTEGER, real_per_class BIGINT, real_fraction DOUBLE,"
    " n_real BIGINT, n_synthetic BIGINT, n_test BIGINT, generator VARCHAR,"
    " generator_version VARCHAR, pool_hash VARCHAR, feature_extractor VARCHAR,"
    " feature_extractor_hash VARCHAR, classifier VARCHAR, budget VARCHAR, seed BIGINT,"
    " ferbench_version VARCHAR, git_sha VARCHAR, torch_version VARCHAR, device VARCHAR,"
    " wall_time_s DOUBLE, created_at VARCHAR, accuracy DOUBLE, accuracy_lo DOUBLE,"
    " accuracy_hi DOUBLE, balanced_accuracy DOUBLE, balanced_accuracy_lo DOUBLE,"
    " balanced_accuracy_hi DOUBLE, macro_f1 DOUBLE, macro_f1_lo DOUBLE, macro_f1_hi DOUBLE,"
    " classes VARCHAR[], generator_params VARCHAR, spec_json VARCHAR, metrics_json VARCHAR,"
    " extra_json VARCHAR)",
    "CREATE TABLE per_class (cell_id VARCHAR, class_idx INTEGER, class VARCHAR, recall DOUBLE,"
    " precision DOUBLE, f1 DOUBLE, support BIGINT)",
    "CREATE TABLE confusion (cell_id VARCHAR, true_idx INTEGER, pred_idx INTEGER, count BIGINT)",
    "CREATE TABLE predictions (cell_id VARCHAR, idx INTEGER, y_true INTEGER, y_pred INTEGER)",
]


def _write_v1(path, cid="c" * 64, acc=0.42):
    con = duckdb.connect(str(path))
    for ddl in _V1_DDL:
        con.execute(ddl)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    spec = {"protocol": "mix", "protocol_version": 1, "engine_version": 1, "dataset": "toyfaces",
            "seed": 0, "ratio": 1.0, "mode": "mix", "generator": "noise", "cell_id": cid,
            "data_root": None, "test_data_root": None, "budget": "smoke"}
    metrics = {"accuracy": acc, "accuracy_lo": 0.4, "accuracy_hi": 0.44,
               "balanced_accuracy": 0.4, "balanced_accuracy_lo": 0.38,
               "balanced_accuracy_hi": 0.42, "macro_f1": 0.3, "macro_f1_lo": 0.28,
               "macro_f1_hi": 0.32, "n_test": 4}
    extra = {"classifier_config": {"amp": "bf16"}, "data_checks": {"warning": None}}
    con.execute(
        "INSERT INTO cells VALUES (?, 1, 'mix', 1, 'mix', 1.0, 'toyfaces', 'train', 'toyfaces',"
        " 'test', 'dh', 'th', 48, 1, 30, 1.0, 60, 60, 4, 'noise', '1', 'ph', NULL, NULL,"
        " 'noncomplex-cnn', 'smoke', 0, '0.1.0', NULL, '2.14.1', 'cpu', 3.5,"
        " '2026-01-01T00:00:00+00:00', ?, 0.4, 0.44, 0.4, 0.38, 0.42, 0.3, 0.28, 0.32,"
        " ['neutral', 'happy'], '{}', ?, ?, ?)",
        [cid, acc, json.dumps(spec), json.dumps(metrics), json.dumps(extra)])
    con.execute("INSERT INTO per_class VALUES (?, 0, 'neutral', 0.5, 0.5, 0.5, 2),"
                " (?, 1, 'happy', 0.5, 0.5, 0.5, 2)", [cid, cid])
    con.execute("INSERT INTO confusion VALUES (?, 0, 0, 1), (?, 0, 1, 1), (?, 1, 0, 1),"
                " (?, 1, 1, 1)", [cid] * 4)
    con.execute("INSERT INTO predictions VALUES (?, 0, 0, 0), (?, 1, 0, 1), (?, 2, 1, 0),"
                " (?, 3, 1, 1)", [cid] * 4)
    con.close()
    return cid


def test_v1_store_is_migrated_and_stays_readable(tmp_path):
    path = tmp_path / "old.duckdb"
    cid = _write_v1(path)
    store = ResultStore(path)
    rec = store.get_cell(cid)  # reading migrates it
    assert rec["metrics"]["accuracy"] == 0.42 and rec["classes"] == ["neutral", "happy"]
    assert rec["pool_id"] == "ph" and rec["amp"] == "bf16" and rec["engine_version"] == 1
    assert rec["y_pred"] == [0, 1, 0, 1] and rec["val_metrics"] is None
    assert rec["spec"]["dataset_hash"] == "dh" and "feature_extractor" not in rec
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert {"pool_results", "pool_scores"} <= tables
    # the migrated file takes new cells and pool results beside the old one
    assert store.write_cell(make_result(1)) and len(store) == 2
    assert store.write_pool_result(make_pool_result())
    assert store.migrate() == SCHEMA_VERSION  # idempotent


def test_cell_result_round_trips_through_the_store(tmp_path):
    store = ResultStore(tmp_path / "r.duckdb")
    res = make_result(3, val_acc=0.7)
    store.write_cell(res)
    back = CellResult.from_record(store.get_cell(res.cell_id))
    assert back.spec == res.spec and back.cell_id == res.cell_id
    assert back.metrics == res.metrics and back.val_metrics == res.val_metrics
    assert back.provenance == res.provenance
    row = store.cells()[0]
    assert row["val_accuracy"] == 0.7 and row["python_version"] == "3.11.7"


def test_pool_result_round_trips(tmp_path):
    store = ResultStore(tmp_path / "r.duckdb")
    res = make_pool_result()
    assert store.write_pool_result(res) is True
    assert store.write_pool_result(res) is False  # idempotent
    got = store.pool_results(generator="noise")
    assert len(got) == 1
    back = PoolResult.from_record(got[0])
    assert back.result_id == res.result_id and back.pool == res.pool
    assert {s.metric: s for s in back.scores} == {s.metric: s for s in res.scores}
    missing = {s.metric: s for s in back.scores}["fid_class_disgust"]
    assert missing.value is None and "not computable" in missing.note
    changed = make_pool_result(config={"feature_extractor": "other"})
    assert changed.result_id != res.result_id
    with pytest.raises(FerbenchError, match="filter"):
        store.pool_results(bogus=1)
