"""The optimisers of the image, as small pure pieces; loop.py owns the loop.

An optimiser is given a `Problem` (the objective's function, the names of its terms,
and the box of valid points, if any) and is the `Optimizer` of pure functions

    state = init(x0)                      # nothing evaluated yet
    x = ask(state)                        # where it wants the loss and gradient
    state, row = tell(state, evaluated)   # evaluated = fun's ((total, terms), grad) at x
    state, row = step(state, aux)         # ask, evaluate and tell in one compiled piece

`aux` is the pytree the loss needs besides the image (VGG params and targets): passed
as an argument, not closed over, so XLA does not embed 100 MB of constants. `row`
reports the loss of an image when an evaluation settles one (`Row`): the loop keeps
the history from them. optax's L-BFGS evaluates inside its own zoom line search, so it
has `step` only. Every state has the fields `x`, `iteration`, `evaluations` and `stop`
(an index into lbfgs.STOP_REASONS, 0 while running): a non-finite loss stops the run
with `x` at the last image whose loss was finite.

SciPy's L-BFGS-B owns its loop (Fortran, through callbacks): `scipy_lbfgsb` is a driver.
"""

import functools
import math
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..errors import NstError
from . import lbfgs as lb


class Problem(NamedTuple):
    """What is minimised, as the optimisers see it. Hashable (a function object that
    compares by value, such as losses.Loss; bounds as tuples), so that run/programs.py builds
    and compiles the pieces of an equal problem once."""

    fun: Callable  # (x, aux) -> (total, {term: scalar of x's dtype}), total == terms[terms[0]]
    terms: Tuple[str, ...]  # the names of the terms, in the log's order
    low: Any = None  # the box of valid x, low <= x <= high (broadcastable; tuples keep the
    high: Any = None  # problem hashable), or None: Adam projects onto it, SciPy's L-BFGS-B
    #   is bounded by it
    evaluate: Optional[Callable] = None  # (x, aux) -> ((total, terms), grad) called from
    #   Python, in place of fun's compiled value and gradient (a tiled evaluation, fast/tiles.py)


class Row(NamedTuple):
    """The loss of an image, when an evaluation settles one."""

    valid: jnp.ndarray  # () bool: whether this evaluation settled an image's loss
    iteration: jnp.ndarray  # () int32: that image: the one after `iteration` steps
    evaluations: jnp.ndarray  # () int32: evaluations spent when its loss was known
    terms: jnp.ndarray  # (T,) float32: its terms, in Problem.terms' order


class Optimizer(NamedTuple):
    init: Callable  # x0 -> state
    step: Callable  # (state, aux) -> (state, Row): one evaluation (optax: one iteration)
    last: Callable  # (state, aux) -> Row of state.x by a forward pass, when no tell gave it
    ask: Optional[Callable] = None  # state -> the point to evaluate next
    tell: Optional[Callable] = None  # (state, ((total, terms), grad)) -> (state, Row)


class Spec(NamedTuple):
    """An optimiser named by its maker and hashable arguments, and the space it moves in
    (loop.py maps the image in and out): equal choices build the same compiled pieces
    (run/programs.py caches on the spec); whoever runs it knows it by init/ask/tell only."""

    make: Callable  # adam | lbfgs | optax_lbfgs, or scipy_lbfgsb: a driver that owns its loop
    args: Tuple = ()  # after the problem, e.g. lbfgs's (memory_size, line_search, max_evals)
    space: Tuple[str, bool] = ("pixels", False)  # (spaces.SPACES' name, decorrelated colours)

    @property
    def drives(self) -> bool:
        """True for SciPy's L-BFGS-B: drive(max_iters, *args, on_row, on_iterate)."""
        return self.make is scipy_lbfgsb

    def build(self, problem: "Problem") -> "Optimizer":
        return self.make(problem, *self.args)


