"""Optimisers for the image, run in chunks of iterations between which Python looks in.

An optimiser here is three pure functions, in the style of optax:

    state = init(x0, aux)                 # x0: (H, W, 3) preprocessed image
    run = compile(aux, state)             # compiled ahead of time
    state, chunk = run(aux, state, n)     # up to n iterations
    terms, evaluations = current(aux, state)   # the loss terms of state.x

`loss_fn(x, aux) -> (total, {term: value})`, and `aux` is the pytree the loss needs
besides the image (VGG params and targets): passed as an argument, not closed over, so
XLA does not embed 100 MB of constants.

Two ways to run a chunk (`loop`):
  - "device": the whole chunk is one compiled `lax.while_loop` (n is traced, so one
    compilation serves any n up to max_chunk): no Python at all between iterations.
  - "host": one compiled call per step (per evaluation for L-BFGS) from a Python loop.
    XLA:CPU runs convolutions inside a while loop ~3x slower than at top level
    (jax-ml/jax#12868; measured here: 0.48 s vs 1.37 s per VGG16 evaluation at 256 px),
    so "auto" picks "host" on CPU and "device" elsewhere. Python's share is ~0.1 ms a call.
Both give the same iterates (tested).

Every state has the fields `x`, `iteration`, `evaluations` and `stop` (an index into
lbfgs.STOP_REASONS; 0 while running). Each chunk reports, for each iteration, the loss
terms of the image *before* it, and the loss-and-gradient evaluations spent when that
image's loss was known (its own evaluation included): optimisers compare fairly by
evaluations, line-search ones included. Non-finite values stop the run with
stop == NONFINITE and `x` at the last image whose loss was finite.
"""

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import lbfgs as lb
from .image import IMAGENET_MEAN_BGR

TERMS = ("total", "content", "style", "tv")  # columns of ChunkLog.terms
PIXEL_LOW = -IMAGENET_MEAN_BGR  # 0 in preprocessed (BGR minus mean) space, per channel
PIXEL_HIGH = 255.0 - IMAGENET_MEAN_BGR  # 255 likewise


class Optimizer(NamedTuple):
    init: Callable  # (x0, aux) -> state
    compile: Callable  # (aux, state) -> run(aux, state, n) -> (state, ChunkLog)
    current: Callable  # (aux, state) -> ({term: value} of state.x, evaluations)


def on_host(loop: str) -> bool:
    if loop not in ("auto", "host", "device"):
        raise ValueError(f"loop must be auto, host or device, got {loop!r}")
    return loop == "host" or (loop == "auto" and jax.default_backend() == "cpu")


def _aot(f, *args):
    """Compile ahead of time, so compilation is timed apart from the run. No buffer is
    donated: states are a few image-sized arrays, and may hold one buffer twice."""
    return jax.jit(f).lower(*args).compile()


class ChunkLog(NamedTuple):
    terms: jnp.ndarray  # (max_chunk, 4) float32: TERMS of the image before each iteration
    evaluations: jnp.ndarray  # (max_chunk,) int32: evaluations when that loss was known
    steps: jnp.ndarray  # () int32: how many rows are valid


def _empty_log(max_chunk):
    return ChunkLog(jnp.zeros((max_chunk, len(TERMS)), jnp.float32),
                    jnp.zeros((max_chunk,), jnp.int32), jnp.zeros((), jnp.int32))


def _append(log: ChunkLog, terms, evaluations, keep=True) -> ChunkLog:
    row = jnp.stack([jnp.asarray(terms[t], jnp.float32) for t in TERMS])
    i = log.steps
    return ChunkLog(log.terms.at[i].set(row), log.evaluations.at[i].set(evaluations),
                    i + jnp.asarray(keep, jnp.int32))


def _device_chunks(step, max_chunk):
    """compile(aux, state): the whole chunk as one compiled while_loop."""
    def run(aux, state, n):
        def more(carry):
            return (carry[1].steps < n) & (carry[0].stop == lb.RUNNING)
        return jax.lax.while_loop(more, lambda c: step(aux, *c), (state, _empty_log(max_chunk)))
    return lambda aux, state: _aot(run, aux, state, 0)


