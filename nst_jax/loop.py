"""The run loop: every optimiser, at every scale, through the same loop.

    state = init(x0)
    while iterations are left and nothing stopped the run:
        state, rows = chunk(state, it + n)  # up to iteration it + n, compiled
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

A batch (`Batch`, fast/mesh.py; batch.py) is the same loop over B images at once: init,
ask, the value and gradient, tell (or the device's whole while_loop) are vmapped over a
leading axis sharded over the devices, each image its own optimiser. An image's
iteration count runs ahead of another's when its line searches take fewer evaluations,
so a chunk runs every image up to one target iteration, holding still (a select) those
there already: each image takes exactly the steps it would alone. Python reads only
replicated copies of the rows, iterations and stops (every process has them).

Over 300 lines: one loop for every optimiser, scale and batch; split, the single-image
and batched paths, which share every line but a vmap, would be read apart.
"""

import time
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import lbfgs as lb
from . import optim
from .config import Config
from .fast.mesh import Batch
from .fast.plan import LBFGS_MEMORY
from .monitor import Monitor
from .optim import Optimizer, Problem, Row


class Outcome(NamedTuple):
    x: Any  # the image returned (with ema: the average of the iterates); a batch: (B, H, W, 3)
    iterations: Any  # iterations taken (a batch: one count per image)
    evaluations: Any  # loss-and-gradient evaluations, line searches and the last row's included
    stop: Any  # "iterations", "interrupted" or one of lbfgs.STOP_REASONS (a batch: a list)


def optimizer(problem: Problem, cfg: Config) -> Optimizer:
    """The optimiser that cfg names (SciPy's has its own driver: `run` calls it)."""
    if cfg.optimizer == "adam":
        return optim.adam(problem, cfg.lr, cfg.max_evals)
    if cfg.optimizer == "lbfgs":
        return optim.lbfgs(problem, cfg.lbfgs_memory or LBFGS_MEMORY, cfg.line_search, cfg.max_evals)
    return optim.optax_lbfgs(problem, cfg.lbfgs_memory or LBFGS_MEMORY, cfg.max_evals)


def run(
    problem: Problem, aux: Any, x0, cfg: Config, loop: str, monitor: Monitor, batch: Optional[Batch] = None
) -> Outcome:
    """Minimise problem.fun(x, aux) from x0 for cfg.iters iterations (`loop`: "host" or
    "device"), reporting to `monitor`. With `batch`, x0 is (B, H, W, 3) and each image is
    optimised on its own, exactly as alone: the outcome's counts and stops are per image."""
    if cfg.optimizer == "scipy-lbfgsb":
        return _run_scipy(problem, aux, x0, cfg, monitor)
    opt = optimizer(problem, cfg)
    t = time.perf_counter()
    init = opt.init if batch is None else jax.vmap(opt.init)
    state = _aot(init, x0, out=batch and batch.sharding, cache=_cache(batch, "init"))(x0)
    compile_chunks = _host_chunks if loop == "host" else _device_chunks
    # (no iterations, as when scoring an image: only the last row's forward pass is needed)
    chunk = compile_chunks(opt, problem, aux, state, cfg.chunk + 2, batch) if cfg.iters else None
    look = _aot(
        lambda s: (s.iteration, s.stop), state, out=batch and batch.replicated, cache=_cache(batch, "look")
    )
    monitor.started(time.perf_counter() - t)
    ema = ema_init(x0) if cfg.ema else None  # averaged after every iteration (single images)
    shown = lambda x: x if ema is None else ema_value(ema, x0)  # the image a user gets
    seconds, interrupted = 0.0, False
    its, stops = _local(look(state))
    while np.any((its < cfg.iters) & (stops == lb.RUNNING)):
        it = int(np.min(its[stops == lb.RUNNING]))  # the image furthest behind
        n = 1 if ema is not None else min(cfg.chunk, cfg.iters - it)
        if cfg.save_every:
            n = min(n, cfg.save_every - it % cfg.save_every)
        assert chunk is not None  # (compiled when there are iterations)
        state, rows, (its, stops) = chunk(state, it + n)  # each image up to iteration it + n
        if ema is not None and int(its) > it:
            ema = ema_update(ema, state.x, cfg.ema)
        elapsed = monitor.elapsed()
        for item, item_rows in enumerate(rows):  # time within a chunk is apportioned evenly
            for j, (i, e, terms) in enumerate(item_rows):
                at = seconds + (elapsed - seconds) * j / len(item_rows)
                monitor.add(i, e, at, dict(zip(problem.terms, terms)), item=item)
        seconds = elapsed
        running = stops == lb.RUNNING
        if np.any(running) and monitor.reached(int(np.min(its[running])), shown(state.x)):
            interrupted = True
            break
    reasons = [
        lb.STOP_REASONS[s] if s != lb.RUNNING else ("interrupted" if interrupted else "iterations")
        for s in np.ravel(stops)
    ]
    return _last_row(problem, aux, opt, state, ema, x0, monitor, reasons, batch)


