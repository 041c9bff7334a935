"""The Streamlit leaderboard, driven with streamlit.testing's AppTest on a real store, and the
query layer's baseline matching."""

from pathlib import Path

import numpy as np
import pytest

from factories import make_pool_result, make_result
from ferbench.results.query import leaderboard, ranked, summarize
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


def _store_with(tmp_path, cells, pools=()):
    store = ResultStore(tmp_path / "r.duckdb")
    for c in cells:
        store.write_cell(c)
    for p in pools:
        store.write_pool_result(p)
    return tmp_path / "r.duckdb"


def test_t_interval_matches_scipy():
    from scipy import stats

    from ferbench.results.query import t_interval

    vals = [0.50, 0.55, 0.61]
    lo, hi = t_interval(float(np.mean(vals)), float(np.std(vals, ddof=1)), 3)
    ref = stats.t.interval(0.95, 2, loc=np.mean(vals), scale=stats.sem(vals))
    assert (lo, hi) == pytest.approx(ref)
    assert t_interval(0.5, float("nan"), 1) == (None, None)


def test_multi_seed_ci_ties_and_significance():
    """Three seeds: the best-k CI is the t-interval over seeds; a generator whose CI overlaps
    the leader's is marked as a tie; the Δ CI decides the significance marker."""
    recs = []
    for s, (a, b) in enumerate([(0.80, 0.78), (0.82, 0.70), (0.84, 0.86)]):
        recs.append(_cell(0.0, None, 0.50, 0.50, seed=s).to_record())
        recs.append(_cell(1.0, "gen-a", a, 0.6, seed=s).to_record())
        recs.append(_cell(1.0, "gen-b", b, 0.6, seed=s).to_record())
    rows = ranked(leaderboard(recs, n_boot=50))
    by = {r["generator"]: r for r in rows}
    assert [r["generator"] for r in rows] == ["gen-a", "gen-b"]
    assert by["gen-a"]["rank"] == 1 and by["gen-b"]["rank"] == 2
    a = [0.80, 0.82, 0.84]
    half = stats_t(2) * np.std(a, ddof=1) / np.sqrt(3)
    assert by["gen-a"]["best_accuracy_lo"] == pytest.approx(0.82 - half)
    assert by["gen-b"]["tie"] is True and by["gen-a"]["tie"] is False
    # several seeds: Δ is the mean of the per-seed accuracy differences (0.30, 0.32, 0.34),
    # its CI the t-interval over seeds, which excludes 0
    assert by["gen-a"]["delta_vs_real"] == pytest.approx(0.32)
    assert by["gen-a"]["delta_lo"] == pytest.approx(0.32 - stats_t(2) * 0.02 / np.sqrt(3))
    assert by["gen-a"]["significant"] is True


def stats_t(df):
    from scipy import stats

    return stats.t.ppf(0.975, df)


