"""Conformance suite for generators (``ferbench check NAME``), in the spirit of sklearn's
``check_estimator`` and mteb's ``mock_run``.

It fits the generator on a tiny toyfaces training set at the ``smoke`` budget and runs named
checks of the contract the harness relies on (:mod:`ferbench.api.generator`). Every check runs
even when an earlier one failed (unless it needs the fit); every failure is one line that says
what to fix. The test suite runs it over every registered generator.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ferbench.api.generator import GENERATORS, Budget, Generator, GeneratorMeta, can_save
from ferbench.data.base import TrainSet
from ferbench.errors import FerbenchError

CONDITIONING = {"label", "au", "text"}


class ConformanceError(FerbenchError):
    pass


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str = ""
    warning: bool = False

    def line(self) -> str:
        mark = "ok  " if self.ok else ("warn" if self.warning else "FAIL")
        return f"[{mark}] {self.name}" + (f": {self.message}" if self.message else "")


class _Fail(Exception):
    pass


def _require(ok: bool, msg: str) -> None:
    if not ok:
        raise _Fail(msg)


def iter_checks(name: str, *, resolution: int = 32, channels: int = 1, n_per_class: int = 6,
                mix: bool = False) -> Iterator[CheckResult]:
    """Run the checks one by one, yielding a :class:`CheckResult` for each."""
    from ferbench.data.toyfaces import load_toyfaces

    if name not in GENERATORS:  # an accepted folder submission is checked like any generator
        from ferbench.submit.folder_generator import register_submissions

        register_submissions()
    state: dict = {}

    def run(check: str, fn: Callable[[], str | None], needs: tuple[str, ...] = ()):
        missing = [n for n in needs if n not in state]
        if missing:
            return CheckResult(check, False, f"skipped: needs {', '.join(missing)}")
        try:
            msg = fn() or ""
        except _Fail as exc:
            return CheckResult(check, False, str(exc))
        except Exception as exc:  # a crash is a failure of that check, not of the suite
            return CheckResult(check, False, f"raised {type(exc).__name__}: {exc}")
        return CheckResult(check, True, msg)

    def metadata():
        cls = GENERATORS.get(name)
        meta = getattr(cls, "meta", None)
        _require(isinstance(meta, GeneratorMeta),
                 "set a class attribute 'meta = GeneratorMeta(...)' (loads without weights)")
        _require(bool(meta.name) and bool(meta.version), "meta.name and meta.version are empty")
        _require(set(meta.conditioning) <= CONDITIONING,
                 f"meta.conditioning must be within {sorted(CONDITIONING)}")
        state["cls"], state["meta"] = cls, meta

    def params():
        gen = GENERATORS.create(name)
        _require(isinstance(gen, Generator), "does not satisfy ferbench.api.Generator "
                 "(needs meta, fit, generate, get_params)")
        p = gen.get_params()
        try:
            json.dumps(p)
        except TypeError as exc:
            raise _Fail(f"get_params() is not JSON-serialisable: {exc}") from None
        _require(GENERATORS.create(name, **p).get_params() == p,
                 "get_params() does not round-trip through the constructor")
        state["gen"] = gen

    def fit():
        data = load_toyfaces("train", resolution=resolution, channels=channels,
                             n_per_class=n_per_class, progress=False)
        before = data.images.copy()
        gen = state["gen"]
        out = gen.fit(TrainSet(data), seed=0, budget=Budget("smoke"), device="cpu")
        _require(out is gen, "fit() must return self")
        _require(np.array_equal(before, data.images), "fit() modified the training images")
        state["fitted"], state["data"] = gen, data

    def generate():
        from ferbench.engine.stages import generate_exact

        data, gen = state["data"], state["fitted"]
        want = np.repeat(data.class_indices, 2)
        a = gen.generate(want, seed=1)
        x, y = np.asarray(a.images), np.asarray(a.labels)
        _require(x.dtype == np.uint8, f"images must be uint8, got {x.dtype}")
        _require(x.ndim == 4 and x.shape[1:] == (resolution, resolution, channels),
                 f"images shape {x.shape}, expected (n, {resolution}, {resolution}, {channels})")
        _require(len(x) >= len(want), f"returned {len(x)} images for {len(want)} requested")
        _require(y.shape == (len(x),), f"labels shape {y.shape}, expected ({len(x)},)")
        _require(set(y.tolist()) <= set(data.class_indices.tolist()),
                 "claimed labels outside the training classes")
        arrays, stats = generate_exact(gen, name, want, None, 1, data)
        _require(np.array_equal(arrays["labels"], want),
                 "the relabel-and-drop selection could not keep the requested labels")
        state["first"] = a
        if len(x) > len(want) or stats["relabelled"]:
            return (f"returns {len(x)} candidates for {len(want)}; {stats['relabelled']} "
                    "relabelled, the harness keeps the class balance")
        return None

    def seeds():
        gen, want, a = state["fitted"], np.repeat(state["data"].class_indices, 2), state["first"]
        b = gen.generate(want, seed=1)
        _require(np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels),
                 "generate() with the same seed is not reproducible")
        c = gen.generate(want, seed=2)
        _require(not np.array_equal(np.asarray(a.images), np.asarray(c.images)),
                 "different seeds give identical images")

    def save_load():
        gen = state["fitted"]
        if not can_save(gen):
            raise _Fail("no save(path)/load(path) (classmethod): the fit cannot be cached and "
                        "is redone for every run; add them (ferbench.api.save_fitted)")
        want = np.repeat(state["data"].class_indices, 2)
        with tempfile.TemporaryDirectory() as d:
            gen.save(d)
            loaded = type(gen).load(d, device="cpu")
        a, b = gen.generate(want, seed=3), loaded.generate(want, seed=3)
        _require(np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels),
                 "a loaded fit does not generate what the saved one did (same seed)")

    def aus():
        meta, gen, data = state["meta"], state["fitted"], state["data"]
        if "au" not in meta.conditioning:
            return "not AU-conditioned (aus=None only)"
        from ferbench.aus import prototype_vector
        from ferbench.labels import CANONICAL

        want = data.class_indices
        targets = np.stack([prototype_vector(CANONICAL[int(c)]) for c in want])
        out = gen.generate(want, seed=4, aus=targets)
        _require(len(out.images) >= len(want), "generate(aus=...) returned too few images")
        return None

    def mix_run():
        import os

        from ferbench.engine import Context, run_protocol
        from ferbench.protocol import load_protocol
        from ferbench.results.store import ResultStore

        spec = load_protocol("mix").override(budget="smoke", ratios=(1, 2))
        with tempfile.TemporaryDirectory() as d:
            old = os.environ.get("FERBENCH_HOME")
            os.environ["FERBENCH_HOME"] = d
            try:
                out = run_protocol(spec, name, {}, ResultStore(f"{d}/r.duckdb"),
                                   Context(progress=False, n_boot=100))
            finally:
                if old is None:
                    os.environ.pop("FERBENCH_HOME", None)
                else:
                    os.environ["FERBENCH_HOME"] = old
        _require(len(out.records) == 3, f"smoke mix stored {len(out.records)} cells, not 3")

    yield run("metadata loads without fitting", metadata)
    yield run("get_params() is JSON-serialisable and round-trips", params, ("cls",))
    yield run("fit() on a training-only view returns self", fit, ("gen",))
    yield run("generate() returns uint8 (n,H,W,C) images with in-class labels", generate,
              ("fitted",))
    yield run("generate() is reproducible per seed and varies across seeds", seeds, ("first",))
    yield run("save()/load() round-trip gives identical samples", save_load, ("first",))
    yield run("AU targets are accepted", aus, ("fitted", "meta"))
    if mix:
        yield run("the smoke mix protocol runs end to end", mix_run, ("first",))


def check_generator(name: str, **kw) -> list[CheckResult]:
    """Run every check; raise :class:`ConformanceError` listing all failures, else return the
    results."""
    results = list(iter_checks(name, **kw))
    failed = [r for r in results if not r.ok]
    if failed:
        raise ConformanceError(f"{name} fails {len(failed)} of {len(results)} checks:\n"
                               + "\n".join(r.line() for r in failed))
    return results
