"""Inception features: architecture, equality with clean-fid's own pipeline, and separation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ferbench.data.toyfaces import render
from ferbench.errors import DataError, FerbenchError
from ferbench.features import FEATURE_EXTRACTORS


@pytest.fixture(scope="module")
def inception():
    return FEATURE_EXTRACTORS.create("inception-v3", batch_size=4)


@pytest.fixture(scope="module")
def images():
    """3 gray toyfaces (different identities/expressions) and 2 smoothed-noise images."""
    faces = [render(1000 + i, np.eye(15)[i] * 3.0, resolution=48, channels=1)[0]
             for i in range(3)]
    rng = np.random.default_rng(0)
    noise = [np.asarray(Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8))
                        .resize((48, 48), Image.BILINEAR))[..., None] for _ in range(2)]
    return np.stack(faces + noise).astype(np.uint8)


@pytest.fixture(scope="module")
def feats(inception, images):
    return inception(images)


def test_attributes_and_shape(inception, feats, images):
    assert inception.name == "inception-v3" and inception.dim == 2048
    assert inception.resize_mode == "clean" and len(inception.weights_sha256) == 64
    assert feats.shape == (len(images), 2048) and feats.dtype == np.float64
    assert np.isfinite(feats).all() and (feats >= 0).all()  # avg-pool of ReLU outputs
    assert inception(images[:0]).shape == (0, 2048)


def _png_files(images, folder):
    files = []
    for i, im in enumerate(images):
        f = folder / f"{i}.png"
        Image.fromarray(im[..., 0]).save(f)
        files.append(f)
    return files


def test_preprocessing_equals_cleanfid_resize_dataset(inception, images, tmp_path):
    """clean-fid's ResizeDataset (PNG -> RGB -> clean resize -> ToTensor) gives bit-identical
    network input."""
    from cleanfid.utils import ResizeDataset

    ds = ResizeDataset(_png_files(images, tmp_path), mode="clean")
    assert torch.equal(inception.preprocess(images), torch.stack([ds[i] for i in range(len(ds))]))


@pytest.mark.slow
def test_equals_cleanfid_wrapper_pipeline(inception, feats, images, tmp_path):
    """clean-fid's ResizeDataset + InceptionV3W ((x-128)/128 -> .layers -> view(bs, 2048)), with
    default_1.pt standing in for NVIDIA's file."""
    from cleanfid.inception_torchscript import InceptionV3W
    from cleanfid.utils import ResizeDataset

    (tmp_path / "inception-2015-12-05.pt").symlink_to(inception.weights_path)

    class _W(InceptionV3W):  # default_1.pt nests the core one level deeper (.net.layers)
        def __init__(self, path):
            torch.nn.Module.__init__(self)
            self.base = torch.jit.load(str(path / "inception-2015-12-05.pt")).eval()
            self.layers = self.base.net.layers
            self.resize_inside = False

    ds = ResizeDataset(_png_files(images[:2], tmp_path), mode="clean")
    with torch.no_grad():
        ref = _W(tmp_path)(torch.stack([ds[0], ds[1]])).double().numpy()
    # fp32 round-off only (oneDNN kernels vary with the batch size)
    np.testing.assert_allclose(feats[:2], ref, rtol=0, atol=2e-5)
    # gray input is repeated to 3 channels: an RGB copy gives the same features
    np.testing.assert_allclose(inception(np.repeat(images[:2], 3, axis=3)), feats[:2],
                               rtol=0, atol=2e-5)


def test_features_separate_unlike_images(feats):
    d = np.linalg.norm(feats[:, None] - feats[None], axis=2)
    face_face = d[:3, :3][np.triu_indices(3, 1)].max()
    face_noise = d[:3, 3:].min()
    assert face_face < face_noise


def test_bad_input(inception, tmp_path):
    with pytest.raises(DataError, match="uint8"):
        inception(np.zeros((2, 48, 48, 1), np.float32))
    with pytest.raises(FerbenchError, match="not found"):
        FEATURE_EXTRACTORS.create("inception-v3", weights=tmp_path / "missing.pt")


def test_feature_cache_extracts_once(tmp_path):
    from ferbench.features.cache import cached_features

    class Counting:
        name, weights_sha256, resize_mode, dim = "mean-pixel", "0" * 64, "none", 2
        calls = 0

        def __call__(self, x):
            Counting.calls += 1
            return np.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))], 1)

    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    f1, hit1 = cached_features(Counting(), x, home=tmp_path, dataset_hash="h", split="train")
    f2, hit2 = cached_features(Counting(), x, home=tmp_path, dataset_hash="h", split="train")
    assert (hit1, hit2) == (False, True) and Counting.calls == 1
    np.testing.assert_array_equal(f1, f2)
    _, hit3 = cached_features(Counting(), x[:4], home=tmp_path, dataset_hash="h", split="train")
    assert not hit3 and Counting.calls == 2  # different images -> different key
    assert [p.suffix for p in tmp_path.iterdir()] == [".npy"] * 2  # no temp files left