def test_app_table_values_sort_and_tie(tmp_path, monkeypatch):
    db = _store_with(tmp_path, [_cell(0.0, None, 0.50, 0.50),
                                _cell(1.0, "gen-low", 0.60, 0.40),
                                _cell(1.0, "gen-top", 0.6666, 0.70),
                                _cell(2.0, "gen-top", 0.30, 0.20)])
    monkeypatch.setenv("FERBENCH_STORE", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    t = at.dataframe[0].value
    assert list(t["generator"]) == ["gen-top", "gen-low"]
    assert list(t["rank"]) == [1, 2]
    assert t.loc[0, "best mix acc %"] == pytest.approx(66.7)  # rounded to 1 decimal
    assert t.loc[0, "best mix k"] == 1.0  # chosen on validation (k=2 is worse there)
    assert t.loc[0, "acc 95% CI"] == "[56.7, 76.7]"
    # factory CIs are ±10 points: 60±10 overlaps 66.7±10 -> tie with the leader
    assert t.loc[1, "tie"] == "≈ leader" and t.loc[0, "tie"] == ""
    assert "None" not in t.astype(str).to_string()
    assert any("validation" in c.value for c in at.caption)
    assert any("Leader: **gen-top** at 66.7%" in m.value for m in at.markdown)


def test_app_filter_and_fidelity_and_details(tmp_path, monkeypatch):
    db = _store_with(tmp_path, [_cell(0.0, None, 0.50, 0.50), _cell(1.0, "gen-a", 0.6, 0.6),
                                _cell(1.0, "gen-b", 0.4, 0.4)], pools=[make_pool_result()])
    monkeypatch.setenv("FERBENCH_STORE", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.sidebar.selectbox(key="f_generator").select("gen-b").run()
    assert not at.exception
    assert list(at.dataframe[0].value["generator"]) == ["gen-b"]
    # tabs are lazy: only the open one runs, and the open tab is in the URL (?view=...)
    assert not [d for d in at.dataframe if "metric" in d.value.columns]
    at.query_params["view"] = "Fidelity"
    at.run()
    fid = [d.value for d in at.dataframe if "metric" in d.value.columns][0]
    assert set(fid["metric"]) == {"fid", "label_fidelity", "fid_class_disgust"}
    assert fid.loc[fid["metric"] == "fid", "value"].item() == pytest.approx(12.5)
    assert len(at.get("download_button")) == 2  # CSV and JSON of the fidelity table
    at.query_params["view"] = "Run details"
    at.run()
    sb = at.selectbox(key="detail_cell")
    sb.select(next(o for o in sb.options if o.startswith("gen-b"))).run()
    code = [c.value for c in at.code]
    assert any("--generator gen-b" in c and "--budget smoke" in c for c in code)
    at.query_params["view"] = "Per class"
    at.run()
    assert not at.exception
    cm = at.selectbox(key="cm_cell")
    cm.select(next(o for o in cm.options if o.startswith("gen-b"))).run()
    conf = [d.value for d in at.dataframe if list(d.value.columns) == CL]
    assert len(conf) == 1 and int(conf[0].to_numpy().sum()) == 4  # 4 test items
    assert len(at.get("download_button")) == 4  # per-class recall and confusion, CSV + JSON


def test_app_family_and_protocol_version_filters(tmp_path, monkeypatch):
    """'generator family' comes from the registry (real-augment and noise are baselines, an
    unknown name is 'not installed here') and keeps the real-only baseline; 'protocol and
    version' tells two versions of one protocol apart."""
    db = _store_with(tmp_path, [_cell(0.0, None, 0.50, 0.50), _cell(1.0, "real-augment", 0.6, 0.6),
                                _cell(1.0, "gen-elsewhere", 0.7, 0.7),
                                _cell(0.0, None, 0.50, 0.50, protocol_version=2),
                                _cell(1.0, "noise", 0.3, 0.3, protocol_version=2)])
    monkeypatch.setenv("FERBENCH_STORE", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    fam = at.sidebar.selectbox(key="f_family")
    assert fam.options == ["all", "baseline", "not installed here"]
    assert at.sidebar.selectbox(key="f_protocol_label").options == ["all", "p1 v1", "p1 v2"]
    fam.select("baseline").run()
    assert not at.exception
    tables = [list(d.value["generator"]) for d in at.dataframe if "generator" in d.value]
    assert tables == [["real-augment"], ["noise"]]  # each with its real-only Δ baseline
    assert all(d.value["real only %"].notna().all() for d in at.dataframe
               if "generator" in d.value)
    at.sidebar.selectbox(key="f_protocol_label").select("p1 v2").run()
    tables = [list(d.value["generator"]) for d in at.dataframe if "generator" in d.value]
    assert tables == [["noise"]]


def test_each_overview_row_links_to_its_provenance(tmp_path, monkeypatch):
    cells = [_cell(0.0, None, 0.50, 0.50), _cell(1.0, "gen-a", 0.6, 0.6),
             _cell(2.0, "gen-a", 0.7, 0.5), _cell(1.0, "gen-b", 0.4, 0.4)]
    db = _store_with(tmp_path, cells)
    monkeypatch.setenv("FERBENCH_STORE", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    best_a = cells[1].cell_id  # k=1 wins on validation (0.6 > 0.5)
    link = table.loc[table["generator"] == "gen-a", "provenance"].item()
    assert link == f"?view=Run+details&cell={best_a[:12]}"
    row = table.loc[table["generator"] == "gen-a"].iloc[0]
    assert row["run date (UTC)"] == "2025-01-01 00:00" and row["seeds"] == 1
    # following the link opens Run details on that cell
    at.query_params["view"] = "Run details"
    at.query_params["cell"] = best_a[:12]
    at.run()
    assert not at.exception
    assert at.selectbox(key="detail_cell").value.endswith(best_a[:8])
    assert best_a in str(at.json[0].value)  # its provenance is what is shown


def test_app_empty_selection_and_empty_fidelity(tmp_path, monkeypatch):
    db = _store_with(tmp_path, [_cell(0.0, None, 0.50, 0.50)])
    monkeypatch.setenv("FERBENCH_STORE", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("only real-only" in i.value for i in at.info)
    at.query_params["view"] = "Fidelity"
    at.run()
    assert any("No pool-level" in i.value for i in at.info)


def test_app_samples_tab_shows_synthetic_and_real_faces_per_class(tmp_path, monkeypatch):
    """The Samples tab reads the cell's stored pool and puts real faces of the same class
    (from the cell's test dataset, through the prepared cache) beside them."""
    from ferbench.data.toyfaces import CLASSES

    monkeypatch.setenv("FERBENCH_HOME", str(tmp_path / "home"))
    pool = tmp_path / "home" / "pools" / ("f" * 16)
    pool.mkdir(parents=True)
    images = np.full((14, 48, 48, 1), 200, np.uint8)
    labels = np.repeat([0, 3], 7)
    np.savez(pool / "block_0.npz", images=images, labels=labels)
    cells = [make_result(0, n_test=4, classes=CLASSES, acc=a, val_acc=a, ratio=k, mode=m,
                         generator=g, generator_version="1" if g else None, generator_params={},
                         y_pred=[0, 1, 0, 1], real_per_class=30)
             for k, m, g, a in ((0.0, "real", None, 0.5), (1.0, "mix", "gen-a", 0.6))]
    monkeypatch.setenv("FERBENCH_STORE", str(_store_with(tmp_path, cells)))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["view"] = "Samples"
    at.run()
    assert not at.exception
    heads = [m.value for m in at.markdown]
    assert f"**{CLASSES[0]}**" in heads and f"**{CLASSES[3]}**" in heads
    captions = [c for im in at.get("image") for c in im.captions]
    assert captions.count(f"synthetic · {CLASSES[0]}") == 7
    assert captions.count(f"real · {CLASSES[0]}") == 8  # toyfaces test has >= 8 per class
    assert captions.count(f"real · {CLASSES[3]}") == 8


def test_reproduce_command_round_trips_through_the_parser():
    from ferbench.cli import build_parser
    from ferbench.results.query import reproduce_command

    rec = _cell(2.0, "gen-a", 0.6, 0.6, seed=3).to_record()
    cmd = reproduce_command(rec, seeds=[3, 1], ratios=[0, 1, 2])
    args = build_parser().parse_args(cmd.split()[1:])
    assert args.generator == "gen-a" and args.seeds == (1, 3) and args.ratios == (1.0, 2.0)
    assert args.real_per_class == 30 and args.resolution == 48 and args.budget == "smoke"


def test_leaderboard_command_is_headless_and_minimal():
    from ferbench.cli import leaderboard_command

    cmd = leaderboard_command("/x/r.duckdb", 8765)
    line = " ".join(cmd)
    for flag in ("--server.headless true", "--browser.gatherUsageStats false",
                 "--client.toolbarMode minimal", "--server.port 8765", "--store /x/r.duckdb"):
        assert flag in line
    assert cmd[-2:] == ["--store", "/x/r.duckdb"]


def test_no_tie_when_cis_are_apart():
    recs = [_cell(0.0, None, 0.50, 0.50).to_record(), _cell(1.0, "hi", 0.80, 0.8).to_record(),
            _cell(1.0, "lo", 0.40, 0.4).to_record()]  # [70, 90] vs [30, 50]
    rows = ranked(leaderboard(recs, n_boot=50))
    assert [(r["generator"], r["rank"], r["tie"]) for r in rows] == [("hi", 1, False),
                                                                    ("lo", 2, False)]


def test_generator_kind_marks_submissions_and_plugins():
    import importlib.util

    from ferbench.api.generator import GENERATORS

    spec = importlib.util.spec_from_file_location("lb_app_kind", APP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.generator_kind("noise") == "built-in"
    assert mod.generator_kind("gen-a") == "not installed here"
    GENERATORS.register("kind-sub", object, source="submission:/x/y", replace=True)
    GENERATORS.register("kind-plug", object, source="some-plugin-dist", replace=True)
    try:
        assert mod.generator_kind("kind-sub") == "folder submission"
        assert mod.generator_kind("kind-plug") == "plugin"
    finally:
        GENERATORS.unregister("kind-sub")
        GENERATORS.unregister("kind-plug")


def test_predictions_of_the_needed_cells_give_the_same_leaderboard():
    """The page reads per-image predictions only for cells_needing_predictions (one-seed mix
    cells and their real-only cell); the rows must equal those computed from every
    prediction."""
    from ferbench.results.query import cells_needing_predictions

    recs = [_cell(0.0, None, 0.50, 0.50).to_record(),
            _cell(1.0, "one-seed", 0.6, 0.6).to_record()]
    recs[1]["y_pred"] = [0, 1, 1, 1]  # differs from the baseline's: a real paired delta
    for seed in (0, 1, 2):  # a three-seed generator in another setting
        recs.append(_cell(0.0, None, 0.5, 0.5, seed=seed, real_per_class=10).to_record())
        recs.append(_cell(1.0, "three-seed", 0.6 + 0.01 * seed, 0.6, seed=seed,
                          real_per_class=10).to_record())
    need = set(cells_needing_predictions(recs))
    assert need == {recs[0]["cell_id"], recs[1]["cell_id"]}
    stripped = [dict(r) if r["cell_id"] in need else {**r, "y_true": [], "y_pred": []}
                for r in recs]
    assert ranked(leaderboard(stripped)) == ranked(leaderboard(recs))


def test_seeds_column_counts_the_seeds_behind_the_shown_score():
    """k=1 has three seeds, k=2 only one; validation picks k=2, so its one seed is shown."""
    recs = []
    for seed in (0, 1, 2):
        recs.append(_cell(0.0, None, 0.5, 0.5, seed=seed).to_record())
        recs.append(_cell(1.0, "g", 0.55, 0.55, seed=seed).to_record())
    recs.append(_cell(2.0, "g", 0.6, 0.7, seed=0).to_record())
    row = leaderboard(recs)[0]
    assert row["best_k"] == 2 and row["best_n_seeds"] == 1 and row["seeds"] == 3
    import importlib.util

    spec = importlib.util.spec_from_file_location("lb_app", APP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.leaderboard_table(ranked([row]))["seeds"].item() == 1
