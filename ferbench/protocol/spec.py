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

Every list-valued field expands into explicit, separately stored cells and the jobs that
produce them (:mod:`ferbench.protocol.plan`).

Fields added in this version of the engine (defaults keep older spec files valid):

- ``val_split`` (default ``val``): each cell is also scored on this split, when the dataset
  has it, and the best mix ratio is chosen on it (never on test). ``null`` turns it off.
- ``data_options`` (default ``{}``): the dataset adapter's options, e.g.
  ``{group_pattern: "^(S\\d+)_"}`` to split an ``imagefolder`` by person (CLI:
  ``--data-option group_pattern=...``). They apply to the training dataset (and to its test
  split when testing on the same dataset); the data's content hashes carry their effect.
- ``au_targets`` (default ``null``): per-image target AUs handed to the generator:
  ``real`` (the AUs of the real training image whose label slot the synthetic image fills;
  the class's EMFACS prototype where the dataset has no AUs) or ``prototype`` (always the
  prototype). The request and the generator's answer are kept with the pool.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from ferbench.errors import ConfigError
from ferbench.registry import Registry, did_you_mean

MODES = ("real", "synthetic", "mix", "fidelity")
BUDGETS = ("smoke", "quick", "full")

#: When a spec leaves ``real_per_class`` unset (null), the budget picks the cap: ``smoke`` and
#: ``quick`` run the low-data regime so that they fit their time budgets on a CPU; ``full``
#: uses every real training image. ``--real-per-class all`` forces the whole training set.
BUDGET_REAL_PER_CLASS = {"smoke": 30, "quick": 100, "full": None}
AU_TARGETS = (None, "real", "prototype")


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
    val_split: str | None = "val"
    au_targets: str | None = None
    data_options: dict = field(default_factory=dict)  # adapter options, e.g. group_pattern
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
        _check(self.au_targets in AU_TARGETS, where, "au_targets",
               f"must be null or one of {', '.join(a for a in AU_TARGETS if a)}")
        if self.mode in ("real", "fidelity"):
            _check(not self.ratios, where, "ratios", f"must be empty for mode '{self.mode}'")
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
    if "data_options" in vals and not isinstance(vals["data_options"], dict):
        raise ConfigError(f"{where}: field 'data_options' must be a mapping")
    if "real_fraction" in vals:
        vals["real_fraction"] = float(vals["real_fraction"])
    return ProtocolSpec(**vals, source=where)


def _shipped() -> dict[str, Path]:
    pkg = resources.files("ferbench_protocols")
    return {p.name[:-5]: Path(str(p)) for p in pkg.iterdir() if p.name.endswith(".yaml")}


#: Protocol specs by name: the YAML files shipped in ``protocols/``, plus plugins registering
#: a path under the entry-point group ``ferbench.protocols``.
PROTOCOLS = Registry("protocol", group="ferbench.protocols", builtins=_shipped())


def builtin_protocols() -> dict[str, str]:
    """Name -> path of every registered protocol spec."""
    return {n: str(PROTOCOLS.get(n)) for n in PROTOCOLS.names()}


def load_protocol(name_or_path: str) -> ProtocolSpec:
    """Load a built-in protocol by name, or any spec file by path."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ConfigError(f"protocol file not found: {path}")
        text, where = path.read_text(), str(path)
    else:
        if name_or_path not in PROTOCOLS:
            raise PROTOCOLS.unknown(name_or_path)
        path = Path(PROTOCOLS.get(name_or_path))
        text, where = path.read_text(), f"protocols/{path.name}"
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
