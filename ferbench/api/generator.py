"""The generator contract, version 2.

A generator is any object that satisfies :class:`Generator` structurally; nothing needs to be
inherited. The harness owns the loop: it builds a :class:`~ferbench.data.TrainSet` from the
training split only, calls ``fit`` once per (generator, params, dataset, seed, budget), saves
the fit with ``save`` and reloads it with ``load``, then calls ``generate`` with the labels
(and, when the protocol asks for them, per-image target AUs). Class balance, mixing ratios,
the classifier, the budget and every metric are the harness's business, never the
generator's; no scoring model is ever reachable from here.

The contract (v2)
-----------------
``meta``
    A :class:`GeneratorMeta` class attribute that loads without weights.
``__init__(**hyper_parameters)``
    Stores hyper-parameters only (scikit-learn style). ``get_params()`` returns them; the
    helper :func:`init_params` derives them from the ``__init__`` signature.
``fit(train, *, seed, budget, device="cpu", workdir=None) -> self``
    Learns state (attributes ending in ``_``). ``workdir`` (optional keyword; the harness
    passes it when ``fit`` accepts it) is a private, per-fit directory that survives a
    crash: keep checkpoints there and resume from them, so a killed long fit is not lost.
``generate(labels, *, seed, aus=None) -> SampleBatch``
    Images for the requested canonical ``labels`` (and target ``aus``, ``(n, len(AU_NAMES))``,
    when given). The same seed gives identical output. See *relabel and drop* below.
``save(path)`` / ``load(path, *, device="cpu")`` (classmethod)
    Write and read the fitted state in the directory ``path``: tensors with safetensors,
    configuration as JSON (:func:`save_fitted` / :func:`load_fitted` do both). Never
    pickles: a fit must load across versions of Python and torch and be safe to share. A
    generator without ``save``/``load`` is simply re-fitted when its fit is needed again.
``sample_grid(path, *, seed)`` (optional)
    Write a PNG of the generator's own choosing to ``path`` (twogan: identities x
    expressions; synfer: classes x seeds). The harness calls it once per pool and stores
    ``generator_grid.png`` beside the pool, next to the ``grid.png`` it renders itself from
    the pool for every generator (rows: classes; columns: the first images of each class).
``fit_key()`` and ``set_params(**params)`` (optional, together)
    For variants that differ only at sampling time (ablations such as ``synfer-noguide``):
    ``fit_key()`` returns ``{"generator": <name>, "params": <the params the fit depends on>}``.
    Generators whose keys are equal share one fit (same fit id, one ``fits/`` entry, one
    lock); their pools stay distinct (the pool id then includes the sampling generator and its
    full params). ``fit`` must then produce the same state whatever the sample-time params
    are, and after ``load`` the harness calls ``set_params(**params)`` with the requesting
    generator's full params. Without ``fit_key`` a fit belongs to one (generator, params).

Relabel and drop
----------------
A generator may check its own output (SynFER's pseudo-labeller does) and return **more**
candidates than requested, each with its *final* label (``labels``), the label it was generated
for (``requested``; default: the request, position by position) and an optional
``confidence``. The harness then keeps, for every class, exactly the requested number of
images among the candidates whose final label is that class, highest confidence first (in
order when no confidence is given). When a class falls short it asks again for the shortfall
with a derived seed, at most :data:`MAX_TOP_UPS` times, then fails with a clear error. It
records per pool: requested, returned, kept, the relabel rate (kept images whose final label
differs from the label they were generated for), the drop rate (1 - kept / returned) and the
generator's own ``info`` dict (e.g. how many images it dropped internally). The protocol's class
balance therefore always holds, whatever the generator does.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ferbench.data.base import TrainSet
from ferbench.errors import ConfigError
from ferbench.registry import Registry

BUDGETS = ("smoke", "quick", "full")

#: How often the harness asks a generator again for a class that fell short after relabelling.
MAX_TOP_UPS = 3

#: The generator registry: entry-point group ``ferbench.generators`` (built-ins included, via
#: ferbench's own pyproject.toml).
GENERATORS = Registry("generator", group="ferbench.generators")


@dataclass(frozen=True)
class Budget:
    """How much compute a stage may spend. ``smoke``: seconds (tests); ``quick``: minutes on
    a CPU; ``full``: paper scale on a GPU. Generators scale their own training to it."""

    name: str = "quick"

    def __post_init__(self) -> None:
        if self.name not in BUDGETS:
            raise ValueError(f"unknown budget '{self.name}'; choose one of {', '.join(BUDGETS)}")

    def pick(self, smoke, quick, full):
        """Pick the value for this budget: ``budget.pick(50, 2000, 200000)``."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.name]


@dataclass(frozen=True)
class GeneratorMeta:
    """Metadata that loads without weights (shown by ``ferbench ls generators``)."""

    name: str
    version: str
    family: str  # e.g. "baseline", "gan", "diffusion", "submission"
    conditioning: tuple[str, ...] = ("label",)  # any of "label", "au", "text"
    license: str = "unknown"
    description: str = ""
    parameters: int | None = None  # learnable parameter count, if any
    training_data: str = "the benchmark's real training split"
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["conditioning"] = list(self.conditioning)
        return d


