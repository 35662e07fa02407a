"""normalize.py: Gatys' rescaled VGG has mean activation 1 per filter and the same
features up to a per-channel scale (Gatys et al. 2016, Sec. 2)."""

import numpy as np
import pytest

from nst_jax import normalize
from nst_jax.vgg import conv_layers, features

rng = np.random.default_rng(0)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_every_filter_has_mean_activation_one(vgg19_params, pooling):
    images = [rng.uniform(-110, 130, s).astype(np.float32) for s in [(24, 20, 3), (18, 26, 3)]]
    params, means = normalize.normalize_weights(vgg19_params, "vgg19", pooling, images)
    after = normalize.mean_activations(params, images, "vgg19", pooling)
    for name in conv_layers("vgg19"):
        alive = means[name] > 0
        assert alive.mean() > 0.5, name  # the check below is not vacuous
        # float32 network; most filters agree to 1e-6, but one that fires at a few
        # positions only (a tiny c, so a large 1/c) magnifies rounding: 1e-3 relative
        np.testing.assert_allclose(after[name][alive], 1.0, rtol=1e-3, err_msg=name)
        np.testing.assert_array_equal(after[name][~alive], 0.0)  # dead filters stay dead
        assert not np.allclose(means[name][alive], 1.0, rtol=0.1), name  # VGG was not normalised


def test_features_are_the_originals_divided_per_channel(vgg19_params):
    """F'^l_j = F^l_j / c^l_j on any image, not only those the means came from."""
    images = [rng.uniform(-110, 130, (24, 20, 3)).astype(np.float32)]
    params, means = normalize.normalize_weights(vgg19_params, "vgg19", images=images)
    other = rng.uniform(-110, 130, (22, 30, 3)).astype(np.float32)
    layers = ("relu1_2", "relu3_1", "relu5_4")
    before, after = features(vgg19_params, other, layers, "vgg19"), features(params, other, layers, "vgg19")
    for name in layers:
        c = np.where(means[name] > 0, means[name], 1.0)
        ref = np.asarray(before[name]) / c
        # float32 rounding through up to 16 layers: 1e-4 of the layer's largest value
        np.testing.assert_allclose(after[name], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
