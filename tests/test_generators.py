"""Generator contract tests, parametrised over the registry (every generator gets them)."""

import numpy as np
import pytest

from ferbench.api import Budget, create_generator, generator_names
from ferbench.api.conformance import check_generator
from ferbench.data.base import FaceData, TrainSet

CLASSES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")


def _conformance_params():
    """Every registered generator; trained ones (not baselines) are marked ``slow`` here because
    their own test files run the same conformance suite at the smoke budget."""
    from ferbench.api.generator import GENERATORS

    out = []
    for n in generator_names():
        light = getattr(GENERATORS.get(n), "meta", None) is not None and \
            GENERATORS.get(n).meta.family in ("baseline", "submission")
        out.append(pytest.param(n, marks=() if light else pytest.mark.slow))
    return out


@pytest.mark.parametrize("name", _conformance_params())
def test_conformance(name):
    results = check_generator(name)
    assert len(results) >= 7 and all(r.ok for r in results)


def _levels_dataset(n_per_class=12, res=32):
    """Each class is a flat image at its own grey level plus a small dark square (so
    augmentation visibly moves something)."""
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i in range(len(CLASSES)):
        for _ in range(n_per_class):
            img = np.full((res, res, 1), 40 + 25 * i, dtype=np.uint8)
            img[8:14, 8:14] = 0
            img = np.clip(img + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
            xs.append(img)
            ys.append(i)
    return FaceData("levels", "train", np.stack(xs), np.array(ys), classes=CLASSES)


def test_real_augment_draws_from_the_claimed_class_and_augments():
    data = _levels_dataset()
    g = create_generator("real-augment").fit(TrainSet(data), seed=0, budget=Budget("smoke"))
    want = np.repeat(np.arange(7), 10)
    out = g.generate(want, seed=3)
    assert np.array_equal(out.labels, want)
    # Brightness/contrast jitter moves levels a bit, but class order of the centre level holds.
    centre = out.images[:, 16:24, 16:24, 0].reshape(7, 10, -1).mean(axis=(1, 2))
    assert np.all(np.diff(centre) > 0), centre
    # Not copies: the dark square moves or the image changes for most samples.
    src_like = [np.any([np.array_equal(x, s) for s in data.images]) for x in out.images]
    assert sum(src_like) < len(out.images) // 4


def test_noise_is_class_agnostic_and_matches_mean_face():
    data = _levels_dataset()
    g = create_generator("noise").fit(TrainSet(data), seed=0, budget=Budget("smoke"))
    out = g.generate(np.repeat(np.arange(7), 30), seed=0)
    per_class = out.images.reshape(7, 30, -1).mean(axis=(1, 2))
    data_means = data.images.reshape(7, -1).mean(axis=1)
    # Labels carry no information: class means differ by sampling noise only, a small
    # fraction of the real data's between-class spread (150 grey levels).
    assert np.ptp(per_class) < 0.1 * np.ptp(data_means)
    assert abs(out.images.mean() - data.images.mean()) < 6


def test_trainset_refuses_other_splits_and_is_read_only():
    data = _levels_dataset()
    test = FaceData("levels", "test", data.images, data.labels, classes=CLASSES)
    with pytest.raises(ValueError, match="train split"):
        TrainSet(test)
    ts = TrainSet(data)
    with pytest.raises(ValueError):
        ts.images[0, 0, 0, 0] = 1
    assert not hasattr(ts, "__dict__")  # no way to hang other splits on it
