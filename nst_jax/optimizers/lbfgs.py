"""L-BFGS, written to be read next to Nocedal & Wright and compiled whole by XLA.

J. Nocedal & S. Wright, Numerical Optimization (2nd ed., 2006):
  - Algorithm 7.4, the two-loop recursion: r = H_k g_k from the last m pairs
        s_i = x_{i+1} - x_i,   y_i = g_{i+1} - g_i,   rho_i = 1 / (y_i^T s_i)
    with H_k^0 = gamma_k I, gamma_k = s_{k-1}^T y_{k-1} / y_{k-1}^T y_{k-1}   (Eq. 7.20)
  - Algorithm 7.5, L-BFGS: d_k = -H_k g_k, x_{k+1} = x_k + a_k d_k; a pair whose
    curvature s^T y is not positive is skipped (it would make H_k indefinite).
  - Algorithms 3.5 and 3.6, a line search for the strong Wolfe conditions
        f(x + a d) <= f(x) + c1 a g^T d          (sufficient decrease, Eq. 3.7a)
        |g(x + a d)^T d| <= c2 |g^T d|            (curvature, Eq. 3.7b)
    by bracketing then "zoom" with safeguarded cubic interpolation (Eq. 3.59).
  - or a backtracking (Armijo) line search, Algorithm 3.1: sufficient decrease only.

Default line search: strong Wolfe. Measured on style transfer (real VGG16, 256 px,
`python -m nst_jax bench optimizers`, docs/guide/optimizers.md) it has the lower loss at every checkpoint
counted in evaluations (10, 25, 50, 100: 5.09e10 / 2.06e10 / 1.40e10 / 1.155e10 against
backtracking's 5.73e10 / 2.10e10 / 1.42e10 / 1.158e10), and its curvature condition
guarantees s^T y > 0, so no (s, y) pair is wasted; by wall time the two were within 2%.
First step of a run: see `_begin` (N&W Eq. 3.60).

Ask and tell. Everything is a pure function of fixed-shape arrays, and the one
expensive call, f and g at a point, stays outside the optimiser:

    state = init(x0, memory_size)          # nothing evaluated yet
    x = ask(state)                         # where to evaluate next: x0, then x + a d
    state = tell(state, ((f, aux), g))     # the bracket update; when the line search
                                           #   settles: the step, the history, the stops
Whoever owns the loop calls the evaluation: `minimize` and `step` in a `lax.while_loop`
(no Python per iteration), nst_jax's run loop either there or one compiled call per
evaluation from Python (loop.py; on CPU XLA runs convolutions inside a while loop about
3x slower than at top level, jax-ml/jax#12868). The arithmetic is the same either way.

Over 300 lines: one algorithm (N&W Alg. 7.5) with its two line searches and `minimize`,
each piece next to its equation; split in two, a reader would lose the thread from the
direction to the search to the step.
"""

from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.typing import ArrayLike

STOP_REASONS = ("running", "gtol", "ftol", "max_iters", "max_evals", "line_search", "nonfinite")
RUNNING, GTOL, FTOL, MAX_ITERS, MAX_EVALS, LINE_SEARCH, NONFINITE = range(7)
BRACKET, ZOOM, ACCEPTED = 0, 1, 2  # line-search stages (Alg. 3.5, Alg. 3.6, done)
NO_LIMIT = 2**30  # an evaluation budget no run reaches: "no limit", as an int32


class Options(NamedTuple):
    gtol: float = 1e-5  # stop when max |g_i| <= gtol (SciPy's pgtol)
    ftol: float = 2.2e-9  # stop when (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= ftol (SciPy's)
    max_evals: int = NO_LIMIT  # stop before a line search could pass this many evaluations
    line_search: str = "wolfe"  # "wolfe" (Alg. 3.5/3.6) or "armijo" (Alg. 3.1)
    c1: float = 1e-4  # sufficient decrease constant
    c2: float = 0.9  # curvature constant (0.9 for quasi-Newton, N&W p. 142)
    max_ls: int = 20  # line-search evaluations per iteration at most
    precondition: Optional[Callable] = None  # v -> P v, symmetric positive definite: H_0 = gamma P
    #   (None: P = I). With P = A A^T this is L-BFGS on p where x = A p (spaces.py), the same steps


class _Point(NamedTuple):  # a line-search trial: step, value, slope, gradient, aux
    a: jnp.ndarray
    f: jnp.ndarray
    d: jnp.ndarray
    g: jnp.ndarray
    aux: Any


