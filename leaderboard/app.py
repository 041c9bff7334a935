"""ferbench leaderboard (Streamlit). Reads the DuckDB results store read-only, through the one
query layer (:mod:`ferbench.results.query`) that the CLI uses too.

Run: ``ferbench leaderboard [--store PATH] [--port N]`` (or ``streamlit run leaderboard/app.py
-- --store PATH``; else ``$FERBENCH_STORE`` or ``$FERBENCH_HOME/results.duckdb``). Each read
opens the store read-only, reads, and closes it (retrying while a writer holds the lock), so a
running benchmark can keep writing. Importing this module renders nothing; ``main()`` does.

Decisions: ranks, ties and significance are per comparable setting only (numbers from
different data, budgets or classifiers are not comparable); a row ties with the leader when
their 95% CIs overlap; "*" marks a paired Δ-vs-real CI that excludes 0. CIs are the bootstrap
CI over test images for one seed and the Student-t interval over seeds otherwise.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys

import numpy as np
import pandas as pd

from ferbench.results.query import (
    SETTING_KEYS,
    cells_needing_predictions,
    leaderboard,
    per_class_recall,
    ranked,
    ratio_curves,
    reproduce_command,
)
from ferbench.results.report import leaderboard_csv
from ferbench.results.store import ResultStore, default_store_path

COLUMNS = {
    "rank": "rank", "generator": "generator", "kind": "kind", "tie_mark": "tie", "best_k": "best mix k",
    "best_accuracy": "best mix acc %", "acc_ci": "acc 95% CI",
    "delta_vs_real": "Δ vs real only (points)", "delta_ci": "Δ 95% CI", "sig": "Δ≠0",
    "cas": "CAS (synthetic-only, k=1) %", "real_only": "real only %", "seeds": "seeds",
    "date": "run date (UTC)", "note": "note", "details": "provenance",
}
#: sidebar filters: column -> label; ``protocol_label`` ("mix v1") and ``family`` (the
#: generator's registered family: baseline, gan, diffusion, submission, ...) are derived by
#: :func:`with_derived_columns`
FILTERS = {"dataset": "dataset", "protocol_label": "protocol and version",
           "classifier": "classifier", "budget": "budget", "resolution": "resolution",
           "real_per_class": "real per class", "family": "generator family",
           "generator": "generator"}
#: filters that keep the real-only baseline cells (no generator), so Δ and the reference
#: line still exist
_GENERATOR_FILTERS = ("generator", "family")
FRAME_COLUMNS = ["cell_id", "created_at", "dataset", "protocol", "protocol_version",
                 "classifier", "budget", "resolution", "real_per_class", "generator"]
ALL = "all"
VIEWS = ("Overview", "Ratio curves", "Per class", "Fidelity", "Samples", "Run details")
DASH = "–"


def store_path(argv: list[str] | None = None) -> str:
    """``--store PATH`` after ``streamlit run app.py --``, else $FERBENCH_STORE, else the
    default store."""
    argv = sys.argv[1:] if argv is None else argv
    if "--store" in argv and argv.index("--store") + 1 < len(argv):
        return argv[argv.index("--store") + 1]
    return os.environ.get("FERBENCH_STORE") or str(default_store_path())


def _pct(v) -> float:
    return float("nan") if v is None else 100.0 * float(v)


def _ci_text(lo, hi, scale: float = 100.0) -> str:
    if lo is None or hi is None:
        return DASH
    return f"[{scale * lo:.1f}, {scale * hi:.1f}]"


def setting_title(row: dict) -> str:
    rpc = row.get("real_per_class")
    return (f"{row['dataset']} → {row.get('test_dataset') or row['dataset']} · "
            f"{row['protocol']} v{row.get('protocol_version')} · {row['classifier']} · "
            f"budget {row['budget']} · {row['resolution']}px×{row.get('channels')} · "
            f"real/class {rpc if rpc is not None else 'all'}")


def generator_kind(name: str | None) -> str:
    """"built-in", "plugin", "folder submission", or "not installed here" (results imported
    from another machine), from the generator registry."""
    from ferbench.api.generator import GENERATORS
    from ferbench.submit.folder_generator import register_submissions

    if name is None:
        return ""
    try:
        register_submissions()
        src = GENERATORS.source(name)
    except Exception:  # noqa: BLE001 - a broken plugin must not break the page
        src = None
    if src is None:
        return "not installed here"
    if str(src).startswith("submission"):
        return "folder submission"
    return "built-in" if src == "ferbench" else "plugin"


def leaderboard_table(rows: list[dict]) -> pd.DataFrame:
    """One setting's ranked leaderboard rows (:func:`ranked`) as a display frame: numbers in
    percent (kept numeric so the columns sort), CIs as text, missing values as "–"."""
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS.values()))
    df = pd.DataFrame([{
        "rank": r.get("rank"), "generator": r["generator"],
        "kind": generator_kind(r["generator"]),
        "tie_mark": "≈ leader" if r.get("tie") else "",
        "best_k": r.get("best_k"), "best_accuracy": _pct(r.get("best_accuracy")),
        "acc_ci": _ci_text(r.get("best_accuracy_lo"), r.get("best_accuracy_hi")),
        "delta_vs_real": _pct(r.get("delta_vs_real")),
        "delta_ci": _ci_text(r.get("delta_lo"), r.get("delta_hi")),
        "sig": {True: "*", False: "", None: DASH}[r.get("significant")],
        "cas": _pct(r.get("cas")), "real_only": _pct(r.get("real_only")),
        # the seeds behind the shown score (the best k's cells), else the generator's seeds
        "seeds": r.get("best_n_seeds") or r.get("seeds"),
        "date": str(r.get("created_at") or "")[:16].replace("T", " "),
        "note": r.get("note") or "",
        "details": details_link(r.get("best_cell_id")),
    } for r in rows])
    for c in ("best_accuracy", "delta_vs_real", "cas", "real_only"):
        df[c] = df[c].round(1)
    df["rank"] = df["rank"].astype("Int64")
    return df[list(COLUMNS)].rename(columns=COLUMNS).reset_index(drop=True)


def details_link(cell_id: str | None) -> str | None:
    """A link to the Run details view of one cell (the tab and the cell are query parameters,
    so the link also works when shared)."""
    return None if not cell_id else f"?view=Run+details&cell={cell_id[:12]}"


def _styled(df: pd.DataFrame):
    """Display formatting only: one decimal, "–" for missing values (the data stay numeric)."""
    num = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    # the browser grid shows NaN as "None" whatever na_rep says: drop columns with no value in
    # this setting (e.g. CAS without synthetic-only cells) so no column is all "None"
    df = df.drop(columns=[c for c in num if df[c].isna().all()])
    fmt = {c: "{:.1f}" for c in num if c in df.columns}
    if COLUMNS["best_k"] in df.columns:
        fmt[COLUMNS["best_k"]] = "{:g}"
    return df.style.format(fmt, na_rep=DASH)


def generator_family(name: str | None) -> str | None:
    """The registered family of a generator (``meta.family``), "not installed here" for results
    imported from a machine that has it, None for the real-only cells."""
    from ferbench.api.generator import GENERATORS
    from ferbench.submit.folder_generator import register_submissions

    if name is None:
        return None
    try:
        register_submissions()
        return str(GENERATORS.get(name).meta.family)
    except Exception:  # noqa: BLE001 - unknown or broken plugin: the page still renders
        return "not installed here"


def with_derived_columns(flat: pd.DataFrame) -> pd.DataFrame:
    """``flat`` plus the filter columns that are not stored: ``protocol_label`` and
    ``family``."""
    out = flat.copy()
    out["protocol_label"] = out["protocol"].astype(str) + " v" + \
        out["protocol_version"].astype(str)
    fam = {g: generator_family(g) for g in out["generator"].dropna().unique()}
    out["family"] = out["generator"].map(fam)
    return out


def apply_filters(flat: pd.DataFrame, choice: dict) -> pd.DataFrame:
    """Keep the flat cell rows matching every non-"all" choice. The generator and family
    filters keep the real-only baseline cells (generator None) so Δ and the reference line
    still exist."""
    out = flat
    for key, val in choice.items():
        if val == ALL:
            continue
        if key in _GENERATOR_FILTERS:
            out = out[(out[key] == val) | out["generator"].isna()]
        else:
            out = out[out[key].astype(str) == val]
    return out


def _options(flat: pd.DataFrame, key: str) -> list[str]:
    vals = flat[key].dropna().astype(str).unique().tolist()
    if key == "real_per_class" and flat[key].isna().any():
        vals.append("None")
    return [ALL, *sorted(vals, key=lambda v: (len(v), v))]


def _load_rows(path: str, selection: str, stamp: tuple, _ids: list[str]
               ) -> tuple[list[dict], list[dict]]:
    """Records of the selected cells and their ranked leaderboard rows, cached by the app on
    the selection's digest and the store's size and latest timestamp (``_ids`` itself is not
    hashed: Streamlit skips arguments that start with "_")."""
    store = ResultStore(path)
    # predictions only where the paired bootstrap needs them (one-seed rows): at 10k cells of
    # 20 seeds each this skips reading 300k prediction rows
    records = store.get_cells(_ids, details=False, predictions=[])
    need = cells_needing_predictions(records)
    if need:
        got = {r["cell_id"]: r for r in store.get_cells(need, details=False)}
        for r in records:
            if r["cell_id"] in got:
                r["y_true"], r["y_pred"] = got[r["cell_id"]]["y_true"], got[r["cell_id"]]["y_pred"]
    return records, ranked(leaderboard(records))


def _load_details(path: str, selection: str, stamp: tuple, _ids: list[str]) -> list[dict]:
    """Records with per-class scores and confusion matrices (the Per class tab only)."""
    return ResultStore(path).get_cells(_ids)


def _overview(st, rows: list[dict]) -> None:
    if not rows:
        st.info("No generator cells in this selection (only real-only baselines).")
        return
    st.caption("Best k is chosen on **validation** accuracy; its **test** accuracy is shown. "
               "Δ is paired against the real-only cell of the same setting and seed. "
               "95% CI: bootstrap over test images (1 seed) or t-interval over seeds. "
               "'≈ leader': CI overlaps the leader's. '*': Δ CI excludes 0.")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(str(r.get(k)) for k in ("dataset", "test_dataset", "protocol",
                                                         "protocol_version", "classifier",
                                                         "budget", "resolution", "channels",
                                                         "real_per_class", "real_fraction",
                                                         "epochs")), []).append(r)
    for grp in groups.values():
        st.markdown(f"**{setting_title(grp[0])}**")
        if grp[0]["dataset"] == "toyfaces":
            st.warning("toyfaces is a smoke test of the pipeline, not a FER result.")
        lead = grp[0]
        if lead.get("rank") == 1:
            st.markdown(f"Leader: **{lead['generator']}** at "
                        f"{100 * lead['best_accuracy']:.1f}% test accuracy (k = "
                        f"{lead['best_k']:g}, chosen on validation; real only "
                        + (f"{100 * lead['real_only']:.1f}%)" if lead.get("real_only")
                           is not None else f"{DASH})"))
        st.dataframe(_styled(leaderboard_table(grp)), hide_index=True, column_config={
            COLUMNS["details"]: st.column_config.LinkColumn(display_text="details")})


def _downloads(st, df: pd.DataFrame, name: str) -> None:
    """CSV and JSON download buttons for one table (``name``: file stem and widget key)."""
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", df.to_csv(index=False), f"{name}.csv", "text/csv",
                       key=f"csv_{name}")
    c2.download_button("Download JSON", df.to_json(orient="records", indent=1),
                       f"{name}.json", "application/json", key=f"json_{name}")


def _curves(st, records: list[dict]) -> None:
    import altair as alt

    df = pd.DataFrame(ratio_curves(records))
    if df.empty:
        st.info("No mix cells in this selection.")
        return
    for c in ("accuracy", "lo", "hi"):
        df[c] = df[c].astype(float) * 100
    df["setting"] = df.apply(lambda r: setting_title(r.to_dict()), axis=1)
    for setting, d in df.groupby("setting", sort=True):
        st.markdown(f"**{setting}**")
        base = d[d["generator"].isna()]
        mix = d[d["generator"].notna() & (d["ratio"] > 0)]
        if not base.empty:  # each generator's line starts at the shared real-only point
            mix = pd.concat([mix] + [base.assign(generator=g) for g in mix["generator"].unique()])
        x = alt.X("ratio:Q", title="synthetic : real ratio k", scale=alt.Scale(domain=[0, 5]))
        y = alt.Y("accuracy:Q", title="test accuracy %", scale=alt.Scale(zero=False))
        line = alt.Chart(mix).mark_line(point=True).encode(
            x=x, y=y, color="generator:N",
            tooltip=["generator", "ratio", alt.Tooltip("accuracy:Q", format=".1f"), "seeds"])
        band = alt.Chart(mix.dropna(subset=["lo", "hi"])).mark_area(opacity=0.15).encode(
            x=x, y="lo:Q", y2="hi:Q", color="generator:N")
        layers = [band, line]
        if not base.empty:
            layers.append(alt.Chart(base).mark_rule(strokeDash=[4, 4], color="gray").encode(
                y="accuracy:Q", tooltip=[alt.Tooltip("accuracy:Q", title="real only %",
                                                     format=".1f")]))
        st.altair_chart(alt.layer(*layers), width="stretch")


def _cell_label(r: dict) -> str:
    return (f"{r.get('generator') or 'real only'} · {r['mode']} k={float(r['ratio']):g} · "
            f"seed {r['seed']} · {r['dataset']}/{r['protocol']}/{r['budget']} · "
            f"{r['cell_id'][:8]}")


def _per_class(st, records: list[dict], cell: dict | None) -> None:
    import altair as alt

    df = pd.DataFrame(per_class_recall(records))
    if df.empty:
        st.info("No per-class scores stored.")
    else:
        df["row"] = df.apply(lambda r: f"{r['generator']} · {r['mode']} k={r['ratio']:g}", axis=1)
        df["recall %"] = (df["recall"] * 100).round(1)
        st.altair_chart(alt.Chart(df).mark_rect().encode(
            x=alt.X("class:N"), y=alt.Y("row:N", title=None),
            color=alt.Color("recall %:Q", scale=alt.Scale(domain=[0, 100])),
            tooltip=["row", "class", "recall %", "seeds"]), width="stretch")
        _downloads(st, df.drop(columns=["row"]), "ferbench_per_class_recall")
    if cell is not None and cell.get("confusion"):
        st.markdown(f"Confusion matrix of **{_cell_label(cell)}** (rows true, columns predicted)")
        cm = pd.DataFrame(cell["confusion"], index=cell["classes"], columns=cell["classes"])
        st.dataframe(cm)
        _downloads(st, cm.rename_axis("true").reset_index(), "ferbench_confusion")


def _fidelity(st, store: ResultStore) -> None:
    pools = store.pool_results()
    rows = [{"generator": p.get("generator"), "protocol": p["protocol"], "pool": p["pool_id"][:8],
             "metric": s["metric"], "value": s.get("value"), "lo": s.get("lo"),
             "hi": s.get("hi"), "higher is better": s.get("higher_is_better"), "n": s.get("n"),
             "note": s.get("note") or ""} for p in pools for s in p["scores"]]
    if not rows:
        st.info("No pool-level (fidelity) results stored yet.")
        return
    df = pd.DataFrame(rows)
    st.dataframe(df.style.format({c: "{:.3g}" for c in ("value", "lo", "hi")}, na_rep=DASH),
                 hide_index=True)
    _downloads(st, df, "ferbench_fidelity")


def real_faces(dataset: str, root: str | None, split: str, resolution: int, channels: int,
               options_json: str, per_class: int = 8) -> dict[str, list[np.ndarray]]:
    """Up to ``per_class`` real faces per class name from a split of the cell's (test) dataset,
    read through the prepared cache (the run that produced the cell prepared it already),
    the first images of each class in file order, so the page is deterministic."""
    from ferbench.data.cache import load

    data = load(dataset, split, root=root, resolution=resolution, channels=channels,
                options=json.loads(options_json))
    return {name: [im.squeeze() for im in data.images[data.labels == c][:per_class]]
            for c, name in enumerate(data.classes)}


def _samples(st, cell: dict | None) -> None:
    """Synthetic faces of the chosen cell's pool, per class, with real faces of the same
    class from the cell's test dataset beside them."""
    from ferbench.engine.artifacts import pool_dir

    pid = (cell or {}).get("pool_id")
    path = pool_dir(pid) / "block_0.npz" if pid else None
    if path is None or not path.is_file():
        st.info("No synthetic pool on this machine for the chosen cell.")
        return
    with np.load(path, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    classes = cell.get("classes") or []
    try:
        real = st.cache_data(real_faces, max_entries=8, show_spinner="Reading real faces…")(
            cell.get("test_dataset") or cell["dataset"], cell.get("test_data_root")
            or cell.get("data_root"), cell.get("test_split") or "test",
            int(cell["resolution"]), int(cell["channels"]),
            json.dumps(cell.get("data_options") or {}, sort_keys=True))
    except Exception as e:  # data not on this machine: show the synthetic faces alone
        real = {}
        st.caption(f"Real faces not shown: {str(e).splitlines()[0] if str(e) else e!r}")
    for c in np.unique(labels)[:8]:
        name = classes[c] if c < len(classes) else str(c)
        st.markdown(f"**{name}**")
        left, right = st.columns(2)
        syn = [im.squeeze() for im in images[labels == c][:8]]
        left.image(syn, caption=[f"synthetic · {name}"] * len(syn), width=64)
        if real.get(name):
            right.image(real[name], caption=[f"real · {name}"] * len(real[name]), width=64)


def _details(st, cell: dict | None, records: list[dict]) -> None:
    if cell is None:
        return
    same = [r for r in records if all(r.get(k) == cell.get(k) for k in SETTING_KEYS)
            and r.get("generator") == cell.get("generator")]
    cmd = reproduce_command(cell, seeds=[r["seed"] for r in same],
                            ratios=[r["ratio"] for r in same])
    st.markdown("Reproduce this run:")
    st.code(cmd, language="bash")
    prov = {k: v for k, v in cell.items()
            if k not in ("y_true", "y_pred", "confusion", "per_class", "spec")}
    st.json(prov, expanded=False)


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="ferbench leaderboard", layout="wide",
                       menu_items={"Get help": None, "Report a bug": None, "About": None})
    st.title("ferbench: synthetic facial-expression training data")
    path = store_path()
    store = ResultStore(path)
    # the filter frame: only what the filters, the selection and the staleness stamp read
    flat = store.scores_frame(columns=FRAME_COLUMNS)
    if not flat.empty:
        flat = with_derived_columns(flat)
    if flat.empty:
        st.info(f"No results in {path} yet. Run `ferbench run --generator real-augment "
                "--protocol mix` first.")
        return
    st.caption(f"Store `{path}` · last result {flat['created_at'].max()} · read "
               f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
    with st.sidebar:
        st.header("Filters")
        choice = {k: st.selectbox(label, _options(flat, k), key=f"f_{k}")
                  for k, label in FILTERS.items()}
    sel = apply_filters(flat, choice)
    if sel.empty:
        st.info("No cells match these filters.")
        return
    stamp = (len(flat), str(flat["created_at"].max()))  # new results invalidate the cache
    ids = list(sel["cell_id"])
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    # cache_resource: the records are shared read-only (never mutated by the page), which
    # saves cache_data's pickled copy of 10k records (~0.5 s) on every render
    records, rows = st.cache_resource(_load_rows, max_entries=4, show_spinner="Reading results…")(
        path, digest, stamp, ids)
    # lazy tabs: only the open tab's content runs (the first render computes the overview
    # only); the open tab is also kept in the URL (?view=...), so a view can be linked to
    tabs = st.tabs(list(VIEWS), key="view", on_change="rerun", bind="query-params")
    with tabs[0]:
        if tabs[0].open:
            _overview(st, rows)
            c1, c2 = st.columns(2)
            c1.download_button("Download CSV", leaderboard_csv(rows), "ferbench_leaderboard.csv",
                               "text/csv")
            c2.download_button("Download JSON", json.dumps(rows, default=str, indent=1),
                               "ferbench_leaderboard.json", "application/json")
    with tabs[1]:
        if tabs[1].open:
            _curves(st, records)
    labels = {_cell_label(r): r for r in records}
    with tabs[2]:
        if tabs[2].open:
            full = st.cache_resource(_load_details, max_entries=2)(path, digest, stamp, ids)
            by_label = {_cell_label(r): r for r in full}
            pick = st.selectbox("cell for the confusion matrix", list(by_label), key="cm_cell")
            _per_class(st, full, by_label.get(pick))
    with tabs[3]:
        if tabs[3].open:
            _fidelity(st, store)
    with tabs[4]:
        if tabs[4].open:
            pick_s = st.selectbox("cell", [k for k, r in labels.items() if r.get("pool_id")]
                                  or ["(none)"], key="sample_cell")
            _samples(st, labels.get(pick_s))
    with tabs[5]:
        if tabs[5].open:
            wanted = str(st.query_params.get("cell", ""))  # from an overview row's link
            opts = list(labels)
            first = next((i for i, r in enumerate(labels.values())
                          if wanted and r["cell_id"].startswith(wanted)), 0)
            pick_d = st.selectbox("cell", opts, index=first, key="detail_cell")
            _details(st, labels.get(pick_d), records)

if __name__ == "__main__":
    main()