def _local(a):
    """A replicated result (or a pytree of them) as NumPy arrays, read from this process's
    own copy (np.asarray of a global array spanning other processes would refuse)."""
    return jax.tree.map(lambda v: np.asarray(v.addressable_data(0)), a)


def _last_row(problem, aux, opt, state, ema, x0, monitor, reasons, batch) -> Outcome:
    """The history's last row: the loss of the image returned (the average with ema,
    one more evaluation), unless a row of it is there already."""
    info = _aot(
        lambda s: (s.iteration, s.evaluations),
        state,
        out=batch and batch.replicated,
        cache=_cache(batch, "info"),
    )
    its, evs = _local(info(state))
    if ema is not None:
        return _average(problem, aux, ema, x0, int(its), int(evs), reasons[0], monitor)
    its, evs = np.ravel(its), np.ravel(evs).copy()
    missing = [
        b for b in range(len(its)) if not monitor.rows(b) or monitor.rows(b)[-1]["iteration"] != its[b]
    ]
    if missing:
        last = opt.last if batch is None else jax.vmap(opt.last, (0, batch.aux_axes))
        last_c = _compile_late(
            monitor, last, state, aux, out=batch and batch.replicated, cache=_cache(batch, "last")
        )
        rows = _local(last_c(state, aux))
        for b in missing:
            evs[b] = np.ravel(rows.evaluations)[b]
            terms = np.asarray(rows.terms).reshape(len(its), -1)[b]
            monitor.add(its[b], evs[b], monitor.elapsed(), dict(zip(problem.terms, terms)), item=b)
    if batch is None:
        return Outcome(np.asarray(state.x), int(its[0]), int(evs[0]), reasons[0])
    return Outcome(state.x, its, evs, reasons)  # (x sharded: batch.py takes this process's images)


Rows = List[List[Tuple[int, int, np.ndarray]]]  # per image: (iteration, evaluations, terms) of each row


def _aot(f, *args, out=None, cache=None, donate=()):
    """Compile ahead of time, so that compilation is timed apart from the run (`out`: the
    outputs' sharding, for batches). `cache`: (dict, label) to keep it in, for the next
    batch of the same shapes (batch.py keeps one dict per group and scale: the same
    objective and options). `donate`: arguments whose buffers the outputs may reuse."""
    build = lambda: jax.jit(f, out_shardings=out, donate_argnums=donate).lower(*args).compile()
    if cache is None:
        return build()
    store, label = cache
    key = (label, str(jax.tree.map(lambda a: (np.shape(a), str(getattr(a, "dtype", type(a)))), args)))
    if key not in store:
        store[key] = build()
    return store[key]


def _cache(batch: Optional[Batch], label: str):
    return None if batch is None or batch.compiled is None else (batch.compiled, label)


def _compile_late(monitor: Monitor, f, *args, out=None, cache=None):
    """f compiled after the run started (the last row's forward pass), its time counted
    as compilation."""
    t = time.perf_counter()
    compiled = _aot(f, *args, out=out, cache=cache)
    monitor.compiled(time.perf_counter() - t)
    return compiled


def _rows(log, count) -> Rows:
    """The rows of a chunk, per image, from its (replicated) log columns."""
    its, evs, terms, count = (np.asarray(a) for a in (log.iteration, log.evaluations, log.terms, count))
    its, evs, count = its.reshape(-1, its.shape[-1]), evs.reshape(-1, evs.shape[-1]), count.reshape(-1)
    terms = terms.reshape(len(count), its.shape[-1], -1)
    return [
        [(int(its[b, j]), int(evs[b, j]), terms[b, j]) for j in range(count[b])] for b in range(len(count))
    ]