def _row(problem: Problem, valid, iteration, evaluations, terms) -> Row:
    return Row(
        jnp.asarray(valid),
        jnp.asarray(iteration, jnp.int32),
        jnp.asarray(evaluations, jnp.int32),
        jnp.stack([jnp.asarray(terms[t], jnp.float32) for t in problem.terms]),
    )


def _unless_stopped(old, new, row: Row):
    """(new, row), or (old, no row) where old had stopped: a stopped state stays as it is."""
    running = old.stop == lb.RUNNING
    new = jax.tree.map(lambda a, b: jnp.where(running, b, a), old, new)
    return new, row._replace(valid=row.valid & running)


def _evaluating(problem: Problem, ask, tell):
    """step(state, aux): ask, the loss's value and gradient there, tell."""
    vg = jax.value_and_grad(problem.fun, has_aux=True)
    return lambda state, aux: tell(state, vg(ask(state), aux))


def _forward(problem: Problem, x, aux, iteration, evaluations) -> Row:
    """The row of x from one forward pass (no gradient)."""
    return _row(problem, True, iteration, evaluations, problem.fun(x, aux)[1])


# ---------------------------------------------------------------------------- Adam
class AdamState(NamedTuple):
    x: jnp.ndarray  # (H, W, 3) float32: the current image
    previous_x: jnp.ndarray  # (H, W, 3) float32: the image one step back
    opt_state: optax.OptState  # Adam's moments and step count
    iteration: jnp.ndarray  # () int32: steps taken
    evaluations: jnp.ndarray  # () int32: loss-and-gradient evaluations so far
    stop: jnp.ndarray  # () int32: RUNNING, NONFINITE or MAX_EVALS


def adam(problem: Problem, learning_rate: float, max_evals: int = 0) -> Optimizer:
    """Adam (Kingma & Ba 2015), projected onto the problem's box after each step. Each
    step evaluates the image before it, so the last image's loss is one evaluation more:
    with max_evals, the steps stop one evaluation short of it."""
    tx, budget = optax.adam(learning_rate), (max_evals or lb.NO_LIMIT) - 1

    def init(x0):
        x0 = jnp.array(x0, jnp.float32)
        zero = jnp.zeros((), jnp.int32)
        stop = jnp.where(budget <= 0, lb.MAX_EVALS, lb.RUNNING).astype(jnp.int32)
        return AdamState(x0, jnp.array(x0, copy=True), tx.init(x0), zero, zero, stop)

    def tell(s: AdamState, evaluated):
        (total, terms), g = evaluated
        loss_ok = jnp.isfinite(total)
        ok = loss_ok & jnp.all(jnp.isfinite(g))
        updates, opt_state = tx.update(g, s.opt_state, s.x)
        x_new = optax.apply_updates(s.x, updates)
        if problem.low is not None:
            x_new = jnp.clip(x_new, jnp.asarray(problem.low), jnp.asarray(problem.high))
        row = _row(problem, loss_ok, s.iteration, s.evaluations + 1, terms)  # x's own loss
        # ok: take the step. Finite loss, bad gradient: stay. Bad loss: step back.
        stop = jnp.where(ok, jnp.where(s.evaluations + 1 >= budget, lb.MAX_EVALS, lb.RUNNING), lb.NONFINITE)
        return _unless_stopped(
            s,
            AdamState(
                x=jnp.where(ok, x_new, jnp.where(loss_ok, s.x, s.previous_x)),
                previous_x=jnp.where(ok, s.x, s.previous_x),
                opt_state=jax.tree.map(lambda a, b: jnp.where(ok, a, b), opt_state, s.opt_state),
                iteration=jnp.where(
                    ok, s.iteration + 1, jnp.where(loss_ok, s.iteration, jnp.maximum(s.iteration - 1, 0))
                ),
                evaluations=s.evaluations + 1,
                stop=stop.astype(jnp.int32),
            ),
            row,
        )

    ask = lambda s: s.x
    # the last image is not evaluated yet: one more evaluation
    last = lambda s, aux: _forward(problem, s.x, aux, s.iteration, s.evaluations + 1)
    return Optimizer(init, _evaluating(problem, ask, tell), last, ask, tell)


