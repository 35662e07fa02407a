"""2x2 max pooling with a fast gradient: the same values and gradient as vgg.max_pool_2x2.

XLA:CPU differentiates `reduce_window` max by its generic select-and-scatter, which walks
the windows one by one: 0.28 s against 0.04 s for the gradient below at 512x512x64
(measured on the project's 2-core machine). Here the gradient is written out: it goes to
the first maximum of each window in row-major order, exactly as XLA's select-and-scatter
(and PyTorch) route it, so the values and the gradient are the plain pooling's
(tests/test_fast.py checks both, ties included).
"""

import jax
import jax.numpy as jnp


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """(N, H, W, C) -> (N, H/2, W/2, C); an odd last row or column is dropped."""
    return _max_pool(x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2])


def _corners(x):  # the 4 elements of each window: 4 x (N, H/2, W/2, C), row-major order
    n, h, w, c = x.shape
    x6 = x.reshape(n, h // 2, 2, w // 2, 2, c)  # (N, H/2, dy, W/2, dx, C)
    return x6[:, :, 0, :, 0], x6[:, :, 0, :, 1], x6[:, :, 1, :, 0], x6[:, :, 1, :, 1]


@jax.custom_vjp
def _max_pool(x):
    a, b, c, d = _corners(x)
    return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def _max_pool_fwd(x):
    y = _max_pool(x)
    return y, (x, y)


def _max_pool_bwd(residuals, g):
    """dL/dx: g where x is its window's first maximum, else 0."""
    x, y = residuals
    a, b, c, _ = _corners(x)
    first_a = a == y
    first_b = (b == y) & ~first_a
    first_c = (c == y) & ~(first_a | first_b)
    first_d = ~(first_a | first_b | first_c)
    zero = jnp.zeros_like(g)
    top = jnp.stack([jnp.where(first_a, g, zero), jnp.where(first_b, g, zero)], axis=3)
    bottom = jnp.stack([jnp.where(first_c, g, zero), jnp.where(first_d, g, zero)], axis=3)
    return (jnp.stack([top, bottom], axis=2).reshape(x.shape),)  # (N,H/2,dy,W/2,dx,C)->x


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """ResNet50's pool1: 3x3 windows, stride 2, no padding (the caller pads):
    (N, H, W, C) -> (N, (H-3)//2+1, (W-3)//2+1, C). Its gradient written out as above (the
    windows overlap: an element that is the first maximum of several gets each one's
    share): XLA's select-and-scatter took ~8% of ResNet50's evaluation at 512 px."""
    return _max_pool_3x3(x)


def _views(x):  # the 9 elements of each window: 9 x (N, ho, wo, C), row-major order
    ho, wo = (x.shape[1] - 3) // 2 + 1, (x.shape[2] - 3) // 2 + 1
    return [x[:, dy : dy + 2 * ho - 1 : 2, dx : dx + 2 * wo - 1 : 2] for dy in range(3) for dx in range(3)]


@jax.custom_vjp
def _max_pool_3x3(x):
    views = _views(x)
    y = views[0]
    for v in views[1:]:
        y = jnp.maximum(y, v)
    return y


def _max_pool_3x3_fwd(x):
    y = _max_pool_3x3(x)
    return y, (x, y)


def _max_pool_3x3_bwd(residuals, g):
    """dL/dx: each window's g to its first maximum, put back where the window's element
    came from (a strided slice's transpose: a pad with one zero between elements)."""
    x, y = residuals
    (_, h, w, _), (_, ho, wo, _) = x.shape, y.shape
    taken, out, zero = jnp.zeros(y.shape, bool), jnp.zeros_like(x), jnp.zeros((), g.dtype)
    for k, v in enumerate(_views(x)):
        dy, dx = divmod(k, 3)
        first = (v == y) & ~taken
        taken = taken | first
        spots = [(0, 0, 0), (dy, h - dy - (2 * ho - 1), 1), (dx, w - dx - (2 * wo - 1), 1), (0, 0, 0)]
        out = out + jax.lax.pad(jnp.where(first, g, zero), zero, spots)
    return (out,)


_max_pool_3x3.defvjp(_max_pool_3x3_fwd, _max_pool_3x3_bwd)
