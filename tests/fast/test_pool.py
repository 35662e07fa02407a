"""fast/pool.py: the written-out max-pool gradient against the plain pooling's."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax.fast import pool
from nst_jax.paper import vgg


@pytest.mark.parametrize("shape", [(1, 8, 6, 3), (2, 9, 7, 5)])  # odd sides: last row dropped
def test_fast_pooling_matches_flax_pooling_and_its_gradient(shape):
    rng = np.random.default_rng(0)
    # small integers: many ties inside windows, where the gradient must go to the first
    # maximum in row-major order, as XLA's select-and-scatter (and PyTorch) route it
    x = jnp.asarray(rng.integers(0, 3, shape).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(shape[0], shape[1] // 2, shape[2] // 2, shape[3])), jnp.float32)
    for ours, ref in (
        (pool.max_pool_2x2, nn.max_pool),
        (vgg.max_pool_2x2, nn.max_pool),
        (vgg.avg_pool_2x2, nn.avg_pool),
    ):
        flax_pool = lambda x, ref=ref: ref(x, (2, 2), strides=(2, 2), padding="VALID")
        np.testing.assert_array_equal(ours(x), flax_pool(x))
        g_ours = jax.grad(lambda x, ours=ours: jnp.sum(w * ours(x)))(x)
        g_ref = jax.grad(lambda x, pool=flax_pool: jnp.sum(w * pool(x)))(x)
        np.testing.assert_allclose(g_ours, g_ref, rtol=1e-6, atol=0)  # avg: 0.25*w either way


def test_the_network_with_fast_pooling_gives_the_same_features_and_gradient(vgg19_params):
    x = jnp.asarray(np.random.default_rng(3).uniform(-100, 100, (20, 18, 3)), jnp.float32)
    fast = vgg.Ops(max_pool=pool.max_pool_2x2)
    f = lambda x, ops: vgg.features(vgg19_params, x, ["relu3_1"], "vgg19", ops=ops)["relu3_1"]
    np.testing.assert_array_equal(f(x, fast), f(x, vgg.Ops()))  # max is exact either way
    g = lambda ops: jax.grad(lambda x: jnp.sum(f(x, ops) ** 2))(x)
    np.testing.assert_allclose(g(fast), g(vgg.Ops()), rtol=1e-5, atol=1e-6 * float(jnp.abs(g(fast)).max()))


@pytest.mark.parametrize("shape", [(1, 13, 11, 4), (2, 10, 9, 3)])  # odd and even sides
def test_fast_3x3_pooling_matches_flax_pooling_and_its_gradient(shape):
    """ResNet50's pool1 (3x3, stride 2): overlapping windows, ties everywhere (small
    integers): the same values, and the same gradient as XLA's select-and-scatter, which
    sums each window's share at its first maximum in row-major order."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.integers(0, 3, shape).astype(np.float32))
    flax_pool = lambda x: nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
    np.testing.assert_array_equal(pool.max_pool_3x3_s2(x), flax_pool(x))
    w = jnp.asarray(rng.normal(size=flax_pool(x).shape), jnp.float32)
    g_ours = jax.grad(lambda x: jnp.sum(w * pool.max_pool_3x3_s2(x)))(x)
    g_ref = jax.grad(lambda x: jnp.sum(w * flax_pool(x)))(x)
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-6, atol=1e-7)  # (sums of up to 4 shares)


def test_resnet50_with_the_plans_ops_gives_the_same_features_and_gradient():
    from nst_jax.paper import resnet

    params = jax.tree.map(jnp.asarray, resnet.prepare(resnet.init_params(0)))
    x = jnp.asarray(np.random.default_rng(3).uniform(-100, 100, (40, 36, 3)), jnp.float32)
    fast = vgg.Ops(max_pool_3x3=pool.max_pool_3x3_s2)
    f = lambda x, ops: resnet.features(params, x, ["conv2_block1_1_conv"], ops=ops)["conv2_block1_1_conv"]
    np.testing.assert_array_equal(f(x, fast), f(x, None))
    g = lambda ops: jax.grad(lambda x: jnp.sum(f(x, ops) ** 2))(x)
    np.testing.assert_allclose(g(fast), g(None), rtol=1e-5, atol=1e-6 * float(jnp.abs(g(fast)).max()))
