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
Both run the same arithmetic: the same iterates (tests/run/test_loop.py).

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

import functools
import time
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ..config import Config
from ..fast.mesh import Batch
from ..fast.plan import LBFGS_MEMORY
from ..optimizers import lbfgs as lb
from ..optimizers import optim
from ..optimizers.optim import Optimizer, Problem, Row
from .monitor import Monitor


class Outcome(NamedTuple):
    x: Any  # the image returned (with ema: the average of the iterates); a batch: (B, H, W, 3)
    iterations: Any  # iterations taken (a batch: one count per image)
    evaluations: Any  # loss-and-gradient evaluations, line searches and the last row's included
    stop: Any  # "iterations", "interrupted" or one of lbfgs.STOP_REASONS (a batch: a list)


class Settings(NamedTuple):
    """What the compiled pieces depend on besides the problem: the optimiser's options."""

    optimizer: str  # "lbfgs" | "adam" | "optax-lbfgs" (SciPy's owns its loop)
    lr: float  # Adam's step size
    lbfgs_memory: int  # (s, y) pairs
    line_search: str  # of our L-BFGS
    max_evals: int  # 0: no limit
    max_rows: int  # rows a device chunk has room for: chunk + 2 (n + 1 and one write past)


def settings(cfg: Config) -> Settings:
    memory = cfg.lbfgs_memory or LBFGS_MEMORY
    return Settings(cfg.optimizer, cfg.lr, memory, cfg.line_search, cfg.max_evals, cfg.chunk + 2)


def optimizer(problem: Problem, s: Settings) -> Optimizer:
    """The optimiser that the settings name (SciPy's has its own driver: `run` calls it)."""
    if s.optimizer == "adam":
        return optim.adam(problem, s.lr, s.max_evals)
    if s.optimizer == "lbfgs":
        return optim.lbfgs(problem, s.lbfgs_memory, s.line_search, s.max_evals)
    return optim.optax_lbfgs(problem, s.lbfgs_memory, s.max_evals)


class Programs(NamedTuple):
    """Every piece `run` compiles, as jitted functions (not yet compiled): built once per
    (problem, settings, loop, batch) by `programs`, so that jit's own cache, keyed on the
    arguments' shapes, dtypes and shardings, serves every later run of the same problem
    (the next scale of the same size, the next batch, a second stylize() call)."""

    opt: Optimizer
    init: Callable  # x0 -> state
    look: Callable  # state -> (iteration, stop), replicated: what Python reads between chunks
    info: Callable  # state -> (iteration, evaluations), replicated
    last: Callable  # (state, aux) -> Row of state.x (the last row, when no tell gave it)
    average: Callable  # (x, aux) -> (total, terms): the loss of ema's average (single images)
    device: Optional[Callable]  # (state, aux, target) -> (state, (log, count, look)): a chunk
    ask: Optional[Callable]  # the host loop's three calls
    value_and_grad: Optional[Callable]
    tell: Optional[Callable]  # (state, evaluated, target) -> (state, (row, look)), state donated


def _memo(build: Callable) -> Callable:
    """build, returning the same objects for equal arguments (an LRU cache), so that jit's
    own cache serves every later call. Arguments that cannot be hashed (a problem with its
    bounds given as arrays) get objects of their own, compiled anew."""
    cached = functools.lru_cache(maxsize=32)(build)

    @functools.wraps(build)
    def get(*args):
        try:
            hash(args)
        except TypeError:
            return build(*args)
        return cached(*args)

    return get


