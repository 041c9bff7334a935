"""The one typed definition of what ferbench stores (mteb's ``TaskResult`` in spirit).

- :class:`CellSpec`: one classifier cell, i.e. what to train the fixed classifier on and how,
  with the content hashes of the data it reads. ``cell_id`` derives from it.
- :class:`PoolSpec`: the identity of a synthetic pool (generator, params, training data, seed,
  budget, AU targets). A pool belongs to a fit (``fit_id``), except for folder submissions.
- :class:`CellResult`: a finished classifier cell: test (and validation) scores with CIs,
  per-class scores, the confusion matrix, per-image predictions and provenance.
- :class:`Score` / :class:`PoolResult`: pool-level results with open-ended named scores
  (FID, KID, precision/recall, label and AU fidelity, diversity...), each
  ``{metric, value, lo, hi, higher_is_better}``.
- :class:`Provenance`: how and where a result was computed.

Records travel as plain JSON dicts (``to_record`` / ``from_record``), the form the store, the
export files and the tests all use; ``schema_version`` says which layout a record has.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ferbench.identity import cell_id as _cell_id
from ferbench.identity import fit_id as _fit_id
from ferbench.identity import pool_id as _pool_id

#: Layout of result records and of the DuckDB store (see ferbench.results.store).
SCHEMA_VERSION = 2

MODES = ("real", "synthetic", "mix")
#: The classification metrics of a cell (each with ``_lo``/``_hi`` 95% bootstrap bounds).
CELL_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def _json(obj: Any) -> Any:
    """JSON-normalise (numpy scalars/arrays -> Python)."""
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))


@dataclass(frozen=True)
class Provenance:
    ferbench_version: str
    git_sha: str | None
    git_dirty: bool | None
    python_version: str
    host: str
    torch_version: str
    device: str
    wall_time_s: float
    created_at: str

    @classmethod
    def collect(cls, device: str, wall_time_s: float) -> Provenance:
        import torch

        import ferbench

        sha, dirty = git_state()
        return cls(ferbench_version=ferbench.__version__, git_sha=sha, git_dirty=dirty,
                   python_version=platform.python_version(), host=socket.gethostname(),
                   torch_version=torch.__version__, device=str(device),
                   wall_time_s=round(float(wall_time_s), 3),
                   created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_GIT: tuple[str | None, bool | None] | None = None


def git_state() -> tuple[str | None, bool | None]:
    """(HEAD sha, whether tracked files differ from it) of the ferbench checkout, if any."""
    global _GIT
    if _GIT is None:
        here = Path(__file__).parent
        try:
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                 text=True, timeout=5)
            if sha.returncode != 0:
                _GIT = (None, None)
            else:
                st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=here, capture_output=True, text=True, timeout=10)
                _GIT = (sha.stdout.strip() or None,
                        bool(st.stdout.strip()) if st.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _GIT = (None, None)
    return _GIT


@dataclass(frozen=True)
class CellSpec:
    """One classifier cell. Everything but ``data_root``/``test_data_root`` is identity."""

    protocol: str
    protocol_version: int
    engine_version: int
    mode: str
    dataset: str
    train_split: str
    test_dataset: str
    test_split: str
    resolution: int
    channels: int
    real_fraction: float
    real_per_class: int | None
    classifier: str
    budget: str
    seed: int
    ratio: float
    dataset_hash: str
    test_dataset_hash: str
    val_split: str | None = None
    val_dataset_hash: str | None = None
    epochs: int | None = None
    generator: str | None = None
    generator_version: str | None = None
    generator_params: dict = field(default_factory=dict)
    au_targets: str | None = None
    data_options: dict = field(default_factory=dict)
    amp: str = "off"
    n_boot: int = 1000
    data_root: str | None = field(default=None, compare=False)
    test_data_root: str | None = field(default=None, compare=False)

    NOT_IDENTITY = ("data_root", "test_data_root")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"cell mode must be one of {MODES}, not {self.mode!r}")

    def identity(self) -> dict:
        d = dataclasses.asdict(self)
        for k in self.NOT_IDENTITY:
            d.pop(k)
        return _json(d)

    @property
    def cell_id(self) -> str:
        return _cell_id(self.identity())

    @property
    def synthetic(self) -> bool:
        return self.ratio > 0

    def to_dict(self) -> dict:
        return _json(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> CellSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class PoolSpec:
    """The identity of a synthetic pool: who made it, from which training data, how."""

    generator: str
    generator_version: str
    generator_params: dict
    dataset: str
    train_split: str
    dataset_hash: str      # the whole training split
    train_hash: str        # the (low-data) subset the generator was fitted on
    resolution: int
    channels: int
    real_per_class: int | None
    real_fraction: float
    seed: int
    budget: str
    au_targets: str | None = None
    data_options: dict = field(default_factory=dict)
    data_root: str | None = field(default=None, compare=False)
    #: ``{"generator", "params"}`` from the generator's optional ``fit_key()``: generators with
    #: equal keys share one fit (see :func:`ferbench.api.generator.shared_fit_key`); None: the
    #: fit belongs to this generator and these params alone.
    fit_key: dict | None = None

    @property
    def fit_id(self) -> str:
        gen, params = self.generator, self.generator_params
        if self.fit_key is not None:
            gen, params = self.fit_key["generator"], self.fit_key["params"]
        return _fit_id(generator=gen, generator_version=self.generator_version,
                       generator_params=_json(params), train_hash=self.train_hash,
                       resolution=self.resolution, channels=self.channels, seed=self.seed,
                       budget=self.budget)

    @property
    def pool_id(self) -> str:
        sampler = None if self.fit_key is None else {
            "generator": self.generator, "params": _json(self.generator_params)}
        return _pool_id(self.fit_id, self.au_targets, sampler)

    def to_dict(self) -> dict:
        return _json(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> PoolSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class CellResult:
    """A finished classifier cell (see the module docstring)."""

    spec: CellSpec
    n_real: int
    n_synthetic: int
    n_test: int
    metrics: dict          # accuracy(+_lo/_hi), balanced_accuracy(..), macro_f1(..), n_test
    per_class: list        # [{class, recall, precision, f1, support}]
    confusion: list        # K x K, rows = true class
    classes: list
    y_true: list
    y_pred: list
    provenance: Provenance
    val_metrics: dict | None = None
    n_val: int | None = None
    pool_id: str | None = None
    pool_stats: dict | None = None
    classifier_config: dict = field(default_factory=dict)
    data_checks: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def cell_id(self) -> str:
        return self.spec.cell_id

    def to_record(self) -> dict:
        """The flat JSON record: spec fields at top level, plus ``spec`` itself."""
        spec = self.spec.to_dict()
        rec = {**spec, "cell_id": self.cell_id, "schema_version": self.schema_version,
               "spec": spec, "n_real": self.n_real, "n_synthetic": self.n_synthetic,
               "n_test": self.n_test, "n_val": self.n_val, "pool_id": self.pool_id,
               "metrics": self.metrics, "val_metrics": self.val_metrics,
               "per_class": self.per_class, "confusion": self.confusion,
               "classes": list(self.classes), "y_true": list(self.y_true),
               "y_pred": list(self.y_pred), "pool_stats": self.pool_stats,
               "classifier_config": self.classifier_config, "data_checks": self.data_checks,
               **self.provenance.to_dict()}
        return _json(rec)

    @classmethod
    def from_record(cls, rec: dict) -> CellResult:
        prov = Provenance(**{f.name: rec.get(f.name) for f in dataclasses.fields(Provenance)})
        return cls(spec=CellSpec.from_dict(rec["spec"]), n_real=rec["n_real"],
                   n_synthetic=rec["n_synthetic"], n_test=rec["n_test"],
                   metrics=rec["metrics"], per_class=rec["per_class"],
                   confusion=rec["confusion"], classes=rec["classes"], y_true=rec["y_true"],
                   y_pred=rec["y_pred"], provenance=prov, val_metrics=rec.get("val_metrics"),
                   n_val=rec.get("n_val"), pool_id=rec.get("pool_id"),
                   pool_stats=rec.get("pool_stats"),
                   classifier_config=rec.get("classifier_config") or {},
                   data_checks=rec.get("data_checks") or {},
                   schema_version=rec.get("schema_version", SCHEMA_VERSION))


@dataclass(frozen=True)
class Score:
    """One named pool-level score. ``value`` None with a ``note`` means "not computable"."""

    metric: str
    value: float | None
    lo: float | None = None
    hi: float | None = None
    higher_is_better: bool = True
    n: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.metric:
            raise ValueError("a score needs a metric name")
        if self.value is not None and not math.isfinite(float(self.value)):
            raise ValueError(f"score {self.metric}: value must be finite, not {self.value}")

    def to_dict(self) -> dict:
        return _json(dataclasses.asdict(self))


@dataclass
class PoolResult:
    """Pool-level results of one scoring protocol on one pool."""

    pool: PoolSpec | None
    pool_id: str
    protocol: str
    protocol_version: int
    n: int
    scores: list[Score]
    provenance: Provenance
    config: dict = field(default_factory=dict)   # extractor, weights sha256, resize, N, ...
    generator: str | None = None                 # for folder submissions without a PoolSpec
    schema_version: int = SCHEMA_VERSION

    @property
    def result_id(self) -> str:
        from ferbench.identity import pool_result_id

        return pool_result_id(self.pool_id, self.protocol, self.protocol_version, self.n,
                              _json(self.config))

    def to_record(self) -> dict:
        pool = self.pool.to_dict() if self.pool else {}
        return _json({"result_id": self.result_id, "schema_version": self.schema_version,
                      "pool_id": self.pool_id, "pool": pool, "protocol": self.protocol,
                      "protocol_version": self.protocol_version, "n": self.n,
                      "generator": self.generator or pool.get("generator"),
                      "scores": [s.to_dict() for s in sorted(self.scores, key=lambda s: s.metric)],
                      "config": self.config,
                      **self.provenance.to_dict()})

    @classmethod
    def from_record(cls, rec: dict) -> PoolResult:
        prov = Provenance(**{f.name: rec.get(f.name) for f in dataclasses.fields(Provenance)})
        pool = PoolSpec.from_dict(rec["pool"]) if rec.get("pool") else None
        return cls(pool=pool, pool_id=rec["pool_id"], protocol=rec["protocol"],
                   protocol_version=rec["protocol_version"], n=rec["n"],
                   scores=[Score(**s) for s in rec["scores"]], provenance=prov,
                   config=rec.get("config") or {}, generator=rec.get("generator"),
                   schema_version=rec.get("schema_version", SCHEMA_VERSION))


def python_version() -> str:
    return sys.version.split()[0]
