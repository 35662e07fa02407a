"""Style distances beyond the Gram matrix: each layer's features as a distribution.

At a style layer l the N filters' responses at the M positions are M samples f_k in R^N
(F^l of the paper, one column per position). Gatys et al. compare their Gram matrices
(losses.py, Eq. 4), which mixes their mean with their covariance and sees nothing above
second order. Other distances between the two feature distributions (x: the image, s:
the style), each per layer E_l, then L_style = sum_l w_l E_l as in Eq. 5:

    w2       the squared 2-Wasserstein distance between the Gaussians fitted to them
             (Dowson & Landau 1982; Olkin & Pukelsheim 1982; crowsonkb/style-transfer-pytorch)
             W^2 = |mu_x - mu_s|^2 + tr(S_x + S_s - 2 (S_s^1/2 S_x S_s^1/2)^1/2)
             E_l = W^2 / N_l
    sliced   the sliced Wasserstein distance (Heitz et al., CVPR 2021, Eq. 6-8): project
             on K = N_l unit directions v_k, sort, compare with the style's sorted
             projections resampled to M positions (its quantile function Q_k at (i+1/2)/M)
             E_l = 1/(K M) sum_k sum_i (sort(F^T v_k)_i - Q_k((i + 1/2) / M))^2
    meanstd  per channel mean and standard deviation: the batch-norm statistics loss
             (Li et al., "Demystifying Neural Style Transfer", IJCAI 2017, Eq. 11)
             E_l = 1/N_l sum_j (mu_xj - mu_sj)^2 + (sigma_xj - sigma_sj)^2

Each is an average over positions (independent of M) in squared feature units, divided
by N_l so that layers of 64 and 512 filters weigh alike: beta carries to any size as
Gatys' loss does (config.Config.beta) and each has its own measured default (docs/guide/objective.md).

The matrix square root. With S_x = C^T C for the centred features C (M x N, rows scaled
by 1/sqrt(M)), the eigenvalues of S_s^1/2 S_x S_s^1/2 are the squared singular values of
C S_s^1/2, so tr((S_s^1/2 S_x S_s^1/2)^1/2) = ||C S_s^1/2||_*, the nuclear norm, with
gradient U V^T: no eigenvalue gaps and no 1/sqrt(lambda) in it, so repeated and zero
singular values are harmless (deep layers at small sizes have fewer positions than
filters: relu5_1 at 256 px, 256 < 512). Singular values are accurate to eps sigma_max;
the square roots of float32 eigenvalues are off by sqrt(eps lambda_max), 2-7% of W^2 at
VGG16's layers, and Newton-Schulz iterations diverge at relu1_1 (tutorial chapter 10).
S_s^1/2 = V Sigma V^T and a factor L = Sigma V^T (S_s = L^T L) come from the SVD of the
style's centred features, once.

Sorting. XLA:CPU sorts int32 keys ~4x faster than float32 (measured: 0.18 s against 0.73 s
for 64 x 65536, relu1_1 at 256 px), so floats are sorted as order-preserving integer
keys. The derivative of sorting gives each element the cotangent of its place; tied
elements (exact zeros after ReLU) share their places' mean, the same for every tie order.

Regions (masks): as for the Gram loss (losses.py), weighted statistics per region with
the weights T_rk^2, and E_l = sum_r b_r (M_r / M) E_r. For `sliced`, the weighted
quantiles: position k of weight w_k sits at the middle of its weight in the sorted
order, c_k = (sum_{j<k} w_j + w_k / 2) / sum_j w_j, and is compared with Q(c_k).
Blends: `w2` and `meanstd` blend first and second moments (the mixture's mean and
covariance); `sliced` averages quantile functions, the 1-D Wasserstein barycentre.
"""

from typing import Any, Callable, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp

STYLE_LOSSES = ("gram", "w2", "sliced", "meanstd")  # --style-loss; gram: losses.py
SLICES_SEED = 0  # the directions of `sliced`: fixed, so that L-BFGS sees one objective
HIGH = jax.lax.Precision.HIGHEST