# ---------------------------------------------------------------- L-BFGS (ours)
def lbfgs(
    problem: Problem, memory_size: int = 10, line_search: str = "wolfe", max_evals: int = 0
) -> Optimizer:
    """optimizers/lbfgs.py, unconstrained (as Gatys et al. and neural-style); its state keeps the
    terms of its current image (each a scalar of the image's dtype)."""
    opt = lb.Options(gtol=0.0, ftol=0.0, line_search=line_search, max_evals=max_evals or lb.NO_LIMIT)

    def init(x0):
        x0 = jnp.array(x0, jnp.float32)
        terms = {t: jnp.zeros((), x0.dtype) for t in problem.terms}  # what fun returns besides f
        return lb.init(x0, memory_size, terms)

    def tell(s: lb.State, evaluated):
        new = lb.tell(s, evaluated, opt)
        # an image's loss is settled by x0's evaluation and by each accepted step
        settled = (s.evaluations == 0) | (new.iteration > s.iteration)
        return new, _row(problem, settled, new.iteration, new.evaluations, new.aux)

    # an evaluated image's loss is in its row already: only x0 unevaluated (iters 0) needs this
    last = lambda s, aux: _forward(problem, s.x, aux, s.iteration, s.evaluations + 1)
    return Optimizer(init, _evaluating(problem, lb.ask, tell), last, lb.ask, tell)


# ---------------------------------------------------------------- optax.lbfgs
class OptaxState(NamedTuple):
    x: jnp.ndarray  # (H, W, 3) float32: the current image
    opt_state: optax.OptState  # optax.lbfgs state, with its zoom line search's
    iteration: jnp.ndarray  # () int32
    evaluations: jnp.ndarray  # () int32: 1 + every line-search evaluation
    stop: jnp.ndarray  # () int32: RUNNING, NONFINITE or MAX_EVALS


def optax_lbfgs(problem: Problem, memory_size: int = 10, max_evals: int = 0) -> Optimizer:
    """optax.lbfgs with its zoom line search. optax's search keeps only the total loss,
    so each row costs one extra forward pass to split it into terms (not counted as an
    evaluation; it makes optax's seconds ~1/3 of an evaluation per iteration slower)."""
    tx, budget = optax.lbfgs(memory_size=memory_size), max_evals or lb.NO_LIMIT

    def init(x0):
        x0 = jnp.array(x0, jnp.float32)
        z = jnp.zeros((), jnp.int32)
        return OptaxState(x0, tx.init(x0), z, jnp.ones((), jnp.int32), z)

    def step(s: OptaxState, aux):
        value_fn = lambda x: problem.fun(x, aux)[0]
        row = _forward(problem, s.x, aux, s.iteration, s.evaluations)
        value, grad = optax.value_and_grad_from_state(value_fn)(s.x, state=s.opt_state)
        updates, opt_state = tx.update(grad, s.opt_state, s.x, value=value, grad=grad, value_fn=value_fn)
        x = s.x + updates
        evals = s.evaluations + optax.tree_utils.tree_get(opt_state, "num_linesearch_steps")
        ok = jnp.isfinite(optax.tree_utils.tree_get(opt_state, "value")) & jnp.all(jnp.isfinite(x))
        stop = jnp.where(~ok, lb.NONFINITE, jnp.where(evals >= budget, lb.MAX_EVALS, lb.RUNNING))
        return _unless_stopped(
            s,
            OptaxState(jnp.where(ok, x, s.x), opt_state, s.iteration + ok, evals, stop.astype(jnp.int32)),
            row,
        )

    last = lambda s, aux: _forward(problem, s.x, aux, s.iteration, s.evaluations)  # counted
    return Optimizer(init, step, last)


