"""optim.py: the jitted chunk runner against a plain optax loop; non-finite handling."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nst_jax import lbfgs, optim

TARGET = jnp.asarray(np.random.default_rng(0).uniform(-150, 180, (4, 5, 3)), jnp.float32)


def quadratic(x, aux):
    total = jnp.sum(aux * (x - TARGET) ** 2)
    return total, {"total": total, "content": total, "style": 0.0 * total, "tv": jnp.sum(x)}


def test_chunks_equal_a_plain_optax_loop():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    x0 = jnp.zeros((4, 5, 3))
    init, compile_, _ = optim.adam(quadratic, 3.0, max_chunk=5, loop="device")
    state, logs = init(x0, aux), []
    run = compile_(aux, state)
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
    init, compile_, current = optim.adam(quadratic, 1.0, max_chunk=4)
    aux = jnp.ones((4, 5, 3))
    state = init(jnp.zeros((4, 5, 3)), aux)
    state, log = compile_(aux, state)(aux, state, 4)
    assert float(log.terms[0, 0]) == float(quadratic(jnp.zeros((4, 5, 3)), aux)[0])
    # the loss of image k is known after k + 1 evaluations (its own included)
    assert np.asarray(log.evaluations).tolist() == [1, 2, 3, 4]
    assert int(current(aux, state)[1]) == 5
    assert float(log.terms[0, 3]) == 0.0  # the tv column is sum(x) of the zero image


def test_nonfinite_loss_keeps_last_finite_image():
    def blows_up(x, aux):  # finite until the first pixel passes 8
        total = jnp.sum((x - 100.0) ** 2) + jnp.where(x[0, 0, 0] > 8.0, jnp.inf, 0.0)
        return total, {"total": total, "content": total, "style": total, "tv": total}
    init, compile_, _ = optim.adam(blows_up, 3.0, max_chunk=10)
    state = init(jnp.zeros((2, 2, 3)), None)
    state, log = compile_(None, state)(None, state, 10)
    assert int(state.stop) == lbfgs.NONFINITE
    # Adam's first steps move each pixel by ~lr = 3: 0, 3, 6, 9 (> 8: infinite loss)
    assert int(state.iteration) == 2 and int(log.steps) == 3
    # two Adam steps of ~lr each (not exactly: the moment estimates change between steps)
    np.testing.assert_allclose(state.x, 6.0, atol=0.01)
    assert np.all(np.isfinite(np.asarray(log.terms[:3])))


def test_nonfinite_gradient_stays_put():
    def kink(x, aux):  # sqrt has an infinite derivative at 0
        total = jnp.sum(jnp.sqrt(jnp.abs(x)))
        return total, {"total": total, "content": total, "style": total, "tv": total}
    init, compile_, _ = optim.adam(kink, 1.0, max_chunk=3)
    state = init(jnp.zeros((2, 2, 3)), None)
    state, log = compile_(None, state)(None, state, 3)
    assert int(state.stop) == lbfgs.NONFINITE and int(state.iteration) == 0 and int(log.steps) == 1
    np.testing.assert_array_equal(state.x, 0.0)


def test_lbfgs_chunks_equal_one_minimize_call():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    init, compile_, current = optim.lbfgs(quadratic, memory_size=4, max_chunk=4, loop="device")
    state, rows = init(jnp.zeros((4, 5, 3)), aux), []
    run = compile_(aux, state)
    for n in (3, 4, 2):
        state, log = run(aux, state, n)
        rows += np.asarray(log.terms[: int(log.steps), 0]).tolist()
    ref = lbfgs.minimize(lambda x: quadratic(x, aux)[0], jnp.zeros((4, 5, 3)), max_iters=9,
                         memory_size=4, gtol=0.0, ftol=0.0)
    np.testing.assert_allclose(state.x, ref.x, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(rows, np.asarray(ref.history_value[:9]), rtol=1e-6)
    terms, evals = current(aux, state)
    assert int(evals) == int(ref.evaluations) and float(terms["total"]) == float(ref.value)


def test_optax_lbfgs_counts_line_search_evaluations():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    init, compile_, _ = optim.optax_lbfgs(quadratic, max_chunk=10)
    state = init(jnp.zeros((4, 5, 3)), aux)
    state, log = compile_(aux, state)(aux, state, 10)
    v = np.asarray(log.terms[: int(log.steps), 0])
    assert v[-1] < 1e-3 * v[0]
    e = np.asarray(log.evaluations[: int(log.steps)])
    assert e[0] == 1 and np.all(np.diff(e) >= 1)  # at least one evaluation per iteration


def rosen_image(x, aux):  # a non-quadratic test problem shaped like an image
    total = jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2) * aux
    return total, {"total": total, "content": total, "style": 0.0 * total, "tv": jnp.sum(x)}


@pytest.mark.parametrize("make", [
    lambda loop: optim.adam(rosen_image, 0.01, max_chunk=6, loop=loop),
    lambda loop: optim.lbfgs(rosen_image, 5, max_chunk=6, loop=loop),
    lambda loop: optim.lbfgs(rosen_image, 5, max_chunk=6, line_search="armijo", max_evals=30, loop=loop),
], ids=["adam", "lbfgs", "lbfgs-armijo-budget"])
def test_host_and_device_loops_agree(make):
    """The host-driven loop (one compiled call per step or evaluation) and the compiled
    while_loop run the same arithmetic: the same iterates, logs and counts."""
    x0 = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (5, 2, 3)), jnp.float32)
    out = {}
    for loop in ("host", "device"):
        init, compile_, current = make(loop)
        state = init(x0, jnp.float32(1.0))
        run = compile_(jnp.float32(1.0), state)
        rows = []
        for n in (6, 2, 6):
            state, log = run(jnp.float32(1.0), state, n)
            rows.append(np.asarray(log.terms)[: int(log.steps)])
            rows.append(np.asarray(log.evaluations)[: int(log.steps)])
        out[loop] = (np.asarray(state.x), int(state.iteration), int(state.evaluations),
                     int(state.stop), rows)
    h, d = out["host"], out["device"]
    # same XLA arithmetic, compiled as separate programs: equal up to float32 rounding
    np.testing.assert_allclose(h[0], d[0], rtol=1e-4, atol=1e-5)
    assert h[1:4] == d[1:4]
    for a, b in zip(h[4], d[4]):
        np.testing.assert_allclose(a, b, rtol=1e-4)


def test_ema_is_the_debiased_average_of_the_iterates():
    """optim.EmaState against the average written out in NumPy, over real Adam iterates."""
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    opt = optim.adam(quadratic, 3.0, max_chunk=1, loop="host")
    x0 = jnp.zeros((4, 5, 3))
    state, run = opt.init(x0, aux), None
    run = opt.compile(aux, state)
    decay, ema, iterates = 0.8, optim.ema_init(x0), []
    np.testing.assert_array_equal(optim.ema_value(ema, x0), x0)  # no iterate yet: x0
    for _ in range(6):
        state, _ = run(aux, state, 1)
        iterates.append(np.asarray(state.x, np.float64))
        ema = optim.ema_update(ema, state.x, decay)
    # x_bar_t = sum_k (1 - d) d^(t-k) x_k / (1 - d^t), k = 1..t
    t = len(iterates)
    ref = sum((1 - decay) * decay ** (t - k) * x for k, x in enumerate(iterates, 1)) / (1 - decay ** t)
    # float32 recursion of 6 steps on values ~100: 1e-5 relative
    np.testing.assert_allclose(optim.ema_value(ema, x0), ref, rtol=1e-5, atol=1e-4)
    assert not np.allclose(ref, iterates[-1], atol=1.0)  # the average is not the last iterate
