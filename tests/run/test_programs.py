"""run/programs.py: host and device chunks run the same arithmetic; optimizers/average.py."""

import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax.optimizers import average, optim
from nst_jax.run import programs as pg

TERMS = ("total", "content", "style", "tv")


def rosen_image(x, aux):  # a non-quadratic test problem shaped like an image
    total = jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2) * aux
    return total, {"total": total, "content": total, "style": 0.0 * total, "tv": jnp.sum(x)}


PROBLEM = optim.Problem(rosen_image, TERMS)


@pytest.mark.parametrize(
    "spec",
    [
        optim.Spec(optim.adam, (0.01, 0)),
        optim.Spec(optim.lbfgs, (5, "wolfe", 0)),
        optim.Spec(optim.lbfgs, (5, "armijo", 30)),
    ],
    ids=["adam", "lbfgs", "lbfgs-armijo-budget"],
)
def test_host_and_device_chunks_agree(spec):
    """The host-driven chunks (one compiled call for ask, the evaluation and tell) and the
    compiled while_loop run the same arithmetic: the same iterates, rows and counts."""
    x0 = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (5, 2, 3)), jnp.float32)
    aux, out = jnp.float32(1.0), {}
    for kind, chunks in (("host", pg.host_chunks), ("device", pg.device_chunks)):
        p = pg.programs(PROBLEM, spec, 6, kind)
        state = p.opt.init(x0)
        chunk, rows = chunks(p, PROBLEM, aux, state), []
        for n in (6, 2, 6):  # uneven chunks, one compilation
            state, r, _ = chunk(state, int(state.iteration) + n)
            rows += r[0]
        assert pg.programs(PROBLEM, spec, 6, kind) is p  # equal specs: the same compiled pieces
        out[kind] = (np.asarray(state.x), int(state.iteration), int(state.evaluations), int(state.stop), rows)
    h, d = out["host"], out["device"]
    # same XLA arithmetic, compiled as separate programs: equal up to float32 rounding
    np.testing.assert_allclose(h[0], d[0], rtol=1e-4, atol=1e-5)
    assert h[1:4] == d[1:4] and len(h[4]) == len(d[4]) >= 6
    for (hi, he, ht), (di, de, dt) in zip(h[4], d[4]):
        assert (hi, he) == (di, de)
        # (the tv column, sum(x) of 30 values ~1 that cancel to ~1e-3, carries their
        # float32 rounding, ~1e-7 each, as an absolute error)
        np.testing.assert_allclose(ht, dt, rtol=1e-4, atol=1e-6)


def test_one_image_s_pairs_are_updated_in_place():
    """For one image the host loop's tell writes the new (s, y) pair into L-BFGS's (m, H, W, 3)
    buffers it was given (donated) instead of building new ones beside them: its scratch
    memory is less than one of the two (a select that held the old state beside the new
    took 4.6x as much here, and copied both every evaluation: 0.17 s of 1.35 s at 512 px)."""
    p = pg.programs(PROBLEM, optim.Spec(optim.lbfgs, (8, "wolfe", 0)), 4, "host")
    x0 = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (64, 64, 3)), jnp.float32)
    state = p.opt.init(x0)
    tell = pg.ahead_of_time(p.tell, state, p.value_and_grad(p.ask(state), 1.0), 0)
    assert tell.memory_analysis().temp_size_in_bytes < state.s.nbytes  # (8 images' worth; ~5 used)


def test_ema_is_the_debiased_average_of_the_iterates():
    """average.EmaState against the average written out in NumPy, over real Adam iterates."""
    aux = jnp.linspace(0.5, 2.0, 60).reshape(4, 5, 3)
    target = jnp.asarray(np.random.default_rng(0).uniform(-150, 180, (4, 5, 3)), jnp.float32)

    def quadratic(x, aux):
        total = jnp.sum(aux * (x - target) ** 2)
        return total, {"total": total, "content": total, "style": 0.0 * total, "tv": total}

    problem = optim.Problem(quadratic, TERMS)
    p = pg.programs(problem, optim.Spec(optim.adam, (3.0, 0)), 1, "host")
    x0 = jnp.zeros((4, 5, 3))
    state = p.opt.init(x0)
    chunk = pg.host_chunks(p, problem, aux, state)
    decay, ema, iterates = 0.8, average.ema_init(x0), []
    np.testing.assert_array_equal(average.ema_value(ema, x0), x0)  # no iterate yet: x0
    for _ in range(6):
        state, _, _ = chunk(state, int(state.iteration) + 1)
        iterates.append(np.asarray(state.x, np.float64))
        ema = average.ema_update(ema, state.x, decay)
    # x_bar_t = sum_k (1 - d) d^(t-k) x_k / (1 - d^t), k = 1..t
    t = len(iterates)
    ref = sum((1 - decay) * decay ** (t - k) * x for k, x in enumerate(iterates, 1)) / (1 - decay**t)
    # float32 recursion of 6 steps on values ~100: 1e-5 relative
    np.testing.assert_allclose(average.ema_value(ema, x0), ref, rtol=1e-5, atol=1e-4)
    assert not np.allclose(ref, iterates[-1], atol=1.0)  # the average is not the last iterate
