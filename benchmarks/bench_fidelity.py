"""Throughput of the fidelity protocol's extractors on this machine (images/s).

Rows:

- ``inception-v3`` (fp32, CPU or CUDA): clean-fid resize to 299x299 + the Inception core, 2048-d;
- ``fer-evaluator``: the reference evaluator's 1024-d penultimate features. Throughput does not
  depend on the weights, so an untrained network of the same architecture is timed (no
  training in a benchmark of feature extraction);
- ``mini-xception``: the optional third-party label scorer's predictions (64x64 resize + the
  network), timed on an untrained network of the same architecture like the evaluator row;
- ``dlib-68`` landmarks (4x upsample, HOG detector, fallback box, shape predictor) and the full
  ``dlib-geometric`` AU estimate (landmarks + geometry).

Images are toyfaces test faces (48x48 gray by default). Each row runs ``--rounds`` times and
the median is reported, so that load from other processes hits the rows alike; the 1-minute
load average before and after is printed with the machine.

    nice -n 10 .venv/bin/python benchmarks/bench_fidelity.py [--n 32] [--rounds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ferbench.aus_estimate.geometric import GeometricAUEstimator
from ferbench.aus_estimate.landmarks import DlibLandmarks
from ferbench.classify import build_classifier
from ferbench.data.toyfaces import load_toyfaces
from ferbench.features.expression import ExpressionFeatures
from ferbench.features.inception import InceptionFeatures
from ferbench.metrics.evaluator import ReferenceEvaluator
from ferbench.metrics.mini_xception import MiniXception, MiniXceptionScorer


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rate(fn, images, rounds: int) -> float:
    fn(images[:2])  # warm-up
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn(images)
        times.append(time.perf_counter() - t)
    return len(images) / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32, help="images per round (Inception rows)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--resolution", type=int, default=48)
    a = ap.parse_args()
    data = load_toyfaces("test", resolution=a.resolution, channels=1,
                         n_per_class=max(1, (8 * a.n) // 7 + 1))
    small, big = data.images[:a.n], data.images[:8 * a.n]
    load0 = os.getloadavg()[0]
    rows = []
    inc = InceptionFeatures(device=a.device, batch_size=32)
    rows.append(("inception-v3 (fp32, 299x299, batch 32)", len(small),
                 _rate(inc, small, a.rounds)))
    model = build_classifier("noncomplex-cnn", len(data.classes), 1, a.resolution).eval()
    ev = ReferenceEvaluator(model=model, classes=data.classes, resolution=a.resolution,
                            channels=1, key="bench", path=Path("."), meta={"weights_sha256": ""})
    expr = ExpressionFeatures(ev, device=a.device)
    rows.append(("fer-evaluator features", len(big), _rate(expr, big, a.rounds)))
    mx = MiniXceptionScorer(MiniXception().eval(), weights_sha256="")
    rows.append(("mini-xception label scorer (64x64)", len(big),
                 _rate(lambda x: mx.predict(x, device=a.device), big, a.rounds)))
    lm = DlibLandmarks()
    rows.append(("dlib-68 landmarks", len(small) * 2, _rate(lm, data.images[:2 * a.n],
                                                              a.rounds)))
    est = GeometricAUEstimator(landmarker=lm).fit_reference(landmarks=data.landmarks,
                                                            labels=data.labels)
    rows.append(("dlib-geometric AU estimate", len(small) * 2,
                 _rate(est, data.images[:2 * a.n], a.rounds)))
    load1 = os.getloadavg()[0]
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} threads {torch.get_num_threads()}, device {a.device}; "
          f"load average {load0:.1f} -> {load1:.1f}; toyfaces {a.resolution}px gray; "
          f"median of {a.rounds} rounds")
    print("| extractor | images per round | images/s |")
    print("|---|---|---|")
    for name, n, r in rows:
        print(f"| {name} | {n} | {r:.1f} |")


if __name__ == "__main__":
    main()
