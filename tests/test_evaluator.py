"""Reference FER evaluator: cache, atomic safetensors entry, label fidelity of the baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferbench.api import Budget
from ferbench.classify import TrainConfig
from ferbench.data.base import TrainSet
from ferbench.data.toyfaces import load_toyfaces
from ferbench.errors import DataError, FerbenchError
from ferbench.features import FEATURE_EXTRACTORS
from ferbench.metrics.evaluator import (
    evaluator_at_chance,
    get_evaluator,
    label_fidelity,
    load_evaluator,
)
from ferbench_generators.baselines import NoiseGenerator, RealAugmentGenerator

#: tiny recipe for the fast tests (the real recipe is train_config(budget, "noncomplex-cnn"))
TINY = TrainConfig(epochs=1, batch_size=32, lr_schedule="constant", amp="off")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    train = load_toyfaces("train", resolution=16, channels=1, n_per_class=10)
    test = load_toyfaces("test", resolution=16, channels=1, n_per_class=4)
    ev = get_evaluator(train, home=tmp_path_factory.mktemp("evaluators"), config=TINY,
                       test=test)
    return train, test, ev


def test_cache_entry_is_reused_and_keyed(tiny):
    train, test, ev = tiny
    home = ev.path.parent
    assert sorted(p.name for p in ev.path.iterdir()) == ["meta.json", "model.safetensors"]
    meta = json.loads((ev.path / "meta.json").read_text())
    assert meta["dataset_hash"] == train.content_hash() and meta["recipe_overridden"]
    assert 0 <= meta["test_accuracy"] <= 1 and meta["test_n"] == len(test)
    again = get_evaluator(train, home=home, config=TINY, test=test)
    assert again.key == ev.key and again.meta["weights_sha256"] == meta["weights_sha256"]
    x = test.images
    np.testing.assert_array_equal(again.predict(x)[1], ev.predict(x)[1])
    other = get_evaluator(train.subset(np.arange(35)), home=home, config=TINY)
    assert other.key != ev.key  # a different dataset is a different entry
    assert get_evaluator(train, home=home, config=TINY, seed=1).key != ev.key
    with pytest.raises(FerbenchError, match="train split"):
        get_evaluator(test, home=home, config=TINY)
    with pytest.raises(FerbenchError, match="not a complete"):
        load_evaluator(home / "nope")


def test_label_fidelity_bad_input_and_empty(tiny):
    _, test, ev = tiny
    with pytest.raises(DataError, match="uint8"):
        label_fidelity(ev, test.images[:4, :8, :8], test.labels[:4])
    with pytest.raises(DataError, match="contempt"):
        label_fidelity(ev, test.images[:1], np.array([7]))
    with pytest.raises(DataError, match="claimed labels"):
        label_fidelity(ev, test.images[:3], test.labels[:2])
    assert label_fidelity(ev, test.images[:0], test.labels[:0])["not_computable"] == "no images"
    r = label_fidelity(ev, test.images, test.labels, n_boot=50)
    pred = ev.predict(test.images)[0]
    assert r["accuracy"] == pytest.approx(np.mean(pred == ev.positions(test.labels)))
    # the 1-epoch evaluator on 70 faces is at chance, and the result says so
    assert r["evaluator_at_chance"] is (ev.meta["test_accuracy"] < 0.4)
    assert ("says nothing" in r["note"]) is r["evaluator_at_chance"]


def test_expression_features(tiny):
    _, test, ev = tiny
    ext = FEATURE_EXTRACTORS.create("fer-evaluator", evaluator=ev)
    f = ext(test.images)
    assert f.shape == (len(test), ext.dim) == (len(test), 1024) and f.dtype == np.float64
    assert (f >= 0).all()  # post-ReLU activations
    assert ext.weights_sha256 == ev.meta["weights_sha256"]
    assert ext.describe()["evaluator_key"] == ev.key


@pytest.mark.slow
def test_label_fidelity_noise_at_chance_real_augment_near_test_accuracy(tmp_path):
    """An evaluator trained with the fixed recipe at the ``quick`` budget (>= 600 Adam steps)
    on 48 px toyfaces (the protocols' resolution): noise claims score at chance, real-augment
    claims near the evaluator's own held-out accuracy. (At 32 px the same recipe stayed on the
    ln 7 loss plateau: 13.9 % held-out, see benchmarks/README.md; a few minutes on 2 cores.)"""
    train = load_toyfaces("train", resolution=48, channels=1, n_per_class=100)
    test = load_toyfaces("test", resolution=48, channels=1, n_per_class=40)
    ev = get_evaluator(train, home=tmp_path, budget="quick", test=test)
    test_acc = ev.meta["test_accuracy"]
    # 700 training faces: measured 32 % held-out (57 % with all 3,500); chance is 14 %
    assert test_acc > 0.25 and not ev.meta.get("recipe_overridden")
    assert evaluator_at_chance(ev) is False
    ts = TrainSet(train)
    labels = np.repeat(train.class_indices, 40)  # balanced claims, 280 images
    noise = NoiseGenerator().fit(ts, seed=0, budget=Budget("smoke")).generate(labels, seed=1)
    aug = RealAugmentGenerator().fit(ts, seed=0, budget=Budget("smoke")).generate(labels, seed=1)
    fn = label_fidelity(ev, noise.images, noise.labels, n_boot=200)
    fa = label_fidelity(ev, aug.images, aug.labels, n_boot=200)
    assert fn["n"] == 280 and fn["chance"] == pytest.approx(1 / 7)
    assert abs(fn["accuracy"] - 1 / 7) < 0.06, fn["accuracy"]
    assert fa["accuracy"] > 0.75 * test_acc, (fa["accuracy"], test_acc)
    assert fa["accuracy"] > fn["accuracy"] + 0.15
    assert set(fa["per_class_recall"]) == set(train.classes)
    assert fa["evaluator_test_accuracy"] == test_acc
