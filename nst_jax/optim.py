"""Optimisers for the image, each run in jitted chunks of steps (no Python per step).

An optimiser here is three pure functions, in the style of optax:

    state = init(x0, aux)                 # x0: (H, W, 3) preprocessed image
    state, chunk = run(aux, state, n)     # up to n iterations, one compiled call
    terms, evaluations = current(aux, state)   # the loss terms of state.x

`loss_fn(x, aux) -> (total, {term: value})`, and `aux` is the pytree the loss needs
besides the image (VGG params and targets): passed as an argument, not closed over, so
XLA does not embed 100 MB of constants. `n` is a traced integer, so one compilation
serves chunks of any length up to `max_chunk`.

Every state has the fields `x`, `iteration`, `evaluations` and `stop` (an index into
lbfgs.STOP_REASONS; 0 while running). Each chunk reports, for each iteration, the loss
terms of the image *before* it, and the loss-and-gradient evaluations spent when that
image's loss was known (its own evaluation included): optimisers compare fairly by
evaluations, line-search ones included.

Non-finite values stop the run with stop == NONFINITE and `x` at the last image whose
loss was finite.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import lbfgs as lb
from .image import IMAGENET_MEAN_BGR

TERMS = ("total", "content", "style", "tv")  # columns of ChunkLog.terms
PIXEL_LOW = -IMAGENET_MEAN_BGR  # 0 in preprocessed (BGR minus mean) space, per channel
PIXEL_HIGH = 255.0 - IMAGENET_MEAN_BGR  # 255 likewise


class Optimizer(NamedTuple):
    init: Callable  # (x0, aux) -> state
    run: Callable  # (aux, state, n) -> (state, ChunkLog)
    current: Callable  # (aux, state) -> ({term: value} of state.x, evaluations)


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


def _chunked(step, max_chunk):
    """run(aux, state, n): `step(aux, state, log) -> (state, log)` while rows < n and running."""
    def run(aux, state, n):
        def more(carry):
            return (carry[1].steps < n) & (carry[0].stop == lb.RUNNING)
        return jax.lax.while_loop(more, lambda c: step(aux, *c), (state, _empty_log(max_chunk)))
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


def adam(loss_fn: Callable, learning_rate: float, max_chunk: int = 10) -> Optimizer:
    """Adam (Kingma & Ba 2015) on the pixels, projected onto 0..255 after each step."""
    tx = optax.adam(learning_rate)
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

    def init(x0, aux=None):
        x0 = jnp.array(x0, jnp.float32)
        # distinct buffers throughout: the state is donated to each chunk
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

    return Optimizer(init, _chunked(step, max_chunk), current)


# ---------------------------------------------------------------- L-BFGS (ours)
def lbfgs(loss_fn: Callable, memory_size: int = 10, max_chunk: int = 10,
          line_search: str = "wolfe", max_evals: int = 0) -> Optimizer:
    """nst_jax.lbfgs on the pixels (unconstrained, as Gatys et al. and neural-style)."""
    opt = lb.Options(memory_size, gtol=0.0, ftol=0.0, line_search=line_search,
                     max_evals=max_evals or 2**30)

    def init(x0, aux):
        return lb.init(loss_fn, jnp.array(x0, jnp.float32), (aux,), memory_size, has_aux=True)

    def step(aux, s: lb.State, log):
        log = _append(log, s.aux, s.evaluations)
        return lb.step(loss_fn, s, (aux,), opt, has_aux=True), log

    return Optimizer(init, _chunked(step, max_chunk), lambda aux, s: (s.aux, s.evaluations))


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

    return Optimizer(init, _chunked(step, max_chunk), current)
