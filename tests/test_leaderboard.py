"""The Streamlit leaderboard, driven with streamlit.testing's AppTest on a real store."""

from pathlib import Path

import pytest

from ferbench.store import ResultStore

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest
APP = str(Path(__file__).resolve().parents[1] / "leaderboard" / "app.py")


def _record(cell_id, ratio, mode, generator, acc):
    classes = ["neutral", "happy"]
    return {
        "cell_id": cell_id, "spec": {"x": 1}, "schema_version": 1, "protocol": "mix",
        "protocol_version": 1, "mode": mode, "ratio": ratio, "dataset": "toyfaces",
        "train_split": "train", "test_dataset": "toyfaces", "test_split": "test",
        "dataset_hash": "h", "test_dataset_hash": "t", "resolution": 48, "channels": 1,
        "real_per_class": 30, "real_fraction": 1.0, "n_real": 60, "n_synthetic": int(60 * ratio),
        "n_test": 4, "generator": generator, "generator_version": "1" if generator else None,
        "generator_params": {}, "pool_hash": None, "feature_extractor": None,
        "feature_extractor_hash": None, "classifier": "noncomplex-cnn", "budget": "smoke",
        "seed": 0, "ferbench_version": "0.1.0", "git_sha": None, "torch_version": "2",
        "device": "cpu", "wall_time_s": 1.0, "created_at": "2026-01-01T00:00:00+00:00",
        "metrics": {"accuracy": acc, "accuracy_lo": acc - 0.1, "accuracy_hi": acc + 0.1,
                    "balanced_accuracy": acc, "balanced_accuracy_lo": acc - 0.1,
                    "balanced_accuracy_hi": acc + 0.1, "macro_f1": acc, "macro_f1_lo": acc - 0.1,
                    "macro_f1_hi": acc + 0.1, "n_test": 4},
        "per_class": [{"class": c, "recall": 0.5, "precision": 0.5, "f1": 0.5, "support": 2}
                      for c in classes],
        "confusion": [[1, 1], [1, 1]], "classes": classes,
        "y_true": [0, 0, 1, 1], "y_pred": [0, 1, 0, 1],
    }


def test_empty_store_shows_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBENCH_STORE", str(tmp_path / "none.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "No results" in at.info[0].value


def test_leaderboard_ranks_generators(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "r.duckdb")
    store.write_cell(_record("base", 0.0, "real", None, 0.50))
    store.write_cell(_record("a1", 1.0, "mix", "gen-a", 0.55))
    store.write_cell(_record("a2", 2.0, "mix", "gen-a", 0.60))
    store.write_cell(_record("b1", 1.0, "mix", "gen-b", 0.45))
    monkeypatch.setenv("FERBENCH_STORE", str(tmp_path / "r.duckdb"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["generator"]) == ["gen-a", "gen-b"]
    assert table.loc[0, "best mix k"] == 2.0
    assert abs(table.loc[0, "Δ vs real only (points)"] - 10.0) < 1e-9
    assert "smoke test" in at.warning[0].value
