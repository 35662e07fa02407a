"""optim.py: the jitted chunk runner against a plain optax loop; non-finite handling."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst_jax import optim

TARGET = jnp.asarray(np.random.default_rng(0).uniform(-150, 180, (4, 5, 3)), jnp.float32)


def quadratic(x, aux):
    total = jnp.sum(aux * (x - TARGET) ** 2)
    return total, {"total": total, "content": total, "style": 0.0 * total, "tv": jnp.sum(x)}


def test_chunks_equal_a_plain_optax_loop():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    x0 = jnp.zeros((4, 5, 3))
    init, run = optim.adam(quadratic, 3.0, max_chunk=5)
    run = jax.jit(run)
    state, logs = init(x0), []
    for n in (3, 5, 1, 4):  # uneven chunks, one compiled function
        state, log = run(aux, state, n)
        assert int(log.steps) == n
        logs.append(np.asarray(log.terms[:n, 0]))
    # reference: the textbook loop, projecting onto 0..255 after each step
    tx, x = optax.adam(3.0), x0
    s, ref = tx.init(x0), []
    for _ in range(13):
        (value, _), g = jax.value_and_grad(quadratic, has_aux=True)(x, aux)
        ref.append(float(value))
        u, s = tx.update(g, s, x)
        x = optim.clip_pixels(optax.apply_updates(x, u))
    np.testing.assert_allclose(np.concatenate(logs), ref, rtol=1e-6)
    np.testing.assert_allclose(state.x, x, rtol=1e-6, atol=1e-5)
    assert int(state.iteration) == 13 and int(state.evaluations) == 13
    assert float(state.x.max()) <= float(optim.PIXEL_HIGH.max()) + 1e-4


def test_log_rows_describe_the_image_before_each_step():
    init, run = optim.adam(quadratic, 1.0, max_chunk=4)
    aux = jnp.ones((4, 5, 3))
    state, log = jax.jit(run)(aux, init(jnp.zeros((4, 5, 3))), 4)
    assert float(log.terms[0, 0]) == float(quadratic(jnp.zeros((4, 5, 3)), aux)[0])
    assert np.asarray(log.evaluations).tolist() == [0, 1, 2, 3]
    assert float(log.terms[0, 3]) == 0.0  # the tv column is sum(x) of the zero image


def test_nonfinite_loss_keeps_last_finite_image():
    def blows_up(x, aux):  # finite until the first pixel passes 8
        total = jnp.sum((x - 100.0) ** 2) + jnp.where(x[0, 0, 0] > 8.0, jnp.inf, 0.0)
        return total, {"total": total, "content": total, "style": total, "tv": total}
    init, run = optim.adam(blows_up, 3.0, max_chunk=10)
    state, log = jax.jit(run)(None, init(jnp.zeros((2, 2, 3))), 10)
    assert bool(state.nonfinite)
    # Adam's first steps move each pixel by ~lr = 3: 0, 3, 6, 9 (> 8: infinite loss)
    assert int(state.iteration) == 2 and int(log.steps) == 3
    # two Adam steps of ~lr each (not exactly: the moment estimates change between steps)
    np.testing.assert_allclose(state.x, 6.0, atol=0.01)
    assert np.all(np.isfinite(np.asarray(log.terms[:3])))


def test_nonfinite_gradient_stays_put():
    def kink(x, aux):  # sqrt has an infinite derivative at 0
        total = jnp.sum(jnp.sqrt(jnp.abs(x)))
        return total, {"total": total, "content": total, "style": total, "tv": total}
    init, run = optim.adam(kink, 1.0, max_chunk=3)
    state, log = jax.jit(run)(None, init(jnp.zeros((2, 2, 3))), 3)
    assert bool(state.nonfinite) and int(state.iteration) == 0 and int(log.steps) == 1
    np.testing.assert_array_equal(state.x, 0.0)