def _device_chunks(opt: Optimizer, problem, aux, state, max_rows: int, batch: Optional[Batch]) -> Callable:
    """chunk(state, target): one compiled while_loop of opt.step until iteration `target`
    (max_rows: room for the rows of n + 1 images and one write past them). A batch vmaps
    the whole loop: it runs until every image is there, those there already held still."""

    def run(state, aux, target):
        def more(carry):
            st = carry[0]
            return (st.iteration < target) & (st.stop == lb.RUNNING)

        def body(carry):
            st, log, count = carry
            st, row = opt.step(st, aux)
            log = jax.tree.map(lambda column, v: column.at[count].set(v), log, row)
            return st, log, count + row.valid.astype(jnp.int32)

        empty = Row(
            jnp.zeros((max_rows,), bool),
            jnp.zeros((max_rows,), jnp.int32),
            jnp.zeros((max_rows,), jnp.int32),
            jnp.zeros((max_rows, len(problem.terms)), jnp.float32),
        )
        st, log, count = jax.lax.while_loop(more, body, (state, empty, jnp.zeros((), jnp.int32)))
        return st, (log, count, (st.iteration, st.stop))

    run = run if batch is None else jax.vmap(run, in_axes=(0, batch.aux_axes, None))
    out = None if batch is None else (batch.sharding, batch.replicated)
    compiled = _aot(run, state, aux, 0, out=out, cache=_cache(batch, "device"))

    def chunk(state, target) -> Tuple[object, Rows, Any]:
        state, (log, count, look) = compiled(state, aux, target)
        log, count, look = _local((log, count, look))
        return state, _rows(log, count), look

    return chunk


def _host_chunks(opt: Optimizer, problem, aux, state, max_rows: int, batch: Optional[Batch]) -> Callable:
    """chunk(state, target): ask, evaluate and tell, each compiled, from Python, until
    every image is at iteration `target` (max_rows: the device's bound, unused here). In a
    batch, an image there already is held still while the others go on."""
    # ask and tell are None for optax's L-BFGS only, which the plan runs on the device
    assert opt.ask is not None and opt.tell is not None, "host chunks need ask and tell"
    ask, value_and_grad, tell = opt.ask, jax.value_and_grad(problem.fun, has_aux=True), opt.tell
    if batch is not None:
        ask, value_and_grad = jax.vmap(ask), jax.vmap(value_and_grad, (0, batch.aux_axes))
        tell = jax.vmap(tell)

    def tell_until(state, evaluated, target):
        new, row = tell(state, evaluated)
        held = state.iteration >= target  # () or (B,)
        new = jax.tree.map(
            lambda a, b: jnp.where(held.reshape(held.shape + (1,) * (a.ndim - held.ndim)), a, b), state, new
        )
        return new, (row._replace(valid=row.valid & ~held), (new.iteration, new.stop))

    x = jax.eval_shape(ask, state)
    out = None if batch is None else batch.sharding
    ask_c = _aot(ask, state, out=out, cache=_cache(batch, "ask"))
    vg = problem.evaluate or _aot(value_and_grad, x, aux, out=out, cache=_cache(batch, "vg"))
    evaluated = jax.eval_shape(value_and_grad, x, aux)
    # the state donated: tell updates L-BFGS's (m, H, W, 3) pairs in place instead of
    # copying them each evaluation (measured at 512x384, m = 30: 55 ms against 195 ms)
    tell_c = _aot(
        tell_until,
        state,
        evaluated,
        0,
        out=None if batch is None else (batch.sharding, batch.replicated),
        cache=_cache(batch, "tell"),
        donate=(0,),
    )
    items = 1 if batch is None else state.x.shape[0]

    def chunk(state, target) -> Tuple[object, Rows, Any]:
        rows: Rows = [[] for _ in range(items)]
        while True:
            state = _unshared(state)  # (a donated buffer may appear once only)
            state, (row, (its, stops)) = tell_c(state, vg(ask_c(state), aux), target)
            row, its, stops = _local((row, its, stops))
            for b in np.flatnonzero(np.ravel(row.valid)):
                terms = np.asarray(row.terms).reshape(items, -1)[b]
                rows[b].append((int(np.ravel(row.iteration)[b]), int(np.ravel(row.evaluations)[b]), terms))
            if not np.any((its < target) & (stops == lb.RUNNING)):
                return state, rows, (its, stops)

    return chunk


def _unshared(tree):
    """tree with a copy of any leaf whose buffers an earlier leaf holds too (XLA may return
    one buffer for equal outputs, e.g. Adam's two zero moments), so it can be donated."""
    seen: set = set()

    def one(a):
        ptrs = tuple(shard.data.unsafe_buffer_pointer() for shard in a.addressable_shards)
        if seen.intersection(ptrs):
            return jnp.copy(a)
        seen.update(ptrs)
        return a

    return jax.tree.map(one, tree)


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
        cfg.lbfgs_memory or LBFGS_MEMORY,
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
