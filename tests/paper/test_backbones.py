"""backbones.py: every network behind the one interface, and what the rest relies on."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax.errors import NstError
from nst_jax.paper import backbones
from nst_jax.paper.losses import Objective, Targets, region_targets


@pytest.mark.parametrize("name", backbones.NAMES)
def test_the_interface_is_consistent(name):
    bb = backbones.get(name)
    assert bb.name == name and len(set(bb.layers)) == len(bb.layers)
    for n in bb.content_layers + bb.style_layers:  # the defaults are its own layers
        assert bb.resolve(n) in bb.layers
    assert bb.style_normalization in backbones.STYLE_NORMALIZATIONS and min(bb.style_weights.values()) > 0
    assert re.fullmatch(r"[0-9a-f]{32}", bb.md5) and bb.url.endswith("/" + bb.filename)
    assert bb.url.startswith(backbones.KERAS_URL)
    shapes = bb.feature_shapes((64, 48))
    assert set(shapes) == set(bb.layers)
    stored = bb.init_params(0)
    assert {k: {p: v.shape for p, v in d.items()} for k, d in stored.items()} == bb.param_shapes()
    params = jax.tree.map(jnp.asarray, bb.prepare(stored))
    x = jnp.asarray(np.random.default_rng(0).normal(0, 50, (64, 48, 3)), jnp.float32)
    f = bb.features(params, x, [bb.layers[3], bb.style_layers[-1]])
    assert {k: v.shape for k, v in f.items()} == {n: shapes[n] for n in (bb.layers[3], bb.style_layers[-1])}
    with pytest.raises(NstError, match=f"unknown layer 'nothing' for {name}"):
        bb.resolve("nothing")
    assert bb.from_keras("predictions", []) is None


@pytest.mark.parametrize("name", backbones.NAMES)
def test_features_stop_at_the_deepest_requested_layer(name):
    """Asking for a shallow layer computes nothing past it: fewer convolutions in the program."""
    bb = backbones.get(name)
    params = jax.tree.map(jnp.asarray, bb.prepare(bb.init_params(0)))
    x = jnp.zeros((64, 64, 3), jnp.float32)

    def convs(layers):
        return str(jax.make_jaxpr(lambda x: bb.features(params, x, layers))(x)).count("conv_general_dilated")

    assert convs([bb.layers[0]]) == 1
    assert convs([bb.style_layers[0]]) < convs([bb.style_layers[-1]])


def test_unknown_model():
    with pytest.raises(NstError, match="unknown model 'alexnet'; use one of: vgg19, vgg16, resnet50"):
        backbones.get("alexnet")


@pytest.mark.parametrize("name", backbones.NAMES)
def test_region_guides_have_each_style_layer_s_size(name):
    """Masks for --style-mask reach every style layer at its resolution (VGG: pooled as the
    network pools; ResNet50: averaged to each layer's size), values still in 0..1."""
    bb = backbones.get(name)
    style = tuple((n, 1.0) for n in bb.style_layers)
    ob = Objective(name, "max", (), style, 1.0, 1.0, 0.0)
    masks = np.zeros((64, 80, 2), np.float32)
    masks[:, :40, 0], masks[:, 40:, 1] = 1, 1
    shapes = bb.feature_shapes((64, 80))
    fake = [Targets({}, {n: jnp.zeros((shapes[n][2],) * 2) for n in bb.style_layers})] * 2
    t = region_targets(fake, [1.0, 1.0], masks, ob)
    for n in bb.style_layers:
        g = np.asarray(t.guides[n])
        assert g.shape == (*shapes[n][:2], 2) and g.min() >= -1e-6 and g.max() <= 1 + 1e-6
        np.testing.assert_allclose(g.sum(-1), 1, atol=1e-5)  # the two halves still cover it once
