"""On-disk artefacts of the fit and pool stages (under ``$FERBENCH_HOME``, see
:mod:`ferbench.paths`).

- A fit is a directory ``fits/<fit_id>/`` holding what the generator's ``save`` wrote
  (safetensors + JSON) and ``fit.json`` (the pool spec it was fitted for and the generator's
  metadata). It appears in one rename, so it is either whole or absent. The generator's
  private work directory for checkpoints is ``fits/<fit_id>.work/``; it is removed once the fit
  is saved. Fitting holds ``fits/<fit_id>.lock`` (:func:`fit_lock`), so concurrent workers
  fit once.
- A pool is a directory ``pools/<pool_id>/`` of blocks ``block_<j>.npz`` (each written
  atomically): ``images``, ``labels`` (final), ``requested`` (the label each image was made
  for, after the harness's relabel-and-drop selection), optionally ``aus_requested`` and
  ``aus``; plus ``block_<j>.json`` with that block's statistics.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ferbench import paths
from ferbench.api.results import PoolSpec


def fit_dir(fit_id: str) -> Path:
    return paths.fits_dir() / fit_id


def fit_workdir(fit_id: str) -> Path:
    return paths.fits_dir() / f"{fit_id}.work"


@contextmanager
def fit_lock(fit_id: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``fits/<fit_id>.lock`` (blocking). flock works on
    local disks and on NFSv4 (Linux maps it to a POSIX byte-range lock there); the lock file
    is left in place (removing it would race with a waiter that already opened it)."""
    import fcntl

    path = paths.fits_dir() / f"{fit_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def load_fit(pool: PoolSpec, device: str):
    """The saved fit for ``pool``'s fit_id, loaded through the generator's ``load`` (and, for a
    shared fit, given ``pool``'s params through ``set_params``); None when there is none (or
    the generator cannot load, or the entry is unreadable)."""
    import warnings

    from ferbench.api.generator import GENERATORS, can_save

    d = fit_dir(pool.fit_id)
    if not (d / "fit.json").is_file():
        return None
    cls = GENERATORS.get(pool.generator)
    if not callable(getattr(cls, "load", None)):
        return None
    try:
        gen = cls.load(d, device=device)
        if pool.fit_key is not None:  # a shared fit: this generator's own (sample-time) params
            gen.set_params(**pool.generator_params)
    except Exception as exc:  # a stale or broken entry is refitted, not fatal
        warnings.warn(f"ignoring unreadable generator fit {d}: {exc}", stacklevel=2)
        return None
    return gen if can_save(gen) else None


def save_fit(gen, pool: PoolSpec) -> bool:
    """Save a fitted generator atomically; False when it has no ``save``."""
    from ferbench.api.generator import can_save

    if not can_save(gen):
        return False
    with paths.atomic_dir(fit_dir(pool.fit_id)) as tmp:
        gen.save(tmp)
        (tmp / "fit.json").write_text(json.dumps(
            {"pool_spec": pool.to_dict(), "meta": gen.meta.to_dict()}, indent=1, sort_keys=True,
            default=str))
    shutil.rmtree(fit_workdir(pool.fit_id), ignore_errors=True)
    return True


def pool_dir(pool_id: str) -> Path:
    return paths.pools_dir() / pool_id


def block_path(pool_id: str, j: int) -> Path:
    return pool_dir(pool_id) / f"block_{j}.npz"


def has_block(pool_id: str, j: int) -> bool:
    return block_path(pool_id, j).is_file()


def pool_complete(pool_id: str, n_blocks: int) -> bool:
    return all(has_block(pool_id, j) for j in range(n_blocks))


def write_block(pool_id: str, j: int, arrays: dict[str, np.ndarray], stats: dict) -> None:
    paths.atomic_write_json(pool_dir(pool_id) / f"block_{j}.json", stats)
    paths.atomic_savez(block_path(pool_id, j), **arrays)  # the .npz is authoritative


def read_block(pool_id: str, j: int) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(block_path(pool_id, j), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = pool_dir(pool_id) / f"block_{j}.json"
    stats = json.loads(meta.read_text()) if meta.is_file() else {}
    return arrays, stats


#: images per class (columns) in a pool's ``grid.png``
GRID_COLUMNS = 8


def grid_path(pool_id: str, name: str = "grid.png") -> Path:
    return pool_dir(pool_id) / name


def write_pool_grid(pool_id: str, images: np.ndarray, labels: np.ndarray,
                    classes: list[int]) -> Path:
    """``grid.png`` beside the pool: one row per class in ``classes`` (canonical indices),
    the first :data:`GRID_COLUMNS` images of that class in the block, 2 px white gaps; for
    the leaderboard and for a first look without Python. Written atomically."""
    from PIL import Image

    _, h, w, c = images.shape
    gap = 2
    grid = np.full((len(classes) * (h + gap) - gap, GRID_COLUMNS * (w + gap) - gap, c), 255,
                   np.uint8)
    for r, k in enumerate(classes):
        for j, i in enumerate(np.flatnonzero(labels == k)[:GRID_COLUMNS]):
            grid[r * (h + gap):r * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = images[i]
    img = Image.fromarray(grid[..., 0] if c == 1 else grid)
    path = grid_path(pool_id)
    paths.atomic_write_path(path, lambda tmp: img.save(tmp, format="PNG"))
    return path
