"""The Streamlit leaderboard, driven with streamlit.testing's AppTest on a real store, and the
query layer's baseline matching."""

from pathlib import Path

import pytest

from factories import make_result
from ferbench.results.query import leaderboard, summarize
from ferbench.results.store import ResultStore

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
APP = str(Path(__file__).resolve().parents[1] / "leaderboard" / "app.py")
CL = ["neutral", "happy"]


def _cell(ratio, generator, acc, val, **over):
    mode = "real" if ratio == 0 else "mix"
    over.setdefault("real_per_class", 30)
    return make_result(0, n_test=4, classes=CL, acc=acc, val_acc=val, ratio=ratio, mode=mode,
                       generator=generator, generator_version="1" if generator else None,
                       generator_params={}, y_pred=[0, 1, 0, 1], **over)


def test_app_imports_without_rendering():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lb_app", APP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no streamlit calls at import time
    assert callable(mod.main)


def test_empty_store_shows_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBENCH_STORE", str(tmp_path / "none.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "No results" in at.info[0].value


def test_leaderboard_ranks_generators(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "r.duckdb")
    store.write_cell(_cell(0.0, None, 0.50, 0.50))
    store.write_cell(_cell(1.0, "gen-a", 0.55, 0.52))
    store.write_cell(_cell(2.0, "gen-a", 0.60, 0.58))
    store.write_cell(_cell(1.0, "gen-b", 0.45, 0.40))
    monkeypatch.setenv("FERBENCH_STORE", str(tmp_path / "r.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["generator"]) == ["gen-a", "gen-b"]
    assert table.loc[0, "best mix k"] == 2.0
    assert table.loc[0, "real only %"] == pytest.approx(50.0)
    assert "smoke test" in at.warning[0].value


def test_best_k_is_chosen_on_validation_not_test():
    recs = [_cell(0.0, None, 0.50, 0.50).to_record(),
            _cell(1.0, "g", 0.70, 0.51).to_record(),   # best on test, worse on validation
            _cell(2.0, "g", 0.60, 0.58).to_record()]
    s = summarize(recs, n_boot=50)
    assert s["best_ratio"] == 2.0 and s["best_by"] == "validation"
    no_val = [dict(r, val_metrics=None) for r in recs]
    s = summarize(no_val, n_boot=50)
    assert s["best_ratio"] is None and "no validation" in s["best_note"]


def test_baseline_matches_settings():
    """A real-only cell at another real-per-class or resolution never becomes the baseline."""
    recs = [_cell(0.0, None, 0.50, 0.50).to_record(),
            _cell(1.0, "g", 0.60, 0.60).to_record(),
            # unrelated real-only runs that must not be averaged into the baseline:
            _cell(0.0, None, 0.99, 0.99, real_per_class=500).to_record(),
            _cell(0.0, None, 0.01, 0.01, resolution=64).to_record(),
            _cell(0.0, None, 0.90, 0.90, protocol="real").to_record()]
    rows = leaderboard(recs, n_boot=50)
    assert len(rows) == 1
    assert rows[0]["real_only"] == pytest.approx(0.50)
    assert rows[0]["best_k"] == 1.0