# ---------------------------------------------------------------- SciPy L-BFGS-B
def scipy_lbfgsb(
    problem: Problem, aux: Any, x0: np.ndarray, value_and_grad: Optional[Callable] = None
) -> Callable[..., Tuple[np.ndarray, int, int, str]]:
    """SciPy's L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995), bounded by the problem's box,
    driven by our jitted value-and-gradient (`value_and_grad`: fun's, jitted, given by a
    caller that keeps it for the next run; else made here): one compiled call per
    evaluation, SciPy's Fortran in between (so it owns its loop). Returns
    drive(max_iters, memory_size, max_evals, on_row, on_iterate) ->
    (x, iterations, evaluations, stop); on_row(iteration, evaluations, terms) gets each
    accepted image's loss, on_iterate(iteration, x) may return True to stop."""
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        raise NstError("--optimizer scipy-lbfgsb needs SciPy; pip install 'nst_jax[scipy]'") from None
    if problem.evaluate is not None:
        return functools.partial(_drive, problem.evaluate, problem, aux, x0)
    vg: Any = value_and_grad or jax.jit(jax.value_and_grad(problem.fun, has_aux=True))
    return functools.partial(_drive, vg.lower(jnp.asarray(x0, jnp.float32), aux).compile(), problem, aux, x0)


def _drive(value_and_grad, problem: Problem, aux, x0, max_iters, memory_size, max_evals, on_row, on_iterate):
    """One SciPy L-BFGS-B run (scipy_lbfgsb): SciPy calls `fun` for each evaluation and
    `callback` after each accepted step."""
    from scipy.optimize import minimize

    shape = x0.shape
    as_image = lambda v: jnp.asarray(v.reshape(shape), jnp.float32)
    last: Dict[str, Any] = {"evals": 0, "x": None, "nonfinite": False}
    accepted: Dict[str, Any] = {"x": np.asarray(x0, np.float64).ravel(), "iteration": 0}

    def fun(v):
        (total, terms), g = value_and_grad(as_image(v), aux)
        terms = {k: float(t) for k, t in terms.items()}
        last.update(evals=last["evals"] + 1, x=v.copy(), terms=terms)
        if last["evals"] == 1:
            on_row(0, 1, terms)
        if not math.isfinite(float(total)):  # SciPy backtracks from +inf; say so if it gives up
            last["nonfinite"] = True
            return math.inf, np.zeros(v.shape)
        return float(total), np.asarray(g, np.float64).ravel()

    def callback(intermediate_result):
        v = intermediate_result.x
        accepted.update(x=v.copy(), iteration=accepted["iteration"] + 1)
        terms = last["terms"]  # of the last evaluation, which is the accepted point (in practice always)
        if not np.array_equal(v, last["x"]):
            terms = {k: float(t) for k, t in problem.fun(as_image(v), aux)[1].items()}
        on_row(accepted["iteration"], last["evals"], terms)
        if on_iterate(accepted["iteration"], v.reshape(shape)):
            raise StopIteration

    limits = dict(maxiter=max_iters, maxcor=memory_size, maxfun=max_evals or lb.NO_LIMIT, ftol=0.0, gtol=0.0)
    bounds = _bounds(problem, shape)
    r = minimize(
        fun, accepted["x"], jac=True, method="L-BFGS-B", bounds=bounds, callback=callback, options=limits
    )
    if accepted["iteration"] >= max_iters:
        stop = "iterations"
    elif "LIMIT" in str(r.message).upper():
        stop = "max_evals"
    else:
        stop = "nonfinite" if last["nonfinite"] else "line_search"
    return accepted["x"].reshape(shape).astype(np.float32), accepted["iteration"], last["evals"], stop


def _bounds(problem: Problem, shape):
    """The problem's box as SciPy's Bounds, or None."""
    from scipy.optimize import Bounds

    if problem.low is None:
        return None
    return Bounds(np.broadcast_to(problem.low, shape).ravel(), np.broadcast_to(problem.high, shape).ravel())
