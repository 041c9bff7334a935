"""Fixed classifiers, the training loop and prediction (tiny data: runs in seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferbench.classify import (
    CLASSIFIERS,
    TrainConfig,
    build_classifier,
    predict,
    resolve_amp,
    train_classifier,
    train_config,
)
from ferbench.classify.loop import _augment_batch, _normalise
from ferbench.errors import ConfigError

TINY = TrainConfig(epochs=1, batch_size=16, lr_schedule="constant")


def _random_faces(n=64, res=48, c=1, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, res, res, c), dtype=np.uint8),
            rng.integers(0, k, n).astype(np.int64))


@pytest.mark.parametrize("name", CLASSIFIERS.names())
@pytest.mark.parametrize("res", [48, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_build_and_forward_shape(name, res, channels):
    model = build_classifier(name, 7, channels, res).eval()
    with torch.inference_mode():
        out = model(torch.zeros(2, channels, res, res))
    assert out.shape == (2, 7)


def test_resnet18_small_input_stem():
    m = build_classifier("resnet18", 7, 1, 48)
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1)
    assert m.conv1.in_channels == 1 and isinstance(m.maxpool, torch.nn.Identity)
    big = build_classifier("resnet18", 5, 1, 112)
    assert big.conv1.kernel_size == (7, 7) and big.conv1.in_channels == 1


def test_noncomplex_cnn_layout():
    m = build_classifier("noncomplex-cnn", 7, 1, 48)
    convs = [x.out_channels for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    linears = [(x.in_features, x.out_features) for x in m.modules()
               if isinstance(x, torch.nn.Linear)]
    drops = [x.p for x in m.modules() if isinstance(x, torch.nn.Dropout)]
    assert convs == [32, 64, 128, 128]
    assert linears == [(128 * 6 * 6, 1024), (1024, 7)]
    assert drops == [0.25, 0.25, 0.5]


def test_unknown_classifier_suggests():
    with pytest.raises(ConfigError, match="did you mean 'resnet18'"):
        build_classifier("resnet-18", 7, 1, 48)
    with pytest.raises(ConfigError, match="did you mean"):
        train_config("quick", "noncomplex_cnn")


def test_train_config_budgets_and_validation():
    s, q, f = (train_config(b, "noncomplex-cnn") for b in ("smoke", "quick", "full"))
    assert s.epochs < q.epochs < f.epochs and f.lr_schedule == "cosine"
    assert q.optimizer == "adam" and q.lr == 1e-3
    assert train_config("full", "resnet18").optimizer == "sgd"
    with pytest.raises(ValueError):
        train_config("huge", "resnet18")
    with pytest.raises(ConfigError):
        TrainConfig(amp="fp16")
    with pytest.raises(ConfigError):
        TrainConfig(optimizer="lamb")
    assert TINY.replace(epochs=3).epochs == 3 and TINY.to_dict()["batch_size"] == 16
    assert resolve_amp("off", "cpu") is False and resolve_amp("bf16", "cpu") is True


def test_augmentation_is_batched_and_sane():
    x, _ = _random_faces(8, 48, 1)
    xt = torch.from_numpy(x)
    plain = TrainConfig(flip=False, crop_padding=0, jitter=0.0)
    out = _augment_batch(xt, plain, torch.Generator().manual_seed(0), True)
    ref = _normalise(xt, False)
    assert out.shape == (8, 1, 48, 48) and out.dtype == torch.float32
    assert torch.allclose(out, ref) and ref.min() >= -1 and ref.max() <= 1
    # pure flip: every image is itself or its mirror
    flip = TrainConfig(flip=True, crop_padding=0, jitter=0.0)
    out = _augment_batch(xt, flip, torch.Generator().manual_seed(1), False)
    same = (out == ref).flatten(1).all(1)
    mirrored = (out == ref.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and same.any() and mirrored.any()
    # pure translation: a constant image shifted shows zero padding (-1) only at borders
    const = torch.full((16, 48, 48, 1), 200, dtype=torch.uint8)
    crop = TrainConfig(flip=False, crop_padding=4, jitter=0.0)
    out = _augment_batch(const, crop, torch.Generator().manual_seed(2), False)
    assert torch.allclose(out[:, :, 4:-4, 4:-4], torch.tensor(200 / 127.5 - 1))
    assert out.eq(-1).any()  # some shift happened
    # jitter keeps values in range
    out = _augment_batch(xt, TrainConfig(), torch.Generator().manual_seed(3), False)
    assert out.min() >= -1 and out.max() <= 1


def _bright_dark(n, seed, res=48):
    """Class 1 = bright face, class 0 = dark face, with noise: trivially separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = np.where(y == 1, 170, 60)[:, None, None, None]
    x = np.clip(base + rng.normal(0, 25, (n, res, res, 1)), 0, 255).astype(np.uint8)
    return x, y.astype(np.int64)


