"""The run loop: every optimiser, at every scale, through the same loop.

    state = init(x0)
    while iterations are left and nothing stopped the run:
        state, rows = chunk(state, n)      # n more iterations, compiled
        average, report, save, look for Ctrl-C
    the last row: the loss of the image returned

A chunk is run one of two ways (the plan's `loop`, fast/plan.py):
  - "device": the whole chunk is one compiled `lax.while_loop` of the optimiser's
    `step` (n is traced, so one compilation serves any n): no Python between evaluations.
  - "host": one compiled call each for the optimiser's `ask`, the loss's value and
    gradient, and `tell`, from a Python loop. XLA:CPU runs convolutions inside a while
    loop ~3x slower than at top level (jax-ml/jax#12868; measured here: 0.48 s vs 1.37 s
    per VGG16 evaluation at 256 px). Python's share is ~0.1 ms an evaluation.
Both run the same arithmetic: the same iterates (tests/test_loop.py).

Python looks in between chunks only: the progress bar and history (monitor.py),
intermediate images every `save_every` iterations, Ctrl-C (the first finishes the chunk
and returns the image so far), and the average of the iterates (`ema`, one iteration a
chunk). SciPy's L-BFGS-B owns its loop; it reports to the same monitor.
"""

import time
from typing import Any, Callable, List, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import lbfgs as lb
from . import optim
from .config import Config
from .monitor import Monitor
from .optim import Optimizer, Problem, Row


class Outcome(NamedTuple):
    x: np.ndarray  # the image returned (with ema: the average of the iterates)
    iterations: int  # iterations taken
    evaluations: int  # loss-and-gradient evaluations, line searches and the last row's included
    stop: str  # "iterations", "interrupted" or one of lbfgs.STOP_REASONS


def optimizer(problem: Problem, cfg: Config) -> Optimizer:
    """The optimiser that cfg names (SciPy's has its own driver: `run` calls it)."""
    if cfg.optimizer == "adam":
        return optim.adam(problem, cfg.lr, cfg.max_evals)
    if cfg.optimizer == "lbfgs":
        return optim.lbfgs(problem, cfg.lbfgs_memory, cfg.line_search, cfg.max_evals)
    return optim.optax_lbfgs(problem, cfg.lbfgs_memory, cfg.max_evals)


def run(problem: Problem, aux: Any, x0: np.ndarray, cfg: Config, loop: str, monitor: Monitor) -> Outcome:
    """Minimise problem.fun(x, aux) from x0 for cfg.iters iterations (`loop`: "host" or
    "device"), reporting to `monitor`."""
    if cfg.optimizer == "scipy-lbfgsb":
        return _run_scipy(problem, aux, x0, cfg, monitor)
    opt = optimizer(problem, cfg)
    t = time.perf_counter()
    state = opt.init(x0)
    compile_chunks = _host_chunks if loop == "host" else _device_chunks
    # (no iterations, as when scoring an image: only the last row's forward pass is needed)
    chunk = compile_chunks(opt, problem, aux, state, cfg.chunk + 2) if cfg.iters else None
    monitor.started(time.perf_counter() - t)
    ema = ema_init(x0) if cfg.ema else None  # averaged after every iteration
    shown = lambda x: x if ema is None else ema_value(ema, x0)  # the image a user gets
    seconds, stop = 0.0, "iterations"
    while int(state.iteration) < cfg.iters and int(state.stop) == lb.RUNNING:
        it = int(state.iteration)
        n = 1 if ema is not None else min(cfg.chunk, cfg.iters - it)
        if cfg.save_every:
            n = min(n, cfg.save_every - it % cfg.save_every)
        assert chunk is not None  # (compiled when there are iterations)
        state, rows = chunk(state, n)
        if ema is not None and int(state.iteration) > it:
            ema = ema_update(ema, state.x, cfg.ema)
        elapsed = monitor.elapsed()
        for j, (i, e, terms) in enumerate(rows):  # time within a chunk is apportioned evenly
            monitor.add(i, e, seconds + (elapsed - seconds) * j / len(rows), dict(zip(problem.terms, terms)))
        seconds = elapsed
        if int(state.stop) == lb.RUNNING and monitor.reached(int(state.iteration), shown(state.x)):
            stop = "interrupted"
            break
    if int(state.stop) != lb.RUNNING:
        stop = lb.STOP_REASONS[int(state.stop)]
    return _last_row(problem, aux, opt, state, ema, x0, monitor, stop)


def _last_row(problem, aux, opt, state, ema, x0, monitor, stop) -> Outcome:
    """The history's last row: the loss of the image returned (the average with ema,
    one more evaluation), unless a row of it is there already."""
    iteration, evaluations = int(state.iteration), int(state.evaluations)
    if ema is not None:
        return _average(problem, aux, ema, x0, iteration, evaluations, stop, monitor)
    if not monitor.history or monitor.history[-1]["iteration"] != iteration:
        row = _compile_late(monitor, opt.last, state, aux)(state, aux)
        evaluations = int(row.evaluations)
        monitor.add(
            iteration, evaluations, monitor.elapsed(), dict(zip(problem.terms, np.asarray(row.terms)))
        )
    return Outcome(np.asarray(state.x), iteration, evaluations, stop)


Rows = List[Tuple[int, int, np.ndarray]]  # (iteration, evaluations, terms) of each image


def _aot(f, *args):
    """Compile ahead of time, so that compilation is timed apart from the run."""
    return jax.jit(f).lower(*args).compile()


def _compile_late(monitor: Monitor, f, *args):
    """f compiled after the run started (the last row's forward pass), its time counted
    as compilation."""
    t = time.perf_counter()
    compiled = _aot(f, *args)
    monitor.compiled(time.perf_counter() - t)
    return compiled


