"""The generator contract.

A generator is any object that satisfies :class:`Generator` structurally; nothing needs to be
inherited. The harness owns the loop: it builds a :class:`~ferbench.data.TrainSet` from the
training split only, calls ``fit`` once per (generator, dataset, seed), then calls ``generate``
with the labels (and optionally AUs) that the protocol asks for. Class balance, mixing ratios,
the classifier, the budget and every metric are the harness's business, never the generator's.

Plugins register under the entry-point group ``ferbench.generators``; the built-ins do the
same in ferbench's own ``pyproject.toml``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ferbench.data.base import TrainSet

BUDGETS = ("smoke", "quick", "full")


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
    family: str  # e.g. "baseline", "gan", "diffusion"
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
    """What ``generate`` returns: uint8 images ``(n,H,W,C)`` and the canonical labels it claims
    for them (and, optionally, the AUs it aimed for)."""

    images: np.ndarray
    labels: np.ndarray
    aus: np.ndarray | None = None


@runtime_checkable
class Generator(Protocol):
    """Structural protocol every generator satisfies.

    ``__init__`` stores hyper-parameters only (scikit-learn style); ``fit`` learns state and
    returns ``self``; ``get_params`` returns the JSON-serialisable hyper-parameters that,
    together with ``meta.version``, identify a fit.
    """

    meta: GeneratorMeta

    def fit(self, train: TrainSet, *, seed: int, budget: Budget, device: str = "cpu") -> Generator:
        ...

    def generate(self, labels: np.ndarray, *, seed: int, aus: np.ndarray | None = None
                 ) -> SampleBatch:
        """Return ``len(labels)`` images at the train set's resolution and channels."""
        ...

    def get_params(self) -> dict[str, Any]:
        ...