@_memo
def programs(problem: Problem, s: Settings, loop: str, batch: Optional[Batch] = None) -> Programs:
    """The pieces of a run of `problem` (Programs), the same objects for equal arguments."""
    opt = optimizer(problem, s)
    out, replicated = (None, None) if batch is None else (batch.sharding, batch.replicated)
    jit = lambda f, out=None, donate=(): jax.jit(f, out_shardings=out, donate_argnums=donate)
    if batch is None:
        init, last = jit(opt.init), jit(opt.last)
    else:
        init, last = jit(jax.vmap(opt.init), out), jit(jax.vmap(opt.last, (0, batch.aux_axes)), replicated)
    look, info = jit(_look, replicated), jit(_info, replicated)
    device = ask = value_and_grad = tell = None
    if loop == "device":
        device = jit(
            _device_loop(opt, problem, s.max_rows, batch), None if batch is None else (out, replicated)
        )
    else:
        # ask and tell are None for optax's L-BFGS only, which the plan runs on the device
        assert opt.ask is not None and opt.tell is not None, "host chunks need ask and tell"
        ask_f, vg_f = opt.ask, jax.value_and_grad(problem.fun, has_aux=True)
        if batch is not None:
            ask_f, vg_f = jax.vmap(ask_f), jax.vmap(vg_f, (0, batch.aux_axes))
        ask, value_and_grad = jit(ask_f, out), jit(vg_f, out)
        # the state donated: tell updates L-BFGS's (m, H, W, 3) pairs in place instead of
        # copying them each evaluation (measured at 512x384, m = 30: 55 ms against 195 ms)
        tell = jit(_tell_until(opt, batch), None if batch is None else (out, replicated), donate=(0,))
    return Programs(opt, init, look, info, last, jax.jit(problem.fun), device, ask, value_and_grad, tell)


@_memo
def _scipy_programs(problem: Problem) -> Tuple[Callable, Callable]:
    """(value and gradient, loss) of `problem`, jitted: SciPy's driver calls the first."""
    return jax.jit(jax.value_and_grad(problem.fun, has_aux=True)), jax.jit(problem.fun)


def _look(s):
    return s.iteration, s.stop


def _info(s):
    return s.iteration, s.evaluations


def run(
    problem: Problem, aux: Any, x0, cfg: Config, loop: str, monitor: Monitor, batch: Optional[Batch] = None
) -> Outcome:
    """Minimise problem.fun(x, aux) from x0 for cfg.iters iterations (`loop`: "host" or
    "device"), reporting to `monitor`. With `batch`, x0 is (B, H, W, 3) and each image is
    optimised on its own, exactly as alone: the outcome's counts and stops are per image."""
    if cfg.optimizer == "scipy-lbfgsb":
        return _run_scipy(problem, aux, x0, cfg, monitor)
    p = programs(problem, settings(cfg), loop, batch)
    t = time.perf_counter()
    state = _compiled(p.init, x0)(x0)
    # (no iterations, as when scoring an image: only the last row's forward pass is needed)
    chunks = _host_chunks if loop == "host" else _device_chunks
    chunk = chunks(p, problem, aux, state) if cfg.iters else None
    look = _compiled(p.look, state)
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
    return _last_row(p, problem, aux, state, ema, x0, monitor, reasons, batch)


def _local(a):
    """A replicated result (or a pytree of them) as NumPy arrays, read from this process's
    own copy (np.asarray of a global array spanning other processes would refuse)."""
    return jax.tree.map(lambda v: np.asarray(v.addressable_data(0)), a)


def _last_row(p: Programs, problem, aux, state, ema, x0, monitor, reasons, batch) -> Outcome:
    """The history's last row: the loss of the image returned (the average with ema,
    one more evaluation), unless a row of it is there already."""
    its, evs = _local(_compiled(p.info, state)(state))
    if ema is not None:
        return _average(p.average, problem, aux, ema, x0, int(its), int(evs), reasons[0], monitor)
    its, evs = np.ravel(its), np.ravel(evs).copy()
    missing = [
        b for b in range(len(its)) if not monitor.rows(b) or monitor.rows(b)[-1]["iteration"] != its[b]
    ]
    if missing:
        rows = _local(_compile_late(monitor, p.last, state, aux)(state, aux))
        for b in missing:
            evs[b] = np.ravel(rows.evaluations)[b]
            terms = np.asarray(rows.terms).reshape(len(its), -1)[b]
            monitor.add(its[b], evs[b], monitor.elapsed(), dict(zip(problem.terms, terms)), item=b)
    if batch is None:
        return Outcome(np.asarray(state.x), int(its[0]), int(evs[0]), reasons[0])
    return Outcome(state.x, its, evs, reasons)  # (x sharded: batch.py takes this process's images)