def _device_chunks(opt: Optimizer, problem, aux, state, max_rows: int) -> Callable:
    """chunk(state, n): one compiled while_loop of opt.step until n more iterations
    (max_rows: room for the rows of n + 1 images and one write past them)."""

    def run(state, aux, n):
        def more(carry):
            st = carry[0]
            return (st.iteration < target) & (st.stop == lb.RUNNING)

        def body(carry):
            st, log, count = carry
            st, row = opt.step(st, aux)
            log = jax.tree.map(lambda column, v: column.at[count].set(v), log, row)
            return st, log, count + row.valid.astype(jnp.int32)

        target = state.iteration + n
        empty = Row(
            jnp.zeros((max_rows,), bool),
            jnp.zeros((max_rows,), jnp.int32),
            jnp.zeros((max_rows,), jnp.int32),
            jnp.zeros((max_rows, len(problem.terms)), jnp.float32),
        )
        return jax.lax.while_loop(more, body, (state, empty, jnp.zeros((), jnp.int32)))

    compiled = _aot(run, state, aux, 0)

    def chunk(state, n) -> Tuple[object, Rows]:
        state, log, count = compiled(state, aux, n)
        its, evs, terms = (np.asarray(a) for a in (log.iteration, log.evaluations, log.terms))
        return state, [(int(its[j]), int(evs[j]), terms[j]) for j in range(int(count))]

    return chunk


def _host_chunks(opt: Optimizer, problem, aux, state, max_rows: int) -> Callable:
    """chunk(state, n): ask, evaluate and tell, each compiled, from Python (any number of
    rows: max_rows is the device's bound, unused here)."""
    # ask and tell are None for optax's L-BFGS only, which the plan runs on the device
    assert opt.ask is not None and opt.tell is not None, "host chunks need ask and tell"
    value_and_grad = jax.value_and_grad(problem.fun, has_aux=True)
    x = jax.eval_shape(opt.ask, state)
    ask, vg = _aot(opt.ask, state), _aot(value_and_grad, x, aux)
    tell = _aot(opt.tell, state, jax.eval_shape(value_and_grad, x, aux))

    def chunk(state, n) -> Tuple[object, Rows]:
        target, rows = int(state.iteration) + n, []
        while int(state.iteration) < target and int(state.stop) == lb.RUNNING:
            state, row = tell(state, vg(ask(state), aux))
            if bool(row.valid):
                rows.append((int(row.iteration), int(row.evaluations), np.asarray(row.terms)))
        return state, rows

    return chunk


def _run_scipy(problem: Problem, aux, x0, cfg: Config, monitor: Monitor) -> Outcome:
    """SciPy's L-BFGS-B, driven from Python (optim.scipy_lbfgsb)."""
    t = time.perf_counter()
    drive = optim.scipy_lbfgsb(problem, aux, x0)  # compiles the value-and-gradient
    monitor.started(time.perf_counter() - t)
    ema = [ema_init(x0)] if cfg.ema else None

    def on_iterate(iteration, x):
        if ema is None:
            return monitor.reached(iteration, x)
        ema[0] = ema_update(ema[0], jnp.asarray(x, jnp.float32), cfg.ema)
        return monitor.reached(iteration, ema_value(ema[0], x0))

    x, iterations, evaluations, stop = drive(
        cfg.iters,
        cfg.lbfgs_memory,
        cfg.max_evals,
        on_row=lambda it, ev, terms: monitor.add(it, ev, monitor.elapsed(), terms),
        on_iterate=on_iterate,
    )
    stop = "interrupted" if monitor.flag.set else stop
    if ema is None:
        return Outcome(x, iterations, evaluations, stop)
    return _average(problem, aux, ema[0], x0, iterations, evaluations, stop, monitor)


def _average(problem, aux, ema, x0, iteration, evaluations, stop, monitor) -> Outcome:
    """With ema, the image returned is the average: its loss (one more evaluation)
    replaces the last iterate's row."""
    x = ema_value(ema, x0)
    terms = _compile_late(monitor, problem.fun, x, aux)(x, aux)[1]
    monitor.add(
        iteration, evaluations + 1, monitor.elapsed(), {k: float(v) for k, v in terms.items()}, replace=True
    )
    return Outcome(np.asarray(x), iteration, evaluations + 1, stop)


# ---------------------------------------------------------------- iterate averaging
class EmaState(NamedTuple):
    average: jnp.ndarray  # (H, W, 3): sum_k (1 - d) d^(t-k) x_k over the iterates so far
    weight: jnp.ndarray  # () 1 - d^t: the total weight in `average` (0 before any iterate)


def ema_init(x0: ArrayLike) -> EmaState:
    """An empty average; `ema_value` gives x0 until the first iterate arrives."""
    return EmaState(jnp.zeros_like(jnp.asarray(x0, jnp.float32)), jnp.zeros((), jnp.float32))


@jax.jit
def ema_update(s: EmaState, x: ArrayLike, decay: float) -> EmaState:
    """One more iterate: a_t = d a_{t-1} + (1 - d) x_t, w_t = d w_{t-1} + (1 - d)."""
    return EmaState(decay * s.average + (1 - decay) * x, decay * s.weight + (1 - decay))


def ema_value(s: EmaState, x0: ArrayLike) -> jax.Array:
    """The debiased average a_t / w_t (Adam's bias correction: the weights of x_1..x_t sum
    to 1), or x0 before any iterate."""
    return jnp.where(s.weight > 0, s.average / jnp.maximum(s.weight, 1e-30), x0)
