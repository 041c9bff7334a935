"""The one query layer over stored results: grouping into comparable settings, the paired
real-only baseline, per-ratio summaries, best k chosen on validation, and leaderboard rows.
The CLI (``run``, ``results``), the report and the leaderboard all call this module.

A *setting* is everything that makes two cells comparable: protocol and version, engine
version, train and test data (names and content hashes), classifier, budget, epochs,
resolution, channels, real-per-class, real fraction, mixed precision and bootstrap size.
Within a setting, a *variant* is one generator with its version and params; the real-only
cells (``generator`` None) are the setting's shared baseline. The paired Δ of a mix cell is
always against the real-only cell of the **same setting and seed** (never another
real-per-class, resolution or protocol), on the same test images.

Best k: the ratio with the highest mean **validation** accuracy; its **test** score is what is
reported. Cells without validation scores get no best k (selecting on test flatters every
generator), and the summary says why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

SETTING_KEYS = ("protocol", "protocol_version", "engine_version", "dataset", "dataset_hash",
                "test_dataset", "test_dataset_hash", "test_split", "classifier", "budget",
                "epochs", "resolution", "channels", "real_per_class", "real_fraction", "amp",
                "n_boot")


def setting_key(rec: dict) -> tuple:
    return tuple(rec.get(k) for k in SETTING_KEYS)


def variant_key(rec: dict) -> tuple:
    params = rec.get("generator_params")
    if isinstance(params, str):
        params = json.loads(params)
    return (rec.get("generator"), rec.get("generator_version"),
            json.dumps(params or {}, sort_keys=True))


def comparable_groups(records: Iterable[dict]) -> dict[tuple, dict]:
    """``{setting: {"baseline": [...], "variants": {variant: [...]}}}``."""
    out: dict[tuple, dict] = {}
    for r in records:
        g = out.setdefault(setting_key(r), {"baseline": [], "variants": {}})
        if r.get("generator") is None:
            g["baseline"].append(r)
        else:
            g["variants"].setdefault(variant_key(r), []).append(r)
    return out


def runs(records: Iterable[dict]) -> list[tuple[dict, list[dict]]]:
    """Split records into per-(setting, variant) runs, each with its setting's baseline:
    ``[(header, records)]``; a setting with only real-only cells is one run on its own."""
    out = []
    for key, g in sorted(comparable_groups(records).items(), key=lambda kv: str(kv[0])):
        header = dict(zip(SETTING_KEYS, key))
        if not g["variants"]:
            out.append(({**header, "generator": None}, list(g["baseline"])))
        for (gen, ver, params), recs in sorted(g["variants"].items(), key=lambda kv: str(kv[0])):
            out.append(({**header, "generator": gen, "generator_version": ver,
                         "generator_params": json.loads(params)}, g["baseline"] + recs))
    return out


def cells_needing_predictions(records: Iterable[dict]) -> list[str]:
    """The cells whose per-image predictions :func:`summarize` reads: each one-seed mix cell
    (its paired bootstrap and McNemar test) and the real-only cell of that seed. A reader
    that loads only these (``ResultStore.get_cells(..., predictions=...)``) gets the same
    summaries; several-seed rows use the stored accuracies."""
    need: set[str] = set()
    for _, recs in runs(records):
        baseline = {r["seed"]: r for r in recs if r["ratio"] == 0}
        groups: dict[tuple, list[dict]] = {}
        for r in recs:
            groups.setdefault((r["mode"], float(r["ratio"])), []).append(r)
        for (mode, ratio), g in groups.items():
            if mode == "mix" and ratio > 0 and len(g) == 1:
                need.add(g[0]["cell_id"])
                if g[0]["seed"] in baseline:
                    need.add(baseline[g[0]["seed"]]["cell_id"])
    return sorted(need)


def summarize(records: list[dict], n_boot: int = 1000) -> dict:
    """Summarise the records of one run (one setting, one variant plus its baseline).

    Rows are one per (mode, ratio): accuracy, balanced accuracy and macro-F1 as mean ± sd
    across seeds (with the 95% bootstrap CI over test images when there is one seed), the mean
    validation accuracy when present, and for cells with synthetic data in ``mix``, the paired
    Δ accuracy against the real-only cell of the same seed, on the same test images. One
    seed: the paired bootstrap CI over test images and the exact McNemar p. Several seeds:
    mean ± sd of the per-seed differences of the stored accuracies (no bootstrap is run, as
    its per-seed CIs would not be reported; this keeps the leaderboard's first render fast).
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
               "cell_ids": [r["cell_id"] for r in recs],
               "generator": recs[0].get("generator"), "n_real": recs[0]["n_real"],
               "n_synthetic": recs[0]["n_synthetic"], "n_test": recs[0]["n_test"],
               "test_dataset": recs[0].get("test_dataset"),
               "test_split": recs[0].get("test_split")}
        for m in ("accuracy", "balanced_accuracy", "macro_f1"):
            s = seed_summary([r["metrics"][m] for r in recs])
            row[m] = s["mean"]
            row[m + "_sd"] = s["sd"]
            if len(recs) == 1:
                row[m + "_lo"] = recs[0]["metrics"][m + "_lo"]
                row[m + "_hi"] = recs[0]["metrics"][m + "_hi"]
        vals = [r["val_metrics"]["accuracy"] for r in recs if r.get("val_metrics")]
        row["val_accuracy"] = float(np.mean(vals)) if len(vals) == len(recs) else None
        if mode == "mix" and ratio > 0:
            deltas = []
            for r in recs:
                b = baseline.get(r["seed"])
                if b is None or b["y_true"] != r["y_true"]:
                    continue
                if len(recs) == 1:  # one seed: the paired bootstrap CI and McNemar p
                    deltas.append(paired_delta(np.asarray(r["y_true"]), np.asarray(r["y_pred"]),
                                               np.asarray(b["y_pred"]), n_boot=n_boot,
                                               seed=r["seed"]))
                else:  # several seeds report mean ± sd of the per-seed deltas only
                    deltas.append({"delta": r["metrics"]["accuracy"] - b["metrics"]["accuracy"]})
            if deltas:
                s = seed_summary([d["delta"] for d in deltas])
                row["delta_accuracy"] = s["mean"]
                row["delta_accuracy_sd"] = s["sd"]
                if len(deltas) == 1 and "lo" in deltas[0]:
                    row["delta_accuracy_lo"] = deltas[0]["lo"]
                    row["delta_accuracy_hi"] = deltas[0]["hi"]
                    row["delta_p_value"] = deltas[0]["p_value"]
        rows.append(row)
    return {"rows": rows, **best_ratio(rows)}