class StyleDistance(NamedTuple):
    """A style distance as losses.py uses it."""

    target: Callable  # (style features (h, w, N), output positions M, layer index) -> A^l
    blend: Callable  # ([A^l of each style], weights) -> A^l of their blend
    layer: Callable  # (features (h, w, N), A^l) -> E_l
    guided: Callable  # (features, A^l stacked (R, ...), masks (h, w, R), b (R,)) -> E_l


def _flat(f: jax.Array) -> jax.Array:
    return f.reshape(-1, f.shape[-1])  # (h, w, N) -> (M, N)


def centred(flat: jax.Array, w: Any = None) -> Tuple[jax.Array, jax.Array]:
    """(mu, C): the weighted mean (N,) and the rows centred and scaled, C = diag(sqrt(w /
    sum w)) (F - mu) (M, N), so that the covariance is S = C^T C."""
    w = jnp.ones(flat.shape[:1], flat.dtype) if w is None else w
    total = jnp.maximum(jnp.sum(w), 1e-12)  # an empty region: zeros, weighted 0 by its M_r
    mu = jnp.matmul(w, flat, precision=HIGH) / total  # (M,) (M, N) -> (N,)
    return mu, (flat - mu) * jnp.sqrt(w / total)[:, None]


def _svd(c: jax.Array):
    """Thin SVD with the singular values under the rounding threshold eps min(M, N)
    sigma_max as 0 (NumPy's matrix_rank has max(M, N): with M = 65536 positions that
    would drop real singular values, measured 1% of tr S^1/2 at relu1_1)."""
    u, s, vt = jnp.linalg.svd(c, full_matrices=False)
    tol = jnp.finfo(c.dtype).eps * min(c.shape) * jnp.max(s)
    return u, jnp.where(s > tol, s, 0.0), vt


@jax.custom_vjp
def nuclear_norm(c: jax.Array) -> jax.Array:
    """||C||_* = sum_i sigma_i(C) = tr((C^T C)^1/2), (M, N) -> ()."""
    return jnp.sum(_svd(c)[1])


def _nuclear_fwd(c):
    u, s, vt = _svd(c)
    return jnp.sum(s), (u * (s > 0), vt)


def _nuclear_bwd(res, g):
    u, vt = res  # d ||C||_* / dC = U V^T over the nonzero singular values
    return (g * jnp.matmul(u, vt, precision=HIGH),)


nuclear_norm.defvjp(_nuclear_fwd, _nuclear_bwd)


class Gaussian(NamedTuple):
    mean: jax.Array  # (N,) mu_s
    factor: jax.Array  # (N, N) L with S_s = L^T L (L = Sigma V^T of the centred features)
    root: jax.Array  # (N, N) S_s^1/2 = V Sigma V^T


def _gaussian(mu: jax.Array, c: jax.Array) -> Gaussian:
    """The Gaussian of mean mu and covariance C^T C, from any C (rows x N)."""
    _, s, vt = _svd(c)
    n = vt.shape[1]
    factor = jnp.zeros((n, n), c.dtype).at[: s.shape[0]].set(s[:, None] * vt)  # (<= N, N) -> (N, N)
    return Gaussian(mu, factor, jnp.matmul(vt.T * s, vt, precision=HIGH))


def w2_distance(mu: jax.Array, c: jax.Array, t: Gaussian) -> jax.Array:
    """W^2 = |mu - mu_s|^2 + tr S + tr S_s - 2 tr (S_s^1/2 S S_s^1/2)^1/2, with S = C^T C:
    the last is ||C S_s^1/2||_*, as (S_s^1/2 C^T C S_s^1/2)^1/2 has the singular values of
    C S_s^1/2 for eigenvalues. Singular values are as accurate as float32 allows (eps
    sigma_max), while the square roots of eigenvalues of S_s^1/2 S S_s^1/2 are off by
    sqrt(eps) sigma_max: 3-7% of W^2 at VGG's layers (tutorial chapter 10)."""
    cross = nuclear_norm(jnp.matmul(c, t.root, precision=HIGH))  # (M, N) (N, N) -> (M, N)
    return jnp.sum((mu - t.mean) ** 2) + jnp.sum(c**2) + jnp.sum(t.factor**2) - 2 * cross


