"""Runs protocol cells, caches the expensive stages, and resumes after any interruption.

A *cell* is a serialisable dict (see :func:`ferbench.protocol.expand`) and its result is a
plain record dict; :func:`run_cell` maps one to the other with no shared state beyond the
on-disk caches under ``$FERBENCH_HOME``, so cells can later run as independent cluster jobs
with one writer ingesting the records into DuckDB.

Stages and their caches (all written atomically: a kill never leaves a half entry):

- prepared datasets: :func:`ferbench.data.cache.load`;
- fitted generators: ``fits/<key>.pt`` (pickled with ``torch.save`` when the generator
  pickles; otherwise it is simply re-fitted);
- synthetic pools: ``pools/<key>/block_<j>.npz``. Block ``j`` holds |real| images whose
  labels are a seeded permutation of the real subset's labels, so any prefix of whole blocks
  has exactly the real set's class balance. Ratio k uses blocks ``0..ceil(k)-1`` (a
  fractional last block is subsampled per class), which makes the mix pools nested: one fit
  and one 5x pool per (generator, data, seed), prefixes for smaller k;
- finished cells: the DuckDB store. A cell is written once, in one transaction, only after
  it has finished; on a re-run finished cells are skipped.

The generator only ever sees a :class:`~ferbench.data.TrainSet` built from the (subsetted)
real training split. The classifier it is scored with is created and trained here, after
generation, and is never passed to it.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import ferbench
from ferbench.api import Budget
from ferbench.data.base import FaceData, TrainSet
from ferbench.errors import FerbenchError
from ferbench.labels import CANONICAL, INDEX
from ferbench.protocol import spec_hash

log = logging.getLogger("ferbench")

POOL_FORMAT_VERSION = 1


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise FerbenchError("--device cuda was asked for, but torch sees no CUDA device")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise FerbenchError(f"unknown device '{device}'; use cpu, cuda or auto")
    return device


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def select_real(train: FaceData, real_per_class: int | None, real_fraction: float,
                seed: int) -> FaceData:
    """Seeded, stratified subset of the real training split (the low-data regime)."""
    if real_per_class is None and real_fraction >= 1.0:
        return train
    rng = np.random.default_rng([seed, 0xFE5])
    keep = []
    for c in train.class_indices:
        idx = np.flatnonzero(train.labels == c)
        n = len(idx)
        if real_fraction < 1.0:
            n = max(1, int(round(n * real_fraction))) if n else 0
        if real_per_class is not None:
            n = min(n, real_per_class)
        keep.append(np.sort(rng.permutation(idx)[:n]))
    return train.subset(np.concatenate(keep))


def _atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@dataclass
class Context:
    """In-process memo shared by the cells of one run (datasets, fitted generators)."""

    device: str = "cpu"
    progress: bool = True
    home: Path | None = None
    n_boot: int = 1000
    _data: dict = field(default_factory=dict)
    _fits: dict = field(default_factory=dict)

    def home_dir(self) -> Path:
        if self.home is None:
            from ferbench.data.cache import cache_dir

            self.home = Path(cache_dir())
        return self.home

    def dataset(self, name: str, split: str, root: str | None, resolution: int,
                channels: int) -> FaceData:
        key = (name, split, root, resolution, channels)
        if key not in self._data:
            from ferbench.data.cache import load

            self._data[key] = load(name, split, root=root, resolution=resolution,
                                   channels=channels)
        return self._data[key]

    def data_checks(self, train: FaceData, test: FaceData) -> dict:
        """Train/test sanity checks, computed (and warned about) once per pair of splits."""
        from ferbench.data.checks import sharpness_mismatch

        key = ("checks", _data_hash(train), _data_hash(test))
        if key not in self._data:
            a, b, warning = sharpness_mismatch(train.images, test.images)
            if warning:
                warnings.warn(f"{train.name}/{train.split} vs {test.name}/{test.split}: "
                              f"{warning}", stacklevel=2)
            self._data[key] = {"train_sharpness": round(a, 3), "test_sharpness": round(b, 3),
                               "warning": warning}
        return self._data[key]


def _data_hash(d: FaceData) -> str:
    return d.meta.get("content_hash") or d.content_hash()


def pool_key(cell: dict, train_hash: str) -> str:
    return spec_hash({
        "pool_format": POOL_FORMAT_VERSION, "generator": cell["generator"],
        "generator_version": cell["generator_version"],
        "generator_params": cell["generator_params"], "dataset": cell["dataset"],
        "train_hash": train_hash, "resolution": cell["resolution"],
        "channels": cell["channels"], "real_per_class": cell["real_per_class"],
        "real_fraction": cell["real_fraction"], "seed": cell["seed"], "budget": cell["budget"],
    })


def _fitted_generator(cell: dict, real: FaceData, key: str, ctx: Context):
    """Fit (or load a cached fit of) the cell's generator on the training-only view."""
    import torch

    from ferbench.api import create_generator

    if key in ctx._fits:
        return ctx._fits[key]
    path = ctx.home_dir() / "fits" / f"{key}.pt"
    gen = None
    if path.exists():
        try:
            gen = torch.load(path, weights_only=False, map_location=ctx.device)
        except Exception as exc:  # a stale or broken cache entry is refitted, not fatal
            warnings.warn(f"ignoring unreadable generator fit cache {path}: {exc}", stacklevel=2)
    if gen is None:
        gen = create_generator(cell["generator"], **cell["generator_params"])
        log.info("fitting generator %s on %d real images", cell["generator"], len(real))
        t0 = time.time()
        gen.fit(TrainSet(real), seed=cell["seed"], budget=Budget(cell["budget"]),
                device=ctx.device)
        log.info("fitted %s in %.1fs", cell["generator"], time.time() - t0)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(gen, tmp)
            os.replace(tmp, path)
        except Exception as exc:  # not picklable: fine, it is re-fitted if needed
            log.info("generator fit not cached (%s)", exc)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    ctx._fits[key] = gen
    return gen


