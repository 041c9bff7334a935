"""Plain-text reports of run summaries (:func:`ferbench.results.query.summarize`)."""

from __future__ import annotations

import numpy as np


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
    head = ["train on", "k", "n_real", "n_syn", "acc %", "bal-acc %", "macro-F1 %", "Δacc vs real",
            "val acc %"]
    lines = []
    for r in summary["rows"]:
        what = {"real": "real only", "synthetic": f"synthetic ({r['generator']})",
                "mix": f"real + {r['generator']}"}[r["mode"]]
        lines.append([what, f"{r['ratio']:g}", str(r["n_real"]), str(r["n_synthetic"]),
                      _pm(r, "accuracy"), _pm(r, "balanced_accuracy"), _pm(r, "macro_f1"),
                      _pm(r, "delta_accuracy") if "delta_accuracy" in r else "",
                      f"{100 * r['val_accuracy']:.1f}" if r.get("val_accuracy") is not None
                      else "-"])
    widths = [max(len(h), *(len(row[i]) for row in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    out = [title] if title else []
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in lines]
    if summary["best_ratio"] is not None:
        d = summary["best_delta"]
        dtxt = f", Δacc {100 * d:+.1f} points vs real only on test" if d is not None else ""
        out.append(f"best k = {summary['best_ratio']:g} (chosen on validation{dtxt})")
    if summary.get("best_note"):
        out.append(f"note: {summary['best_note']}")
    first = summary["rows"][0] if summary["rows"] else None
    if first is not None and first.get("test_dataset"):
        out.append(f"test set: {first['test_dataset']}/{first['test_split']}, "
                   f"{first['n_test']} images")
    n_seeds = max((len(r["seeds"]) for r in summary["rows"]), default=0)
    out.append("[lo, hi] = 95% bootstrap CI over test images" if n_seeds == 1
               else f"mean ± sd over {n_seeds} seeds")
    return "\n".join(out)


def format_pool_results(records: list[dict], title: str = "") -> str:
    """Pool-level scores (fidelity) as a plain-text table, one block per pool result."""
    out = [title] if title else []
    for rec in records:
        out.append(f"seed {rec['pool'].get('seed')}  N = {rec['n']}  "
                   f"(generator {rec.get('generator')})")
        for s in rec["scores"]:
            arrow = "↑" if s["higher_is_better"] else "↓"
            if s["value"] is None:
                val = "–"
            else:
                val = f"{s['value']:.4g}"
                if s.get("lo") is not None and s.get("hi") is not None:
                    val += f" [{s['lo']:.4g}, {s['hi']:.4g}]"
            note = f"  ({s['note']})" if s.get("note") else ""
            out.append(f"  {s['metric']:<28} {arrow} {val}{note}")
    out.append("never compare FIDs at different N; see README (Fidelity)")
    return "\n".join(out)
LEADERBOARD_CSV_COLUMNS = ("dataset", "test_dataset", "protocol", "protocol_version",
                           "classifier", "budget", "resolution", "channels", "real_per_class",
                           "real_fraction", "epochs", "generator", "generator_version", "cas",
                           "best_k", "best_by", "best_accuracy", "best_accuracy_lo",
                           "best_accuracy_hi", "delta_vs_real", "delta_lo", "delta_hi",
                           "real_only", "seeds", "created_at", "note")


def leaderboard_csv(rows: list[dict]) -> str:
    """Leaderboard rows (:func:`ferbench.results.query.leaderboard`) as CSV, fractions as
    stored (0..1), empty cells for missing values."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(LEADERBOARD_CSV_COLUMNS), extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in LEADERBOARD_CSV_COLUMNS})
    return buf.getvalue()