def test_training_learns_a_separable_toy():
    x, y = _bright_dark(128, 0, res=32)  # any multiple of 8 works; 32 keeps the test fast
    xt, yt = _bright_dark(64, 1, res=32)
    cfg = TrainConfig(epochs=4, batch_size=16, lr_schedule="constant")
    model = train_classifier("noncomplex-cnn", x, y, 2, seed=0, config=cfg, progress=False)
    pred, probs = predict(model, xt)
    assert pred.dtype == np.int64 and probs.dtype == np.float32 and probs.shape == (64, 2)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (pred == yt).mean() >= 0.9
    assert not model.training and model.ferbench_train_info["n_train"] == 128


def test_determinism_on_cpu():
    x, y = _random_faces(64, 48, 1, k=3)
    state = torch.random.get_rng_state()
    runs = [train_classifier("noncomplex-cnn", x, y, 3, seed=s, config=TINY, progress=False)
            for s in (7, 7, 8)]
    assert torch.equal(state, torch.random.get_rng_state())  # caller's RNG untouched
    a, b, c = (r.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    pa, qa = predict(runs[0], x)
    pb, qb = predict(runs[1], x)
    assert np.array_equal(pa, pb) and np.array_equal(qa, qb)


def test_resnet18_trains_one_tiny_epoch_rgb():
    x, y = _random_faces(34, 48, 3, k=3)  # 34 = 2 batches of 16 + a batch of 2
    losses = []
    model = train_classifier("resnet18", x, y, 3, seed=0, config=TINY, progress=False,
                             on_epoch_end=lambda e, s: losses.append(s))
    assert len(losses) == 1 and losses[0]["images"] == 34 and np.isfinite(losses[0]["loss"])
    pred, probs = predict(model, x[:5], batch_size=2)
    assert pred.shape == (5,) and probs.shape == (5, 3)


def test_bad_inputs():
    x, y = _random_faces(8)
    with pytest.raises(ValueError):
        train_classifier("noncomplex-cnn", x, y[:4], 3, seed=0, config=TINY, progress=False)
    with pytest.raises(ValueError):
        train_classifier("noncomplex-cnn", x, y + 5, 3, seed=0, config=TINY, progress=False)
    with pytest.raises(ValueError):
        train_classifier("noncomplex-cnn", x.astype(np.float32), y, 3, seed=0, config=TINY,
                         progress=False)


def test_min_steps_extends_small_training_sets():
    import numpy as np

    from ferbench.classify import TrainConfig, train_classifier

    x = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 1)).astype(np.uint8)
    y = np.arange(40) % 2
    cfg = TrainConfig(epochs=1, batch_size=16, min_steps=9, amp="off")
    m = train_classifier("noncomplex-cnn", x, y, 2, seed=0, config=cfg, progress=False)
    assert m.ferbench_train_info["epochs_run"] == 3 and m.ferbench_train_info["steps"] == 9
    m = train_classifier("noncomplex-cnn", x, y, 2, seed=0, config=cfg.replace(min_steps=0),
                         progress=False)
    assert m.ferbench_train_info["epochs_run"] == 1 and m.ferbench_train_info["steps"] == 3