class _Search(NamedTuple):
    stage: jnp.ndarray  # () int32: BRACKET, ZOOM or ACCEPTED
    trial: jnp.ndarray  # () next step length to evaluate
    lo: _Point  # best point meeting sufficient decrease so far (a = 0 at first)
    hi: _Point  # other end of the bracket (zoom stage)
    evals: jnp.ndarray  # () int32: evaluations in this search


class State(NamedTuple):
    x: jnp.ndarray  # (*shape) current iterate, float32 or float64
    value: jnp.ndarray  # () f(x)
    grad: jnp.ndarray  # (*shape) g = grad f(x)
    aux: Any  # whatever fun returns besides the value, at x
    s: jnp.ndarray  # (m, *shape) s_i pairs, a ring buffer: m is the memory size
    y: jnp.ndarray  # (m, *shape) y_i pairs
    rho: jnp.ndarray  # (m,) 1 / (y_i^T s_i)
    head: jnp.ndarray  # () int32: slot the next pair goes into
    pairs: jnp.ndarray  # () int32: valid (s, y) pairs, <= m (0 after a restart from -g)
    gamma: jnp.ndarray  # () H^0 = gamma I, Eq. 7.20
    d: jnp.ndarray  # (*shape) this iteration's search direction
    slope: jnp.ndarray  # () g^T d
    search: _Search  # this iteration's line search so far
    iteration: jnp.ndarray  # () int32: iterations taken
    evaluations: jnp.ndarray  # () int32: f-and-g evaluations of finished searches, x's own included
    stop: jnp.ndarray  # () int32: index into STOP_REASONS (0: running)


Evaluated = Tuple[Tuple[jax.Array, Any], jax.Array]  # ((f, aux), g) at a point: what tell takes


def _dot(a, b):
    return jnp.vdot(a, b).real


def two_loop(
    g: jax.Array,
    s: jax.Array,
    y: jax.Array,
    rho: jax.Array,
    head: jax.Array,
    pairs: jax.Array,
    gamma: jax.Array,
    precondition: Optional[Callable] = None,
) -> jax.Array:
    """r = H g by Algorithm 7.4 over the ring buffer; the direction is d = -r. H_0 = gamma P
    (`precondition`: v -> P v; None: the identity)."""
    m = s.shape[0]

    def newest_first(j, carry):  # i = k-1, ..., k-m: alpha_i = rho_i s_i^T q; q -= alpha_i y_i
        q, alpha = carry
        i = (head - 1 - j) % m
        a = jnp.where(j < pairs, rho[i] * _dot(s[i], q), 0.0)
        return q - a * y[i], alpha.at[i].set(a)

    q, alpha = jax.lax.fori_loop(0, m, newest_first, (g, jnp.zeros(m, g.dtype)))
    r = gamma * (q if precondition is None else precondition(q))  # H_k^0 q

    def oldest_first(j, r):  # i = k-m, ..., k-1: beta = rho_i y_i^T r; r += s_i (alpha_i - beta)
        i = (head - pairs + j) % m
        beta = rho[i] * _dot(y[i], r)
        return jnp.where(j < pairs, r + s[i] * (alpha[i] - beta), r)

    return jax.lax.fori_loop(0, m, oldest_first, r)


def _cubic_min(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi):
    """Minimiser of the cubic through both points and slopes (Eq. 3.59), safeguarded into
    the middle 80% of the interval; bisection when the cubic has no usable minimum."""
    d1 = d_lo + d_hi - 3 * (f_lo - f_hi) / (a_lo - a_hi)
    d2 = jnp.sign(a_hi - a_lo) * jnp.sqrt(jnp.maximum(d1**2 - d_lo * d_hi, 0.0))
    a = a_hi - (a_hi - a_lo) * (d_hi + d2 - d1) / (d_hi - d_lo + 2 * d2)
    left, right = jnp.minimum(a_lo, a_hi), jnp.maximum(a_lo, a_hi)
    margin = 0.1 * (right - left)
    ok = jnp.isfinite(a) & (a >= left + margin) & (a <= right - margin)
    return jnp.where(ok, a, 0.5 * (a_lo + a_hi))


