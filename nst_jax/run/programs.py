"""The compiled pieces of a run, built once per problem: what loop.py runs chunk by chunk.

A chunk is run one of two ways (the plan's `loop`, fast/plan.py):
  - "device": the whole chunk is one compiled `lax.while_loop` of the optimiser's
    `step` (n is traced, so one compilation serves any n): no Python between evaluations.
  - "host": one compiled call each for the optimiser's `ask`, the loss's value and
    gradient (or the problem's own `evaluate`: the plan's strips), and `tell`, from a
    Python loop. XLA:CPU runs convolutions inside a while loop ~3x slower than at top level
    (jax-ml/jax#12868; measured here: 0.48 s vs 1.37 s per VGG16 evaluation at 256 px).
    Python's share is ~0.1 ms an evaluation.
Both run the same arithmetic: the same iterates (tests/run/test_programs.py).

A batch (`Batch`, fast/mesh.py) vmaps init, ask, the value and gradient, tell (or the
device's whole while_loop) over a leading axis sharded over the devices, each image its
own optimiser. An image's iteration count runs ahead of another's when its line searches
take fewer evaluations, so a chunk runs every image up to one target iteration, holding
still (a select) those there already: each image takes exactly the steps it would alone.
Python reads only replicated copies of the rows, iterations and stops.
"""

import functools
import time
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ..fast.mesh import Batch
from ..optimizers import lbfgs as lb
from ..optimizers.optim import Optimizer, Problem, Row, Spec
from .monitor import Monitor


class Programs(NamedTuple):
    """Every piece `run` compiles, as jitted functions (not yet compiled): built once per
    (problem, optimiser, rows, loop, batch) by `programs`, so that jit's own cache, keyed on the
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
def programs(problem: Problem, spec: Spec, chunk: int, loop: str, batch: Optional[Batch] = None) -> Programs:
    """The pieces of a run of `problem` by the optimiser `spec` builds, `chunk` iterations
    at most between two looks (Programs), the same objects for equal arguments."""
    opt = spec.build(problem)
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
            _device_loop(opt, problem, chunk + 2, batch), None if batch is None else (out, replicated)
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
def scipy_programs(problem: Problem) -> Tuple[Callable, Callable]:
    """(value and gradient, loss) of `problem`, jitted: SciPy's driver calls the first."""
    return jax.jit(jax.value_and_grad(problem.fun, has_aux=True)), jax.jit(problem.fun)


def _look(s):
    return s.iteration, s.stop


def _info(s):
    return s.iteration, s.evaluations


def local(a):
    """A replicated result (or a pytree of them) as NumPy arrays, read from this process's
    own copy (np.asarray of a global array spanning other processes would refuse)."""
    return jax.tree.map(lambda v: np.asarray(v.addressable_data(0)), a)


Rows = List[List[Tuple[int, int, np.ndarray]]]  # per image: (iteration, evaluations, terms) of each row


def ahead_of_time(jitted, *args):
    """A jitted function compiled ahead of time for `args`, so that compilation is timed
    apart from the run. jit's cache answers at once for shapes, dtypes and shardings it has
    compiled before (the functions come from `programs`: the same objects every run)."""
    return jitted.lower(*args).compile()


def compile_late(monitor: Monitor, jitted, *args):
    """f compiled after the run started (the last row's forward pass), its time counted
    as compilation."""
    t = time.perf_counter()
    f = ahead_of_time(jitted, *args)
    monitor.compiled(time.perf_counter() - t)
    return f


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
    (max_rows: room for the rows of a chunk's n + 1 images and one write past them). A batch vmaps
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


def device_chunks(p: Programs, problem: Problem, aux, state) -> Callable:
    """chunk(state, target): the compiled while_loop of `_device_loop`."""
    assert p.device is not None
    run_chunk = ahead_of_time(p.device, state, aux, 0)

    def chunk(state, target) -> Tuple[object, Rows, Any]:
        state, (log, count, look) = run_chunk(state, aux, target)
        log, count, look = local((log, count, look))
        return state, _rows(log, count), look

    return chunk


def _tell_until(opt: Optimizer, batch: Optional[Batch]) -> Callable:
    """tell, holding still (in a batch) the images at iteration `target` already."""
    assert opt.tell is not None
    tell = opt.tell if batch is None else jax.vmap(opt.tell)

    def tell_until(state, evaluated, target):
        new, row = tell(state, evaluated)
        held = state.iteration >= target  # () or (B,)
        # One image is never held: host_chunks calls tell only while it is short of target.
        # The select is for a batch alone: it keeps the old state beside the new, a copy of
        # every leaf, L-BFGS's (m, H, W, 3) pairs included (0.17 s an evaluation at 512 px,
        # docs/guide/performance.md), where tell alone updates them in place.
        if batch is not None:
            expand = lambda a: held.reshape(held.shape + (1,) * (a.ndim - held.ndim))
            new = jax.tree.map(lambda a, b: jnp.where(expand(a), a, b), state, new)
        return new, (row._replace(valid=row.valid & ~held), (new.iteration, new.stop))

    return tell_until


def host_chunks(p: Programs, problem: Problem, aux, state) -> Callable:
    """chunk(state, target): ask, evaluate and tell, each compiled, from Python, until
    every image is at iteration `target`. In a batch, an image there already is held
    still while the others go on."""
    assert p.ask is not None and p.value_and_grad is not None and p.tell is not None
    x = jax.eval_shape(p.ask, state)
    ask_c = ahead_of_time(p.ask, state)
    vg = problem.evaluate or ahead_of_time(p.value_and_grad, x, aux)
    evaluated = jax.eval_shape(p.value_and_grad, x, aux)
    tell_c = ahead_of_time(p.tell, state, evaluated, 0)
    items = 1 if state.iteration.ndim == 0 else state.iteration.shape[0]  # (x: an image or its parameters)

    def chunk(state, target) -> Tuple[object, Rows, Any]:
        rows: Rows = [[] for _ in range(items)]
        while True:
            state = _unshared(state)  # (a donated buffer may appear once only)
            state, (row, (its, stops)) = tell_c(state, vg(ask_c(state), aux), target)
            row, its, stops = local((row, its, stops))
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
