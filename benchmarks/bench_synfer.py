"""synfer: does semantic guidance help, what does pseudo-labelling do, and what does the fast
solver save over DDPM-1000?

1. Fit ``synfer`` on toyfaces (``--per-class`` real images per class, 48 px grayscale) at the
   ``quick`` budget (optionally with fewer UNet steps, ``--train-steps``, when the machine is
   too loaded for the full ``quick`` fit; the output says which).
2. The independent scorer (never the guidance classifier or the pseudo-label ensemble):
   ``--scorer evaluator`` (default) is the fidelity protocol's reference evaluator for toyfaces
   (``ferbench.metrics.evaluator.get_evaluator`` on all 3,500 real training faces, ``quick``
   recipe; cached, so usually free); ``--scorer cnn`` trains ferbench's ``noncomplex-cnn`` on
   the same real images synfer is fitted on (``--per-class``). Its accuracy on real toyfaces
   test images is reported as a reference.
3. Sample ``--samples`` images per class at the same seed and the same AU targets with semantic
   guidance on (``synfer``) and off (``synfer-noguide``), both without pseudo-labelling so the
   comparison isolates guidance; the scorer's accuracy on the requested labels is the label
   fidelity. Optionally (``--with-pl``) also the full ``synfer`` output with pseudo-labelling
   (accuracy on its final labels, and its relabel/drop rates).
4. UNet evaluations and wall time per 1,000 samples: the configured solver (DPM-Solver++,
   ``quick`` steps, CFG) vs DDPM with 1,000 steps and CFG. DDPM's time is extrapolated from
   ``--ddpm-steps`` timed steps on one batch (the per-step cost of DDPM does not depend on the
   step), and its quality is not measured (sampling 1,000 steps is out of this CPU's reach).

    nice -n 10 python benchmarks/bench_synfer.py --train-steps 300 --samples 30
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from ferbench.api import Budget, TrainSet, create_generator
from ferbench.classify import predict, train_classifier, train_config
from ferbench.data.toyfaces import load_toyfaces
from ferbench_generators.synfer import sample_grid
from ferbench_generators.synfer.budgets import DEFAULT_BUDGETS
from ferbench_generators.synfer.model import make_solver

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--samples", type=int, default=100, help="synthetic images per class")
    ap.add_argument("--train-steps", type=int, default=None,
                    help="UNet optimiser steps (default: the quick budget's)")
    ap.add_argument("--batch-size", type=int, default=None, help="UNet batch (default: quick's)")
    ap.add_argument("--ens-epochs", type=int, default=None,
                    help="pseudo-label ensemble epochs (default: quick's)")
    ap.add_argument("--scorer", choices=("evaluator", "cnn"), default="evaluator")
    ap.add_argument("--scorer-budget", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--with-pl", action="store_true")
    ap.add_argument("--ddpm-steps", type=int, default=5)
    ap.add_argument("--workdir", default=str(HERE / "results" / "synfer_work"))
    ap.add_argument("--out", default=str(HERE / "results" / "synfer.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res: dict = {"args": vars(args), "torch_threads": args.threads}

    train = load_toyfaces("train", resolution=48, channels=1, n_per_class=args.per_class)
    test = load_toyfaces("test", resolution=48, channels=1, n_per_class=50)
    budgets = copy.deepcopy(DEFAULT_BUDGETS)
    if args.train_steps is not None:
        budgets["quick"]["train_steps"] = args.train_steps
    if args.batch_size is not None:
        budgets["quick"]["batch_size"] = args.batch_size
    if args.ens_epochs is not None:
        budgets["quick"]["ens_epochs"] = args.ens_epochs
    res["quick_budget_used"] = budgets["quick"]

    t0 = time.perf_counter()
    gen = create_generator("synfer", budgets=budgets).fit(
        TrainSet(train), seed=args.seed, budget=Budget("quick"), workdir=args.workdir)
    res["fit_s"] = time.perf_counter() - t0
    res["text_encoder"], res["au_source"] = gen.text_encoder_, gen.au_source_
    res["unet_params"] = sum(p.numel() for p in gen.net_.unet.parameters())
    print(f"fit {res['fit_s']:.0f} s, {res['unet_params']} UNet params, {gen.text_encoder_}",
          flush=True)

    t0 = time.perf_counter()
    if args.scorer == "evaluator":
        from ferbench import paths
        from ferbench.metrics.evaluator import get_evaluator

        ev = get_evaluator(load_toyfaces("train", resolution=48, channels=1),
                           home=paths.evaluators_dir(), budget=args.scorer_budget, seed=0)
        res["scorer"] = {"kind": "reference evaluator", "key": ev.key,
                         "n_train": ev.meta["n_train"],
                         "weights_sha256": ev.meta["weights_sha256"]}
        scorer = ev.model
    else:
        scorer = train_classifier("noncomplex-cnn", train.images, train.contiguous_labels(),
                                  len(train.classes), seed=args.seed,
                                  config=train_config(args.scorer_budget, "noncomplex-cnn"),
                                  progress=False)
        res["scorer"] = {"kind": "noncomplex-cnn on the fit's real images"}
    res["scorer_train_s"] = time.perf_counter() - t0
    pred, _ = predict(scorer, test.images)
    res["scorer_real_test_acc"] = float((pred == test.contiguous_labels()).mean())
    print(f"scorer real-test accuracy {res['scorer_real_test_acc']:.3f}", flush=True)

    labels = np.repeat(train.class_indices, args.samples)
    pos = np.searchsorted(train.class_indices, labels)
    aus = gen.sample_aus(pos, np.random.default_rng(args.seed + 100))
    for arm, guided in (("synfer", True), ("synfer-noguide", False)):
        counter: dict = {}
        t0 = time.perf_counter()
        x = gen.render(labels, aus, seed=args.seed + 1, guidance=guided, counter=counter)
        wall = time.perf_counter() - t0
        imgs = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        p, _ = predict(scorer, imgs)
        acc = float((p == pos).mean())
        res[arm] = {"label_fidelity_acc": acc, "wall_s": wall,
                    "s_per_1000": wall / len(labels) * 1000,
                    "unet_evals_per_1000": counter["unet_evals"] / len(labels) * 1000,
                    "per_class_acc": {c: float((p[pos == i] == i).mean())
                                      for i, c in enumerate(train.classes)}}
        print(arm, json.dumps(res[arm]), flush=True)

    if args.with_pl:
        t0 = time.perf_counter()
        b = gen.generate(labels, seed=args.seed + 1, aus=aus)
        wall = time.perf_counter() - t0
        p, _ = predict(scorer, b.images)
        fin = np.searchsorted(train.class_indices, b.labels)
        res["synfer+pl"] = {"acc_on_final_labels": float((p == fin).mean()),
                            "acc_on_requested": float((p == pos).mean()), "wall_s": wall,
                            "info": b.info}
        print("synfer+pl", json.dumps(res["synfer+pl"]), flush=True)

    # DDPM-1000 extrapolation on one batch, same UNet and CFG.
    n = min(128, len(labels))
    text, au = gen.conditions(labels[:n], aus[:n])
    sched = make_solver("ddpm", 1000)
    xt = torch.randn(n, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    zt, za = torch.zeros_like(text), torch.zeros_like(au)
    t0 = time.perf_counter()
    with torch.no_grad():
        for t in sched.timesteps[:args.ddpm_steps]:
            e = gen.net_.eps(torch.cat([xt, xt]), t, torch.cat([text, zt]), torch.cat([au, za]))
            ec, eu = e.chunk(2)
            xt = sched.step(eu + gen.cfg_scale * (ec - eu), t, xt, generator=g).prev_sample
    per_step = (time.perf_counter() - t0) / args.ddpm_steps
    res["ddpm1000"] = {"unet_evals_per_1000": 1000 * 1000 * 2,
                       "s_per_1000_extrapolated": per_step * 1000 * 1000 / n,
                       "timed_steps": args.ddpm_steps, "batch": n}
    res["eval_ratio_ddpm_over_solver"] = (res["ddpm1000"]["unet_evals_per_1000"]
                                          / res["synfer"]["unet_evals_per_1000"])
    print("ddpm1000", json.dumps(res["ddpm1000"]), flush=True)

    gen.pseudo_label = False  # the grid shows guided samples before pseudo-labelling (speed)
    grid = sample_grid(HERE / "results" / "synfer_grid.png", gen, seeds=range(6))
    res["grid"] = str(grid.relative_to(HERE))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