def best_ratio(rows: list[dict]) -> dict:
    """Best k among the mix rows, chosen on validation accuracy (never on test)."""
    mix = [r for r in rows if r["mode"] == "mix" and r["ratio"] > 0]
    out = {"best_ratio": None, "best_delta": None, "best_by": None, "best_note": None}
    if not mix:
        return out
    if any(r.get("val_accuracy") is None for r in mix):
        out["best_note"] = ("no validation scores: best k is not chosen (choosing it on the "
                            "test split would flatter the generator)")
        return out
    best = max(mix, key=lambda r: (r["val_accuracy"], -r["ratio"]))
    out.update(best_ratio=best["ratio"], best_delta=best.get("delta_accuracy"),
               best_by="validation", best_accuracy=best["accuracy"])
    base = next((r for r in rows if r["ratio"] == 0), None)
    if base is not None and base.get("val_accuracy") is not None \
            and best["val_accuracy"] <= base["val_accuracy"]:
        out["best_note"] = "no k beats real only on validation"
    return out


def leaderboard(records: Iterable[dict], n_boot: int = 1000) -> list[dict]:
    """One row per (setting, generator variant): synthetic-only accuracy at k=1 (CAS), the
    best mix k chosen on validation with its test accuracy and paired Δ, the real-only
    baseline of the same setting, seeds and date."""
    rows = []
    for header, recs in runs(records):
        if header.get("generator") is None:
            continue
        summ = summarize(recs, n_boot=n_boot)
        by = {(r["mode"], r["ratio"]): r for r in summ["rows"]}
        cas = by.get(("synthetic", 1.0))
        base = by.get(("real", 0.0))
        best = by.get(("mix", summ["best_ratio"])) if summ["best_ratio"] is not None else None
        rows.append({
            **{k: header[k] for k in ("dataset", "test_dataset", "protocol", "protocol_version",
                                      "classifier", "budget", "resolution", "channels",
                                      "real_per_class", "real_fraction", "epochs")},
            "generator": header["generator"], "generator_version": header["generator_version"],
            "cas": cas["accuracy"] if cas else None,
            "best_k": summ["best_ratio"], "best_by": summ["best_by"],
            "best_accuracy": best["accuracy"] if best else None,
            "best_accuracy_lo": _ci(best, "accuracy")[0] if best else None,
            "best_accuracy_hi": _ci(best, "accuracy")[1] if best else None,
            "delta_vs_real": best.get("delta_accuracy") if best else None,
            "delta_lo": _ci(best, "delta_accuracy")[0] if best else None,
            "delta_hi": _ci(best, "delta_accuracy")[1] if best else None,
            "real_only": base["accuracy"] if base else None,
            "seeds": len({r["seed"] for r in recs if r.get("generator")}),
            "best_n_seeds": len(best["seeds"]) if best else 0,
            "created_at": max(r["created_at"] for r in recs),
            "note": summ["best_note"],
            # the best k's cell (lowest seed): where the row's provenance link points
            "best_cell_id": best["cell_ids"][0] if best else None,
        })
    return rows


