"""The one home of ferbench's on-disk locations and of atomic writes.

Everything ferbench caches lives under ``$FERBENCH_HOME`` (default ``~/.cache/ferbench``),
never in site-packages, and every cache key is derived (:mod:`ferbench.identity`), never chosen
by the user::

    $FERBENCH_HOME/
      results.duckdb          the results store (ferbench.results.store)
      prepared/               decoded datasets, one .npz per (dataset, split, ...) key
      fits/<fit_id>/          a fitted generator (safetensors + JSON), written atomically
      fits/<fit_id>.work/     the fit's private work directory (checkpoints; resumable)
      pools/<pool_id>/        synthetic pools: block_<j>.npz, pool.json
      evaluators/             ferbench's own scoring models (never reachable from a generator)
      submissions/<name>/<version>/  accepted folder/archive submissions (ferbench.submit)
      jobs/<run>/             scale-out runs: records/<cell_id>.json, logs/ (ferbench.engine)
    $FERBENCH_ASSETS/ (default ~/.cache/ferbench-assets)
      <asset>/<file>          third-party model files fetched once (ferbench.assets)

Writes go to a temporary file or directory in the same folder followed by ``os.replace``, so a
killed process never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def home() -> Path:
    """``$FERBENCH_HOME`` or ``~/.cache/ferbench`` (not created here)."""
    env = os.environ.get("FERBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ferbench"


def store_path() -> Path:
    return home() / "results.duckdb"


def prepared_dir() -> Path:
    return home() / "prepared"


def fits_dir() -> Path:
    return home() / "fits"


def pools_dir() -> Path:
    return home() / "pools"


def evaluators_dir() -> Path:
    return home() / "evaluators"


def assets_dir() -> Path:
    """Model files fetched once by ``ferbench assets fetch`` (:mod:`ferbench.assets`):
    ``$FERBENCH_ASSETS`` or ``~/.cache/ferbench-assets``. Kept apart from ``$FERBENCH_HOME``
    so that a scratch results home (tests, a fresh run) still finds them."""
    env = os.environ.get("FERBENCH_ASSETS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ferbench-assets"


def submissions_dir() -> Path:
    return home() / "submissions"


def jobs_dir() -> Path:
    """Scale-out runs: ``jobs/<run>/records/<cell_id>.json`` (each finished cell, written
    atomically by its worker) and ``jobs/<run>/logs/`` (submitit's pickles and job logs)."""
    return home() / "jobs"


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_path(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Like :func:`atomic_write` for writers that want a file *name* (safetensors):
    ``write(tmp_name)`` next to ``path``, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def atomic_savez(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """``np.savez`` (uncompressed: cache hits must be fast) written atomically."""
    atomic_write(path, lambda f: np.savez(f, **arrays))


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; on success it replaces ``path`` in one
    rename, on any error (or Ctrl-C) it is removed and ``path`` is left as it was. If another
    process finished ``path`` first, its copy is kept (first writer wins)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():  # not a lost race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
