"""fast/winograd.py: F(4x4, 3x3) against direct convolution, in float64 (the algebra) and
float32 (the rounding it adds); the layers it is used for; losses and gradients through
WinogradConv against nn.Conv."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax import NstError
from nst_jax.config import Config
from nst_jax.fast import plan
from nst_jax.fast import winograd as wg
from nst_jax.paper.losses import make_targets


def direct(x, kernel):  # lax's SAME 3x3 convolution, what nn.Conv computes
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (1, 1),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 8, 12), (1, 13, 7)])  # whole tiles, a batch; cut tiles
def test_equals_direct_convolution_in_float64(shape):
    # Eq. 10 is exact in exact arithmetic: in float64 the two agree to rounding (1e-12)
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(*shape, 5)), rng.normal(size=(3, 3, 5, 7))
    with jax.enable_x64(True):
        u, u_grad = wg.kernel_pair(k, np.float64)
        ours = wg.conv3x3(jnp.asarray(x), jnp.asarray(u), jnp.asarray(u_grad))
        np.testing.assert_allclose(ours, direct(jnp.asarray(x), jnp.asarray(k)), atol=1e-12)
        # the input gradient (the Winograd product with U' = rot180(g)^T's transform)
        r = jnp.asarray(rng.normal(size=(*shape, 7)))
        g_ours = jax.grad(lambda x: jnp.vdot(wg.conv3x3(x, jnp.asarray(u), jnp.asarray(u_grad)), r))(
            jnp.asarray(x)
        )
        g_ref = jax.grad(lambda x: jnp.vdot(direct(x, jnp.asarray(k)), r))(jnp.asarray(x))
        np.testing.assert_allclose(g_ours, g_ref, atol=1e-12)
        # U' only shapes the backward pass: the output does not depend on it
        du_grad = jax.grad(lambda v: jnp.vdot(wg.conv3x3(jnp.asarray(x), jnp.asarray(u), v), r))(
            jnp.asarray(u_grad)
        )
        assert not np.any(du_grad)


def test_float32_rounding_error():
    # what Winograd costs in float32, on VGG's widest layer shape (512 -> 512 channels):
    # the largest error relative to the largest output, against a float64 reference.
    # Measured: direct ~4e-7, Winograd ~1.5e-5 (the transforms multiply by up to 8 and
    # 1/24); the bound 1e-4 leaves ~6x headroom and catches a wrong coefficient (O(1)).
    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(size=(1, 24, 20, 512)), 0)  # post-ReLU inputs
    k = rng.normal(size=(3, 3, 512, 512)) * (2 / (9 * 512)) ** 0.5  # He-normal
    with jax.enable_x64(True):
        ref = np.asarray(direct(jnp.asarray(x), jnp.asarray(k)))
    u, u_grad = wg.kernel_pair(k)
    ours = np.asarray(wg.conv3x3(jnp.asarray(x, jnp.float32), u, u_grad))
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    assert 1e-8 < err < 1e-4, err  # not exact (it is float32), but close


def test_layers_and_their_transformed_parameters(vgg19_params):
    # from 256 input channels (conv3_2 on), up to the deepest requested layer
    assert wg.choose("vgg19", "relu4_2") == ("conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2")
    assert wg.choose("vgg19", "relu3_1") == ()
    p = wg.prepare(vgg19_params, ("conv4_2",))
    assert set(p["conv4_2"]) == {"u", "u_grad", "bias"}  # the kernel, transformed
    assert p["conv4_2"]["u"].shape == p["conv4_2"]["u_grad"].shape == (36, 512, 512)
    assert set(p["conv4_1"]) == {"kernel", "bias"}  # the others as they were
    with pytest.raises(NstError, match="needs float32"):
        Config(conv="winograd", precision="bf16").validate()
    with pytest.raises(NstError, match="unknown --conv"):
        Config(conv="fft").validate()


@pytest.mark.slow
@pytest.mark.parametrize("remat", [False, True])
def test_loss_and_gradient_match_direct(vgg19_params, remat):
    # an objective through four Winograd layers (conv3_2 .. conv4_1) against every
    # convolution direct (blocks 1-4 only, to keep compilation short). Tolerance: features
    # carry ~1e-5 relative rounding (above); measured 4e-7 relative on the loss, 6e-6 on
    # the gradient (relative to its largest element): ~100x headroom below.
    rng = np.random.default_rng(2)
    content, style = (jnp.asarray(rng.uniform(-100, 100, (40, 36, 3)), jnp.float32) for _ in "cs")
    layers = dict(content_layers=("relu3_3",), style_layers=("relu1_1", "relu3_4", "relu4_1"))
    ob = Config(model="vgg19", **layers).objective("vgg19")
    x = content + jnp.asarray(rng.normal(0, 10, content.shape), jnp.float32)
    results = []
    for conv in ("direct", "winograd"):
        how = plan(Config(model="vgg19", conv=conv, remat=remat, **layers).validate(), "vgg19", 40 * 36)
        assert how.winograd == (("conv3_2", "conv3_3", "conv3_4", "conv4_1") if conv == "winograd" else ())
        p = how.prepare(vgg19_params)
        targets = make_targets(p, ob, content, style, how.ops)
        loss = lambda x, how=how, p=p, t=targets: how.loss_terms(p, t, x, ob, how.ops)["total"]
        results.append(jax.value_and_grad(loss)(x))
    (l_d, g_d), (l_w, g_w) = results
    print("relative error: loss", abs(l_w / l_d - 1), "gradient", np.abs(g_w - g_d).max() / np.abs(g_d).max())
    np.testing.assert_allclose(l_w, l_d, rtol=1e-4)
    assert np.abs(g_w - g_d).max() < 1e-3 * np.abs(g_d).max()