def _bracket(p: _Point, p0: _Point, s: _Search, opt: Options) -> _Search:
    """The line search's update after evaluating the trial point p (a = s.trial)."""
    armijo = p.f <= p0.f + opt.c1 * p.a * p0.d  # Eq. 3.7a
    curvature = jnp.abs(p.d) <= opt.c2 * jnp.abs(p0.d)  # Eq. 3.7b
    pick = lambda which, a, b: jax.tree.map(lambda u, v: jnp.where(which, u, v), a, b)
    if opt.line_search == "armijo":  # Alg. 3.1: accept on sufficient decrease, else shrink
        q = -p0.d * p.a**2 / (2 * (p.f - p0.f - p0.d * p.a))  # minimiser of the quadratic fit
        shrink = jnp.where(jnp.isfinite(q), jnp.clip(q, 0.1 * p.a, 0.5 * p.a), 0.5 * p.a)
        return _Search(
            jnp.where(armijo, ACCEPTED, BRACKET).astype(jnp.int32),
            shrink,
            pick(armijo, p, s.lo),
            s.hi,
            s.evals + 1,
        )
    worse = ~armijo | (p.f >= s.lo.f)
    # Alg. 3.5 (bracketing): worse -> zoom(lo, p); good slope -> accept;
    # uphill slope -> zoom(p, lo); else extrapolate (x4, as SciPy's search)
    # Alg. 3.6 (zoom): worse -> hi = p; good slope -> accept; else lo = p, maybe hi = lo
    accept = ~worse & curvature
    flip = ~worse & ~curvature & (p.d * (s.hi.a - s.lo.a) >= 0)
    uphill = ~worse & ~curvature & (p.d >= 0)
    in_zoom = s.stage == ZOOM
    new_hi = jnp.where(worse, 1, jnp.where(in_zoom & flip | ~in_zoom & uphill, 2, 0))
    hi = pick(new_hi == 1, p, pick(new_hi == 2, s.lo, s.hi))
    lo = pick(worse, s.lo, p)
    zoom = in_zoom | worse | uphill
    stage = jnp.where(accept, ACCEPTED, jnp.where(zoom, ZOOM, BRACKET)).astype(jnp.int32)
    next_a = jnp.where(zoom, _cubic_min(lo.a, lo.f, lo.d, hi.a, hi.f, hi.d), 4.0 * p.a)
    return _Search(stage, next_a, lo, hi, s.evals + 1)


def _searching(st: State, opt: Options):
    """Whether the line search goes on: not settled, and evaluations left."""
    budget = opt.max_evals - st.evaluations
    return (st.search.stage != ACCEPTED) & (st.search.evals < jnp.minimum(opt.max_ls, budget))


def _origin(st: State) -> _Point:  # the current point as the line search's a = 0
    return _Point(jnp.zeros((), st.x.dtype), st.value, st.slope, st.grad, st.aux)


def init(x0: ArrayLike, memory_size: int = 10, aux: Any = None) -> State:
    """An empty history at x0, nothing evaluated: the first `ask` is x0 itself. `aux`:
    a pytree shaped like what the function returns besides its value (zeros will do)."""
    x0 = jnp.asarray(x0)
    zero, f, g = jnp.zeros((), jnp.int32), jnp.zeros((), x0.dtype), jnp.zeros_like(x0)
    buf = lambda: jnp.zeros((memory_size, *x0.shape), x0.dtype)  # (s and y: two buffers, which
    rho, one = jnp.zeros((memory_size,), x0.dtype), f + 1  # a caller may donate)
    p = _Point(f, f, f, g, aux)
    search = _Search(zero, f, p, p, zero)  # trial step 0 along d = 0: the first ask is x0
    return State(x0, f, g, aux, buf(), buf(), rho, zero, zero, one, g, f, search, zero, zero, zero)


def ask(st: State) -> jax.Array:
    """The point to evaluate next: x + a d (x0 itself before the first evaluation)."""
    return st.x + st.search.trial * st.d


def tell(state: State, evaluated: Evaluated, opt: Options = Options()) -> State:
    """Take evaluated = ((f, aux), g) at ask(state): x0's own evaluation, or a line-search
    trial; when the search settles, the step and a new direction. A stopped state stays
    as it is."""
    (f, aux), g = evaluated

    def first(st):  # f(x0), g(x0): the start of the run
        ok = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
        return _begin(
            st._replace(
                value=f,
                grad=g,
                aux=aux,
                evaluations=jnp.ones((), jnp.int32),
                stop=jnp.where(ok, RUNNING, NONFINITE).astype(jnp.int32),
            ),
            opt,
        )

    def trial(st):  # NaN counts as +inf: never accepted
        p = _Point(st.search.trial, jnp.where(jnp.isfinite(f), f, jnp.inf), _dot(g, st.d), g, aux)
        return st._replace(search=_bracket(p, _origin(st), st.search, opt))

    def settle(st):  # the search is over: step, then the next direction unless stopped
        st = _finish(st, opt)
        return jax.lax.cond(st.stop == RUNNING, lambda st: _begin(st, opt), lambda st: st, st)

    def go_on(st):
        st = jax.lax.cond(st.evaluations == 0, first, trial, st)
        return jax.lax.cond((st.stop == RUNNING) & ~_searching(st, opt), settle, lambda st: st, st)

    return jax.lax.cond(state.stop == RUNNING, go_on, lambda st: st, state)