def _host_loop(one, max_chunk):
    """run(aux, state, n) calling `one(aux, state) -> (state, ChunkLog of 1 row)` n times."""
    def run(aux, state, n):
        terms = np.zeros((max_chunk, len(TERMS)), np.float32)
        evals, steps = np.zeros((max_chunk,), np.int32), 0
        while steps < n and int(state.stop) == lb.RUNNING:
            state, row = one(aux, state)
            if int(row.steps):
                terms[steps], evals[steps] = np.asarray(row.terms[0]), int(row.evaluations[0])
                steps += 1
        return state, ChunkLog(terms, evals, np.int32(steps))
    return run


def clip_pixels(x):
    """Project onto valid images: every pixel in 0..255 (in preprocessed space)."""
    return jnp.clip(x, PIXEL_LOW, PIXEL_HIGH)


# ---------------------------------------------------------------------------- Adam
class AdamState(NamedTuple):
    x: jnp.ndarray  # (H, W, 3) float32: the current image, preprocessed
    previous_x: jnp.ndarray  # (H, W, 3) float32: the image one step back
    opt_state: optax.OptState  # Adam's moments and step count
    iteration: jnp.ndarray  # () int32: steps taken
    evaluations: jnp.ndarray  # () int32: loss-and-gradient evaluations so far
    stop: jnp.ndarray  # () int32: RUNNING or NONFINITE