Rows = List[List[Tuple[int, int, np.ndarray]]]  # per image: (iteration, evaluations, terms) of each row


def _compiled(jitted, *args):
    """A jitted function compiled ahead of time for `args`, so that compilation is timed
    apart from the run. jit's cache answers at once for shapes, dtypes and shardings it has
    compiled before (the functions come from `programs`: the same objects every run)."""
    return jitted.lower(*args).compile()


def _compile_late(monitor: Monitor, jitted, *args):
    """f compiled after the run started (the last row's forward pass), its time counted
    as compilation."""
    t = time.perf_counter()
    compiled = _compiled(jitted, *args)
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


def _device_loop(opt: Optimizer, problem: Problem, max_rows: int, batch: Optional[Batch]) -> Callable:
    """run(state, aux, target): one while_loop of opt.step until iteration `target`
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

    return run if batch is None else jax.vmap(run, in_axes=(0, batch.aux_axes, None))


def _device_chunks(p: Programs, problem: Problem, aux, state) -> Callable:
    """chunk(state, target): the compiled while_loop of `_device_loop`."""
    assert p.device is not None
    compiled = _compiled(p.device, state, aux, 0)

    def chunk(state, target) -> Tuple[object, Rows, Any]:
        state, (log, count, look) = compiled(state, aux, target)
        log, count, look = _local((log, count, look))
        return state, _rows(log, count), look

    return chunk


def _tell_until(opt: Optimizer, batch: Optional[Batch]) -> Callable:
    """tell, holding still (in a batch) the images at iteration `target` already."""
    assert opt.tell is not None
    tell = opt.tell if batch is None else jax.vmap(opt.tell)

    def tell_until(state, evaluated, target):
        new, row = tell(state, evaluated)
        held = state.iteration >= target  # () or (B,)
        new = jax.tree.map(
            lambda a, b: jnp.where(held.reshape(held.shape + (1,) * (a.ndim - held.ndim)), a, b), state, new
        )
        return new, (row._replace(valid=row.valid & ~held), (new.iteration, new.stop))

    return tell_until


def _host_chunks(p: Programs, problem: Problem, aux, state) -> Callable:
    """chunk(state, target): ask, evaluate and tell, each compiled, from Python, until
    every image is at iteration `target`. In a batch, an image there already is held
    still while the others go on."""
    assert p.ask is not None and p.value_and_grad is not None and p.tell is not None
    x = jax.eval_shape(p.ask, state)
    ask_c = _compiled(p.ask, state)
    vg = problem.evaluate or _compiled(p.value_and_grad, x, aux)
    evaluated = jax.eval_shape(p.value_and_grad, x, aux)
    tell_c = _compiled(p.tell, state, evaluated, 0)
    items = 1 if state.x.ndim == 3 else state.x.shape[0]

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
    value_and_grad, fun = _scipy_programs(problem)
    drive = optim.scipy_lbfgsb(problem, aux, x0, value_and_grad)  # compiles the value-and-gradient
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
    return _average(fun, problem, aux, ema[0], x0, iterations, evaluations, stop, monitor)


def _average(fun, problem, aux, ema, x0, iteration, evaluations, stop, monitor) -> Outcome:
    """With ema, the image returned is the average: its loss (one more evaluation, `fun`:
    problem.fun jitted) replaces the last iterate's row."""
    x = ema_value(ema, x0)
    terms = _compile_late(monitor, fun, x, aux)(x, aux)[1]
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
