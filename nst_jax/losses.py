"""The style transfer objective as pure functions (Gatys, Ecker & Bethge, CVPR 2016).

Notation of the paper (Sec. 2): a layer l with N_l filters has feature maps of size
M_l = height x width. F^l in R^{N_l x M_l} are the features of the generated image x,
P^l those of the content photo p, and A^l the Gram matrix of the style image a.

    content   L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2                       (Eq. 1)
    Gram      G^l_ij = sum_k F^l_ik F^l_jk                                       (Eq. 3)
    style     E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2               (Eq. 4)
              L_style = sum_l w_l E_l                                            (Eq. 5)
    total     L_total = alpha L_content + beta L_style (+ t L_tv)                (Eq. 7)

Total variation (Mahendran & Vedaldi 2015, used by Johnson's neural-style) smooths
the result: L_tv = sum_ij (x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2 over all channels.
It is computed on the optimised image, which differs from the 0..255 RGB image only by
a channel permutation and a constant per channel, so the value is the same.

Everything here is a pure function of explicit inputs; `stylize.py` jits the whole
optimisation step that calls them. The targets (P^l and A^l) are computed once.
"""

from dataclasses import dataclass
from typing import Dict, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp

from .vgg import POOL, PRECISIONS, Block, block_params, check_request, features, last_block

Features = Dict[str, jnp.ndarray]


def gram(f):
    """G = F F^T for one layer: (h, w, N) -> (N, N), summed over the M = h*w positions."""
    flat = f.reshape(-1, f.shape[-1])  # (h, w, N) -> (M, N), the paper's F^T
    # G_ij = sum_k F_ik F_jk:  (M, N)^T (M, N) -> (N, N)
    return jnp.matmul(flat.T, flat, precision=jax.lax.Precision.HIGHEST)


def content_loss(f, p):
    """L_content = 1/2 sum (F - P)^2 (Eq. 1). f, p: (h, w, N) -> ()."""
    return 0.5 * jnp.sum((f - p) ** 2)


def style_layer_loss(f, a):
    """E_l = sum (G - A)^2 / (4 N^2 M^2) (Eq. 4). f: (h, w, N) features, a: (N, N) Gram."""
    n = f.shape[-1]  # N_l: number of filters
    m = f.shape[0] * f.shape[1]  # M_l: positions
    return jnp.sum((gram(f) - a) ** 2) / (4.0 * n ** 2 * m ** 2)


def tv_loss(x):
    """L_tv = sum (x[i+1,j] - x[i,j])^2 + (x[i,j+1] - x[i,j])^2, x: (H, W, C) -> ()."""
    dy = x[1:, :, :] - x[:-1, :, :]  # (H-1, W, C) vertical neighbours
    dx = x[:, 1:, :] - x[:, :-1, :]  # (H, W-1, C) horizontal neighbours
    return jnp.sum(dy ** 2) + jnp.sum(dx ** 2)


@dataclass(frozen=True)
class Objective:
    """What is optimised: static (hashable) so that jit can specialise on it."""
    model: str  # "vgg16" | "vgg19"
    pooling: str  # "max" | "avg"
    content_layers: Tuple[Tuple[str, float], ...]  # ((canonical layer, weight), ...)
    style_layers: Tuple[Tuple[str, float], ...]  # ((canonical layer, w_l), ...), Eq. 5
    content_weight: float  # alpha in Eq. 7
    style_weight: float  # beta in Eq. 7
    tv_weight: float  # weight of the total variation term
    remat: bool = False  # recompute each VGG block in the backward pass (_remat_terms)
    precision: str = "float32"  # of the convolutions: vgg.PRECISIONS

    @property
    def layers(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))


class Targets(NamedTuple):
    content: Features  # {layer: P^l, (h, w, N)} of the content photo
    style: Features  # {layer: A^l, (N, N)} Gram matrices of the style image


def make_targets(params, objective: Objective, content_x, style_x) -> Targets:
    """Compute P^l and A^l once. content_x, style_x: preprocessed (H, W, 3), any sizes."""
    def run(params, content_x, style_x):
        ob = objective
        c_layers, s_layers = [n for n, _ in ob.content_layers], [n for n, _ in ob.style_layers]
        # no content layers (texture synthesis) or no style layers (reconstruction): no target
        p = features(params, content_x, c_layers, ob.model, ob.pooling, ob.precision) if c_layers else {}
        s = features(params, style_x, s_layers, ob.model, ob.pooling, ob.precision) if s_layers else {}
        return Targets(content=p, style={k: gram(v) for k, v in s.items()})
    return jax.jit(run)(params, content_x, style_x)


def blend_targets(targets: Sequence[Targets], weights: Sequence[float]) -> Targets:
    """Several styles as one: A^l = sum_k b_k A^l_k, the blend of their Gram matrices
    (jcjohnson/neural-style's -style_blend_weights). Content targets: the first's."""
    style = {name: sum(b * t.style[name] for b, t in zip(weights, targets))
             for name in targets[0].style}
    return Targets(content=targets[0].content, style=style)


def _weighted(f: Features, targets: Targets, ob: Objective, zero):
    """(content, style) of the layers present in f: sum_l w_l L^l, Eq. 1 and Eq. 5."""
    content = sum((w * content_loss(f[n], targets.content[n])
                   for n, w in ob.content_layers if n in f), zero)
    style = sum((w * style_layer_loss(f[n], targets.style[n])
                 for n, w in ob.style_layers if n in f), zero)
    return content, style


def _remat_terms(params, targets: Targets, x, ob: Objective):
    """(content, style) with each VGG block, its losses and the pooling after it as one
    `jax.checkpoint`: the backward pass keeps only each block's pooled input (x, then
    1/4, 1/8, ... of the first block's size) and recomputes one block at a time, instead
    of keeping every activation of the network (a block's features feed its losses
    inside the checkpoint, so none has to be kept for the Gram matrices' backward).
    Whether the peak falls is the compiler's schedule: on XLA:CPU it did not (README)."""
    names = check_request(ob.model, ob.pooling, ob.precision, ob.layers)
    dtype, precision = PRECISIONS[ob.precision]
    last, zero = last_block(ob.model, names), jnp.zeros((), x.dtype)

    def block(p, h, targets, b):
        h, f = Block(ob.model, b, ob.pooling, names, dtype, precision, pool=False).apply(
            {"params": p}, h)
        c, s = _weighted({k: v[0].astype(x.dtype) for k, v in f.items()}, targets, ob, zero)
        return (POOL[ob.pooling](h) if b < last else h), c, s  # the next block's input

    h, content, style = x[None], zero, zero
    for b in range(1, last + 1):
        h, c, s = jax.checkpoint(block, static_argnums=3)(block_params(params, b), h, targets, b)
        content, style = content + c, style + s
    return content, style


def loss_terms(params, targets: Targets, x, objective: Objective) -> Dict[str, jnp.ndarray]:
    """Unweighted terms and their weighted sum for image x (preprocessed (H, W, 3))."""
    ob = objective
    if ob.remat:
        content, style = _remat_terms(params, targets, x, ob)
    else:
        f = features(params, x, ob.layers, ob.model, ob.pooling, ob.precision)
        content, style = _weighted(f, targets, ob, jnp.zeros((), x.dtype))
    tv = tv_loss(x)
    total = ob.content_weight * content + ob.style_weight * style + ob.tv_weight * tv
    return {"total": total, "content": content, "style": style, "tv": tv}
