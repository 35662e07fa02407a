"""resnet.py: ResNet50 in Flax against Keras' own ResNet50 on the same random weights."""

import os

import numpy as np
import pytest

from nst_jax import resnet


@pytest.fixture(scope="module")
def keras_resnet():
    """Keras' ResNet50 (JAX backend) with every variable random, batch-norm statistics too
    (so that the folding is tested), and the same weights as our params."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    m = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 80, 3))
    params = {}
    for layer in m.layers:
        w = layer.get_weights()
        if not w:
            continue
        if isinstance(layer, keras.layers.Conv2D):
            k = rng.normal(0, (2.0 / np.prod(w[0].shape[:3])) ** 0.5, w[0].shape).astype("float32")
            b = rng.normal(0, 0.1, w[1].shape).astype("float32")
            layer.set_weights([k, b])
            params[layer.name] = {"kernel": k, "bias": b}
        else:
            c = w[0].shape
            stats = [
                rng.normal(1, 0.2, c),
                rng.normal(0, 0.2, c),
                rng.normal(0, 0.3, c),
                rng.uniform(0.5, 2, c),
            ]
            stats = [a.astype("float32") for a in stats]
            layer.set_weights(stats)
            params[layer.name] = resnet.bn_affine(*stats)
    return keras, m, params


def test_params_are_the_models_own_shapes(keras_resnet):
    _, _, params = keras_resnet
    shapes = resnet.param_shapes()
    assert set(shapes) == set(params) and len(shapes) == 106  # 53 convolutions, 53 batch norms
    assert all(params[k][p].shape == s for k, d in shapes.items() for p, s in d.items())


def test_features_equal_keras_at_every_named_layer(keras_resnet):
    """Every one of the 172 named outputs, asked for alone and all together (folded and
    unfolded batch norms): float32 against Keras' float32, measured <= 2.1e-6 relative to
    each layer's largest value; 1e-5 as the issue asks."""
    keras, m, params = keras_resnet
    names = list(resnet.layer_names())
    x = np.random.default_rng(1).uniform(-120, 130, (64, 80, 3)).astype("float32")
    ref = keras.Model(m.input, [m.get_layer(n).output for n in names]).predict(x[None], verbose=0)
    default = ["conv2_block3_1_conv", "conv3_block1_1_conv", "conv4_block1_1_conv", "conv5_block1_1_conv"]
    for request in (names, default, ["conv5_block3_out"], ["conv1_conv"]):
        ours = resnet.features(params, x, request)
        assert list(ours) == request
        for n in request:
            r = ref[names.index(n)][0]
            assert ours[n].shape == r.shape, n
            assert np.abs(np.asarray(ours[n]) - r).max() <= 1e-5 * np.abs(r).max(), n


def test_bn_affine_is_the_batch_norm_formula():
    rng = np.random.default_rng(2)
    g, b, mu, var = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.1, 2, 4)
    x = rng.normal(size=(5, 4))
    ab = resnet.bn_affine(g, b, mu, var)
    want = g * (x - mu) / np.sqrt(var + resnet.EPSILON) + b
    np.testing.assert_allclose(x * ab["scale"] + ab["shift"], want, rtol=1e-6, atol=1e-6)