def t_interval(mean: float | None, sd: float | None, n: int,
               level: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t interval of a mean over ``n`` seeds: mean ± t(n-1) · sd/√n. None when it is
    undefined (n < 2 or no sd)."""
    from scipy.special import stdtrit  # the t quantile, without importing scipy.stats

    if mean is None or sd is None or n < 2 or not np.isfinite(sd):
        return None, None
    half = float(stdtrit(n - 1, 0.5 + level / 2)) * sd / np.sqrt(n)
    return mean - half, mean + half


def _ci(row: dict, key: str) -> tuple[float | None, float | None]:
    """The 95% CI of ``row[key]``: the stored bootstrap CI over test images for one seed, the
    t-interval over seeds otherwise."""
    if row.get(key) is None:
        return None, None
    if row.get(key + "_lo") is not None:
        return row[key + "_lo"], row[key + "_hi"]
    return t_interval(row.get(key), row.get(key + "_sd"), len(row.get("seeds") or []))


def ranked(rows: list[dict]) -> list[dict]:
    """Leaderboard rows ranked within their comparable setting by best-k test accuracy.

    Adds ``rank`` (1 = leader; rows without a best k are unranked, None), ``tie`` (True when
    the row's 95% CI overlaps the leader's, so the order between them is not resolved; the
    leader itself is not marked) and ``significant`` (True when the paired Δ-vs-real CI
    excludes 0; None when there is no Δ CI). Decision: ranks are per setting, never across
    settings, because numbers from different data, budgets or classifiers are not comparable.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in _ROW_SETTING), []).append(dict(r))
    out = []
    for recs in groups.values():
        scored = sorted((r for r in recs if r.get("best_accuracy") is not None),
                        key=lambda r: (-r["best_accuracy"], str(r["generator"])))
        lead = scored[0] if scored else None
        for i, r in enumerate(scored, 1):
            r["rank"] = i
            r["tie"] = bool(i > 1 and None not in (r.get("best_accuracy_hi"),
                                                    lead.get("best_accuracy_lo"))
                            and r["best_accuracy_hi"] >= lead["best_accuracy_lo"])
        for r in recs:
            r.setdefault("rank", None)
            r.setdefault("tie", False)
            lo, hi = r.get("delta_lo"), r.get("delta_hi")
            r["significant"] = None if lo is None or hi is None else bool(lo > 0 or hi < 0)
        out += scored + [r for r in recs if r["rank"] is None]
    return out


_ROW_SETTING = ("dataset", "test_dataset", "protocol", "protocol_version", "classifier",
                "budget", "resolution", "channels", "real_per_class", "real_fraction", "epochs")