def w2_target(f: jax.Array, m: int, index: int) -> Gaussian:
    return _gaussian(*centred(_flat(f)))


def w2_blend(ts: Sequence[Gaussian], weights: Sequence[float]) -> Gaussian:
    """The mixture's Gaussian: mu = sum b_k mu_k, S = sum b_k (S_k + (mu_k - mu)(mu_k - mu)^T),
    S = C^T C with C the rows sqrt(b_k) L_k and sqrt(b_k) (mu_k - mu) stacked."""
    mu = jnp.asarray(sum(b * t.mean for b, t in zip(weights, ts)))
    rows = [jnp.sqrt(b) * jnp.vstack([t.factor, (t.mean - mu)[None]]) for b, t in zip(weights, ts)]
    return _gaussian(mu, jnp.vstack(rows))  # (K (N + 1), N)


def w2_layer(f: jax.Array, t: Gaussian) -> jax.Array:
    return w2_distance(*centred(_flat(f)), t) / f.shape[-1]  # E_l = W^2 / N


def _regions(f, guide, weights, each: Callable) -> jax.Array:
    """sum_r b_r (M_r / M) E_r, E_r = each(flat features, weights T_r^2 (M,), r)."""
    flat, t2 = _flat(f), guide.reshape(-1, guide.shape[-1]) ** 2  # (M, N), (M, R)
    m = flat.shape[0]
    return sum(weights[r] * (jnp.sum(t2[:, r]) / m) * each(flat, t2[:, r], r) for r in range(t2.shape[1]))


def w2_guided(f, t: Gaussian, guide, weights) -> jax.Array:
    region = lambda r: jax.tree.map(lambda a: a[r], t)
    return _regions(f, guide, weights, lambda x, w, r: w2_distance(*centred(x, w), region(r)) / x.shape[1])


W2 = StyleDistance(w2_target, w2_blend, w2_layer, w2_guided)


class MeanStd(NamedTuple):
    mean: jax.Array  # (N,) mu_s per channel
    var: jax.Array  # (N,) sigma_s^2 per channel


def _diag_moments(flat: jax.Array, w: Any = None) -> Tuple[jax.Array, jax.Array]:
    """Weighted mean and variance per channel: (M, N), (M,) -> (N,), (N,): the diagonal
    of the covariance C^T C, sum_i c_ij^2 (`centred`)."""
    mu, c = centred(flat, w)  # (N,), (M, N)
    return mu, jnp.sum(c * c, axis=0)  # (M, N) -> (N,)


def _meanstd(mu, var, t: MeanStd) -> jax.Array:
    # sigma = sqrt(var + tiny): finite gradient for a channel that is 0 everywhere (dead ReLU)
    sigma = lambda v: jnp.sqrt(v + 1e-8)
    return jnp.mean((mu - t.mean) ** 2 + (sigma(var) - sigma(t.var)) ** 2)  # 1/N sum_j


def meanstd_blend(stats: Sequence[MeanStd], weights: Sequence[float]) -> MeanStd:
    mu = jnp.asarray(sum(b * s.mean for b, s in zip(weights, stats)))  # the mixture's mean and variance
    return MeanStd(mu, jnp.asarray(sum(b * (s.var + s.mean**2) for b, s in zip(weights, stats))) - mu**2)


MEANSTD = StyleDistance(
    lambda f, m, index: MeanStd(*_diag_moments(_flat(f))),
    meanstd_blend,
    lambda f, t: _meanstd(*_diag_moments(_flat(f)), t),
    lambda f, t, guide, b: _regions(
        f, guide, b, lambda x, w, r: _meanstd(*_diag_moments(x, w), MeanStd(t.mean[r], t.var[r]))
    ),
)


