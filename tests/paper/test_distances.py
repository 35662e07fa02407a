"""distances.py (w2, sliced, meanstd) against float64 NumPy/SciPy references written from
the definitions (numpy_ref.py), by value and by finite differences; their invariances;
their blends and regions; the Gram loss unchanged behind the same interface."""

import jax
import jax.numpy as jnp
import numpy as np
import numpy_ref
import pytest

from nst_jax.paper import distances, losses

rng = np.random.default_rng(0)
N = 8


def relu_features(h, w, shift=0.0, seed=0):
    """Like a layer's: non-negative, with exact zeros (ties) and a nonzero mean."""
    return np.maximum(np.random.default_rng(seed).normal(size=(h, w, N)) + shift, 0)


def references(fx, fs, loss, t, w=None):
    """The float64 reference of E_l for target t (its directions for sliced)."""
    if loss == "w2":
        return numpy_ref.w2(fx, *numpy_ref.weighted_moments(fs.reshape(-1, N), np.ones(fs.size // N)), w)
    if loss == "meanstd":
        mu, cov = numpy_ref.weighted_moments(fs.reshape(-1, N), np.ones(fs.size // N))
        return numpy_ref.meanstd(fx, mu, np.diag(cov), w)
    v = np.asarray(t.directions)
    return numpy_ref.sliced(fx, v, numpy_ref.quantiles(fs, v, fx.shape[0] * fx.shape[1]), w)


DISTANCES = {"w2": distances.W2, "sliced": distances.SLICED, "meanstd": distances.MEANSTD}


@pytest.mark.parametrize("loss", sorted(DISTANCES))
def test_value_and_gradient_match_float64_references(loss):
    # the style has another number of positions (28 against 30): sliced resamples it
    fx, fs = rng.normal(size=(6, 5, N)) + 0.5, relu_features(7, 4, 0.3, seed=1)
    d = DISTANCES[loss]
    with jax.enable_x64(True):
        t = d.target(jnp.asarray(fs), 30, 0)
        ours = float(d.layer(jnp.asarray(fx), t))
        grad = np.asarray(jax.grad(d.layer)(jnp.asarray(fx), t))
    ref = references(fx, fs, loss, t)
    assert ours == pytest.approx(ref, rel=1e-5)  # float64 on both sides: 1e-5 is generous
    for k in range(3):  # central differences of the reference along random directions
        u, h = np.random.default_rng(10 + k).normal(size=fx.shape), 1e-6
        fd = (references(fx + h * u, fs, loss, t) - references(fx - h * u, fs, loss, t)) / (2 * h)
        # truncation O(h^2) and rounding O(eps / h) ~ 1e-10: 1e-6 relative
        assert np.sum(grad * u) == pytest.approx(fd, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("loss", sorted(DISTANCES))
def test_float32_is_close_to_float64(loss):
    fx, fs = relu_features(16, 16, 0.2, seed=2) * 40, relu_features(16, 16, 0.5, seed=3) * 40
    d = DISTANCES[loss]
    t32 = d.target(jnp.asarray(fs, jnp.float32), 256, 0)
    ours = float(d.layer(jnp.asarray(fx, jnp.float32), t32))
    # float32 moments and eigenvalues of 8x8 matrices of entries ~1e3: measured 3e-6 (w2)
    assert ours == pytest.approx(references(fx, fs, loss, t32), rel=1e-4)


def test_w2_gradient_is_finite_when_there_are_fewer_positions_than_filters():
    # relu5_1 at 256 px: 256 positions, 512 filters; here 6 positions, 8 filters: the
    # covariance is singular and 1/sqrt(eigenvalue) must not reach the gradient
    fx, fs = relu_features(2, 3, 0.5, seed=4), relu_features(6, 6, 0.5, seed=5)
    with jax.enable_x64(True):
        t = distances.W2.target(jnp.asarray(fs), 6, 0)
        grad = np.asarray(jax.grad(distances.W2.layer)(jnp.asarray(fx), t))
    assert np.all(np.isfinite(grad))
    # the reference's zero eigenvalues come out as rounding noise ~1e-16 whose square roots
    # (~1e-8) make small steps noisy (h = 1e-6: 1.4% off); at h = 1e-4 FD agrees to 1e-4
    u, h = np.random.default_rng(6).normal(size=fx.shape), 1e-4
    fd = (references(fx + h * u, fs, "w2", t) - references(fx - h * u, fs, "w2", t)) / (2 * h)
    assert np.sum(grad * u) == pytest.approx(fd, rel=1e-3)


def test_nuclear_norm_is_the_trace_of_the_root_and_its_gradient():
    import scipy.linalg

    c = rng.normal(size=(9, 6))
    with jax.enable_x64(True):
        value, grad = jax.value_and_grad(distances.nuclear_norm)(jnp.asarray(c))
    root = scipy.linalg.sqrtm(c.T @ c).real
    assert float(value) == pytest.approx(np.trace(root), rel=1e-12)  # tr (C^T C)^1/2
    # d ||C||_* / dC = U V^T = C (C^T C)^-1/2 for C of full column rank
    np.testing.assert_allclose(grad, c @ np.linalg.inv(root), rtol=1e-9)


def test_w2_in_float32_is_close_to_float64_on_ill_conditioned_features():
    # features like VGG's: a few strong directions, many weak (singular values 1e3 .. 1e-1)
    basis = np.linalg.qr(rng.normal(size=(N * 4, N * 4)))[0]
    fx = (rng.normal(size=(400, N * 4)) * np.logspace(3, -1, N * 4)) @ basis
    fs = (rng.normal(size=(300, N * 4)) * np.logspace(3, -1, N * 4)) @ basis + 5
    fx, fs = np.maximum(fx, 0).reshape(20, 20, -1), np.maximum(fs, 0).reshape(15, 20, -1)
    with jax.enable_x64(True):
        t64 = distances.W2.target(jnp.asarray(fs), 400, 0)
        ref = float(distances.W2.layer(jnp.asarray(fx), t64))
        self64 = float(distances.W2.layer(jnp.asarray(fs), t64))
    t32 = distances.W2.target(jnp.asarray(fs, jnp.float32), 400, 0)
    ours = float(distances.W2.layer(jnp.asarray(fx, jnp.float32), t32))
    # singular values: float32's eps relative to the largest; measured 3e-5 on such features
    # (with square roots of the eigenvalues of S_s^1/2 S S_s^1/2 instead: 14%)
    assert ours == pytest.approx(ref, rel=2e-4)
    assert abs(float(distances.W2.layer(jnp.asarray(fs, jnp.float32), t32))) < 1e-4 * ref
    assert abs(self64) < 1e-10 * ref


@pytest.mark.parametrize("loss", ["w2", "meanstd"])
def test_zero_for_the_same_statistics(loss):
    f = relu_features(6, 5, 0.3)
    shuffled = rng.permutation(f.reshape(-1, N)).reshape(5, 6, N)  # other shape, same samples
    d = DISTANCES[loss]
    # float32: tr S - 2 tr(S^1/2 S S^1/2)^1/2 + tr S cancels to ~1e-7 of tr S (~10 here)
    assert abs(float(d.layer(jnp.asarray(f), d.target(jnp.asarray(shuffled), 30, 0)))) < 1e-5


def test_sliced_is_zero_for_any_permutation_of_positions():
    f = rng.normal(size=(6, 5, N))
    t = distances.SLICED.target(jnp.asarray(f, jnp.float32), 30, 3)
    for seed in range(3):
        p = np.random.default_rng(seed).permutation(f.reshape(-1, N)).reshape(f.shape)
        assert float(distances.SLICED.layer(jnp.asarray(p, jnp.float32), t)) == 0.0  # sorting: exact


def test_sliced_directions_are_seeded_unit_and_per_layer():
    a, b = distances.directions(16, 0), distances.directions(16, 1)
    np.testing.assert_allclose(np.linalg.norm(a, axis=0), 1, rtol=1e-6)
    np.testing.assert_array_equal(a, distances.directions(16, 0))  # the same every call
    assert not np.allclose(a, b)


def test_sort_gradient_shares_ties():
    x = jnp.asarray([[0.0, 2.0, 0.0, 1.0, 0.0]])
    g = jax.grad(lambda x: jnp.sum(distances.sort_rows(x) * jnp.arange(5.0)))(x)
    # sorted: 0 0 0 1 2 -> the three zeros hold places 0, 1, 2 (weights 0, 1, 2): mean 1 each
    np.testing.assert_allclose(g, [[1.0, 4.0, 1.0, 3.0, 1.0]])


def test_blends_are_the_mixtures_moments_and_the_quantile_barycentre():
    a, b = relu_features(6, 5, 0.2, seed=7), relu_features(6, 5, 0.8, seed=8)
    both = np.concatenate([a, b])  # the mixture of equal weights: all 60 samples
    for loss in ("w2", "meanstd"):
        d = DISTANCES[loss]
        blend = d.blend([d.target(jnp.asarray(x, jnp.float32), 30, 0) for x in (a, b)], (0.5, 0.5))
        whole = d.target(jnp.asarray(both, jnp.float32), 30, 0)
        if loss == "w2":  # mean, root and covariance L^T L (L itself is unique up to a rotation)
            blend = (blend.mean, blend.root, blend.factor.T @ blend.factor)
            whole = (whole.mean, whole.root, whole.factor.T @ whole.factor)
        for got, want in zip(blend, whole):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    d = distances.SLICED
    ta, tb = (d.target(jnp.asarray(x, jnp.float32), 30, 0) for x in (a, b))
    blend = d.blend([ta, tb], (0.25, 0.75))
    np.testing.assert_allclose(blend.quantiles, 0.25 * ta.quantiles + 0.75 * tb.quantiles, rtol=1e-6)


@pytest.mark.parametrize("loss", sorted(DISTANCES))
def test_regions_match_weighted_references_and_one_white_mask_is_the_plain_loss(loss):
    fx, fs1, fs2 = rng.normal(size=(6, 5, N)), relu_features(6, 5, 0.3, 9), relu_features(6, 5, 0.6, 10)
    d = DISTANCES[loss]
    t = rng.uniform(0, 1, (6, 5, 2))  # soft masks
    b = np.array([0.7, 1.3])
    with jax.enable_x64(True):
        ts = [d.target(jnp.asarray(s), 30, 0) for s in (fs1, fs2)]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *ts)
        ours = float(d.guided(jnp.asarray(fx), stacked, jnp.asarray(t), jnp.asarray(b)))
        one = jax.tree.map(lambda a: a[:1], stacked)
        white = float(d.guided(jnp.asarray(fx), one, jnp.ones((6, 5, 1)), jnp.ones(1)))
        plain = float(d.layer(jnp.asarray(fx), ts[0]))
        g_white = jax.grad(lambda f: d.guided(f, one, jnp.ones((6, 5, 1)), jnp.ones(1)))(jnp.asarray(fx))
        g_plain = jax.grad(d.layer)(jnp.asarray(fx), ts[0])
    np.testing.assert_allclose(g_white, g_plain, rtol=1e-7, atol=1e-12)  # (fx has no ties)
    w2 = t.reshape(-1, 2) ** 2  # weights T_rk^2; E_l = sum_r b_r (M_r / M) E_r
    ref = sum(
        b[r] * w2[:, r].mean() * references(fx, s, loss, ts[r], w2[:, r]) for r, s in enumerate((fs1, fs2))
    )
    assert ours == pytest.approx(ref, rel=1e-5)
    assert white == pytest.approx(plain, rel=1e-9)


def test_the_gram_loss_is_unchanged_behind_the_interface():
    f, s = rng.normal(size=(6, 5, N)).astype(np.float32), rng.normal(size=(4, 3, N)).astype(np.float32)
    ob = losses.Objective("vgg16", "max", (), (("relu1_1", 1.0),), 1.0, 1.0, 0.0)
    d = losses.style_distance(ob)
    a = d.target(jnp.asarray(s), 30, 0)
    np.testing.assert_allclose(a, numpy_ref.style_target(s, f), rtol=1e-5)
    assert float(d.layer(jnp.asarray(f), a)) == pytest.approx(
        numpy_ref.style_layer(f, np.asarray(a)), rel=1e-5
    )
