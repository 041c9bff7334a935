"""ferbench leaderboard (Streamlit). Reads the DuckDB results store read-only, through the one
query layer (:mod:`ferbench.results.query`) that the CLI uses too.

Run: ``streamlit run leaderboard/app.py`` (store from ``$FERBENCH_STORE`` or
``$FERBENCH_HOME/results.duckdb``). Each read opens the store, reads, and closes it, so a
running benchmark can keep writing. Importing this module renders nothing; ``main()`` does.
"""

from __future__ import annotations

import os

import pandas as pd

from ferbench.results.query import leaderboard
from ferbench.results.store import ResultStore, default_store_path

COLUMNS = {
    "generator": "generator", "cas": "CAS (synthetic-only, k=1) %", "best_k": "best mix k",
    "best_accuracy": "best mix acc %", "delta_vs_real": "Δ vs real only (points)",
    "real_only": "real only %", "seeds": "seeds",
}


def leaderboard_table(records: list[dict]) -> pd.DataFrame:
    """One row per (comparable setting, generator), best k chosen on validation, the paired Δ
    against the real-only cell of the same setting; percentages."""
    rows = leaderboard(records)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=list(COLUMNS.values()))
    for c in ("cas", "best_accuracy", "delta_vs_real", "real_only"):
        df[c] = df[c].astype(float) * 100
    df = df.sort_values("best_accuracy", ascending=False, na_position="last")
    keep = ["dataset", "protocol", "budget", "real_per_class", "resolution", *COLUMNS]
    return df[keep].rename(columns=COLUMNS).reset_index(drop=True)


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="ferbench leaderboard", layout="wide")
    st.title("ferbench: synthetic facial-expression training data")
    path = os.environ.get("FERBENCH_STORE") or str(default_store_path())
    store = ResultStore(path)
    rows = store.cells()
    if not rows:
        st.info(f"No results in {path} yet. Run `ferbench run --generator real-augment "
                "--protocol mix` first.")
        return
    df = pd.DataFrame(rows)
    c1, c2, c3 = st.columns(3)
    dataset = c1.selectbox("dataset", sorted(df["dataset"].unique()))
    df = df[df["dataset"] == dataset]
    budget = c2.selectbox("budget", sorted(df["budget"].unique()))
    df = df[df["budget"] == budget]
    classifier = c3.selectbox("classifier", sorted(df["classifier"].unique()))
    df = df[df["classifier"] == classifier]
    if dataset == "toyfaces":
        st.warning("toyfaces is a smoke test of the pipeline, not a FER result.")
    records = store.get_cells(list(df["cell_id"]))
    st.subheader("Generators")
    st.caption("Best k is chosen on validation; Δ is paired against the real-only cell of the "
               "same setting and seed.")
    st.dataframe(leaderboard_table(records), hide_index=True)
    st.subheader("Accuracy by synthetic:real ratio (mix)")
    mix = df[(df["mode"] == "mix") | (df["ratio"] == 0)]
    pivot = (mix.assign(generator=mix["generator"].fillna("(real only)"))
             .pivot_table(index="generator", columns="ratio", values="accuracy", aggfunc="mean")
             * 100)
    st.dataframe(pivot.round(1))
    with st.expander("All cells (with provenance)"):
        st.dataframe(df, hide_index=True)


if __name__ == "__main__":
    main()