def synthetic_pool(cell: dict, real: FaceData, ctx: Context) -> tuple[FaceData, str]:
    """Return the cell's synthetic training images (ratio x |real|) and the pool key."""
    ratio = float(cell["ratio"])
    key = pool_key(cell, _data_hash(real))
    pool_dir = ctx.home_dir() / "pools" / key
    n_blocks = math.ceil(ratio)
    images, labels = [], []
    gen = None
    from tqdm.auto import tqdm

    blocks = range(n_blocks)
    for j in tqdm(blocks, desc=f"synthetic pool ({cell['generator']})", leave=False,
                  disable=not ctx.progress):
        path = pool_dir / f"block_{j}.npz"
        if path.exists():
            with np.load(path) as z:
                bx, by = z["images"], z["labels"]
        else:
            gen = gen or _fitted_generator(cell, real, key, ctx)
            rng = np.random.default_rng([cell["seed"], j, 0xB10C])
            want = real.labels[rng.permutation(len(real))]
            bx, by = _generate_block(gen, want, seed=int(rng.integers(2**31)), real=real,
                                     name=cell["generator"])
            _atomic_savez(path, images=bx, labels=by)
        frac = ratio - j
        if frac < 1.0 - 1e-9:  # fractional last block: a class-balanced subsample
            keep = []
            for c in real.class_indices:
                idx = np.flatnonzero(by == c)
                keep.append(idx[: int(round(frac * (real.labels == c).sum()))])
            sel = np.sort(np.concatenate(keep))
            bx, by = bx[sel], by[sel]
        images.append(bx)
        labels.append(by)
    data = FaceData(name=f"{cell['generator']}-pool", split="train",
                    images=np.concatenate(images), labels=np.concatenate(labels),
                    classes=real.classes)
    return data, key


