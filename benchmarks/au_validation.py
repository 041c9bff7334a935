"""Validate the geometric AU estimator on toyfaces' ground-truth AUs and landmarks.

Reference normalisation + FACS calibration are fitted on the toyfaces TRAIN split; Pearson r
between estimate and ground truth is measured on the held-out TEST split, (i) from the
ground-truth landmarks and (ii) from dlib-detected landmarks on the images. Prints a markdown
table for benchmarks/README.md.

    nice -n 10 .venv/bin/python benchmarks/au_validation.py [--train-per-class 100]
        [--test-per-class 50] [--resolution 48]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ferbench.aus_estimate.geometric import MIN_R, GeometricAUEstimator
from ferbench.aus_estimate.landmarks import DlibLandmarks
from ferbench.data.toyfaces import load_toyfaces


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or a[ok].std() == 0 or b[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def validate(train_per_class: int, test_per_class: int, resolution: int = 48) -> dict:
    train = load_toyfaces("train", resolution=resolution, channels=1, n_per_class=train_per_class)
    test = load_toyfaces("test", resolution=resolution, channels=1, n_per_class=test_per_class)
    lm = DlibLandmarks()
    t0 = time.perf_counter()
    lm_train, det_train = lm(train.images)
    lm_test, det_test = lm(test.images)
    secs = time.perf_counter() - t0
    out = {"n_train": len(train), "n_test": len(test), "resolution": resolution,
           "dlib_s_per_img": secs / (len(train) + len(test)),
           "detector_hit_rate": float(np.r_[det_train, det_test].mean()),
           "landmark_mae_px": float(np.abs(lm_test - test.landmarks).mean()), "r": {}}
    for source, ltr, lte in (("gt", train.landmarks, test.landmarks),
                             ("dlib", lm_train, lm_test)):
        est = GeometricAUEstimator(landmarker=lm).fit_reference(
            landmarks=ltr, labels=train.labels, aus=train.aus, au_names=train.au_names)
        pred = est.from_landmarks(lte)
        for j, name in enumerate(est.au_names):
            gt = test.aus[:, list(test.au_names).index(name)]
            out["r"].setdefault(name, {})[source] = pearson(pred[:, j], gt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-per-class", type=int, default=100)
    ap.add_argument("--test-per-class", type=int, default=50)
    ap.add_argument("--resolution", type=int, default=48)
    a = ap.parse_args()
    res = validate(a.train_per_class, a.test_per_class, a.resolution)
    print(f"toyfaces {res['resolution']}px, calibrated on {res['n_train']} train faces, "
          f"r on {res['n_test']} test faces; dlib {res['dlib_s_per_img'] * 1000:.1f} ms/img, "
          f"detector box on {res['detector_hit_rate']:.0%} (else fixed box), landmark MAE "
          f"{res['landmark_mae_px']:.2f} px")
    print("| AU | r (ground-truth landmarks) | r (dlib landmarks) | used in scores |")
    print("|---|---|---|---|")
    for name, r in res["r"].items():
        print(f"| {name} | {r['gt']:.2f} | {r['dlib']:.2f} | "
              f"{'yes' if r['dlib'] >= MIN_R else 'no'} |")


if __name__ == "__main__":
    main()
