"""synfer at sampling time: which sampler settings make faces the independent scorer recognises?

Loads one **saved** synfer fit (a ``$FERBENCH_HOME/fits/<fit_id>/`` directory written by the
harness, e.g. by ``ferbench run -g synfer -p fidelity --budget quick``), so no fit is repeated,
and samples ``--per-class`` images per class at the same seed and the same AU targets under
each setting in ``--setting`` (sample-time params only: ``guidance``, ``sample_steps``,
``solver``, ``cfg_scale``, ``guidance_lambda``, ``guidance_start``). For each setting it
reports, without pseudo-labelling (``render``):

- label fidelity: the fidelity protocol's reference evaluator (trained by ferbench on all real
  toyfaces training faces; cached; never the generator's guidance classifier or ensemble)
  scored against the requested labels, overall and per class;
- UNet evaluations and wall time per 1,000 samples;
- the share of "noise textures": samples whose mean absolute Laplacian is above the 99th
  percentile of the real training faces' (real faces are smooth; untrained diffusion output
  is not).

    OMP_NUM_THREADS=1 python benchmarks/bench_synfer_sampling.py --fit ~/.cache/ferbench/fits/<id> \
        --setting default: --setting noguide:guidance=False --setting steps20:sample_steps=20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ferbench import paths
from ferbench.classify import predict
from ferbench.data.toyfaces import load_toyfaces
from ferbench.metrics.evaluator import get_evaluator
from ferbench_generators.synfer.generator import SynFER


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_setting(text: str) -> tuple[str, dict]:
    """``name:k=v,k=v`` -> (name, params)."""
    name, _, rest = text.partition(":")
    params = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return name, {k: _value(v) for k, v in params.items()}


def roughness(images: np.ndarray) -> np.ndarray:
    """Mean absolute 4-neighbour Laplacian per image (uint8 ``(n, h, w, c)`` -> ``(n,)``)."""
    x = images.astype(np.float32) / 255.0
    lap = (4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2]
           - x[:, 1:-1, 2:])
    return np.abs(lap).mean(axis=(1, 2, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", required=True, help="a saved synfer fit directory")
    ap.add_argument("--setting", action="append", default=None,
                    help="name:k=v,... (sample-time params); repeatable")
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results here too")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = [parse_setting(s) for s in (args.setting or ["default:"])]

    gen = SynFER.load(Path(args.fit).expanduser())
    res = gen.shape_[0]
    train = load_toyfaces("train", resolution=res, channels=gen.shape_[2])
    ev = get_evaluator(train, home=paths.evaluators_dir(), budget="quick", seed=0)
    rough_cut = float(np.percentile(roughness(train.images), 99))
    labels = np.repeat(np.array(gen.class_idx_), args.per_class)
    pos = np.searchsorted(gen.class_idx_, labels)
    aus = gen.sample_aus(pos, np.random.default_rng(args.seed + 100))
    base = gen.get_params()
    out = {"fit": str(args.fit), "evaluator": ev.key, "per_class": args.per_class,
           "seed": args.seed, "threads": args.threads, "real_roughness_p99": rough_cut,
           "settings": {}}
    print(f"{'setting':<14} {'label fid.':>10} {'noise share':>11} {'UNet evals/1k':>13} "
          f"{'s/1k':>7}  per class ({', '.join(gen.classes_)})", flush=True)
    for name, params in settings:
        gen.set_params(**{**base, **params})
        counter: dict = {}
        t0 = time.perf_counter()
        x = gen.render(labels, aus, seed=args.seed, counter=counter)
        wall = time.perf_counter() - t0
        imgs = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        p, _ = predict(ev.model, imgs)
        want = ev.positions(labels)
        acc = float((p == want).mean())
        per = [float((p[pos == i] == want[pos == i]).mean()) for i in range(len(gen.classes_))]
        rough = roughness(imgs) > rough_cut
        noisy = float(rough.mean())
        per_noise = [float(rough[pos == i].mean()) for i in range(len(gen.classes_))]
        row = {"params": params, "label_fidelity": acc, "per_class": per, "noise_share": noisy,
               "noise_share_per_class": per_noise,
               "unet_evals_per_1000": counter.get("unet_evals", 0) / len(labels) * 1000,
               "s_per_1000": wall / len(labels) * 1000}
        out["settings"][name] = row
        print(f"{name:<14} {acc:>10.3f} {noisy:>11.2f} {row['unet_evals_per_1000']:>13.0f} "
              f"{row['s_per_1000']:>7.0f}  {' '.join(f'{v:.2f}' for v in per)}"
              f"  | noise {' '.join(f'{v:.1f}' for v in per_noise)}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