def _generate_block(gen, want: np.ndarray, *, seed: int, real: FaceData, name: str,
                    chunk: int = 512):
    xs, ys = [], []
    for start in range(0, len(want), chunk):
        batch = gen.generate(want[start:start + chunk], seed=seed + start)
        x, y = np.asarray(batch.images), np.asarray(batch.labels, dtype=np.int64)
        expect = (len(y), real.resolution, real.resolution, real.channels)
        if x.dtype != np.uint8 or x.shape != expect:
            raise FerbenchError(f"generator '{name}' returned images {x.dtype} {x.shape}; "
                                f"expected uint8 {expect}")
        bad = set(np.unique(y).tolist()) - set(real.class_indices.tolist())
        if bad:
            raise FerbenchError(f"generator '{name}' claimed labels outside the dataset's "
                                f"classes: {sorted(bad)}")
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def run_cell(cell: dict, ctx: Context | None = None) -> dict:
    """Run one cell end to end and return its result record (nothing is stored here)."""
    from ferbench import classify, metrics

    ctx = ctx or Context()
    t0 = time.time()
    spec_root = cell.get("data_root")
    train_full = ctx.dataset(cell["dataset"], cell["train_split"], spec_root,
                             cell["resolution"], cell["channels"])
    real = select_real(train_full, cell["real_per_class"], cell["real_fraction"], cell["seed"])
    test = ctx.dataset(cell["test_dataset"], cell["test_split"],
                       cell.get("test_data_root") or
                       (spec_root if cell["test_dataset"] == cell["dataset"] else None),
                       cell["resolution"], cell["channels"])
    classes = real.classes
    test = _restrict_to(test, classes)
    checks = ctx.data_checks(train_full, test)

    pool_hash = None
    parts_x, parts_y = [], []
    if cell["mode"] in ("real", "mix"):
        parts_x.append(real.images)
        parts_y.append(real.contiguous_labels(classes))
    n_syn = 0
    if cell["ratio"] > 0:
        syn, pool_hash = synthetic_pool(cell, real, ctx)
        parts_x.append(syn.images)
        parts_y.append(syn.contiguous_labels(classes))
        n_syn = len(syn)
    x = np.concatenate(parts_x)
    y = np.concatenate(parts_y)

    config = classify.train_config(cell["budget"], cell["classifier"])
    if cell.get("epochs"):
        config = config.replace(epochs=int(cell["epochs"]))
    model = classify.train_classifier(
        cell["classifier"], x, y, len(classes), seed=cell["seed"], config=config,
        device=ctx.device, progress=ctx.progress,
        desc=f"{cell['mode']} k={cell['ratio']:g} seed={cell['seed']}",
    )
    y_true = test.contiguous_labels(classes)
    y_pred, _ = classify.predict(model, test.images, device=ctx.device)
    scores = metrics.classification_scores(y_true, y_pred, list(classes), n_boot=ctx.n_boot,
                                           seed=cell["seed"])
    import torch

    from ferbench.store import SCHEMA_VERSION

    return {
        "cell_id": cell["cell_id"], "spec": cell, "schema_version": SCHEMA_VERSION,
        "protocol": cell["protocol"], "protocol_version": cell["protocol_version"],
        "mode": cell["mode"], "ratio": float(cell["ratio"]),
        "dataset": cell["dataset"], "train_split": cell["train_split"],
        "test_dataset": cell["test_dataset"], "test_split": cell["test_split"],
        "dataset_hash": _data_hash(train_full), "test_dataset_hash": _data_hash(test),
        "resolution": cell["resolution"], "channels": cell["channels"],
        "real_per_class": cell["real_per_class"], "real_fraction": cell["real_fraction"],
        "n_real": len(real) if cell["mode"] != "synthetic" else 0, "n_synthetic": n_syn,
        "n_test": len(test),
        "generator": cell["generator"], "generator_version": cell["generator_version"],
        "generator_params": cell["generator_params"], "pool_hash": pool_hash,
        "feature_extractor": None, "feature_extractor_hash": None,
        "classifier": cell["classifier"], "budget": cell["budget"], "seed": cell["seed"],
        "classifier_config": _jsonable(getattr(model, "ferbench_train_info", {})),
        "data_checks": checks,
        "ferbench_version": ferbench.__version__, "git_sha": git_sha(),
        "torch_version": torch.__version__, "device": ctx.device,
        "wall_time_s": round(time.time() - t0, 3),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": {k: scores[k] for k in (
            "accuracy", "accuracy_lo", "accuracy_hi", "balanced_accuracy",
            "balanced_accuracy_lo", "balanced_accuracy_hi", "macro_f1", "macro_f1_lo",
            "macro_f1_hi", "n_test")},
        "per_class": scores["per_class"], "confusion": scores["confusion"],
        "classes": list(classes),
        "y_true": [int(v) for v in y_true], "y_pred": [int(v) for v in y_pred],
    }


def _jsonable(obj):
    import json

    return json.loads(json.dumps(obj, default=str))


def _restrict_to(test: FaceData, classes: tuple[str, ...]) -> FaceData:
    """Cross-dataset evaluation: keep the test images whose class the classifier knows."""
    known = np.isin(test.labels, [INDEX[c] for c in classes])
    if known.all():
        return test
    dropped = sorted({CANONICAL[i] for i in test.labels[~known]})
    warnings.warn(f"{test.name}/{test.split}: dropping {int((~known).sum())} test images of "
                  f"classes the training set lacks: {', '.join(dropped)}", stacklevel=2)
    out = test.subset(np.flatnonzero(known))
    out.classes = tuple(c for c in test.classes if c in classes)
    return out


def run_protocol(spec, generator: str | None, generator_params: dict | None, store,
                 ctx: Context) -> list[dict]:
    """Expand ``spec`` into cells, run the missing ones, store each as it finishes.

    Returns every cell of the run (finished earlier or now), in expansion order. A
    KeyboardInterrupt or crash leaves all previously finished cells stored and nothing else.
    """
    from tqdm.auto import tqdm

    from ferbench.api import create_generator
    from ferbench.protocol import expand

    gen_version = None
    params = dict(generator_params or {})
    if spec.needs_generator:
        if generator is None:
            raise FerbenchError(f"protocol '{spec.name}' (mode {spec.mode}) needs --generator")
        g = create_generator(generator, **params)
        gen_version = g.meta.version
        params = g.get_params()
    elif generator is not None:
        log.info("protocol '%s' trains on real data only; generator '%s' is not used",
                 spec.name, generator)
        generator = None
    cells = expand(spec, generator, gen_version, params)
    done = store.finished_ids([c["cell_id"] for c in cells])
    todo = [c for c in cells if c["cell_id"] not in done]
    if done:
        log.info("resuming: %d of %d cells already finished", len(done), len(cells))
    for cell in tqdm(todo, desc=f"{spec.name} cells", disable=not ctx.progress or not todo):
        record = run_cell(cell, ctx)
        store.write_cell(record)
    return cells
