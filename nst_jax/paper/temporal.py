"""Temporal coherence for video: optical flow, warping, consistency and the temporal loss.

Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016; IJCV 2018).
Each frame stylized alone flickers: a small change of the photo sends the optimiser to
another local minimum. Frame i therefore starts from the previous stylized frame warped
into it, and a temporal term keeps it close to that warped frame where the flow can be
trusted (Sec. 3.1):

    warp         w_i(p) = x_{i-1}(p + b(p))        b: the flow from frame i back to i-1
    consistency  c(p) = 0 where the flow is not to be trusted, else 1:
                   disoccluded  |f~ + b|^2 > 0.01 (|f~|^2 + |b|^2) + 0.5,  f~(p) = f(p + b(p))
                                (f: the flow from i-1 to i; forward and back should cancel)
                   a motion boundary  |grad b_x|^2 + |grad b_y|^2 > 0.01 |b|^2 + 0.002
                   p + b(p) outside the frame
    temporal     L_temporal = (1/D) sum_k c_k (x_k - w_k)^2,  D = H W 3              (Eq. 7)
                 summed over several earlier frames' w and c when they are stacked   (Eq. 8)

The same sum over consistent pixels, as a mean, measures flicker (the warping error of Lai
et al. 2018): `warping_error`.

The flow is Horn & Schunck's (1981), coarse to fine with warping (Brox et al. 2004; Sun,
Roth & Black 2010): at each level of an image pyramid, the second frame is warped by the
flow so far and the flow w = (u, v) updated by Jacobi iterations of

    u <- u_bar - I_x (I_x (u_bar - u0) + I_y (v_bar - v0) + I_t) / (alpha^2 + I_x^2 + I_y^2)
    v <- v_bar - I_y (I_x (u_bar - u0) + I_y (v_bar - v0) + I_t) / (alpha^2 + I_x^2 + I_y^2)

(u_bar: the neighbours' weighted average; (u0, v0): the flow the warp used; I_t: the warped
second frame minus the first). A flow w maps the first frame onto the second:
a(p) ~ b(p + w(p)). Images here are (H, W, C) arrays, any range; flows (H, W, 2) as (x, y).
"""

from functools import partial
from typing import Tuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

ALPHA = 0.08  # Horn-Schunck's smoothness, for frames scaled to 0..1 (intensity / 255): the
#   mean endpoint error on tubingen.jpg at 256x192 moved by (2.5, -1.5), (6, 3) px and zoomed
#   4%, 12 px from the border: 0.78/0.89/0.64 px at 0.02, 0.31/0.18/0.27 at 0.05,
#   0.21/0.14/0.23 at 0.08, 0.16/0.18/0.27 at 0.12 (docs/guide/video.md: the flows)
ITERS = 60  # Jacobi iterations per warp
WARPS = 2  # warps per pyramid level
MIN_SIDE = 16  # the pyramid's coarsest level is the last with both sides at least this

# u_bar = the 3x3 neighbourhood average of Horn & Schunck (1981), its centre left out
_AVERAGE = jnp.array([[1, 2, 1], [2, 0, 2], [1, 2, 1]], jnp.float32) / 12.0


def warp(image: jax.Array, flow: jax.Array) -> jax.Array:
    """image(p + flow(p)), bilinear, the border repeated: (H, W, C), (H, W, 2) -> (H, W, C)."""
    h, w = image.shape[:2]
    ys, xs = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
    at = [ys + flow[..., 1], xs + flow[..., 0]]  # (row, column) to sample at, each (H, W)
    sample = lambda channel: jax.scipy.ndimage.map_coordinates(channel, at, order=1, mode="nearest")
    return jax.vmap(sample, in_axes=2, out_axes=2)(image)  # each channel (H, W) -> (H, W)


def inside(flow: jax.Array) -> jax.Array:
    """(H, W) bool: p + flow(p) lies within the frame."""
    h, w = flow.shape[:2]
    ys, xs = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
    y, x = ys + flow[..., 1], xs + flow[..., 0]
    return (y >= 0) & (y <= h - 1) & (x >= 0) & (x <= w - 1)


def consistency(forward: jax.Array, backward: jax.Array) -> jax.Array:
    """c (H, W) in {0, 1} for frame i (Ruder et al. Sec. 3.1): `forward` the flow from frame
    i-1 to i, `backward` from i to i-1, both (H, W, 2)."""
    f_back = warp(forward, backward)  # f~(p) = f(p + b(p)): (H, W, 2)
    sq = lambda v: jnp.sum(v * v, axis=-1)  # |v|^2 per pixel: (H, W, 2) -> (H, W)
    disoccluded = sq(f_back + backward) > 0.01 * (sq(f_back) + sq(backward)) + 0.5
    gy, gx = jnp.gradient(backward[..., 0]), jnp.gradient(backward[..., 1])  # each [d/dy, d/dx]
    grad_sq = gy[0] ** 2 + gy[1] ** 2 + gx[0] ** 2 + gx[1] ** 2  # |grad b_x|^2 + |grad b_y|^2
    boundary = grad_sq > 0.01 * sq(backward) + 0.002
    return (~disoccluded & ~boundary & inside(backward)).astype(backward.dtype)


