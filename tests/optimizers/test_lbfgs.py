"""lbfgs.py against SciPy's L-BFGS-B and a plain NumPy two-loop recursion."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

from nst_jax.optimizers import lbfgs


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):  # the reference comparisons are in float64
        yield


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def beale(x):
    return (
        (1.5 - x[0] + x[0] * x[1]) ** 2
        + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
        + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2
    )


def powell_singular(x):  # minimum 0 at the origin, singular Hessian there
    return (x[0] + 10 * x[1]) ** 2 + 5 * (x[2] - x[3]) ** 2 + (x[1] - 2 * x[2]) ** 4 + 10 * (x[0] - x[3]) ** 4


DIAG = jnp.logspace(0, 4, 50)  # condition number 1e4


def ill_quadratic(x):
    return 0.5 * jnp.sum(DIAG * (x - 1.0) ** 2)


def extended_rosen_start(n):
    return jnp.tile(jnp.array([-1.2, 1.0]), n // 2)


PROBLEMS = {  # name: (f, x0, minimiser or None)
    "rosenbrock-2": (rosenbrock, jnp.array([-1.2, 1.0]), np.ones(2)),
    "rosenbrock-100": (rosenbrock, extended_rosen_start(100), np.ones(100)),
    "ill-quadratic": (ill_quadratic, jnp.zeros(50), np.ones(50)),
    "beale": (beale, jnp.array([1.0, 1.0]), np.array([3.0, 0.5])),
    "powell-singular": (powell_singular, jnp.array([3.0, -1.0, 0.0, 1.0]), None),
}


@pytest.mark.parametrize("name", list(PROBLEMS))
@pytest.mark.parametrize("line_search", ["wolfe", "armijo"])
def test_matches_scipy(name, line_search):
    f, x0, x_star = PROBLEMS[name]
    ours = jax.jit(lambda x: lbfgs.minimize(f, x, max_iters=3000, line_search=line_search))(x0)
    vg = jax.jit(jax.value_and_grad(f))
    ref = so.minimize(
        lambda x: tuple(np.asarray(v) for v in vg(x)),
        np.asarray(x0),
        jac=True,
        method="L-BFGS-B",
        options=dict(maxiter=3000),
    )
    assert lbfgs.stop_reason(ours) in ("gtol", "ftol")
    # both stop on the same tests (gtol 1e-5, ftol 2.2e-9): the same minimum, to what
    # those tolerances allow on these scales
    assert float(ours.value) <= ref.fun + 1e-6 * max(1.0, abs(ref.fun)) + 1e-8
    if x_star is not None:
        np.testing.assert_allclose(ours.x, x_star, atol=2e-3)
        np.testing.assert_allclose(ref.x, x_star, atol=2e-3)
    # comparable work: within 50% (+5) of SciPy's iteration count
    assert int(ours.iterations) <= 1.5 * ref.nit + 5, (int(ours.iterations), ref.nit)


def numpy_two_loop(g, pairs, gamma):
    """Algorithm 7.4 over a list of (s, y) from oldest to newest, returns H g."""
    q, alphas = g.copy(), []
    for s, y in reversed(pairs):
        a = (s @ q) / (y @ s)
        alphas.append(a)
        q = q - a * y
    r = gamma * q
    for (s, y), a in zip(pairs, reversed(alphas)):
        b = (y @ r) / (y @ s)
        r = r + s * (a - b)
    return r


@pytest.mark.parametrize("count, head", [(0, 0), (3, 3), (5, 2), (5, 0)])
def test_two_loop_matches_numpy(count, head):
    rng = np.random.default_rng(count + head)
    m, n = 5, 7
    S, Y = np.zeros((m, n)), np.zeros((m, n))
    pairs = []
    for k in range(count):  # pair k (oldest first) lives in slot (head - count + k) mod m
        s = rng.normal(size=n)
        y = s + 0.3 * rng.normal(size=n)  # y^T s > 0 for these
        S[(head - count + k) % m], Y[(head - count + k) % m] = s, y
        pairs.append((s, y))
    rho = np.where(np.abs((S * Y).sum(1)) > 0, 1 / np.where((S * Y).sum(1) == 0, 1, (S * Y).sum(1)), 0)
    g, gamma = rng.normal(size=n), 0.7
    ours = lbfgs.two_loop(
        jnp.asarray(g),
        jnp.asarray(S),
        jnp.asarray(Y),
        jnp.asarray(rho),
        jnp.asarray(head),
        jnp.asarray(count),
        jnp.asarray(gamma),
    )
    np.testing.assert_allclose(ours, numpy_two_loop(g, pairs, gamma), rtol=1e-10)


def test_pytrees_and_dtypes():
    def f(tree):
        return rosenbrock(jnp.concatenate([tree["a"], tree["b"].ravel()]))

    x0 = {"a": jnp.array([-1.2, 1.0]), "b": jnp.array([[-1.2, 1.0], [-1.2, 1.0]])}
    r = lbfgs.minimize(f, x0, max_iters=500)
    flat = lbfgs.minimize(rosenbrock, extended_rosen_start(6), max_iters=500)
    assert r.x["b"].shape == (2, 2) and r.x["a"].dtype == jnp.float64
    np.testing.assert_allclose(np.concatenate([r.x["a"], r.x["b"].ravel()]), flat.x, rtol=1e-12)
    r32 = lbfgs.minimize(rosenbrock, jnp.array([-1.2, 1.0], jnp.float32), max_iters=200)
    assert r32.x.dtype == jnp.float32 and float(r32.value) < 1e-6


def test_history_is_monotone_and_counts_evaluations():
    r = lbfgs.minimize(rosenbrock, jnp.array([-1.2, 1.0]), max_iters=100)
    k = int(r.iterations)
    v, e = np.asarray(r.history_value), np.asarray(r.history_evaluations)
    assert np.all(np.diff(v[: k + 1]) <= 0)  # Wolfe steps always decrease f
    assert np.all(np.isnan(v[k + 1 :])) and e[0] == 1 and e[k] == int(r.evaluations)
    assert np.all(np.diff(e[: k + 1]) >= 1)


@pytest.mark.slow
def test_stop_reasons():
    x0 = jnp.array([-1.2, 1.0])
    # (SciPy too needs ~690 iterations for max|g| <= 1e-5 here, ftol off)
    assert lbfgs.stop_reason(lbfgs.minimize(ill_quadratic, jnp.zeros(50), max_iters=2000, ftol=0.0)) == "gtol"
    assert lbfgs.stop_reason(lbfgs.minimize(rosenbrock, x0, max_iters=3)) == "max_iters"
    r = lbfgs.minimize(rosenbrock, x0, max_iters=100, max_evals=10)
    assert lbfgs.stop_reason(r) == "max_evals" and int(r.evaluations) <= 10
    r = lbfgs.minimize(rosenbrock, x0, max_iters=1000, gtol=0.0)
    assert lbfgs.stop_reason(r) == "ftol"
    assert lbfgs.stop_reason(lbfgs.minimize(lambda x: jnp.sum(jnp.log(x)), -x0, max_iters=5)) == "nonfinite"

    @jax.custom_jvp
    def lying(x):  # its "gradient" points uphill: no step can decrease it
        return jnp.sum(x**2)

    lying.defjvp(lambda p, t: (lying(p[0]), -2.0 * jnp.sum(p[0] * t[0])))
    r = lbfgs.minimize(lying, x0, max_iters=10)
    assert lbfgs.stop_reason(r) == "line_search"
    np.testing.assert_array_equal(r.x, x0)  # nothing accepted, x unchanged


def test_only_positive_curvature_pairs_are_kept():
    def double_well(x):  # negative curvature around 0
        return jnp.sum(x**4 - 2 * x**2 + 0.3 * x)

    opt = lbfgs.Options(line_search="armijo")
    st = lbfgs.init(jnp.linspace(-0.2, 0.2, 6), memory_size=4)
    for _ in range(12):
        st = lbfgs.step(double_well, st, opt=opt)
        valid = (jnp.arange(4) - (st.head - st.pairs)) % 4 < st.pairs
        curv = jnp.sum(st.s * st.y, axis=1)
        assert bool(jnp.all(jnp.where(valid, curv > 0, True)))
    assert float(st.value) < float(double_well(jnp.linspace(-0.2, 0.2, 6)))


def test_ask_and_tell_is_the_whole_iteration():
    # init evaluates nothing; the first ask is x0; tells of line-search trials leave x as
    # it is until the search settles, and then the iteration is taken
    st = lbfgs.init(jnp.array([-1.2, 1.0]), memory_size=3)
    assert int(st.evaluations) == 0
    np.testing.assert_array_equal(lbfgs.ask(st), [-1.2, 1.0])
    vg = jax.value_and_grad(lambda x: (rosenbrock(x), None), has_aux=True)
    st = lbfgs.tell(st, vg(lbfgs.ask(st)))
    assert int(st.evaluations) == 1 and float(st.value) == float(rosenbrock(jnp.array([-1.2, 1.0])))
    x0, seen = st.x, 0
    while int(st.iteration) == 0:
        st, seen = lbfgs.tell(st, vg(lbfgs.ask(st))), seen + 1
    assert int(st.evaluations) == 1 + seen and float(st.value) < float(rosenbrock(x0))
    stopped = st._replace(stop=jnp.asarray(lbfgs.GTOL, jnp.int32))  # a stopped state stays
    after = lbfgs.tell(stopped, vg(lbfgs.ask(stopped)))
    assert all(bool(jnp.all(a == b)) for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(stopped)))


def test_minimize_under_jit_with_args():
    f = lambda x, scale: jnp.sum(scale * (x - 2.0) ** 2)
    r = jax.jit(lambda s: lbfgs.minimize(f, jnp.zeros(3), max_iters=50, args=(s,)))(jnp.arange(1.0, 4.0))
    np.testing.assert_allclose(r.x, 2.0, atol=1e-6)
    with pytest.raises(ValueError, match="line_search"):
        lbfgs.minimize(f, jnp.zeros(3), max_iters=5, line_search="newton", args=(1.0,))


def test_step_uses_the_states_memory_and_satisfies_the_secant_equation():
    # The memory is the state's ring buffer (5 pairs here): it wraps at 5 (it once wrapped
    # at an Options.memory_size that the state did not share, and dropped pairs).
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    a = jnp.asarray(q @ np.diag(np.logspace(0, 2, 12)) @ q.T)
    f = lambda x: 0.5 * x @ a @ x
    st = lbfgs.init(jnp.ones(12), memory_size=5)
    for _ in range(8):
        st = lbfgs.step(f, st, opt=lbfgs.Options(gtol=0.0, ftol=0.0))
    assert int(st.pairs) == 5 and 0 <= int(st.head) < 5
    newest = (int(st.head) - 1) % 5
    # BFGS: H_k y_{k-1} = s_{k-1} exactly (N&W Eq. 6.17), whatever the older pairs
    hy = lbfgs.two_loop(st.y[newest], st.s, st.y, st.rho, st.head, st.pairs, st.gamma)
    np.testing.assert_allclose(hy, st.s[newest], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["fourier", "pyramid"])
def test_preconditioned_h0_is_lbfgs_in_the_parameters(kind):
    """H_0 = gamma A A^T in x takes the steps L-BFGS with H_0 = gamma I takes in p, x = A p
    (spaces.py's maps: fourier square, the pyramid overcomplete): the same iterates, in
    float64, on a non-quadratic function of a small image."""
    from nst_jax.optimizers import spaces

    with jax.enable_x64(True):
        sp = spaces.space(kind, (20, 17), decorrelate=True)
        rng = np.random.default_rng(3)
        target = jnp.asarray(rng.normal(0, 30, (20, 17, 3)))
        f = lambda x: jnp.sum(jnp.log1p(((x.reshape(20, 17, 3) - target) / 20.0) ** 2)) + 1e-4 * jnp.sum(x**4)
        x0 = jnp.asarray(rng.normal(0, 30, (20, 17, 3)))
        p0 = sp.to_params(x0).ravel()
        A = lambda p: sp.to_image(p.reshape(sp.param_shape())).ravel()
        At = jax.linear_transpose(A, p0)
        P = lambda v: A(At(v)[0])  # A A^T
        common = dict(max_iters=12, memory_size=5, gtol=0.0, ftol=0.0)
        x0 = A(p0)  # (the maps' constants are float32: start both from the same image exactly)
        in_x = lbfgs.minimize(f, x0, precondition=P, **common)
        in_p = lbfgs.minimize(lambda p: f(A(p)), p0, **common)
        plain = lbfgs.minimize(f, x0, **common)
    assert int(in_x.iterations) == int(in_p.iterations) == 12
    assert list(np.asarray(in_x.history_evaluations)) == list(np.asarray(in_p.history_evaluations))
    np.testing.assert_allclose(np.asarray(in_x.history_value), np.asarray(in_p.history_value), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(in_x.x), np.asarray(A(in_p.x)), rtol=1e-7, atol=1e-7)
    assert not np.allclose(
        np.asarray(plain.history_value), np.asarray(in_x.history_value)
    )  # P changes the steps
