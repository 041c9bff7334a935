"""ferbench leaderboard (Streamlit). Reads the DuckDB results store read-only.

Run: ``streamlit run leaderboard/app.py`` (store from ``$FERBENCH_STORE`` or
``$FERBENCH_HOME/results.duckdb``). Each read opens the store, reads, and closes it, so a
running benchmark can keep writing.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from ferbench.store import ResultStore, default_store_path


def leaderboard_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per generator: synthetic-only accuracy at k=1 (CAS), the best mix ratio and its
    accuracy, and the real-only baseline, all as means over seeds (percent)."""
    base = df[df["ratio"] == 0]["accuracy"].mean()
    rows = []
    for gen, g in df[df["generator"].notna()].groupby("generator"):
        syn = g[(g["mode"] == "synthetic") & (g["ratio"] == 1)]["accuracy"]
        mix = g[g["mode"] == "mix"].groupby("ratio")["accuracy"].mean()
        best_k = mix.idxmax() if len(mix) else None
        rows.append({
            "generator": gen,
            "CAS (synthetic-only, k=1) %": 100 * syn.mean() if len(syn) else None,
            "best mix k": best_k,
            "best mix acc %": 100 * mix.max() if len(mix) else None,
            "Δ vs real only (points)": 100 * (mix.max() - base) if len(mix) and pd.notna(base) else None,
            "real only %": 100 * base if pd.notna(base) else None,
            "seeds": int(g["seed"].nunique()),
        })
    out = pd.DataFrame(rows)
    if len(out):
        out = out.sort_values("best mix acc %", ascending=False, na_position="last")
    return out.reset_index(drop=True)


def main() -> None:
    st.set_page_config(page_title="ferbench leaderboard", layout="wide")
    st.title("ferbench: synthetic facial-expression training data")
    path = os.environ.get("FERBENCH_STORE") or str(default_store_path())
    df = ResultStore(path).scores_frame()
    if df.empty:
        st.info(f"No results in {path} yet. Run `ferbench run --generator real-augment "
                "--protocol mix` first.")
        return
    c1, c2, c3 = st.columns(3)
    dataset = c1.selectbox("dataset", sorted(df["dataset"].unique()))
    df = df[df["dataset"] == dataset]
    budget = c2.selectbox("budget", sorted(df["budget"].unique()))
    df = df[df["budget"] == budget]
    classifier = c3.selectbox("classifier", sorted(df["classifier"].unique()))
    df = df[df["classifier"] == classifier]
    if dataset == "toyfaces":
        st.warning("toyfaces is a smoke test of the pipeline, not a FER result.")
    st.subheader("Generators")
    st.dataframe(leaderboard_table(df), hide_index=True)
    st.subheader("Accuracy by synthetic:real ratio (mix)")
    mix = df[(df["mode"] == "mix") | (df["ratio"] == 0)]
    pivot = (mix.assign(generator=mix["generator"].fillna("(real only)"))
             .pivot_table(index="generator", columns="ratio", values="accuracy", aggfunc="mean")
             * 100)
    st.dataframe(pivot.round(1))
    with st.expander("All cells (with provenance)"):
        st.dataframe(df, hide_index=True)


main()
