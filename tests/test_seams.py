"""The seams: cell identity includes the data, fits are saved and reloaded (not pickled),
the relabel-and-drop rule, AU targets, conformance reporting, and the contract of every
registry."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ferbench.api import Budget, GeneratorMeta, SampleBatch, init_params
from ferbench.api.generator import GENERATORS
from ferbench.data.base import FaceData
from ferbench.engine import Context, run_protocol
from ferbench.errors import FerbenchError
from ferbench.protocol import load_protocol
from ferbench.registry import all_registries
from ferbench.results.store import ResultStore


def _folder(root, seed, n=12):
    """<root>/{train,test}/<class>/*.png, two classes, content depending on ``seed``."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for ci, cls in enumerate(("happy", "sad")):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (32, 32), dtype=np.uint8) + 120 * ci
                Image.fromarray(img.astype(np.uint8)).save(d / f"{i}.png")
    return root


def test_two_folders_one_adapter_one_store_are_two_cells(shared_home, tmp_path):
    a, b = _folder(tmp_path / "A", 1), _folder(tmp_path / "B", 2)
    store = ResultStore(tmp_path / "r.duckdb")
    outs = []
    for root in (a, b):
        spec = load_protocol("real").override(dataset="imagefolder", data_root=str(root),
                                              budget="smoke", resolution=32)
        outs.append(run_protocol(spec, None, None, store, Context(progress=False, n_boot=50)))
    assert outs[1].resumed == 0 and outs[1].ran == 1  # B is not mistaken for A
    ra, rb = outs[0].records[0], outs[1].records[0]
    assert ra["cell_id"] != rb["cell_id"] and ra["dataset_hash"] != rb["dataset_hash"]
    assert len(store) == 2
    # the same folder again is resumed, not recomputed
    spec = load_protocol("real").override(dataset="imagefolder", data_root=str(a),
                                          budget="smoke", resolution=32)
    again = run_protocol(spec, None, None, store, Context(progress=False, n_boot=50))
    assert again.resumed == 1 and again.ran == 0 and again.records[0] == store.get_cell(
        ra["cell_id"])


class _Candidates:
    """Returns 2 candidates per request; the second of each pair is relabelled to the next
    class with low confidence (what a pseudo-labeller might do)."""

    meta = GeneratorMeta(name="cands", version="1", family="test")

    def __init__(self, short: bool = False):
        self.short = short

    def get_params(self):
        return init_params(self)

    def fit(self, train, *, seed, budget, device="cpu"):
        self.classes_ = np.unique(train.labels)
        return self

    def generate(self, labels, *, seed, aus=None):
        labels = np.asarray(labels)
        n = len(labels)
        req = np.repeat(labels, 2)
        final = req.copy()
        final[1::2] = self.classes_[(np.searchsorted(self.classes_, req[1::2]) + 1)
                                    % len(self.classes_)]
        if self.short:  # everything relabelled away: the harness must top up, then give up
            final = np.full_like(req, self.classes_[0])
        conf = np.tile([0.9, 0.1], n)
        imgs = np.full((2 * n, 8, 8, 1), seed % 251, dtype=np.uint8)
        imgs[:, 0, 0, 0] = final
        return SampleBatch(images=imgs, labels=final, requested=req, confidence=conf,
                           info={"dropped_internally": 1})


def _toy(n_per=4, res=8):
    labels = np.repeat(np.arange(3), n_per)
    return FaceData("t", "train", np.zeros((len(labels), res, res, 1), np.uint8), labels,
                    classes=("neutral", "happy", "sad"))


def test_relabel_and_drop_keeps_balance_and_records_rates():
    from ferbench.data.base import TrainSet
    from ferbench.engine.stages import generate_exact, pool_statistics

    real = _toy()
    gen = _Candidates().fit(TrainSet(real), seed=0, budget=Budget("smoke"))
    want = np.array([0, 0, 1, 2, 2, 2])
    arrays, stats = generate_exact(gen, "cands", want, None, 5, real)
    assert np.array_equal(arrays["labels"], want)            # exactly the requested balance
    assert np.array_equal(arrays["images"][:, 0, 0, 0], want)
    assert stats["returned"] == 12 and stats["kept"] == 6
    # high-confidence candidates first: each kept image is the one made for that class
    assert stats["relabelled"] == 0
    s = pool_statistics([stats])
    assert s["drop_rate"] == pytest.approx(0.5) and s["generator_info"] == {
        "dropped_internally": 1}


def test_relabel_and_drop_gives_up_with_a_clear_error():
    from ferbench.data.base import TrainSet
    from ferbench.engine.stages import generate_exact

    real = _toy()
    gen = _Candidates(short=True).fit(TrainSet(real), seed=0, budget=Budget("smoke"))
    with pytest.raises(FerbenchError, match="class balance after 3 top-ups"):
        generate_exact(gen, "cands", np.array([0, 1, 2]), None, 5, real)


def test_fits_are_saved_and_reloaded_not_refitted(shared_home, tmp_path, monkeypatch):
    from ferbench.engine import artifacts
    from ferbench.engine.run import plan_protocol
    from ferbench.engine.stages import fitted_generator

    spec = load_protocol("mix").override(budget="smoke", ratios=(1,))
    plan = plan_protocol(spec, "noise", {}, Context(progress=False))
    pool = next(j for j in plan.jobs if j.kind == "fit").spec
    gen = fitted_generator(pool, Context(progress=False))
    d = artifacts.fit_dir(pool.fit_id)
    assert (d / "state.safetensors").is_file() and (d / "fit.json").is_file()
    assert not list(d.glob("*.pt")) and not list(d.glob("*.pkl"))
    cls = GENERATORS.get("noise")
    monkeypatch.setattr(cls, "fit", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    again = fitted_generator(pool, Context(progress=False))  # a new process would do this
    want = np.array([0, 1, 2, 3])
    assert np.array_equal(gen.generate(want, seed=1).images, again.generate(want, seed=1).images)


class _AUEcho:
    """Writes the first requested AU intensity into the image, to check AU targets arrive."""

    meta = GeneratorMeta(name="au-echo", version="1", family="test",
                         conditioning=("label", "au"))

    def get_params(self):
        return {}

    def fit(self, train, *, seed, budget, device="cpu"):
        self.shape_ = train.images.shape[1:]
        return self

    def generate(self, labels, *, seed, aus=None):
        imgs = np.zeros((len(labels), *self.shape_), np.uint8)
        if aus is not None:
            imgs[:, 0, 0, 0] = np.round(np.asarray(aus)[:, 0] * 50).astype(np.uint8)
        return SampleBatch(images=imgs, labels=np.asarray(labels), aus=aus)


def test_au_targets_reach_the_generator_and_are_kept(shared_home, tmp_path):
    from ferbench.engine import artifacts
    from ferbench.engine.run import plan_protocol
    from ferbench.engine.stages import real_for, run_pool

    GENERATORS.register("au-echo", _AUEcho, replace=True)
    try:
        spec = load_protocol("synthetic").override(budget="smoke", au_targets="real")
        ctx = Context(progress=False)
        plan = plan_protocol(spec, "au-echo", {}, ctx)
        pool = next(j for j in plan.jobs if j.kind == "pool")
        run_pool(pool, ctx)
        arrays, _ = artifacts.read_block(pool.key, 0)
        real = real_for(pool.spec, ctx)
        assert arrays["aus_requested"].shape == (len(real), real.aus.shape[1])
        # every requested AU vector is a real training image's AUs of the same class
        for lab, a in zip(arrays["labels"], arrays["aus_requested"]):
            matches = np.flatnonzero((real.aus == a).all(axis=1))
            assert len(matches) and real.labels[matches[0]] == lab
        assert np.array_equal(arrays["images"][:, 0, 0, 0],
                              np.round(arrays["aus_requested"][:, 0] * 50).astype(np.uint8))
    finally:
        GENERATORS.unregister("au-echo")


class _Broken:
    meta = GeneratorMeta(name="broken", version="1", family="test")

    def __init__(self, k: int = 1):
        self.k = k

    def get_params(self):
        return {"k": self.k, "not_json": object()}

    def fit(self, train, *, seed, budget, device="cpu"):
        self.n_ = train.images.shape[1:]
        return None  # wrong: must return self

    def generate(self, labels, *, seed, aus=None):
        return SampleBatch(images=np.zeros((len(labels), 2, 2, 1), np.float32), labels=labels)


def test_conformance_reports_every_failure():
    from ferbench.api.conformance import ConformanceError, check_generator, iter_checks

    GENERATORS.register("broken", _Broken, replace=True)
    try:
        results = list(iter_checks("broken"))
        failed = [r for r in results if not r.ok]
        assert any("JSON" in r.message for r in failed)
        assert len(failed) >= 4  # later checks report too (skipped ones say why)
        with pytest.raises(ConformanceError) as info:
            check_generator("broken")
        assert str(info.value).count("FAIL") == len(failed)
    finally:
        GENERATORS.unregister("broken")


@pytest.mark.parametrize("kind", sorted(all_registries()))
def test_registry_contract(kind):
    """Every registry lists names, resolves each one, and suggests near misses."""
    reg = all_registries()[kind]
    names = reg.names()
    assert names, f"{kind} registry is empty"
    for n in names:
        assert reg.get(n) is not None
        assert reg.source(n)
    with pytest.raises(FerbenchError, match="did you mean"):
        reg.get(names[0] + "x")


def test_data_options_reach_the_adapter_and_the_identity(shared_home, tmp_path):
    """--data-option group_pattern=... splits an imagefolder by person; the cells differ."""
    from ferbench.engine.run import plan_protocol

    rng = np.random.default_rng(0)
    for ci, cls in enumerate(("happy", "sad")):
        d = tmp_path / "ck" / cls
        d.mkdir(parents=True)
        for s in range(10):
            for k in range(3):
                img = (rng.integers(0, 50, (16, 16)) + 100 * ci).astype(np.uint8)
                Image.fromarray(img).save(d / f"S{s:03d}_{k}.png")
    base = load_protocol("real").override(dataset="imagefolder", data_root=str(tmp_path / "ck"),
                                          budget="smoke", resolution=16)
    grouped = base.override(data_options={"group_pattern": r"^(S\d+)_"})
    a = plan_protocol(base, None, None, Context(progress=False)).cells[0]
    b = plan_protocol(grouped, None, None, Context(progress=False)).cells[0]
    assert b.data_options == {"group_pattern": r"^(S\d+)_"}
    assert a.test_dataset_hash != b.test_dataset_hash and a.cell_id != b.cell_id
    with pytest.raises(FerbenchError, match="bogus"):
        plan_protocol(base.override(data_options={"bogus": 1}), None, None,
                      Context(progress=False))


@pytest.mark.slow  # ~6 min on 2 cores (Inception at 299 px on CPU); its parts are tested fast
def test_fidelity_protocol_stores_pool_level_scores(shared_home, tmp_path):
    """`--protocol fidelity` at smoke: one pool result with FID/KID/PRDC, label and AU fidelity,
    diversity, N recorded; a re-run resumes it instead of scoring again."""
    from ferbench.api.results import PoolResult

    spec = load_protocol("fidelity").override(budget="smoke")
    store = ResultStore(tmp_path / "r.duckdb")
    out = run_protocol(spec, "noise", {}, store, Context(progress=False, n_boot=50))
    assert out.records == [] and len(out.pool_records) == 1
    res = PoolResult.from_record(store.pool_results()[0])
    got = {s.metric: s for s in res.scores}
    assert res.n == 100 and res.config["n"] == 100 and res.config["inception_sha256"]
    for m in ("fid", "kid", "precision", "recall", "label_fidelity", "vendi",
              "au_profile_distance", "expression_fd", "fid_class_happy"):
        assert m in got, m
    assert got["fid"].value > 0 and not got["fid"].higher_is_better
    assert got["fid_class_happy"].value is None and "needs at least" in got["fid_class_happy"].note
    from ferbench.metrics.mini_xception import available

    assert ("label_fidelity_mini_xception" in got) == available()
    again = run_protocol(spec, "noise", {}, store, Context(progress=False, n_boot=50))
    assert again.resumed == 1 and again.ran == 0


def test_a_malformed_fit_key_is_a_one_line_config_error():
    from ferbench.api import shared_fit_key
    from ferbench.errors import ConfigError

    class Bad:
        meta = GeneratorMeta(name="bad-key", version="1", family="test")

        def fit_key(self):
            return {"generator": "x"}  # no params

        def set_params(self, **params):
            return self

    class NoSet:
        meta = GeneratorMeta(name="no-set", version="1", family="test")

        def fit_key(self):
            return {"generator": "x", "params": {}}

    with pytest.raises(ConfigError, match="bad-key.*fit_key"):
        shared_fit_key(Bad())
    with pytest.raises(ConfigError, match="no-set.*set_params"):
        shared_fit_key(NoSet())
    assert shared_fit_key(GENERATORS.create("noise")) is None
