"""Protocol specs: small, versioned, strictly parsed YAML files, expanded into cells.

A spec names what to train the fixed classifier on (``mode``), on which dataset, at which
resolution, with which classifier, budget, seeds and ratios. Unknown keys, duplicate keys
and wrong types are errors that name the file and field. CLI flags override spec values
through :meth:`ProtocolSpec.override`, which validates the same way.

Modes:

- ``real``: real train only (one cell per seed).
- ``synthetic``: synthetic only, sized k x |real| for each k in ``ratios`` (default 1).
- ``mix``: real plus k x |real| synthetic for each k in ``ratios`` (default 1..5), plus the
  real-only baseline cell (k = 0) that each k is compared against. Synthetic pools are
  nested: one generator fit and one pool per (generator, data, seed), prefixes for smaller k.

Every list-valued field expands into explicit, separately stored cells (:func:`expand`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ferbench.errors import ConfigError
from ferbench.registry import did_you_mean

MODES = ("real", "synthetic", "mix")
BUDGETS = ("smoke", "quick", "full")

#: When a spec leaves ``real_per_class`` unset (null), the budget picks the cap: ``smoke`` and
#: ``quick`` run the low-data regime so that they fit their time budgets on a CPU; ``full``
#: uses every real training image. ``--real-per-class all`` forces the whole training set.
BUDGET_REAL_PER_CLASS = {"smoke": 30, "quick": 100, "full": None}


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"duplicate key '{key}' at line {key_node.start_mark.line + 1} "
                f"(first at line {seen[key] + 1})"
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    version: int
    mode: str
    description: str = ""
    dataset: str = "toyfaces"
    data_root: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    test_dataset: str | None = None  # cross-dataset evaluation: test on another dataset
    test_data_root: str | None = None
    resolution: int = 48
    channels: int = 1
    real_fraction: float = 1.0
    real_per_class: int | str | None = None  # None: budget default; "all": no cap
    classifier: str = "noncomplex-cnn"
    budget: str = "quick"
    epochs: int | None = None  # None: the budget's default for the classifier
    seeds: tuple[int, ...] = (0,)
    ratios: tuple[float, ...] = ()
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = self.source or self.name
        _check(self.mode in MODES, where, "mode", f"must be one of {', '.join(MODES)}")
        _check(isinstance(self.version, int) and self.version >= 1, where, "version",
               "must be a positive integer")
        _check(self.resolution in range(16, 513), where, "resolution", "must be 16..512")
        _check(self.channels in (1, 3), where, "channels", "must be 1 (grayscale) or 3 (RGB)")
        _check(0 < self.real_fraction <= 1, where, "real_fraction", "must be in (0, 1]")
        rpc = self.real_per_class
        _check(rpc is None or rpc == "all" or (isinstance(rpc, int) and rpc > 0), where,
               "real_per_class", "must be a positive integer, 'all' or null")
        _check(self.epochs is None or (isinstance(self.epochs, int) and self.epochs > 0), where,
               "epochs", "must be a positive integer or null")
        _check(self.budget in BUDGETS, where, "budget",
               f"must be one of {', '.join(BUDGETS)}{did_you_mean(str(self.budget), BUDGETS)}")
        _check(len(self.seeds) > 0 and all(isinstance(s, int) and s >= 0 for s in self.seeds),
               where, "seeds", "must be a non-empty list of non-negative integers")
        _check(len(set(self.seeds)) == len(self.seeds), where, "seeds", "has duplicates")
        _check(all(isinstance(r, (int, float)) and r > 0 for r in self.ratios), where, "ratios",
               "must be positive numbers")
        _check(len(set(self.ratios)) == len(self.ratios), where, "ratios", "has duplicates")
        if self.mode == "real":
            _check(not self.ratios, where, "ratios", "must be empty for mode 'real'")
        else:
            _check(bool(self.ratios), where, "ratios", f"must be non-empty for mode '{self.mode}'")

    @property
    def needs_generator(self) -> bool:
        return self.mode != "real"

    def effective_real_per_class(self) -> int | None:
        if self.real_per_class == "all":
            return None
        if self.real_per_class is None:
            return BUDGET_REAL_PER_CLASS[self.budget]
        return int(self.real_per_class)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source")
        d["seeds"] = list(self.seeds)
        d["ratios"] = list(self.ratios)
        return d

    def override(self, **changes) -> ProtocolSpec:
        """A copy with CLI overrides (``None`` values are ignored), validated again."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return _from_mapping({**self.to_dict(), **changes}, self.source or self.name)


def _check(ok: bool, where: str, fieldname: str, msg: str) -> None:
    if not ok:
        raise ConfigError(f"{where}: field '{fieldname}' {msg}")