def _begin(st: State, opt: Options) -> State:
    """Direction d = -H g (Alg. 7.4) and the line search's start. No evaluation."""
    P, g = opt.precondition, st.grad
    d = -two_loop(g, st.s, st.y, st.rho, st.head, st.pairs, st.gamma, P)
    slope = _dot(g, d)
    fresh = (slope >= 0) | ~jnp.isfinite(slope)  # not a descent direction: restart from -P g
    # (P g only on a restart: a cond, not a select that would apply P at every iteration)
    d = jnp.where(fresh, -g, d) if P is None else jax.lax.cond(fresh, lambda: -P(g), lambda: d)
    slope = jnp.where(fresh, _dot(st.grad, d), slope)
    pairs = jnp.where(fresh, 0, st.pairs)
    # First step of a run (no history): N&W Eq. 3.60, a0 = 2 (f_k-1 - f_k) / phi'(0), with the
    # unknown last decrease taken as |f_k| (a quadratic falling to 0), and never below
    # SciPy's unbounded choice 1/||d||; afterwards the quasi-Newton step a = 1. With P, ||d||
    # is measured as H_0 sees it, d^T (c P)^-1 d = -c slope for d = -c P g (c: gamma, or 1 on
    # a restart), which is ||d_p|| of L-BFGS in p (x = A p, P = A A^T): the same first step.
    dd = _dot(d, d) if opt.precondition is None else -jnp.where(fresh, 1.0, st.gamma) * slope
    first = jnp.maximum(2.0 * jnp.abs(st.value) / -slope, 1.0 / jnp.sqrt(dd))
    a0 = jnp.where(pairs == 0, first, 1.0).astype(st.x.dtype)
    st = st._replace(d=d, slope=slope, pairs=pairs)
    p0 = _origin(st)
    return st._replace(search=_Search(jnp.zeros((), jnp.int32), a0, p0, p0, jnp.zeros((), jnp.int32)))


def _finish(st: State, opt: Options) -> State:
    """Take the accepted step, store (s, y) if its curvature is positive, check the stops."""
    s_ = st.search
    ok = (s_.stage == ACCEPTED) | (s_.lo.a > 0)  # out of evaluations: the best sufficient decrease
    p = s_.lo
    evaluations = st.evaluations + s_.evals
    x_new = st.x + p.a * st.d
    s, y = x_new - st.x, p.g - st.grad
    sy, yy = _dot(s, y), _dot(y, y)
    yPy = yy if opt.precondition is None else _dot(y, opt.precondition(y))  # gamma = s^T y / y^T P y
    keep = ok & (sy > jnp.finfo(st.x.dtype).eps * yPy)  # skip pairs of non-positive curvature
    h, pairs, m = st.head, st.pairs, st.s.shape[0]
    moved = st._replace(
        x=x_new,
        value=p.f,
        grad=p.g,
        aux=p.aux,
        s=jnp.where(keep, st.s.at[h].set(s), st.s),
        y=jnp.where(keep, st.y.at[h].set(y), st.y),
        rho=jnp.where(keep, st.rho.at[h].set(1.0 / sy), st.rho),
        head=jnp.where(keep, (h + 1) % m, h),
        pairs=jnp.where(keep, jnp.minimum(pairs + 1, m), pairs),
        gamma=jnp.where(keep, sy / yPy, st.gamma).astype(st.x.dtype),
        iteration=st.iteration + 1,
        evaluations=evaluations,
        stop=jnp.zeros((), jnp.int32),
    )
    # A failed search keeps x; with a history, retry once from -g (the history is dropped).
    failed = st._replace(
        pairs=jnp.zeros((), jnp.int32),
        evaluations=evaluations,
        stop=jnp.where(pairs == 0, LINE_SEARCH, RUNNING).astype(jnp.int32),
    )
    new = jax.tree.map(lambda a, b: jnp.where(ok, a, b), moved, failed)
    decrease = (st.value - new.value) / jnp.maximum(jnp.maximum(jnp.abs(st.value), jnp.abs(new.value)), 1.0)
    stop = jnp.select(
        [
            ~jnp.all(jnp.isfinite(new.grad)),
            jnp.max(jnp.abs(new.grad)) <= opt.gtol,
            ok & (decrease <= opt.ftol),
            new.evaluations >= opt.max_evals,
            new.stop != RUNNING,
        ],
        [NONFINITE, GTOL, FTOL, MAX_EVALS, new.stop],
        RUNNING,
    )
    return new._replace(stop=stop.astype(jnp.int32))