def ratio_curves(records: Iterable[dict]) -> list[dict]:
    """Accuracy against synthetic:real ratio, one row per (setting, generator, ratio) with its
    95% CI (bootstrap for one seed, t over seeds): the data of the leaderboard's curves. Mix
    cells and the real-only baseline (ratio 0, generator None) only."""
    out = []
    for header, recs in runs(records):
        for row in _summary_no_delta(recs):
            if row["mode"] == "synthetic":
                continue
            lo, hi = _ci(row, "accuracy")
            out.append({**{k: header[k] for k in _ROW_SETTING},
                        "generator": header.get("generator") if row["mode"] != "real"
                        else None, "ratio": row["ratio"], "accuracy": row["accuracy"],
                        "lo": lo, "hi": hi, "seeds": len(row["seeds"])})
    uniq = {(tuple(r[k] for k in _ROW_SETTING), r["generator"], r["ratio"]): r for r in out}
    return list(uniq.values())


def _summary_no_delta(recs: list[dict]) -> list[dict]:
    """Per-(mode, ratio) accuracy mean/sd/CI without the paired bootstrap (cheap)."""
    from ferbench.metrics import seed_summary

    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault((r["mode"], float(r["ratio"])), []).append(r)
    rows = []
    for (mode, ratio), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s = seed_summary([r["metrics"]["accuracy"] for r in rs])
        row = {"mode": mode, "ratio": ratio, "seeds": [r["seed"] for r in rs],
               "accuracy": s["mean"], "accuracy_sd": s["sd"]}
        if len(rs) == 1:
            row["accuracy_lo"] = rs[0]["metrics"].get("accuracy_lo")
            row["accuracy_hi"] = rs[0]["metrics"].get("accuracy_hi")
        rows.append(row)
    return rows


def per_class_recall(records: Iterable[dict]) -> list[dict]:
    """Per-class recall rows ``{generator, ratio, mode, class, recall, seeds}`` averaged over
    seeds (generator "(real only)" for the baseline): the heatmap's data."""
    acc: dict[tuple, list[float]] = {}
    for r in records:
        gen = r.get("generator") or "(real only)"
        for pc in r.get("per_class") or []:
            acc.setdefault((gen, r["mode"], float(r["ratio"]), pc["class"]), []).append(
                pc["recall"])
    return [{"generator": g, "mode": m, "ratio": k, "class": c,
             "recall": float(np.mean(v)), "seeds": len(v)}
            for (g, m, k, c), v in sorted(acc.items(), key=lambda kv: str(kv[0]))]


def reproduce_command(rec: dict, seeds: Iterable[int] | None = None,
                      ratios: Iterable[float] | None = None) -> str:
    """The ``ferbench run`` command line that reproduces a stored cell (or, given the run's
    ``seeds`` and ``ratios``, the whole run the cell belongs to)."""
    import shlex

    parts = ["ferbench", "run"]
    if rec.get("generator"):
        parts += ["--generator", rec["generator"]]
    parts += ["--protocol", rec["protocol"], "--dataset", rec["dataset"],
              "--budget", str(rec["budget"]), "--seeds",
              ",".join(str(x) for x in sorted(set(seeds or [rec["seed"]]))) + ","]
    ks = sorted({float(x) for x in (ratios or [rec.get("ratio") or 0]) if x})
    if ks:
        parts += ["--ratios", ",".join(f"{k:g}" for k in ks)]
    if rec.get("real_per_class") is not None:
        parts += ["--real-per-class", str(rec["real_per_class"])]
    if rec.get("real_fraction") not in (None, 1.0):
        parts += ["--real-fraction", f"{rec['real_fraction']:g}"]
    parts += ["--resolution", str(rec["resolution"]), "--channels", str(rec["channels"]),
              "--classifier", rec["classifier"]]
    if rec.get("epochs") is not None:
        parts += ["--epochs", str(rec["epochs"])]
    for k, v in sorted((rec.get("generator_params") or {}).items()):
        parts += ["--param", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    return " ".join(shlex.quote(p) for p in parts)
