"""Sharpness of FER2013's prepared splits (the blur check's measure), as a markdown table.

Why: an earlier FER2013 archive shared with this project had a low-pass-filtered training
split, which ``ferbench.data.checks`` caught (train ~6.7 vs test ~26). This script measures a
copy the same way, so a replaced or user-supplied copy can be checked in seconds.

    python benchmarks/fer2013_sharpness.py                     # ../shared/datasets archive
    python benchmarks/fer2013_sharpness.py --data-root DIR     # an extracted copy

The archive is extracted with :func:`ferbench.data.extract.extract_cached` into
``~/.cache/ferbench-data`` (reused while its stamp matches the archive's sha256, re-extracted
otherwise), the same helper the FER2013 tests use. Splits are loaded through the prepared
cache (``$FERBENCH_HOME``), i.e. exactly the 48x48 grayscale uint8 arrays the classifier
trains on. Values are :func:`ferbench.data.checks.sharpness_per_image` over *all* images of
each split; the last column is :func:`ferbench.data.checks.sharpness`, which the run-time
warning uses (median of the first 2,000 images).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ferbench.data.cache import load
from ferbench.data.checks import sharpness, sharpness_per_image
from ferbench.data.extract import extract_cached

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "datasets" / "fer2013-kaggle.tar.gz"
LABEL = {"train": "train (Training)", "val": "val (PublicTest)", "test": "test (PrivateTest)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ferbench-data")
    ap.add_argument("--data-root", type=Path, help="an extracted copy (skips the archive)")
    args = ap.parse_args()
    if args.data_root is not None:
        root = args.data_root
        print(f"data: {root}")
    else:
        got = extract_cached(args.archive, args.cache, "fer2013")
        root = got.path
        print(f"data: {root} ({'extracted, ' + got.reason if got.extracted else 'reused'}; "
              f"archive {args.archive})")
    print("\n| split | n | p1 | p10 | median | p90 | p99 | `sharpness()` |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for split in ("train", "val", "test"):
        d = load("fer2013", split, root=root)
        per = sharpness_per_image(d.images)
        q = np.percentile(per, [1, 10, 50, 90, 99])
        print(f"| {LABEL[split]} | {len(per):,} | " + " | ".join(f"{v:.1f}" for v in q)
              + f" | {sharpness(d.images):.1f} |")


if __name__ == "__main__":
    main()