def _value_and_grad(fun, has_aux):
    f = fun if has_aux else (lambda *a: (fun(*a), None))
    return jax.value_and_grad(f, has_aux=True)


def step(
    fun: Callable, state: State, args: Tuple[Any, ...] = (), opt: Options = Options(), has_aux: bool = False
) -> State:
    """One L-BFGS iteration (Alg. 7.5) compiled whole: ask, evaluate and tell in a
    while_loop until the iteration is taken or the run stops (the first call also
    evaluates x0)."""
    vg = _value_and_grad(fun, has_aux)
    return jax.lax.while_loop(
        lambda st: (st.stop == RUNNING) & (st.iteration == state.iteration),
        lambda st: tell(st, vg(ask(st), *args), opt),
        state,
    )


class Result(NamedTuple):
    x: Any  # the minimiser found, same pytree and dtype as x0
    value: jnp.ndarray  # () f(x)
    grad_norm: jnp.ndarray  # () ||g(x)||_2
    iterations: jnp.ndarray  # () int32
    evaluations: jnp.ndarray  # () int32, line-search evaluations included
    stop: jnp.ndarray  # () int32 index into STOP_REASONS; see stop_reason()
    history_value: jnp.ndarray  # (max_iters + 1,) f after each iteration (NaN past the end)
    history_evaluations: jnp.ndarray  # (max_iters + 1,) evaluations after each iteration


def stop_reason(result_or_state: Union[Result, State]) -> str:
    return STOP_REASONS[int(result_or_state.stop)]


def minimize(
    fun: Callable,
    x0: Any,
    *,
    max_iters: int,
    memory_size: int = 10,
    gtol: float = 1e-5,
    ftol: float = 2.2e-9,
    max_evals: Optional[int] = None,
    line_search: str = "wolfe",
    args: Tuple[Any, ...] = (),
    max_ls: int = 20,
    precondition: Optional[Callable] = None,
) -> Result:
    """Minimise fun(x, *args) -> scalar over a pytree x of float arrays. Works under jit
    (max_iters, memory_size and line_search are static). `precondition`: v -> P v on the
    flattened x, H_0 = gamma P (Options)."""
    if line_search not in ("wolfe", "armijo"):
        raise ValueError(f"line_search must be 'wolfe' or 'armijo', got {line_search!r}")
    flat0, unravel = ravel_pytree(x0)
    vg = _value_and_grad(lambda v, *a: fun(unravel(v), *a), has_aux=False)
    opt = Options(gtol, ftol, max_evals or NO_LIMIT, line_search, max_ls=max_ls, precondition=precondition)
    hist_v = jnp.full((max_iters + 1,), jnp.nan, flat0.dtype)
    hist_e = jnp.zeros((max_iters + 1,), jnp.int32)

    def body(carry):  # one evaluation
        st, hv, he = carry
        st = tell(st, vg(ask(st), *args), opt)
        st = st._replace(
            stop=jnp.where((st.stop == RUNNING) & (st.iteration >= max_iters), MAX_ITERS, st.stop).astype(
                jnp.int32
            )
        )
        return st, hv.at[st.iteration].set(st.value), he.at[st.iteration].set(st.evaluations)

    def more(carry):  # x0's evaluation always; then until a stop or max_iters
        st = carry[0]
        return (st.stop == RUNNING) & ((st.iteration < max_iters) | (st.evaluations == 0))

    st, hv, he = jax.lax.while_loop(more, body, (init(flat0, memory_size), hist_v, hist_e))
    return Result(
        unravel(st.x),
        st.value,
        jnp.sqrt(_dot(st.grad, st.grad)),
        st.iteration,
        st.evaluations,
        st.stop,
        hv,
        he,
    )
