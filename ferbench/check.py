"""Conformance suite for generators (``ferbench check NAME``), mteb's ``mock_run`` in spirit.

It fits the generator on a tiny toyfaces training set at the ``smoke`` budget and checks the
contract the harness relies on. The test-suite runs it over every registered generator.
"""

from __future__ import annotations

import json

import numpy as np

from ferbench.api import Budget, Generator, GeneratorMeta, create_generator, generator_class
from ferbench.data.base import TrainSet
from ferbench.errors import FerbenchError

CONDITIONING = {"label", "au", "text"}


class ConformanceError(FerbenchError):
    pass


def _require(ok: bool, name: str, msg: str) -> None:
    if not ok:
        raise ConformanceError(f"{name}: {msg}")


def check_generator(name: str, *, resolution: int = 32, channels: int = 1,
                    n_per_class: int = 6) -> list[str]:
    """Run the checks; return one line per passed check, raise ConformanceError on failure."""
    from ferbench.data.toyfaces import load_toyfaces

    passed = []
    cls = generator_class(name)
    meta = getattr(cls, "meta", None)
    _require(isinstance(meta, GeneratorMeta), name, "class attribute 'meta' must be a GeneratorMeta")
    _require(set(meta.conditioning) <= CONDITIONING, name,
             f"meta.conditioning must be within {sorted(CONDITIONING)}")
    passed.append("metadata loads without fitting")

    gen = create_generator(name)
    _require(isinstance(gen, Generator), name, "does not satisfy ferbench.api.Generator")
    params = gen.get_params()
    try:
        json.dumps(params)
    except TypeError as exc:
        raise ConformanceError(f"{name}: get_params() is not JSON-serialisable: {exc}") from None
    _require(create_generator(name, **params).get_params() == params, name,
             "get_params() does not round-trip through the constructor")
    passed.append("get_params() is JSON-serialisable and round-trips")

    data = load_toyfaces("train", resolution=resolution, channels=channels,
                         n_per_class=n_per_class)
    before = data.images.copy()
    fitted = gen.fit(TrainSet(data), seed=0, budget=Budget("smoke"), device="cpu")
    _require(fitted is gen, name, "fit() must return self")
    _require(np.array_equal(before, data.images), name, "fit() modified the training images")
    passed.append("fit() on a training-only view returns self")

    want = np.repeat(data.class_indices, 2)
    a = gen.generate(want, seed=1)
    x, y = np.asarray(a.images), np.asarray(a.labels)
    _require(x.dtype == np.uint8, name, f"images must be uint8, got {x.dtype}")
    _require(x.shape == (len(want), resolution, resolution, channels), name,
             f"images shape {x.shape}, expected {(len(want), resolution, resolution, channels)}")
    _require(y.shape == want.shape, name, f"labels shape {y.shape}, expected {want.shape}")
    _require(set(y.tolist()) <= set(data.class_indices.tolist()), name,
             "claimed labels outside the training classes")
    passed.append("generate() returns uint8 (n,H,W,C) images and in-class labels")

    b = gen.generate(want, seed=1)
    _require(np.array_equal(x, b.images) and np.array_equal(y, b.labels), name,
             "generate() with the same seed is not reproducible")
    c = gen.generate(want, seed=2)
    _require(not np.array_equal(x, c.images), name, "different seeds give identical images")
    passed.append("generate() is reproducible per seed and varies across seeds")
    return passed
