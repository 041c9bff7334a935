"""Expand a protocol spec into an explicit plan of jobs: fit -> pool -> cell.

Each job has a key (its identity hash, :mod:`ferbench.identity`) and the keys it depends on,
and is a pure function of its spec plus the on-disk artefacts of its dependencies
(:mod:`ferbench.engine.stages`), so an executor may run it anywhere:

- ``fit`` (key ``fit_id``): fit the generator on the training-only view of the (low-data)
  real subset, save it. One per (generator, params, training data, seed, budget).
- ``pool`` (key ``pool_id``, depends on its fit): generate the synthetic pool, ``n_blocks``
  blocks of |real| images each. Pools are nested: ratio k reads the first ceil(k) blocks, so
  one pool serves every k of a seed. A folder submission enters here, with no fit.
- ``cell`` (key ``cell_id``, depends on its pool when it uses synthetic data): train the
  fixed classifier and score it on the real test (and validation) split.
- ``score`` (key: the pool result's id, depends on its pool): pool-level scores (the
  ``fidelity`` protocol), stored as a pool result.

The real-only cells of ``mix`` carry ``generator=None``, so every generator run under the same
settings shares, and reuses, one baseline per seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ferbench.api.results import CellSpec, PoolSpec
from ferbench.protocol.spec import ProtocolSpec

FIT, POOL, CELL, SCORE = "fit", "pool", "cell", "score"


@dataclass(frozen=True)
class DataInfo:
    """What the plan needs to know about the data of one seed (content hashes)."""

    dataset_hash: str
    test_dataset_hash: str
    train_hash: str                 # the seed's low-data subset
    val_split: str | None = None
    val_dataset_hash: str | None = None
    n_real: int = 0


@dataclass(frozen=True)
class Job:
    kind: str
    key: str
    spec: CellSpec | PoolSpec
    deps: tuple[str, ...] = ()
    n_blocks: int = 0               # pool and score jobs: how many blocks of |real| images
    config: dict = field(default_factory=dict)   # score jobs: the scorer's config (with n)


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    protocol: tuple[str, int] = ("", 0)       # (name, version) of the protocol expanded

    @property
    def cells(self) -> list[CellSpec]:
        return [j.spec for j in self.jobs if j.kind == CELL]

    @property
    def scores(self) -> list[Job]:
        return [j for j in self.jobs if j.kind == SCORE]

    def job(self, key: str) -> Job:
        for j in self.jobs:
            if j.key == key:
                return j
        raise KeyError(key)

    def needed(self, finished_cells: set[str]) -> list[Job]:
        """The jobs required to finish every cell not in ``finished_cells``, dependencies
        first (the plan is already in topological order)."""
        want: set[str] = set()
        by_key = {j.key: j for j in self.jobs}

        def add(key: str) -> None:
            if key not in want:
                want.add(key)
                for d in by_key[key].deps:
                    add(d)

        for j in self.jobs:
            if j.kind in (CELL, SCORE) and j.key not in finished_cells:
                add(j.key)
        return [j for j in self.jobs if j.key in want]


def build_plan(spec: ProtocolSpec, generator: str | None, generator_version: str | None,
               generator_params: dict | None, data: Callable[[int], DataInfo], amp: str,
               n_boot: int = 1000, score_config: dict | None = None,
               fit_key: dict | None = None) -> Plan:
    """Expand ``spec``: one cell per (seed, ratio), with the fit and pool jobs they need.

    ``data(seed)`` returns the content hashes of the data a seed uses; ``amp`` is the
    resolved mixed-precision setting ("bf16" or "off"), part of every cell's identity.
    ``score_config`` (mode ``fidelity``): the scorer's config, with ``n`` synthetic images.
    ``fit_key``: the generator's shared-fit key (:func:`ferbench.api.shared_fit_key`), if any.
    """
    from ferbench import PROTOCOL_ENGINE_VERSION
    from ferbench.identity import pool_result_id

    ratios = [0.0] if spec.mode == "real" else [float(r) for r in spec.ratios]
    if spec.mode == "fidelity":
        if not score_config:
            raise ValueError("mode 'fidelity' needs a score_config")
        ratios = []
    if spec.mode == "mix":
        ratios = [0.0] + [r for r in ratios if r != 0]
    plan = Plan(protocol=(spec.name, spec.version))
    seen: set[str] = set()
    params = dict(generator_params or {})
    for seed in spec.seeds:
        info = data(int(seed))
        pool = None
        syn_ratios = [r for r in ratios if r > 0]
        if spec.mode == "fidelity":
            syn_ratios = [float(math.ceil(score_config["n"] / max(1, info.n_real)))]
        if syn_ratios:
            pool = PoolSpec(
                generator=generator, generator_version=str(generator_version),
                generator_params=params, dataset=spec.dataset, train_split=spec.train_split,
                dataset_hash=info.dataset_hash, train_hash=info.train_hash,
                resolution=spec.resolution, channels=spec.channels,
                real_per_class=spec.effective_real_per_class(),
                real_fraction=spec.real_fraction, seed=int(seed), budget=spec.budget,
                au_targets=spec.au_targets, data_options=dict(spec.data_options),
                data_root=spec.data_root, fit_key=fit_key)
            fit_id, pool_key = pool.fit_id, pool.pool_id
            if fit_id not in seen:
                plan.jobs.append(Job(FIT, fit_id, pool))
                seen.add(fit_id)
            if pool_key not in seen:
                plan.jobs.append(Job(POOL, pool_key, pool, deps=(fit_id,),
                                     n_blocks=math.ceil(max(syn_ratios))))
                seen.add(pool_key)
            if spec.mode == "fidelity":
                key = pool_result_id(pool_key, spec.name, spec.version, score_config["n"],
                                     score_config)
                if key not in seen:
                    plan.jobs.append(Job(SCORE, key, pool, deps=(pool_key,),
                                         n_blocks=math.ceil(max(syn_ratios)),
                                         config=dict(score_config)))
                    seen.add(key)
        for ratio in ratios:
            synthetic = ratio > 0
            cell = CellSpec(
                protocol=spec.name, protocol_version=spec.version,
                engine_version=PROTOCOL_ENGINE_VERSION,
                mode="real" if not synthetic else spec.mode, dataset=spec.dataset,
                train_split=spec.train_split, test_dataset=spec.test_dataset or spec.dataset,
                test_split=spec.test_split, resolution=spec.resolution,
                channels=spec.channels, real_fraction=spec.real_fraction,
                real_per_class=spec.effective_real_per_class(), classifier=spec.classifier,
                budget=spec.budget, seed=int(seed), ratio=ratio,
                dataset_hash=info.dataset_hash, test_dataset_hash=info.test_dataset_hash,
                val_split=info.val_split, val_dataset_hash=info.val_dataset_hash,
                epochs=spec.epochs,
                generator=generator if synthetic else None,
                generator_version=str(generator_version) if synthetic else None,
                generator_params=params if synthetic else {},
                au_targets=spec.au_targets if synthetic else None,
                data_options=dict(spec.data_options), amp=amp, n_boot=int(n_boot),
                data_root=spec.data_root, test_data_root=spec.test_data_root)
            key = cell.cell_id
            if key in seen:
                continue
            seen.add(key)
            deps = (pool.pool_id,) if synthetic and pool is not None else ()
            plan.jobs.append(Job(CELL, key, cell, deps=deps))
    return plan