def _flip(i: jax.Array) -> jax.Array:
    bits = 8 * i.dtype.itemsize  # float bits -> integer keys in the same order (and back):
    return i ^ ((i >> (bits - 1)) & jnp.iinfo(i.dtype).max)  # negatives' other bits reversed


@jax.custom_vjp
def sort_rows(x: jax.Array) -> jax.Array:
    """Each row of x (K, M) sorted ascending."""
    as_int = jnp.int64 if x.dtype == jnp.float64 else jnp.int32
    keys = jax.lax.sort(_flip(jax.lax.bitcast_convert_type(x, as_int)), dimension=1)
    return jax.lax.bitcast_convert_type(_flip(keys), x.dtype)


def _sort_fwd(x):
    s = sort_rows(x)
    return s, (x, s)


def _sort_bwd(res, g):
    x, s = res  # element x_j takes the mean cotangent of the places [lo, hi) its value holds
    place = jax.vmap(lambda s, x, side: jnp.searchsorted(s, x, side=side), (0, 0, None))
    lo, hi = place(s, x, "left"), place(s, x, "right")  # (K, M) each
    c = jnp.pad(jnp.cumsum(g, axis=1), ((0, 0), (1, 0)))  # (K, M + 1): sums of g before each place
    take = lambda i: jnp.take_along_axis(c, i, axis=1)
    return ((take(hi) - take(lo)) / (hi - lo),)


sort_rows.defvjp(_sort_fwd, _sort_bwd)


class Slices(NamedTuple):
    directions: jax.Array  # (N, K) unit columns v_k
    quantiles: jax.Array  # (K, M) the style's sorted projections at the output's M positions


def directions(n: int, index: int) -> jax.Array:
    """K = N random unit directions of layer `index` (seeded: the same for every style)."""
    v = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(SLICES_SEED), index), (n, n))
    return v / jnp.linalg.norm(v, axis=0)  # (N, K)


def sliced_target(f: jax.Array, m: int, index: int) -> Slices:
    v = directions(f.shape[-1], index)
    s = sort_rows(jnp.matmul(_flat(f), v, precision=HIGH).T)  # (M_a, N) (N, K) -> (K, M_a)
    grid = lambda k: (jnp.arange(k) + 0.5) / k  # the quantile levels of k sorted samples
    return Slices(v, jax.vmap(lambda row: jnp.interp(grid(m), grid(s.shape[1]), row))(s))  # (K, M)


def sliced_layer(f: jax.Array, t: Slices) -> jax.Array:
    p = jnp.matmul(_flat(f), t.directions, precision=HIGH).T  # (M, N) (N, K) -> (K, M)
    return jnp.mean((sort_rows(p) - t.quantiles) ** 2)  # 1/(K M) sum_k sum_i


def _weighted_slices(x, w, v, q) -> jax.Array:
    p = jnp.matmul(x, v, precision=HIGH).T  # (K, M)
    ps, ws = jax.lax.sort((p, jnp.broadcast_to(w, p.shape)), dimension=1, num_keys=1)
    total = jnp.maximum(jnp.sum(w), 1e-12)
    c = (jnp.cumsum(ws, axis=1) - ws / 2) / total  # (K, M) each place's quantile level
    grid = (jnp.arange(q.shape[1]) + 0.5) / q.shape[1]
    qc = jax.vmap(jnp.interp, (0, None, 0))(c, grid, q)  # Q_k(c): (K, M)
    return jnp.sum(ws * (ps - qc) ** 2) / (total * p.shape[0])


SLICED = StyleDistance(
    sliced_target,
    lambda ts, b: Slices(ts[0].directions, sum(w * t.quantiles for w, t in zip(b, ts))),
    sliced_layer,
    lambda f, t, guide, b: _regions(
        f, guide, b, lambda x, w, r: _weighted_slices(x, w, t.directions[r], t.quantiles[r])
    ),
)
