"""Winograd convolution F(4x4, 3x3): the same 3x3 convolutions with 4x fewer products.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016), Sec. 4:
a 4x4 tile of outputs Y of a 3x3 filter g over a 6x6 tile of inputs d is

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A                                  (Eq. 10)

where (.) is the elementwise product over the 6x6 "Winograd domain". Summed over input
channels c, the product becomes 36 independent matrix products, one per (a, b) point
of that domain:

    M_ab[tile, k] = sum_c V_ab[tile, c] U_ab[c, k],  V = B^T d B, U = G g G^T   (Eq. 12)

so a layer costs 36 * tiles * C * K multiply-adds instead of 9 * 16 * tiles * C * K:
4x fewer. The price is arithmetic: the transforms multiply by up to 8 and 1/24, so the
result is exact in exact arithmetic but carries ~1e-5 relative float32 rounding error
instead of direct convolution's ~5e-7 (measured in tests/fast/test_winograd.py).

Where it pays (XLA:CPU, this project's 2-core machine, VGG19 at 512 px, forward +
input-gradient per layer): 512 -> 512 channels 54 ms vs 167 ms direct; 256 -> 256
110 ms vs 132 ms; 128 -> 128 and wider images lose (208 ms vs 144 ms), because the input
transform writes 2.25x the layer's input and memory is slow here. Hence MIN_CHANNELS.
Below MIN_PIXELS it compiles ~5 s longer than it saves (0.09 s per evaluation at 256x170,
VGG16), so the plan (plan.py) leaves small images direct.

The kernel transforms U (forward) and U' (for the input gradient) are computed once, in
float64 on the host (`prepare`), not in every evaluation: `WinogradConv`, the Flax
module that replaces nn.Conv for a layer (vgg.Ops), holds them as its parameters in
place of the kernel. The input gradient of a SAME stride-1 3x3 convolution is itself
one: dL/dx = dL/dy * rot180(g)^T, so the backward pass is the same Winograd product with
U' = transform of the flipped, transposed kernel.
"""

from typing import Any, Dict, Mapping, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from ..paper.vgg import layers

HIGHEST = jax.lax.Precision.HIGHEST
M, R = 4, 3  # output tile 4x4, filter 3x3
N = M + R - 1  # input tile 6x6: the Winograd domain has N*N = 36 points

