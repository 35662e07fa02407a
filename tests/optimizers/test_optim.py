"""optim.py: each optimiser's pieces against a plain reference loop; rows; non-finite losses."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst_jax.optimizers import lbfgs, optim

TARGET = jnp.asarray(np.random.default_rng(0).uniform(-150, 180, (4, 5, 3)), jnp.float32)
TERMS = ("total", "content", "style", "tv")
LOW, HIGH = np.full(3, -100.0, np.float32), np.full(3, 150.0, np.float32)  # a pixel box


def quadratic(x, aux):
    total = jnp.sum(aux * (x - TARGET) ** 2)
    return total, {"total": total, "content": total, "style": 0.0 * total, "tv": jnp.sum(x)}


def problem(fun=quadratic, box=True):
    return optim.Problem(fun, TERMS, *((LOW, HIGH) if box else ()))


def steps(opt, x0, aux, n):
    """n evaluations through opt.step, compiled once: (state, [valid rows])."""
    step, state, rows = jax.jit(opt.step), opt.init(x0), []
    for _ in range(n):
        state, row = step(state, aux)
        if bool(row.valid):
            rows.append(row)
    return state, rows


def test_adam_is_the_textbook_loop_projected_onto_the_box():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    x0 = jnp.zeros((4, 5, 3))
    state, rows = steps(optim.adam(problem(), 3.0), x0, aux, 13)
    tx, x = optax.adam(3.0), x0
    s, ref = tx.init(x0), []
    for _ in range(13):  # the reference: optax's update, then clipping into the box
        (value, _), g = jax.value_and_grad(quadratic, has_aux=True)(x, aux)
        ref.append(float(value))
        u, s = tx.update(g, s, x)
        x = jnp.clip(optax.apply_updates(x, u), LOW, HIGH)
    np.testing.assert_allclose([float(r.terms[0]) for r in rows], ref, rtol=1e-6)
    np.testing.assert_allclose(state.x, x, rtol=1e-6, atol=1e-5)
    assert int(state.iteration) == 13 and int(state.evaluations) == 13
    assert float(state.x.max()) <= HIGH[0] + 1e-4 and float(state.x.min()) >= LOW[0] - 1e-4


def test_rows_describe_each_image_when_its_loss_is_known():
    opt = optim.adam(problem(), 1.0)
    aux = jnp.ones((4, 5, 3))
    state, rows = steps(opt, jnp.zeros((4, 5, 3)), aux, 4)
    # Adam's row k is the image before step k, known after k + 1 evaluations (its own included)
    assert [int(r.iteration) for r in rows] == [0, 1, 2, 3]
    assert [int(r.evaluations) for r in rows] == [1, 2, 3, 4]
    assert float(rows[0].terms[0]) == float(quadratic(jnp.zeros((4, 5, 3)), aux)[0])
    assert float(rows[0].terms[3]) == 0.0  # the tv column is sum(x) of the zero image
    last = opt.last(state, aux)  # the image after the last step: one more evaluation
    assert (int(last.iteration), int(last.evaluations)) == (4, 5)


def test_adam_stops_one_evaluation_short_of_max_evals():
    opt = optim.adam(problem(), 1.0, max_evals=5)
    state, rows = steps(opt, jnp.zeros((4, 5, 3)), jnp.ones((4, 5, 3)), 10)
    # 4 steps, and the last image's loss is the 5th evaluation
    assert int(state.stop) == lbfgs.MAX_EVALS and int(state.iteration) == 4 and len(rows) == 4
    assert int(optim.adam(problem(), 1.0, max_evals=1).init(jnp.zeros(3)).stop) == lbfgs.MAX_EVALS


def test_nonfinite_loss_keeps_last_finite_image():
    def blows_up(x, aux):  # finite until the first pixel passes 8
        total = jnp.sum((x - 100.0) ** 2) + jnp.where(x[0, 0, 0] > 8.0, jnp.inf, 0.0)
        return total, {"total": total, "content": total, "style": total, "tv": total}

    state, rows = steps(optim.adam(problem(blows_up, box=False), 3.0), jnp.zeros((2, 2, 3)), None, 10)
    assert int(state.stop) == lbfgs.NONFINITE
    # Adam's first steps move each pixel by ~lr = 3: 0, 3, 6, 9 (> 8: infinite loss)
    assert int(state.iteration) == 2 and len(rows) == 3
    # two Adam steps of ~lr each (not exactly: the moment estimates change between steps)
    np.testing.assert_allclose(state.x, 6.0, atol=0.01)
    assert all(np.all(np.isfinite(np.asarray(r.terms))) for r in rows)


def test_nonfinite_gradient_stays_put():
    def kink(x, aux):  # sqrt has an infinite derivative at 0
        total = jnp.sum(jnp.sqrt(jnp.abs(x)))
        return total, {"total": total, "content": total, "style": total, "tv": total}

    state, rows = steps(optim.adam(problem(kink, box=False), 1.0), jnp.zeros((2, 2, 3)), None, 3)
    assert int(state.stop) == lbfgs.NONFINITE and int(state.iteration) == 0 and len(rows) == 1
    np.testing.assert_array_equal(state.x, 0.0)


def test_lbfgs_rows_equal_one_minimize_call():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    opt = optim.lbfgs(problem(), memory_size=4)
    state, step, rows = opt.init(jnp.zeros((4, 5, 3))), jax.jit(opt.step), []
    while int(state.iteration) < 9:
        state, row = step(state, aux)
        rows += [row] if bool(row.valid) else []
    ref = lbfgs.minimize(
        lambda x: quadratic(x, aux)[0], jnp.zeros((4, 5, 3)), max_iters=9, memory_size=4, gtol=0.0, ftol=0.0
    )
    np.testing.assert_allclose(state.x, ref.x, rtol=1e-6, atol=1e-4)
    # a row for x0 and for each accepted step, with the evaluations spent by then
    assert [int(r.iteration) for r in rows] == list(range(10))
    np.testing.assert_allclose([float(r.terms[0]) for r in rows], np.asarray(ref.history_value), rtol=1e-6)
    assert [int(r.evaluations) for r in rows] == np.asarray(ref.history_evaluations).tolist()
    assert int(rows[-1].evaluations) == int(ref.evaluations)


def test_optax_lbfgs_counts_line_search_evaluations():
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    state, rows = steps(optim.optax_lbfgs(problem()), jnp.zeros((4, 5, 3)), aux, 10)
    v = np.asarray([float(r.terms[0]) for r in rows])
    assert v[-1] < 1e-3 * v[0]
    e = np.asarray([int(r.evaluations) for r in rows])
    assert e[0] == 1 and np.all(np.diff(e) >= 1)  # at least one evaluation per iteration
