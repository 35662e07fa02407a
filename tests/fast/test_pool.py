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
