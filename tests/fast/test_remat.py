"""fast/remat.py: the objective block by block under jax.checkpoint, against losses.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax.config import Config
from nst_jax.fast import remat
from nst_jax.paper.losses import loss_terms, make_targets


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["max"])  # avg: the same code path (vgg.pool)
def test_remat_gives_the_same_loss_and_gradient(vgg19_params, pooling):
    rng = np.random.default_rng(1)
    x, c, s = (jnp.asarray(rng.uniform(-100, 100, (40, 36, 3)), jnp.float32) for _ in range(3))
    ob = Config(pooling=pooling, tv_weight=1e-3).objective("vgg19")
    targets = make_targets(vgg19_params, ob, c, s)
    plain = lambda x: loss_terms(vgg19_params, targets, x, ob)["total"]
    rematerialised = lambda x: remat.loss_terms(vgg19_params, targets, x, ob)["total"]
    # the same float32 operations, recomputed and summed block by block: equal up to
    # float32 rounding of a sum of five style terms and XLA's choice of fusion
    np.testing.assert_allclose(rematerialised(x), plain(x), rtol=1e-6)
    g, g_remat = jax.grad(plain)(x), jax.grad(rematerialised)(x)
    np.testing.assert_allclose(g_remat, g, rtol=1e-5, atol=1e-5 * float(jnp.abs(g).max()))
    # and the backward pass really recomputes: each block is run a second time
    convs = lambda f: str(jax.make_jaxpr(jax.grad(f))(x)).count("conv_general_dilated")
    assert convs(rematerialised) > convs(plain)