_FIELDS = {f.name: f for f in dataclasses.fields(ProtocolSpec) if f.name != "source"}
_REQUIRED = ("name", "version", "mode")


def _from_mapping(raw: dict, where: str) -> ProtocolSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a protocol must be a YAML mapping")
    for key in raw:
        if key not in _FIELDS:
            raise ConfigError(f"{where}: unknown field '{key}'{did_you_mean(str(key), _FIELDS)}")
    for key in _REQUIRED:
        if key not in raw:
            raise ConfigError(f"{where}: missing required field '{key}'")
    vals = dict(raw)
    for key in ("seeds", "ratios"):
        if key in vals:
            v = vals[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = [v]
            if not isinstance(v, (list, tuple)):
                raise ConfigError(f"{where}: field '{key}' must be a list")
            vals[key] = tuple(v)
    for key, typ in (("name", str), ("mode", str), ("dataset", str), ("classifier", str),
                     ("budget", str), ("description", str), ("train_split", str),
                     ("test_split", str)):
        if key in vals and not isinstance(vals[key], typ):
            raise ConfigError(f"{where}: field '{key}' must be a {typ.__name__}")
    for key in ("version", "resolution", "channels"):
        if key in vals and (isinstance(vals[key], bool) or not isinstance(vals[key], int)):
            raise ConfigError(f"{where}: field '{key}' must be an integer")
    if "real_fraction" in vals:
        vals["real_fraction"] = float(vals["real_fraction"])
    return ProtocolSpec(**vals, source=where)


def builtin_protocols() -> dict[str, str]:
    """Name -> path of the protocol specs that ship with ferbench (``protocols/*.yaml``)."""
    pkg = resources.files("ferbench_protocols")
    return {p.name[:-5]: str(p) for p in pkg.iterdir() if p.name.endswith(".yaml")}


def load_protocol(name_or_path: str) -> ProtocolSpec:
    """Load a built-in protocol by name, or any spec file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ConfigError(f"protocol file not found: {path}")
        text, where = path.read_text(), str(path)
    else:
        builtin = builtin_protocols()
        if name_or_path not in builtin:
            raise ConfigError(f"unknown protocol '{name_or_path}'"
                              f"{did_you_mean(name_or_path, builtin)}; "
                              f"available: {', '.join(sorted(builtin))}")
        text, where = Path(builtin[name_or_path]).read_text(), f"protocols/{name_or_path}.yaml"
    return parse_protocol(text, where)


def parse_protocol(text: str, where: str = "<protocol>") -> ProtocolSpec:
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}:{line} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return _from_mapping(raw, where)


def spec_hash(obj) -> str:
    """sha256 of a JSON-serialisable object in canonical form (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def expand(spec: ProtocolSpec, generator: str | None, generator_version: str | None,
           generator_params: dict | None) -> list[dict]:
    """Expand a spec into cells: one serialisable dict per (ratio, seed).

    The real-only cells of ``mix`` carry ``generator: None``, so every generator run under
    the same protocol settings shares (and reuses) one baseline per seed.
    """
    from ferbench import PROTOCOL_ENGINE_VERSION

    base = {
        "protocol": spec.name, "protocol_version": spec.version, "engine_version":
        PROTOCOL_ENGINE_VERSION, "dataset": spec.dataset, "train_split": spec.train_split,
        "test_dataset": spec.test_dataset or spec.dataset, "test_split": spec.test_split,
        "resolution": spec.resolution, "channels": spec.channels,
        "real_fraction": spec.real_fraction, "real_per_class": spec.effective_real_per_class(),
        "classifier": spec.classifier, "budget": spec.budget,
    }
    if spec.epochs is not None:  # only present when overridden, so default cells keep their ids
        base["epochs"] = spec.epochs
    ratios = [0.0] if spec.mode == "real" else [float(r) for r in spec.ratios]
    if spec.mode == "mix":
        ratios = [0.0] + [r for r in ratios if r != 0]
    cells = []
    for seed in spec.seeds:
        for ratio in ratios:
            synthetic = ratio > 0
            cell = {
                **base, "seed": int(seed), "ratio": ratio,
                "mode": "real" if not synthetic else spec.mode,
                "generator": generator if synthetic else None,
                "generator_version": generator_version if synthetic else None,
                "generator_params": (generator_params or {}) if synthetic else {},
            }
            cell["cell_id"] = spec_hash(cell)
            # Where the data lives is not part of a cell's identity (its content hash is).
            cell["data_root"] = spec.data_root
            cell["test_data_root"] = spec.test_data_root
            cells.append(cell)
    return cells