# Lavin & Gray Sec. 4.2, interpolation points 0, 1, -1, 2, -2 and infinity
# fmt: off
BT = np.array([[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]], np.float64)  # B^T, (6, 6)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], np.float64)  # (6, 3)
AT = np.array([[1, 1, 1, 1, 1, 0],
               [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], np.float64)  # A^T, (4, 6)
# fmt: on


def transform_kernel(kernel: npt.ArrayLike) -> np.ndarray:
    """U = G g G^T for every (c, k): (3, 3, C, K) HWIO -> (36, C, K), in float64 on the host,
    as two contiguous matrix products (no transposes of the large arrays)."""
    g = np.asarray(kernel, np.float64)
    c, k = g.shape[2:]
    gg = G @ g.reshape(R, R * c * k)  # G g: (6, 3)(3, 3CK) -> (6, 3CK), rows a
    u = G @ gg.reshape(N, R, c * k)  # (G g) G^T for each a: (6, 3)(6, 3, CK) -> (6a, 6b, CK)
    return u.reshape(N * N, c, k)  # (a, b) -> a * 6 + b


def kernel_pair(kernel: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> Tuple[np.ndarray, np.ndarray]:
    """(U, U'): the forward transform and that of rot180(g)^T for the input gradient."""
    flipped = np.flip(np.asarray(kernel), (0, 1)).transpose(0, 1, 3, 2)  # (3, 3, K, C)
    return transform_kernel(kernel).astype(dtype), transform_kernel(flipped).astype(dtype)


def _combine(coefs, terms):
    """sum_r coefs[r] * terms[r], skipping zero coefficients (B^T, A^T are sparse)."""
    out = None
    for c, t in zip(coefs, terms):
        if c != 0:
            t = t if c == 1 else -t if c == -1 else t * float(c)
            out = t if out is None else out + t
    return out


def _winograd(x, u):
    """(B, H, W, C) * U (36, C, K) -> (B, H, W, K): SAME 3x3 convolution, stride 1."""
    b, h, w, c = x.shape
    th, tw = -(-h // M), -(-w // M)  # tiles per column and per row, rounding up
    # zero padding: 1 (SAME) before, enough after for whole tiles (m*t + 2 rows in all)
    xp = jnp.pad(x, ((0, 0), (1, M * th - h + 1), (1, M * tw - w + 1), (0, 0)))
    # V = B^T d B, separably: rows r..r+5 of every tile are the strided slices xp[r::4]
    rows = [xp[:, r : r + M * th : M] for r in range(N)]  # 6 x (B, th, 4 tw + 2, C)
    rows = [_combine(BT[a], rows) for a in range(N)]  # B^T along rows
    vs = [
        _combine(BT[j], [r[:, :, s : s + M * tw : M] for s in range(N)])  # ... along columns
        for r in rows
        for j in range(N)
    ]  # 36 x (B, th, tw, C)
    v = jnp.stack(vs).reshape(N * N, b * th * tw, c)  # (36, tiles, C)
    # M_ab = V_ab U_ab, Eq. 12: 36 matrix products (tiles, C)(C, K) -> (tiles, K)
    m = jnp.einsum("ptc,pck->ptk", v, u, precision=HIGHEST).reshape(N, N, b, th, tw, -1)
    # Y = A^T M A
    rows = [_combine(AT[i], list(m)) for i in range(M)]  # 4 x (6, B, th, tw, K)
    y = jnp.stack(
        [jnp.stack([_combine(AT[j], list(r)) for j in range(M)], axis=3) for r in rows], axis=2
    )  # (B, th, 4, tw, 4, K)
    return y.reshape(b, M * th, M * tw, -1)[:, :h, :w]


@jax.custom_vjp
def conv3x3(x: jax.Array, u: jax.Array, u_grad: jax.Array) -> jax.Array:
    """SAME 3x3 stride-1 convolution, no bias: (B, H, W, C) -> (B, H, W, K), from the
    kernel's transforms (`kernel_pair`). Differentiable in x (and in U, U')."""
    return _winograd(x, u)


def _conv3x3_fwd(x, u, u_grad):
    return _winograd(x, u), (x, u, u_grad)


def _conv3x3_bwd(res, g):
    x, u, u_grad = res
    dx = _winograd(g, u_grad)  # dL/dx = dL/dy * rot180(g)^T, a Winograd product again
    # U's cotangent (unused when only the image is optimised; the compiler drops it)
    _, vjp_u = jax.vjp(lambda u: _winograd(x, u), u)
    return dx, vjp_u(g)[0], jnp.zeros_like(u_grad)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)

MIN_CHANNELS = 256  # Winograd for convolutions with at least this many input channels
MIN_PIXELS = 150 * 150  # and, when the plan decides, for images at least this large


class WinogradConv(nn.Module):
    """nn.Conv's 3x3 SAME convolution with bias, its kernel held as the transforms
    (U, U'): parameters {'u': (36, C, K), 'u_grad': (36, K, C), 'bias': (K,)}, made from
    nn.Conv's {'kernel', 'bias'} by `prepare`."""

    features: int  # K, output channels

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:  # (N, H, W, C) -> (N, H, W, K)
        c, k = x.shape[-1], self.features
        u = self.param("u", nn.initializers.zeros_init(), (N * N, c, k))
        u_grad = self.param("u_grad", nn.initializers.zeros_init(), (N * N, k, c))
        bias = self.param("bias", nn.initializers.zeros_init(), (k,))
        return conv3x3(x, u, u_grad) + bias


def choose(model: str, deepest: str) -> Tuple[str, ...]:
    """The convolutions worth computing by Winograd's method: MIN_CHANNELS inputs or
    more (conv3_2 onwards), up to the deepest layer the losses need."""
    chosen, c_in = [], 3
    for layer in layers(model):
        if c_in >= MIN_CHANNELS:
            chosen.append(layer.conv)
        if layer.name == deepest:
            break
        c_in = layer.channels
    return tuple(chosen)


def prepare(params: Mapping[str, Mapping[str, Any]], convs: Sequence[str]) -> Dict[str, Any]:
    """params with each of `convs` as WinogradConv's parameters: the kernel replaced by
    its transforms (U, U'), one layer at a time (the host holds one layer's float64)."""
    out = dict(params)
    for name in convs:
        u, u_grad = kernel_pair(params[name]["kernel"])
        out[name] = {
            "u": jnp.asarray(u),
            "u_grad": jnp.asarray(u_grad),
            "bias": jnp.asarray(params[name]["bias"]),
        }
    return out