def temporal_loss(x: ArrayLike, warped: ArrayLike, c: ArrayLike) -> jax.Array:
    """L_temporal = (1/D) sum_k c_k (x_k - w_k)^2 (Eq. 7): x, warped (H, W, 3), c (H, W);
    or warped (J, H, W, 3), c (J, H, W): the sum over the J earlier frames (Eq. 8)."""
    x, warped, c = jnp.asarray(x), jnp.asarray(warped), jnp.asarray(c)
    return jnp.sum(c[..., None] * (x - warped) ** 2) / x.size  # (J,) H, W, 3 summed; D = H W 3


def warping_error(x: ArrayLike, warped: ArrayLike, c: ArrayLike) -> jax.Array:
    """Flicker: the mean of (x - w)^2 over the consistent pixels' values (0 if none)."""
    x, warped, c = jnp.asarray(x), jnp.asarray(warped), jnp.asarray(c)
    return jnp.sum(c[..., None] * (x - warped) ** 2) / jnp.maximum(jnp.sum(c) * x.shape[-1], 1.0)


# ---------------------------------------------------------------- the flow
def _gray(image: jax.Array) -> jax.Array:
    return jnp.mean(image.astype(jnp.float32), axis=-1) / 255.0  # (H, W, C) 0..255 -> (H, W) 0..1


def _conv(a: jax.Array, kernel: jax.Array) -> jax.Array:
    """a (H, W) correlated with a 3x3 kernel, the border repeated."""
    p = jnp.pad(a, 1, mode="edge")
    h, w = a.shape
    return jnp.sum(jnp.stack([kernel[i, j] * p[i : i + h, j : j + w] for i in range(3) for j in range(3)]), 0)


def _level(first: jax.Array, second: jax.Array, flow: jax.Array, alpha: float, iters: int) -> jax.Array:
    """One warp of coarse-to-fine Horn-Schunck: the flow (H, W, 2) refined around `flow`."""
    warped = warp(second[..., None], flow)[..., 0]  # b(p + w0(p)): (H, W)
    mean = 0.5 * (first + warped)
    iy, ix = jnp.gradient(mean)  # central differences, (H, W) each
    it = warped - first
    denominator = alpha**2 + ix**2 + iy**2

    def jacobi(_, w):
        u_bar, v_bar = _conv(w[..., 0], _AVERAGE), _conv(w[..., 1], _AVERAGE)
        r = (ix * (u_bar - flow[..., 0]) + iy * (v_bar - flow[..., 1]) + it) / denominator
        return jnp.stack([u_bar - ix * r, v_bar - iy * r], axis=-1)

    return jax.lax.fori_loop(0, iters, jacobi, flow)


def _pyramid(image: jax.Array, min_side: int) -> Tuple[jax.Array, ...]:
    """(H, W) and each half of the last (antialiased) while both sides stay >= min_side,
    finest first."""
    levels = [image]
    while min(levels[-1].shape) // 2 >= min_side:
        h, w = levels[-1].shape
        levels.append(jax.image.resize(levels[-1], (h // 2, w // 2), "linear", antialias=True))
    return tuple(levels)


@partial(jax.jit, static_argnames=("alpha", "iters", "warps", "min_side"))
def flow(
    first: jax.Array,
    second: jax.Array,
    alpha: float = ALPHA,
    iters: int = ITERS,
    warps: int = WARPS,
    min_side: int = MIN_SIDE,
) -> jax.Array:
    """The flow w (H, W, 2), (x, y) in pixels, with first(p) ~ second(p + w(p)): frames
    (H, W, C) in 0..255, coarse to fine. Compiled once per shape."""
    a, b = _pyramid(_gray(first), min_side), _pyramid(_gray(second), min_side)
    w = jnp.zeros((*a[-1].shape, 2), jnp.float32)
    for k in range(len(a) - 1, -1, -1):  # coarsest to finest
        if w.shape[:2] != a[k].shape:  # up one level: twice the size, twice the displacement
            scale = jnp.array([a[k].shape[1] / w.shape[1], a[k].shape[0] / w.shape[0]], jnp.float32)
            w = jax.image.resize(w, (*a[k].shape, 2), "linear") * scale
        for _ in range(warps):
            w = _level(a[k], b[k], w, alpha, iters)
    return w
