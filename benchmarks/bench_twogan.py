"""Does twogan's expression GAN really make the requested expressions? (fit time, speed, RSS)

Fits ``twogan`` at a budget (default ``quick``) on toyfaces train at 48x48 grey, 100 faces per
class, the subset the quick protocols use (``ferbench.engine.select_real``), samples
``--per-class`` faces per class and scores them with an *independent* evaluator: the fixed
noncomplex CNN trained on the REAL toyfaces train split (all 500 per class,
``train_config("quick", "noncomplex-cnn")``). Reported: the evaluator's accuracy on the
requested labels (chance 1/7 = 14.3 %), the same evaluator on the real test split and on the
identity GAN's raw faces (what the expression GAN adds), fit time, sampling throughput, and
the peak RSS of the process. ``--write-readme`` replaces the "twogan" block of
``benchmarks/README.md``. The evaluator's weights are cached (safetensors) in ``--cache`` so a
re-run only refits the generator.

    nice -n 10 python benchmarks/bench_twogan.py --write-readme      # ~10-15 min on 2 cores
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

README = Path(__file__).with_name("README.md")
CHANCE = 1 / 7


def machine() -> str:
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), Python {platform.python_version()}")


def evaluator(train, cache: Path, seed: int = 0):
    """The noncomplex CNN trained on real toyfaces train (cached by data hash and config)."""
    from safetensors.torch import load_file, save_file

    from ferbench.classify import build_classifier, train_classifier, train_config

    cfg = train_config("quick", "noncomplex-cnn")
    # a stable digest (Python's hash() of a str changes with every process: the cache missed)
    cfg_hash = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    key = f"{train.content_hash()[:12]}-{seed}-{cfg_hash.hexdigest()[:12]}"
    wfile, ifile = cache / f"evaluator-{key}.safetensors", cache / f"evaluator-{key}.json"
    if wfile.exists() and ifile.exists():
        model = build_classifier("noncomplex-cnn", len(train.classes), train.channels,
                                 train.resolution)
        model.load_state_dict(load_file(str(wfile)))
        model.ferbench_train_info = json.loads(ifile.read_text())
        return model.eval(), 0.0
    t0 = time.perf_counter()
    model = train_classifier("noncomplex-cnn", train.images, train.contiguous_labels(),
                             len(train.classes), seed=seed, config=cfg, progress=False)
    secs = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(wfile))
    ifile.write_text(json.dumps(model.ferbench_train_info, default=str))
    return model, secs


def accuracy(model, images, labels, classes) -> float:
    from ferbench.classify import predict
    from ferbench.labels import INDEX

    pred, _ = predict(model, images)
    pos = np.searchsorted(np.array([INDEX[c] for c in classes]), labels)
    return float((pred == pos).mean())


def bench(budget: str, per_class: int, seed: int, cache: Path, params: dict) -> dict:
    from ferbench.api import Budget, TrainSet
    from ferbench.data import cache as data_cache
    from ferbench.engine import select_real
    from ferbench_generators.twogan import TwoGAN

    train = data_cache.load("toyfaces", "train", resolution=48, channels=1)
    test = data_cache.load("toyfaces", "test", resolution=48, channels=1)
    real_per_class = {"smoke": 30, "quick": 100, "full": None}[budget]
    fit_data = select_real(train, real_per_class, 1.0, seed)

    model, eval_secs = evaluator(train, cache, seed)
    acc_real = accuracy(model, test.images, test.labels, train.classes)

    gen = TwoGAN(**params)
    t0 = time.perf_counter()
    gen.fit(TrainSet(fit_data), seed=seed, budget=Budget(budget), device="cpu")
    fit_s = time.perf_counter() - t0
    want = np.repeat(fit_data.class_indices, per_class)
    t0 = time.perf_counter()
    batch = gen.generate(want, seed=seed + 1)
    gen_s = time.perf_counter() - t0
    acc_syn = accuracy(model, batch.images, want, train.classes)
    # The same identities before translation, scored against the requested labels: what the
    # identity GAN alone would score (chance if the identity faces carry no label signal).
    from ferbench_generators.twogan.generator import _to_uint8

    raw = _to_uint8(gen.identities(len(want), seed=seed + 1), 48)
    acc_raw = accuracy(model, raw, want, train.classes)
    # The expression GAN alone, on REAL test faces (100 per class) asked for a random other
    # expression: separates "the translator works" from "it works on the identity GAN's faces".
    from ferbench_generators.twogan.generator import _to_float

    rng = np.random.default_rng(seed + 2)
    pick = np.concatenate([np.flatnonzero(test.labels == c)[:100] for c in fit_data.class_indices])
    src = test.labels[pick]
    k = len(fit_data.class_indices)
    shift = rng.integers(1, k, size=len(pick))
    trg = fit_data.class_indices[(np.searchsorted(fit_data.class_indices, src) + shift) % k]
    moved = _to_uint8(gen.translate(_to_float(test.images[pick], gen.work_res_), trg), 48)
    acc_real_translated = accuracy(model, moved, trg, train.classes)
    acc_real_source = accuracy(model, moved, src, train.classes)
    per = {}
    from ferbench.classify import predict

    pred, _ = predict(model, batch.images)
    pos = np.searchsorted(fit_data.class_indices, want)
    for c, name in enumerate(train.classes):
        per[name] = float((pred[pos == c] == c).mean())
    grid = Path(tempfile.gettempdir()) / "twogan_grid.png"
    gen.sample_grid(grid, n_identities=8, seed=seed)
    return {
        "budget": budget, "seed": seed, "fit_images": len(fit_data),
        "schedule": gen.schedule_.to_dict(), "params": {k: v for k, v in params.items()},
        "fit_s": fit_s, "fit_log_seconds": gen.fit_log_["seconds"],
        "n_generated": len(want), "gen_img_per_s": len(want) / gen_s,
        "acc_requested": float(acc_syn), "acc_identity_only": float(acc_raw),
        "acc_real_translated": float(acc_real_translated),
        "acc_real_translated_source": float(acc_real_source),
        "acc_evaluator_real_test": float(acc_real), "per_class_recall": per,
        "evaluator_train_s": eval_secs, "grid": str(grid),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "last_losses": gen.fit_log_["last"],
    }


def render(r: dict) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    per = ", ".join(f"{k} {100 * v:.0f}" for k, v in r["per_class_recall"].items())
    return "\n".join([
        f"Latest run: {when} on **{machine()}**; 1-min load average at the end: {load[0]:.1f}.",
        "",
        f"Command: `nice -n 10 python benchmarks/bench_twogan.py --budget {r['budget']}"
        + (f" --threads {torch.get_num_threads()}" if r.get("threads_set") else "")
        + " --write-readme`",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| fit images (toyfaces train, 48x48 grey) | {r['fit_images']} |",
        f"| schedule ({r['budget']}) | `{json.dumps(r['schedule'])}` |",
        f"| fit wall time | {r['fit_s']:.0f} s (identity GAN {r['fit_log_seconds']['identity']:.0f} s,"
        f" expression GAN {r['fit_log_seconds']['expression']:.0f} s) |",
        f"| sampling ({r['n_generated']} faces) | {r['gen_img_per_s']:.0f} img/s |",
        f"| peak RSS (whole process, incl. evaluator) | {r['peak_rss_gib']:.2f} GiB |",
        f"| evaluator accuracy on REAL toyfaces test | {100 * r['acc_evaluator_real_test']:.1f} % |",
        f"| expression GAN on REAL test faces, asked for another expression: evaluator agrees "
        f"with the target / still sees the source | {100 * r['acc_real_translated']:.1f} % / "
        f"{100 * r['acc_real_translated_source']:.1f} % |",
        f"| **evaluator accuracy on the requested labels (twogan output)** | "
        f"**{100 * r['acc_requested']:.1f} %** (chance {100 * CHANCE:.1f} %) |",
        f"| same, identity GAN faces before translation | {100 * r['acc_identity_only']:.1f} % |",
        f"| per-class recall on twogan output (%) | {per} |",
    ])


def write_readme(block: str) -> None:
    text = README.read_text()
    begin, end = "<!-- bench_twogan:begin -->", "<!-- bench_twogan:end -->"
    new = f"{begin}\n{block}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: new, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n## `bench_twogan.py`: twogan\n\n" + new + "\n"
    README.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", default="quick", choices=("smoke", "quick", "full"))
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (default: torch's own choice)")
    ap.add_argument("--param", action="append", default=[],
                    help="twogan parameter override KEY=VALUE (JSON value), repeatable")
    ap.add_argument("--cache", type=Path,
                    default=Path(tempfile.gettempdir()) / "ferbench_bench_twogan")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument("--write-readme", action="store_true")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    params = {}
    for kv in a.param:
        k, v = kv.split("=", 1)
        params[k] = json.loads(v)
    r = bench(a.budget, a.per_class, a.seed, a.cache, params)
    r["threads_set"] = bool(a.threads)
    print(json.dumps(r, indent=1))
    block = render(r)
    print(block)
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    if a.write_readme:
        write_readme(block)


if __name__ == "__main__":
    sys.exit(main())
