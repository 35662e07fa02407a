"""normalize.py: Gatys' rescaled VGG has mean activation 1 per filter and the same
features up to a per-channel scale (Gatys et al. 2016, Sec. 2)."""

import numpy as np
import pytest

from nst_jax.paper import normalize
from nst_jax.paper.vgg import conv_layers, features


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_every_filter_has_mean_activation_one(vgg19_params, pooling):
    rng = np.random.default_rng(0)  # per test: the images must not depend on which tests ran before
    images = [rng.uniform(-110, 130, s).astype(np.float32) for s in [(24, 20, 3), (18, 26, 3)]]
    params, means = normalize.normalize_weights(vgg19_params, "vgg19", pooling, images)
    after = normalize.mean_activations(params, images, "vgg19", pooling)
    errors = []
    for name in conv_layers("vgg19"):
        alive = means[name] > 0
        assert alive.mean() > 0.5, name  # the check below is not vacuous
        # float32 network: a filter that fires at a few positions only (a tiny c, so a
        # large 1/c) magnifies rounding; which filters do depends on the images. Measured
        # over 4 seeds x 2 poolings: worst 2.5e-3, 99% of filters <= 2e-5, median <= 4e-7.
        # A wrong rescaling is off by O(1) (a factor c^l or c^{l-1}) in most filters.
        np.testing.assert_allclose(after[name][alive], 1.0, rtol=1e-2, err_msg=name)
        errors.append(np.abs(after[name][alive] - 1.0))
        np.testing.assert_array_equal(after[name][~alive], 0.0)  # dead filters stay dead
        assert not np.allclose(means[name][alive], 1.0, rtol=0.1), name  # VGG was not normalised
    errors = np.concatenate(errors)
    assert np.quantile(errors, 0.99) < 1e-4 and np.median(errors) < 1e-6, np.quantile(errors, [0.5, 0.99])


def test_features_are_the_originals_divided_per_channel(vgg19_params):
    """F'^l_j = F^l_j / c^l_j on any image, not only those the means came from."""
    rng = np.random.default_rng(1)
    images = [rng.uniform(-110, 130, (24, 20, 3)).astype(np.float32)]
    params, means = normalize.normalize_weights(vgg19_params, "vgg19", "max", images)
    other = rng.uniform(-110, 130, (22, 30, 3)).astype(np.float32)
    layers = ("relu1_2", "relu3_1", "relu5_4")
    before, after = features(vgg19_params, other, layers, "vgg19"), features(params, other, layers, "vgg19")
    for name in layers:
        c = np.where(means[name] > 0, means[name], 1.0)
        ref = np.asarray(before[name]) / c
        # float32 rounding through up to 16 layers: 1e-4 of the layer's largest value
        np.testing.assert_allclose(after[name], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
