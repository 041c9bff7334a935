import numpy as np
from scipy import ndimage

from ferbench.data.checks import sharpness, sharpness_mismatch, sharpness_per_image


def _faces(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 48, 48, 1)).astype(np.uint8)


def test_sharpness_drops_with_blur_and_mismatch_is_flagged():
    sharp = _faces()
    blurred = np.stack([ndimage.gaussian_filter(x.astype(float), (2, 2, 0)) for x in sharp])
    blurred = blurred.round().astype(np.uint8)
    assert sharpness(blurred) < sharpness(sharp) / 4
    a, b, warning = sharpness_mismatch(blurred, sharp)
    assert a < b and warning and "train images are" in warning and "blurrier" in warning
    _, _, none = sharpness_mismatch(sharp, _faces(seed=1))
    assert none is None


def test_known_value():
    # a vertical step edge of height 100 in one column: mean |dx| = 100/47, dy = 0
    x = np.zeros((1, 48, 48, 1), np.uint8)
    x[..., 24:, 0] = 100
    assert abs(sharpness(x) - 100 / 47) < 1e-6


def test_per_image_values_match_a_direct_loop_and_the_median():
    x = _faces(n=9, seed=3)
    x[2] = 7  # a flat image has sharpness 0
    ref = [np.abs(np.diff(im[..., 0].astype(float), axis=1)).mean()
           + np.abs(np.diff(im[..., 0].astype(float), axis=0)).mean() for im in x]
    per = sharpness_per_image(x)
    assert per.shape == (9,) and per[2] == 0
    np.testing.assert_allclose(per, ref, rtol=1e-5)
    assert sharpness(x) == np.median(per) and sharpness(x, max_images=3) == np.median(per[:3])
