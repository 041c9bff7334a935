"""The one place that derives identity hashes.

Every cache key and result identity in ferbench is the sha256 of a canonical JSON object
(sorted keys, no whitespace). What goes into each is decided here and nowhere else:

- :func:`cell_id`: the classifier cell: its :class:`~ferbench.api.results.CellSpec` minus
  where the data live (the datasets' *content* hashes are in it instead), plus everything
  else that changes the numbers: the resolved mixed precision, the bootstrap resamples.
- :func:`fit_id`: a fitted generator: generator name, version and params, the training set's
  content hash (after the low-data subset), resolution, channels, seed and budget.
- :func:`pool_id`: a synthetic pool: the fit, plus the pool format and the AU targets asked for.
  The ratio is not part of it: pools are nested, smaller k read a prefix of the blocks. When
  several generators share one fit (a generator's optional ``fit_key``, e.g. the sample-time
  ablations of ``synfer``), the sampler (generator name and full params) is part of it too.
- :func:`prepared_key`: a prepared (decoded) dataset; what goes into it is assembled by
  :func:`ferbench.data.cache.cache_key` (adapter, source fingerprint, decode rules, size).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Bumped when the layout of a pool on disk changes.
POOL_FORMAT_VERSION = 2
#: Bumped when the layout of a saved fit changes.
FIT_FORMAT_VERSION = 2


def canonical_hash(obj: Any) -> str:
    """sha256 of a JSON-serialisable object in canonical form (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (datasets' index files, archives, model assets)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def prepared_key(payload: dict) -> str:
    """The prepared cache's key. Its JSON form (default separators) predates
    :func:`canonical_hash` and is kept, so that existing prepared caches stay valid."""
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def fit_identity(generator: str, generator_version: str, generator_params: dict,
                 train_hash: str, resolution: int, channels: int, seed: int, budget: str
                 ) -> dict:
    return {"fit_format": FIT_FORMAT_VERSION, "generator": generator,
            "generator_version": generator_version, "generator_params": generator_params,
            "train_hash": train_hash, "resolution": resolution, "channels": channels,
            "seed": seed, "budget": budget}


def fit_id(**fields: Any) -> str:
    return canonical_hash(fit_identity(**fields))


def pool_id(fit: str, au_targets: str | None, sampler: dict | None = None) -> str:
    """``sampler``: ``{"generator", "params"}`` when the fit is shared by several generators
    (None otherwise, which keeps every earlier pool id unchanged)."""
    ident = {"pool_format": POOL_FORMAT_VERSION, "fit": fit, "au_targets": au_targets}
    if sampler is not None:
        ident["sampler"] = sampler
    return canonical_hash(ident)


def pool_result_id(pool_id: str, protocol: str, protocol_version: int, n: int,
                   config: dict) -> str:
    """A pool-level result: the pool, the scoring protocol, N and the scorer's config."""
    return canonical_hash({"pool_id": pool_id, "protocol": protocol,
                           "protocol_version": protocol_version, "n": n, "config": config})


def cell_id(identity: dict) -> str:
    """``identity``: :meth:`ferbench.api.results.CellSpec.identity`."""
    return canonical_hash(identity)
