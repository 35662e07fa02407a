"""vgg.py: architecture, layer names, early stopping, and features against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import numpy_ref
import pytest

from nst_jax import NstError
from nst_jax.paper import vgg


def test_architectures():
    assert len(vgg.conv_layers("vgg16")) == 13 and len(vgg.conv_layers("vgg19")) == 16
    assert vgg.conv_layers("vgg19")[-1] == "relu5_4"
    # the shapes are read off the Flax model itself
    n16 = sum(np.prod(v) for p in vgg.param_shapes("vgg16").values() for v in p.values())
    assert n16 == 14_714_688  # Keras' VGG16(include_top=False).count_params()
    assert vgg.param_shapes("vgg19")["conv3_2"] == {"kernel": (3, 3, 256, 256), "bias": (256,)}
    layer = vgg.layers("vgg19")[5]
    assert (layer.name, layer.conv, layer.keras, layer.block, layer.channels) == (
        "relu3_2",
        "conv3_2",
        "block3_conv2",
        3,
        256,
    )
    with pytest.raises(NstError, match="unknown model"):
        vgg.conv_layers("resnet50")


def test_feature_shapes_halve_at_each_pooling():
    shapes = vgg.feature_shapes("vgg19", (33, 50))  # odd sides: pooling rounds down
    assert shapes["relu1_1"] == (33, 50, 64) and shapes["relu2_2"] == (16, 25, 128)
    assert shapes["relu3_1"] == (8, 12, 256) and shapes["relu5_4"] == (2, 3, 512)


@pytest.mark.parametrize("name", ["relu4_2", "conv4_2", "block4_conv2", " RELU4_2 "])
def test_layer_aliases(name):
    assert vgg.resolve_layer("vgg19", name) == "relu4_2"


def test_unknown_layer_lists_valid_names():
    with pytest.raises(NstError) as e:
        vgg.resolve_layer("vgg16", "relu5_4")  # exists in VGG19 only
    assert "relu5_3" in str(e.value) and "relu5_4" not in str(e.value).split("valid names:")[1]
    with pytest.raises(NstError, match="unknown layer"):
        vgg.resolve_layer("vgg19", "fc7")


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("shape", [(32, 24), (17, 19)])  # odd sizes: floor pooling
def test_features_match_numpy(vgg19_params, pooling, shape):
    x = np.random.default_rng(0).uniform(-120, 130, (*shape, 3)).astype(np.float32)
    layers = vgg.conv_layers("vgg19")
    ours = vgg.features(vgg19_params, jnp.asarray(x), layers, "vgg19", pooling)
    ref = numpy_ref.vgg_features(vgg19_params, x, "vgg19", pooling)
    for name in layers:
        assert ours[name].shape == ref[name].shape, name
        # float32 against float64 through up to 16 layers: errors of ~1e-6 relative per
        # layer compound; 1e-4 of the layer's largest activation leaves room, a wrong
        # padding, pooling or channel order is off by far more (tens of percent)
        scale = np.abs(ref[name]).max()
        np.testing.assert_allclose(ours[name], ref[name], atol=1e-4 * scale, err_msg=name)


def test_lax_conv_reference(vgg19_params):
    """relu1_1 equals a direct lax.conv_general_dilated call (NHWC, HWIO, SAME)."""
    x = jnp.asarray(np.random.default_rng(1).normal(0, 50, (1, 20, 20, 3)), jnp.float32)
    p = vgg19_params["conv1_1"]
    ref = jax.lax.conv_general_dilated(
        x,
        p["kernel"],
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )
    ref = jnp.maximum(ref + p["bias"], 0)[0]
    ours = vgg.features(vgg19_params, x[0], ["conv1_1"], "vgg19")["relu1_1"]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)


def test_stops_at_deepest_requested_layer(vgg19_params):
    only_block1 = {k: v for k, v in vgg19_params.items() if k.startswith("conv1_")}
    x = jnp.zeros((16, 16, 3))
    out = vgg.features(only_block1, x, ["relu1_2", "relu1_1"], "vgg19")  # no block 2 needed
    assert set(out) == {"relu1_1", "relu1_2"}
    jaxpr = str(jax.make_jaxpr(lambda x: vgg.features(vgg19_params, x, ["relu2_1"], "vgg19"))(x))
    assert jaxpr.count("conv_general_dilated") == 3  # conv1_1, conv1_2, conv2_1


def test_minimum_size_reaches_block5(vgg19_params):
    out = vgg.features(vgg19_params, jnp.zeros((16, 16, 3)), ["relu5_4"], "vgg19")
    assert out["relu5_4"].shape == (1, 1, 512)


def test_precisions(vgg19_params):
    x = jnp.asarray(np.random.default_rng(2).uniform(-100, 100, (32, 32, 3)), jnp.float32)
    f32 = vgg.features(vgg19_params, x, ["relu3_1"], "vgg19")["relu3_1"]
    bf16 = vgg.features(vgg19_params, x, ["relu3_1"], "vgg19", precision="bf16")["relu3_1"]
    assert bf16.dtype == jnp.float32  # features come back in float32 for the losses
    # bfloat16 has an 8-bit significand (relative step 2^-8 = 0.4%); 5 layers of rounding
    err = float(jnp.linalg.norm(bf16 - f32) / jnp.linalg.norm(f32))
    assert 1e-4 < err < 0.03
    with pytest.raises(NstError, match="unknown precision"):
        vgg.features(vgg19_params, x, ["relu3_1"], "vgg19", precision="fp8")
