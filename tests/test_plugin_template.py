"""The example plugin in examples/ferbench-plugin-template installs through the
``ferbench.generators`` entry point (faked through importlib.metadata, as a ``pip install``
would provide it), registers, passes ``check`` including the smoke mix, and its cells appear in
``ferbench results``. A deliberately broken plugin fails ``check`` with the right messages."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import ferbench.registry as reg
from ferbench.api.conformance import check_generator, iter_checks
from ferbench.api.generator import GENERATORS
from ferbench.errors import FerbenchError

TEMPLATE = Path(__file__).resolve().parents[1] / "examples" / "ferbench-plugin-template"
GROUP = "ferbench.generators"


def _install(monkeypatch, *eps: EntryPoint) -> None:
    real = reg.entry_points

    def fake(group):
        return [*real(group=group), *eps] if group == GROUP else real(group=group)

    monkeypatch.setattr(reg, "entry_points", fake)
    GENERATORS.refresh()


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(TEMPLATE / "src"))
    _install(monkeypatch, EntryPoint("class-mean", "ferbench_class_mean:ClassMeanGenerator",
                                     GROUP))
    yield "class-mean"
    monkeypatch.undo()
    GENERATORS.refresh()


def test_template_declares_its_entry_point():
    import tomllib

    doc = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())
    assert doc["project"]["entry-points"][GROUP] == {
        "class-mean": "ferbench_class_mean:ClassMeanGenerator"}


def test_template_plugin_registers_and_passes_check(plugin):
    assert plugin in GENERATORS.names()
    assert GENERATORS.source(plugin) == "ferbench_class_mean:ClassMeanGenerator"
    results = check_generator(plugin)  # raises listing every failure
    assert len(results) == 7 and all(r.ok for r in results)


@pytest.mark.slow
def test_template_plugin_runs_smoke_mix_and_shows_in_results(plugin, tmp_path, monkeypatch,
                                                             capsys):
    """What ``iter_checks(name, mix=True)`` runs (the smoke mix at ratios 1, 2), kept in a
    store that ``ferbench results`` then reads (about 2-5 min on a shared 2-core CPU)."""
    from ferbench.cli import main
    from ferbench.engine import Context, run_protocol
    from ferbench.protocol import load_protocol
    from ferbench.results.store import ResultStore

    monkeypatch.setenv("FERBENCH_HOME", str(tmp_path / "home"))
    store = ResultStore(tmp_path / "r.duckdb")
    spec = load_protocol("mix").override(budget="smoke", ratios=(1, 2))
    out = run_protocol(spec, plugin, {}, store, Context(progress=False, n_boot=100))
    assert len(out.records) == 3
    capsys.readouterr()
    assert main(["results", "--store", str(tmp_path / "r.duckdb")]) == 0
    assert "generator class-mean" in capsys.readouterr().out


BROKEN = textwrap.dedent('''
    import numpy as np
    from ferbench.api import GeneratorMeta, SampleBatch

    class Broken:
        meta = GeneratorMeta(name="broken", version="0", family="baseline")

        def __init__(self, where=None):
            self.where = where if where is not None else object()

        def get_params(self):
            return {"where": self.where}

        def fit(self, train, *, seed, budget, device="cpu"):
            self.shape_ = train.images.shape[1:]
            return None

        def generate(self, labels, *, seed, aus=None):
            return SampleBatch(images=np.zeros((len(labels), *self.shape_), np.float32),
                               labels=np.asarray(labels))
''')


def test_broken_plugin_fails_check_with_the_right_messages(monkeypatch, tmp_path):
    (tmp_path / "broken_plugin.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    _install(monkeypatch, EntryPoint("broken", "broken_plugin:Broken", GROUP))
    try:
        lines = {r.name: r for r in iter_checks("broken")}
        assert lines["metadata loads without fitting"].ok
        bad = lines["get_params() is JSON-serialisable and round-trips"]
        assert not bad.ok and "not JSON-serialisable" in bad.line()
        with pytest.raises(FerbenchError, match="broken fails"):
            check_generator("broken")
    finally:
        monkeypatch.undo()
        GENERATORS.refresh()


BROKEN_FIT = BROKEN.replace('self.where = where if where is not None else object()',
                            'self.where = where')


def test_broken_fit_and_dtype_are_named(monkeypatch, tmp_path):
    (tmp_path / "broken_fit.py").write_text(BROKEN_FIT)
    monkeypatch.syspath_prepend(str(tmp_path))
    _install(monkeypatch, EntryPoint("broken", "broken_fit:Broken", GROUP))
    try:
        lines = {r.name: r for r in iter_checks("broken")}
        assert lines["get_params() is JSON-serialisable and round-trips"].ok
        assert "fit() must return self" in lines[
            "fit() on a training-only view returns self"].line()
        save = lines["save()/load() round-trip gives identical samples"]
        assert not save.ok
    finally:
        monkeypatch.undo()
        GENERATORS.refresh()