@dataclass
class SampleBatch:
    """What ``generate`` returns.

    ``images``: uint8 ``(m, H, W, C)`` with ``m >= len(requested labels)``; ``labels``: the
    final canonical label of each image; ``requested``: the label each image was generated for
    (None: the request itself, which then needs ``m == n``); ``confidence``: optional per-image
    score used to choose among candidates; ``aus``: the AUs each image aimed for, if any;
    ``info``: free-form JSON-serialisable statistics (kept with the pool).
    """

    images: np.ndarray
    labels: np.ndarray
    aus: np.ndarray | None = None
    requested: np.ndarray | None = None
    confidence: np.ndarray | None = None
    info: dict = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    """Structural protocol every generator satisfies (see the module docstring)."""

    meta: GeneratorMeta

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu"
            ) -> Generator:
        ...

    def generate(self, labels: np.ndarray, *, seed: int, aus: np.ndarray | None = None
                 ) -> SampleBatch:
        ...

    def get_params(self) -> dict[str, Any]:
        ...


def init_params(obj: Any) -> dict[str, Any]:
    """scikit-learn's ``get_params``: the ``__init__`` arguments, read back from attributes of
    the same name. Use as ``def get_params(self): return init_params(self)``."""
    sig = inspect.signature(type(obj).__init__)
    out = {}
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if not hasattr(obj, name):
            raise AttributeError(f"{type(obj).__name__}.__init__ takes '{name}' but does not "
                                 f"store it as self.{name} (needed by get_params)")
        out[name] = getattr(obj, name)
    return out


def set_init_params(obj: Any, **params: Any) -> Any:
    """scikit-learn's ``set_params`` for :func:`init_params` generators: set ``__init__``
    arguments by name (unknown names are an error). Returns ``obj``."""
    known = init_params(obj)
    bad = sorted(set(params) - set(known))
    if bad:
        raise ConfigError(f"{type(obj).__name__}: unknown parameter(s) {', '.join(bad)}")
    for name, value in params.items():
        setattr(obj, name, value)
    return obj


def shared_fit_key(gen: Any) -> dict | None:
    """The generator's ``fit_key()`` (see the contract), JSON-normalised; None when it has
    none, i.e. its fit is its own. A malformed key is an error naming the generator."""
    fn = getattr(gen, "fit_key", None)
    if not callable(fn):
        return None
    key = fn()
    name = getattr(getattr(gen, "meta", None), "name", type(gen).__name__)
    if not (isinstance(key, dict) and set(key) == {"generator", "params"}
            and isinstance(key["generator"], str) and isinstance(key["params"], dict)):
        raise ConfigError(f"generator '{name}': fit_key() must return "
                         f"{{'generator': str, 'params': dict}}, got {key!r}")
    if not callable(getattr(gen, "set_params", None)):
        raise ConfigError(f"generator '{name}': fit_key() needs set_params(**params) too")
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def accepts_kwarg(fn: Any, name: str) -> bool:
    """Whether callable ``fn`` takes keyword ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def can_save(gen: Any) -> bool:
    return callable(getattr(gen, "save", None)) and callable(getattr(type(gen), "load", None))


# -- saving fitted state ----------------------------------------------------------------------

def save_fitted(path: str | os.PathLike, tensors: dict[str, Any], config: dict[str, Any]
                ) -> None:
    """Write ``tensors`` (torch tensors or numpy arrays) to ``path/state.safetensors`` and
    ``config`` to ``path/config.json``. The harness makes ``path`` atomically visible (it
    writes into a temporary directory and renames it), so generators need no care here."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    flat = {}
    for k, v in tensors.items():
        t = torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v
        flat[k] = t.detach().cpu().contiguous()
    save_file(flat, str(path / "state.safetensors"))
    (path / "config.json").write_text(json.dumps(config, sort_keys=True, indent=1,
                                                 default=_json_default))


def load_fitted(path: str | os.PathLike, device: str = "cpu") -> tuple[dict[str, Any], dict]:
    """Read what :func:`save_fitted` wrote: ``(tensors, config)``."""
    from safetensors.torch import load_file

    path = Path(path)
    tensors = load_file(str(path / "state.safetensors"), device=str(device))
    config = json.loads((path / "config.json").read_text())
    return tensors, config


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# -- registry shortcuts -----------------------------------------------------------------------

def generator_names() -> list[str]:
    return GENERATORS.names()


def generator_class(name: str):
    return GENERATORS.get(name)


def create_generator(name: str, **params):
    """Instantiate a registered generator with hyper-parameters (timm's ``create_model``)."""
    return GENERATORS.create(name, **params)


def generator_distribution(name: str) -> str | None:
    return GENERATORS.source(name)
