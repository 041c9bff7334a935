"""Summaries of stored cells: per-ratio scores across seeds, paired deltas, best k."""

from __future__ import annotations

import numpy as np


def summarize(records: list[dict], n_boot: int = 1000) -> dict:
    """Summarise the records of one protocol run.

    Rows are one per (mode, ratio): accuracy, balanced accuracy and macro-F1 as mean ± sd
    across seeds (with the 95% bootstrap CI over test images when there is one seed), and
    for cells with synthetic data in ``mix``, the paired Δ accuracy against the real-only
    cell of the same seed (paired bootstrap over test images; its CI for one seed, mean ± sd
    of the per-seed deltas otherwise). ``best_ratio`` is the k with the highest mean accuracy
    among the mix cells.
    """
    from ferbench.metrics import paired_delta, seed_summary

    baseline = {r["seed"]: r for r in records if r["ratio"] == 0}
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["mode"], float(r["ratio"])), []).append(r)
    rows = []
    for (mode, ratio), recs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        recs = sorted(recs, key=lambda r: r["seed"])
        row = {"mode": mode, "ratio": ratio, "seeds": [r["seed"] for r in recs],
               "generator": recs[0].get("generator"), "n_real": recs[0]["n_real"],
               "n_synthetic": recs[0]["n_synthetic"], "n_test": recs[0]["n_test"]}
        for m in ("accuracy", "balanced_accuracy", "macro_f1"):
            s = seed_summary([r["metrics"][m] for r in recs])
            row[m] = s["mean"]
            row[m + "_sd"] = s["sd"]
            if len(recs) == 1:
                row[m + "_lo"] = recs[0]["metrics"][m + "_lo"]
                row[m + "_hi"] = recs[0]["metrics"][m + "_hi"]
        if mode == "mix" and ratio > 0:
            deltas = []
            for r in recs:
                b = baseline.get(r["seed"])
                if b is None or b["y_true"] != r["y_true"]:
                    continue
                deltas.append(paired_delta(np.asarray(r["y_true"]), np.asarray(r["y_pred"]),
                                           np.asarray(b["y_pred"]), n_boot=n_boot,
                                           seed=r["seed"]))
            if deltas:
                s = seed_summary([d["delta"] for d in deltas])
                row["delta_accuracy"] = s["mean"]
                row["delta_accuracy_sd"] = s["sd"]
                if len(deltas) == 1:
                    row["delta_accuracy_lo"] = deltas[0]["lo"]
                    row["delta_accuracy_hi"] = deltas[0]["hi"]
        rows.append(row)
    mix_rows = [r for r in rows if r["mode"] == "mix" and r["ratio"] > 0]
    best = max(mix_rows, key=lambda r: r["accuracy"]) if mix_rows else None
    return {"rows": rows, "best_ratio": best["ratio"] if best else None,
            "best_delta": best.get("delta_accuracy") if best else None}


def _pm(row: dict, key: str, pct: bool = True) -> str:
    v = row.get(key)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    f = 100.0 if pct else 1.0
    if row.get(key + "_lo") is not None:
        return f"{f * v:.1f} [{f * row[key + '_lo']:.1f}, {f * row[key + '_hi']:.1f}]"
    sd = row.get(key + "_sd")
    if sd is not None and not np.isnan(sd):
        return f"{f * v:.1f} ± {f * sd:.1f}"
    return f"{f * v:.1f}"


def format_summary(summary: dict, title: str = "") -> str:
    """A plain-text table (percentages; [95% CI] for one seed, ± sd across seeds)."""
    head = ["train on", "k", "n_real", "n_syn", "acc %", "bal-acc %", "macro-F1 %", "Δacc vs real"]
    lines = []
    for r in summary["rows"]:
        what = {"real": "real only", "synthetic": f"synthetic ({r['generator']})",
                "mix": f"real + {r['generator']}"}[r["mode"]]
        lines.append([what, f"{r['ratio']:g}", str(r["n_real"]), str(r["n_synthetic"]),
                      _pm(r, "accuracy"), _pm(r, "balanced_accuracy"), _pm(r, "macro_f1"),
                      _pm(r, "delta_accuracy") if "delta_accuracy" in r else ""])
    widths = [max(len(h), *(len(row[i]) for row in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    out = [title] if title else []
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in lines]
    if summary["best_ratio"] is not None:
        d = summary["best_delta"]
        dtxt = f" (Δacc {100 * d:+.1f} points vs real only)" if d is not None else ""
        out.append(f"best k = {summary['best_ratio']:g}{dtxt}")
    n_seeds = max((len(r["seeds"]) for r in summary["rows"]), default=0)
    out.append("[lo, hi] = 95% bootstrap CI over test images" if n_seeds == 1
               else f"mean ± sd over {n_seeds} seeds")
    return "\n".join(out)
