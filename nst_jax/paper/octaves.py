"""The objective at several octaves: the image's reduced copies held to the reduced pair.

Why. VGG's receptive fields are fixed in pixels (relu5_1 sees 132x132 px in VGG16), so at
512 px and beyond the style term of Eq. 5 only asks for the statistics of small patches.
Coarse to fine (run/scales.py) settles the painting's large structures at 256 px, but
every finer scale then adds strokes of its own size that nothing holds to the statistics
of the image seen smaller: at the 256 px analysis size (run/score.py) the 512 px default
scored 1.1x-2.2x the 256 px run's style term (docs/guide/command_line.md, "Image size"). Multi-scale texture
synthesis matches the style's statistics at every level of a Gaussian pyramid instead
(Snelgrove 2017, "High-Resolution Multi-Scale Neural Texture Synthesis", SIGGRAPH Asia
Technical Briefs; the pyramid of Burt & Adelson 1983). Here each level gets the whole
objective of its size, content included: a style term alone on the reduced copy pulls
the large structures away from the photo unopposed (the content at full size hardly
resists a smooth change; measured: content 2.0x the 256 px run's at 256 px, docs/guide/command_line.md).

    reduce   R(x)[i, j] = sum_{u,v=0..4} g_u g_v x[2i + u, 2j + v],  g = (1, 4, 6, 4, 1) / 16
             (x padded by 2 px of reflection each side; (H, W) -> (ceil H/2, ceil W/2))
    octave   x_0 = x,  x_k = R(x_{k-1});   p_k = R^k(p), a_k = R^k(a) for the photo and painting
    level    L_k = alpha (M_0 / M_k) L_content(x_k; P_k) + beta L_style(x_k; A_k)   (Eq. 7 at x_k's size)
    total    L = sum_{k<K} w_k L_k + t L_tv(x)
             w_0 = 1 / (1 + lambda (K - 1)),  w_k = lambda w_0 for k >= 1     (lambda: `weight`)

P^l_k, A^l_k are the features and Grams of the reduced photo and painting (A rescaled to
x_k's M_l as at any other size, losses.py); M_k = x_k's pixels, the content weight scaled
by the pixel ratio as a coarse scale's is (run/scales.py), so that each level keeps the
final size's balance. The weights sum to 1, so alpha and beta keep their meaning; the run
logs sum_k w_k (M_0/M_k) L_content(x_k) as "content" and sum_k w_k L_style(x_k) as
"style". K = 1 (or lambda = 0) is Eq. 7 exactly. R is linear and commutes with the Caffe
preprocessing (a constant per channel: g sums to 1), so it is applied to preprocessed
images. TV stays at the image's own size.

`WithOctaves` wraps an optimiser's loss (losses.Loss): aux = (params, (targets, coarse)),
coarse the Targets of octaves 1..K-1 (made from `pyramid`). Pure functions; the run
decides K per scale (config.Config.octave_count, run/inputs.py Job.octaves).
"""

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from .backbones import get
from .losses import combine, weighted_terms

G = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)  # Burt & Adelson's 5-tap binomial, sums to 1


def _reduce_axis(x: jax.Array, axis: int) -> jax.Array:
    """Blur with g and keep every second sample along `axis` (2 px reflected each side)."""
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)  # x[-2], x[-1] = x[2], x[1]; x[n], x[n+1] = x[n-2], x[n-3]
    xp = jnp.pad(x, pad, mode="reflect" if n > 2 else "edge")  # (n + 4) along axis
    m = (n + 1) // 2
    take = lambda u: jax.lax.slice_in_dim(xp, u, u + 2 * m - 1, 2, axis)  # x[2i + u], i < m
    out = G[0] * take(0)
    for u in range(1, len(G)):
        out = out + G[u] * take(u)  # sum_u g_u x[2i + u]
    return out


def reduce(x: ArrayLike) -> jax.Array:
    """R(x): (..., H, W, C) -> (..., ceil(H/2), ceil(W/2), C), separable in H and W."""
    x = jnp.asarray(x)
    return _reduce_axis(_reduce_axis(x, x.ndim - 3), x.ndim - 2)


def reduced_hw(hw: Tuple[int, int], k: int) -> Tuple[int, int]:
    """The (H, W) of R^k(x) for an image of `hw`."""
    h, w = hw
    for _ in range(k):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h, w


def pyramid(x: ArrayLike, levels: int) -> Tuple[jax.Array, ...]:
    """(R x, R^2 x, ..., R^{K-1} x): the reduced copies of an image (preprocessed (H, W, C))."""
    out, x = [], jnp.asarray(x)
    for _ in range(1, levels):
        x = reduce(x)  # x_k = R(x_{k-1})
        out.append(x)
    return tuple(out)


@dataclass(frozen=True)
class WithOctaves:
    """fun(x, (params, (targets, coarse))) = sum_k w_k L_k + t L_tv over K = 1 + len(coarse)
    octaves (module docstring). A value: equal for equal settings, so the run compiles it
    once."""

    loss: Any  # losses.Loss: its objective, ops and terms
    levels: int  # K, the octaves: x_0 (the image) and K - 1 reduced copies
    weight: float = 1.0  # lambda: each reduced copy's weight relative to the image's

    def __call__(self, x: jax.Array, aux: Any) -> Tuple[jax.Array, Dict[str, jnp.ndarray]]:
        params, (targets, coarse) = aux
        _, terms = self.loss(x, (params, targets))  # x_0: content, style, TV (Eq. 7)
        ob, ops = self.loss.objective, self.loss.ops
        m0 = x.shape[-3] * x.shape[-2]  # M_0, the image's pixels
        contents, styles = [terms["content"]], [terms["style"]]
        for t_k in coarse:
            x = reduce(x)  # x_k = R(x_{k-1})
            f = get(ob.model).features(params, x, ob.layers, ob.pooling, ob.precision, ops)
            c_k, s_k = weighted_terms(f, t_k, ob, x.dtype)  # L_content(x_k; P_k), L_style(x_k; A_k)
            contents.append(c_k * (m0 / (x.shape[-3] * x.shape[-2])))  # (M_0 / M_k) L_content
            styles.append(s_k)
        w0 = 1 / (1 + self.weight * (self.levels - 1))  # w_0; w_k = lambda w_0
        mean = lambda v: w0 * (v[0] + self.weight * sum(v[1:]))  # sum_k w_k v_k
        t = combine(mean(contents), mean(styles), terms["tv"], ob)
        return t["total"], t


def levels_for(side: int, reference: int, given: int = 0) -> int:
    """K at a scale of longest side `side`: `given`, else one octave per halving that stays
    at or above `reference` px (the analysis size): 1 below 2x reference, 2 at 512 px for
    reference 256, 3 at 1024."""
    if given:
        return given
    k = 1
    while side / 2**k >= reference - 0.5:  # (a half-pixel's slack for rounded sides)
        k += 1
    return k