def adam(loss_fn: Callable, learning_rate: float, max_chunk: int = 10,
         loop: str = "auto") -> Optimizer:
    """Adam (Kingma & Ba 2015) on the pixels, projected onto 0..255 after each step."""
    tx = optax.adam(learning_rate)
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

    def init(x0, aux=None):
        x0 = jnp.array(x0, jnp.float32)
        return AdamState(x0, jnp.array(x0, copy=True), tx.init(x0), jnp.zeros((), jnp.int32),
                         jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def step(aux, s: AdamState, log):
        (total, terms), g = value_and_grad(s.x, aux)
        loss_ok = jnp.isfinite(total)
        ok = loss_ok & jnp.all(jnp.isfinite(g))
        updates, opt_state = tx.update(g, s.opt_state, s.x)
        x_new = clip_pixels(optax.apply_updates(s.x, updates))
        log = _append(log, terms, s.evaluations + 1, keep=loss_ok)  # no row for a bad loss
        # ok: take the step. Finite loss, bad gradient: stay. Bad loss: step back.
        s = AdamState(
            x=jnp.where(ok, x_new, jnp.where(loss_ok, s.x, s.previous_x)),
            previous_x=jnp.where(ok, s.x, s.previous_x),
            opt_state=jax.tree.map(lambda a, b: jnp.where(ok, a, b), opt_state, s.opt_state),
            iteration=jnp.where(ok, s.iteration + 1, jnp.where(
                loss_ok, s.iteration, jnp.maximum(s.iteration - 1, 0))),
            evaluations=s.evaluations + 1,
            stop=jnp.where(ok, lb.RUNNING, lb.NONFINITE).astype(jnp.int32))
        return s, log

    def current(aux, s: AdamState):  # Adam has not evaluated its current image yet
        return loss_fn(s.x, aux)[1], s.evaluations + 1

    if on_host(loop):
        one = lambda aux, s: step(aux, s, _empty_log(1))
        return Optimizer(init, lambda aux, s: _host_loop(_aot(one, aux, s), max_chunk), current)
    return Optimizer(init, _device_chunks(step, max_chunk), current)


# ---------------------------------------------------------------- L-BFGS (ours)
def lbfgs(loss_fn: Callable, memory_size: int = 10, max_chunk: int = 10,
          line_search: str = "wolfe", max_evals: int = 0, loop: str = "auto") -> Optimizer:
    """nst_jax.lbfgs on the pixels (unconstrained, as Gatys et al. and neural-style)."""
    opt = lb.Options(memory_size, gtol=0.0, ftol=0.0, line_search=line_search,
                     max_evals=max_evals or 2**30)
    vg = jax.value_and_grad(loss_fn, has_aux=True)
    # On host, one compiled evaluation serves the first one (init) and every line-search
    # trial: VGG's value-and-gradient is compiled once per run, not twice (~5 s each with
    # Winograd convolutions at 256 px).
    evaluate = jax.jit(vg)
    start = jax.jit(lambda x0, evaluated: lb.start(x0, evaluated, memory_size))
    init_device = jax.jit(lambda x0, aux: lb.init(loss_fn, x0, (aux,), memory_size, has_aux=True))

    def init(x0, aux):  # compiled inside: callers need not jit it
        x0 = jnp.array(x0, jnp.float32)
        return start(x0, evaluate(x0, aux)) if on_host(loop) else init_device(x0, aux)

    def step(aux, s: lb.State, log):
        log = _append(log, s.aux, s.evaluations)
        return lb.step(loss_fn, s, (aux,), opt, has_aux=True), log

    def current(aux, s: lb.State):
        return s.aux, s.evaluations

    if not on_host(loop):
        return Optimizer(init, _device_chunks(step, max_chunk), current)

    def compile_host(aux, state):
        """begin, trial (one evaluation each, at top level: `evaluate`, then the bracket
        update) and finish, each compiled."""
        begin = _aot(lambda s: lb.begin(s, opt), state)
        it = begin(state)

        point = _aot(lambda s, it: s.x + it.search.trial * it.d, state, it)

        def update(s, it, evaluated):
            search = lb.update(evaluated, it.d, it.p0, it.search, opt)
            return it._replace(search=search), lb.searching(search, opt.max_evals - s.evaluations, opt)
        update = _aot(update, state, it, jax.eval_shape(evaluate, state.x, aux))
        trial = lambda aux, s, it: update(s, it, evaluate(point(s, it), aux))  # (shared `evaluate`)
        finish = _aot(lambda s, it: lb.finish(s, it, opt), state, it)

        def one(aux, s):
            log = ChunkLog(jnp.stack([s.aux[t] for t in TERMS])[None], s.evaluations[None],
                           jnp.ones((), jnp.int32))
            it = begin(s)
            more = lb.searching(it.search, opt.max_evals - s.evaluations, opt)
            while bool(more):
                it, more = trial(aux, s, it)
            return finish(s, it), log
        return _host_loop(one, max_chunk)

    return Optimizer(init, compile_host, current)


# ---------------------------------------------------------------- optax.lbfgs
class OptaxState(NamedTuple):
    x: jnp.ndarray  # (H, W, 3) float32: the current image
    opt_state: optax.OptState  # optax.lbfgs state, with its zoom line search's
    iteration: jnp.ndarray  # () int32
    evaluations: jnp.ndarray  # () int32: 1 + every line-search evaluation
    stop: jnp.ndarray  # () int32: RUNNING or NONFINITE


def optax_lbfgs(loss_fn: Callable, memory_size: int = 10, max_chunk: int = 10,
                max_evals: int = 0) -> Optimizer:
    """optax.lbfgs with its zoom line search. optax's search keeps only the total loss,
    so each row costs one extra forward pass to split it into terms (not counted as an
    evaluation; it makes optax's seconds ~1/3 of an evaluation per iteration slower)."""
    tx = optax.lbfgs(memory_size=memory_size)
    budget = max_evals or 2**30

    def init(x0, aux):
        x0 = jnp.array(x0, jnp.float32)
        z = jnp.zeros((), jnp.int32)
        return OptaxState(x0, tx.init(x0), z, jnp.ones((), jnp.int32), z)

    def step(aux, s: OptaxState, log):
        value_fn = lambda x: loss_fn(x, aux)[0]
        total, terms = loss_fn(s.x, aux)  # the extra forward pass, for the row's terms
        log = _append(log, terms, s.evaluations)
        value, grad = optax.value_and_grad_from_state(value_fn)(s.x, state=s.opt_state)
        updates, opt_state = tx.update(grad, s.opt_state, s.x, value=value, grad=grad,
                                       value_fn=value_fn)
        x = s.x + updates
        evals = s.evaluations + optax.tree_utils.tree_get(opt_state, "num_linesearch_steps")
        ok = jnp.isfinite(optax.tree_utils.tree_get(opt_state, "value")) & jnp.all(jnp.isfinite(x))
        stop = jnp.where(~ok, lb.NONFINITE, jnp.where(evals >= budget, lb.MAX_EVALS, lb.RUNNING))
        return OptaxState(jnp.where(ok, x, s.x), opt_state, s.iteration + ok,
                          evals, stop.astype(jnp.int32)), log

    def current(aux, s: OptaxState):
        return loss_fn(s.x, aux)[1], s.evaluations

    # optax's zoom line search is its own while_loop: no host-driven form is possible
    return Optimizer(init, _device_chunks(step, max_chunk), current)


# ---------------------------------------------------------------- iterate averaging
class EmaState(NamedTuple):
    average: jnp.ndarray  # (H, W, 3): sum_k (1 - d) d^(t-k) x_k over the iterates so far
    weight: jnp.ndarray  # () 1 - d^t: the total weight in `average` (0 before any iterate)


def ema_init(x0) -> EmaState:
    """An empty average; `ema_value` gives x0 until the first iterate arrives."""
    return EmaState(jnp.zeros_like(jnp.asarray(x0, jnp.float32)), jnp.zeros((), jnp.float32))


@jax.jit
def ema_update(s: EmaState, x, decay) -> EmaState:
    """One more iterate: a_t = d a_{t-1} + (1 - d) x_t, w_t = d w_{t-1} + (1 - d)."""
    return EmaState(decay * s.average + (1 - decay) * x, decay * s.weight + (1 - decay))


def ema_value(s: EmaState, x0):
    """The debiased average a_t / w_t (Adam's bias correction: the weights of x_1..x_t sum
    to 1), or x0 before any iterate."""
    return jnp.where(s.weight > 0, s.average / jnp.maximum(s.weight, 1e-30), x0)


# ---------------------------------------------------------------- SciPy L-BFGS-B
def scipy_lbfgsb(loss_fn: Callable, aux, x0):
    """SciPy's L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995) with every pixel bounded to 0..255,
    driven by our jitted value-and-gradient: one compiled call per evaluation, SciPy's
    Fortran in between (so it is not a chunked optimiser). Returns
    drive(max_iters, memory_size, max_evals, on_row, on_iterate) ->
    (x, iterations, evaluations, stop); on_row(iteration, evaluations, terms) gets each
    accepted image's loss, on_iterate(iteration, x) may return True to stop."""
    try:
        from scipy.optimize import Bounds, minimize
    except ImportError:
        from .errors import NstError
        raise NstError("--optimizer scipy-lbfgsb needs SciPy: pip install 'nst_jax[scipy]'") from None
    shape = x0.shape
    value_and_grad = jax.jit(jax.value_and_grad(loss_fn, has_aux=True)).lower(
        jnp.asarray(x0, jnp.float32), aux).compile()
    as_image = lambda v: jnp.asarray(v.reshape(shape), jnp.float32)

    def drive(max_iters, memory_size, max_evals, on_row, on_iterate):
        last = {"evals": 0, "x": None, "nonfinite": False}
        accepted = {"x": np.asarray(x0, np.float64).ravel(), "iteration": 0}

        def fun(v):
            (total, terms), g = value_and_grad(as_image(v), aux)
            terms = {k: float(t) for k, t in terms.items()}
            last.update(evals=last["evals"] + 1, x=v.copy(), terms=terms)
            if last["evals"] == 1:
                on_row(0, 1, terms)
            total = float(total)
            if not math.isfinite(total):  # SciPy backtracks from +inf; say so if it gives up
                last["nonfinite"] = True
                return math.inf, np.zeros(v.shape)
            return total, np.asarray(g, np.float64).ravel()

        def callback(intermediate_result):
            v = intermediate_result.x
            accepted.update(x=v.copy(), iteration=accepted["iteration"] + 1)
            terms = last["terms"] if np.array_equal(v, last["x"]) else {  # (always, in practice)
                k: float(t) for k, t in loss_fn(as_image(v), aux)[1].items()}
            on_row(accepted["iteration"], last["evals"], terms)
            if on_iterate(accepted["iteration"], v.reshape(shape)):
                raise StopIteration

        bounds = Bounds(np.broadcast_to(PIXEL_LOW, shape).ravel(),
                        np.broadcast_to(PIXEL_HIGH, shape).ravel())
        r = minimize(fun, accepted["x"], jac=True, method="L-BFGS-B", bounds=bounds,
                     callback=callback, options=dict(maxiter=max_iters, maxcor=memory_size,
                                                     maxfun=max_evals or 2**30, ftol=0.0, gtol=0.0))
        message = str(r.message).upper()
        stop = ("iterations" if accepted["iteration"] >= max_iters
                else "max_evals" if "LIMIT" in message
                else "nonfinite" if last["nonfinite"] else "line_search")
        return (accepted["x"].reshape(shape).astype(np.float32), accepted["iteration"],
                last["evals"], stop)

    return drive
