"""The style transfer objective as pure functions (Gatys, Ecker & Bethge, CVPR 2016).

Notation of the paper (Sec. 2): a layer l with N_l filters has feature maps of size
M_l = height x width. F^l in R^{N_l x M_l} are the features of the generated image x,
P^l those of the content photo p, and A^l the Gram matrix of the style image a.

    content   L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2                       (Eq. 1)
    Gram      G^l_ij = sum_k F^l_ik F^l_jk                                       (Eq. 3)
    style     E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2               (Eq. 4)
              (--style-normalization: "gatys" is Eq. 4; "none" drops 1/(4 N^2 M^2), as
              Lisciandrello et al. did for ResNet50; "neural-style" compares G/(N M) by
              their mean square, 1/(N^4 M^2), as jcjohnson/neural-style does)
              L_style = sum_l w_l E_l                                            (Eq. 5)
    total     L_total = alpha L_content + beta L_style (+ t L_tv)                (Eq. 7)

Style and output sizes. Eq. 4 compares Grams of images of the same size (M_l positions
each). When the style image has another size (`style_scale`, another aspect ratio), A^l
is rescaled to the output's M_l, A^l <- (M_l / M^a_l) A^l: both Grams then stand for the
same average over positions, E[F F^T], and the style's strength does not depend on its
size (neural-style divides its Grams by their size for the same reason).

Regions (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer",
Sec. 4.1, guided Gram matrices): style r applies where its mask T_r is white. At layer
l the mask is average-pooled to the layer's resolution, T^l_r, and the Gram is taken over
the masked features, F^l_r = T^l_r o F^l:

    guided    G^l_r = sum_k (T^l_rk)^2 F^l_:k F^l_:k^T,   M^l_r = sum_k (T^l_rk)^2
    region    E^l_r = 1 / (4 N_l^2) sum_ij (G^l_rij / M^l_r - A^l_rij / M_l)^2
              E_l = sum_r b_r (M^l_r / M_l) E^l_r

Compared as averages over the region (G/M_r) with the style's average (A/M), weighted by
the region's share of the image: one white mask gives Eq. 4 exactly, and a region has
the strength per pixel that its style would have over the whole image.

Other style distances (`--style-loss w2|sliced|meanstd`: W2 between fitted Gaussians, sliced
Wasserstein, channel means and deviations) are distances.py's StyleDistances (`style_distance`).

Total variation (Mahendran & Vedaldi 2015, used by Johnson's neural-style) smooths
the result: L_tv = sum_ij (x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2 over all channels.
It is computed on the optimised image, which differs from the 0..255 RGB image only by
a channel permutation and a constant per channel, so the value is the same.

Pure functions of explicit inputs: the run jits the evaluation that calls them, and the
targets P^l, A^l are computed once. The network is the objective's backbone (backbones.py);
`ops`: VGG's operations, the plain ones or the plan's faster ones (vgg.Ops).
"""

from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Dict, NamedTuple, Sequence, Tuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from . import distances
from .backbones import get
from .distances import StyleDistance
from .vgg import Ops

Features = Dict[str, jnp.ndarray]
TERMS = ("total", "content", "style", "tv")  # what loss_terms returns, in the log's order


def gram(f: jax.Array) -> jax.Array:
    """G = F F^T for one layer: (h, w, N) -> (N, N), summed over the M = h*w positions."""
    flat = f.reshape(-1, f.shape[-1])  # (h, w, N) -> (M, N), the paper's F^T
    # G_ij = sum_k F_ik F_jk:  (M, N)^T (M, N) -> (N, N)
    return jnp.matmul(flat.T, flat, precision=jax.lax.Precision.HIGHEST)


def content_loss(f: jax.Array, p: jax.Array) -> jax.Array:
    """L_content = 1/2 sum (F - P)^2 (Eq. 1). f, p: (h, w, N) -> ()."""
    return 0.5 * jnp.sum((f - p) ** 2)


def style_denominator(n: int, m: int, normalization: str = "gatys") -> float:
    """What sum (G - A)^2 is divided by, for N filters at M positions."""
    if normalization == "none":  # Lisciandrello et al.'s ResNet50 loss
        return 1.0
    if normalization == "neural-style":  # the mean over N^2 entries of ((G - A) / (N M))^2
        return float(n) ** 4 * float(m) ** 2
    return 4.0 * n**2 * m**2  # Gatys et al. 2016, Eq. 4


def gram_loss(g: jax.Array, a: jax.Array, n: int, m: int, normalization: str = "gatys") -> jax.Array:
    """E_l = sum (G - A)^2 / (4 N^2 M^2) (Eq. 4; or another `normalization`) of a layer's
    Gram g (N, N) over N filters and M positions; a: (N, N). (tiles.py: g summed over strips.)"""
    return jnp.sum((g - a) ** 2) / style_denominator(n, m, normalization)


def style_layer_loss(f: jax.Array, a: jax.Array, normalization: str = "gatys") -> jax.Array:
    """E_l of features f (h, w, N) against a style Gram a (N, N): N_l filters, M_l = h*w."""
    return gram_loss(gram(f), a, f.shape[-1], f.shape[0] * f.shape[1], normalization)


def guided_style_loss(
    f: jax.Array, a: jax.Array, guide: jax.Array, weights: jax.Array, normalization: str = "gatys"
) -> jax.Array:
    """E_l over regions (module docstring). f: (h, w, N) features; a: (R, N, N) each
    region's style Gram (rescaled to M = h*w positions); guide: (h, w, R) masks at this
    layer's resolution; weights: (R,) b_r."""
    n, m = f.shape[-1], f.shape[0] * f.shape[1]
    flat = f.reshape(m, n)  # (h, w, N) -> (M, N)
    t2 = guide.reshape(m, -1) ** 2  # (M, R): (T_rk)^2
    m_r = jnp.sum(t2, axis=0)  # (R,) M_r = sum_k T_rk^2
    total = jnp.zeros((), f.dtype)
    for r in range(a.shape[0]):  # R is small and static: one Gram per region
        # G_r = sum_k T_rk^2 F_:k F_:k^T:  (M, N)^T (M, N) -> (N, N)
        g = jnp.matmul((flat * t2[:, r : r + 1]).T, flat, precision=jax.lax.Precision.HIGHEST)
        # the averages G_r / M_r and A / M compared: Eq. 4 of G_r rescaled to M positions,
        # (M / M_r) G_r (an empty region, a small mask at a deep layer: M_r = 0, weight 0)
        e = gram_loss(g * (m / jnp.maximum(m_r[r], 1e-12)), a[r], n, m, normalization)
        total = total + weights[r] * (m_r[r] / m) * e
    return total


def tv_loss(x: jax.Array) -> jax.Array:
    """L_tv = sum (x[i+1,j] - x[i,j])^2 + (x[i,j+1] - x[i,j])^2, x: (H, W, C) -> ()."""
    dy = x[1:, :, :] - x[:-1, :, :]  # (H-1, W, C) vertical neighbours
    dx = x[:, 1:, :] - x[:, :-1, :]  # (H, W-1, C) horizontal neighbours
    return jnp.sum(dy**2) + jnp.sum(dx**2)


@dataclass(frozen=True)
class Objective:
    """What is optimised: static (hashable) so that jit can specialise on it."""

    model: str  # the backbone: "vgg19" | "vgg16" | "resnet50" (backbones.py)
    pooling: str  # "max" | "avg"
    content_layers: Tuple[Tuple[str, float], ...]  # ((canonical layer, weight), ...)
    style_layers: Tuple[Tuple[str, float], ...]  # ((canonical layer, w_l), ...), Eq. 5
    content_weight: float  # alpha in Eq. 7
    style_weight: float  # beta in Eq. 7
    tv_weight: float  # weight of the total variation term
    precision: str = "float32"  # of the convolutions: vgg.PRECISIONS
    style_normalization: str = "gatys"  # the denominator of Eq. 4: style_denominator
    style_loss: str = "gram"  # how E_l compares styles: distances.STYLE_LOSSES

    @property
    def layers(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys(n for n, _ in self.content_layers + self.style_layers))


def style_distance(ob: Objective) -> StyleDistance:
    """The objective's E_l: Gatys' Gram loss (with its normalisation) or distances.py's."""
    if ob.style_loss != "gram":
        return {"w2": distances.W2, "sliced": distances.SLICED, "meanstd": distances.MEANSTD}[ob.style_loss]
    return StyleDistance(
        lambda f, m, index: gram(f) * (m / (f.shape[0] * f.shape[1])),  # rescaled to M positions
        lambda ts, b: sum(w * t for w, t in zip(b, ts)),  # A^l = sum_k b_k A^l_k
        partial(style_layer_loss, normalization=ob.style_normalization),
        partial(guided_style_loss, normalization=ob.style_normalization),
    )


class Targets(NamedTuple):
    content: Features  # {layer: P^l, (h, w, N)} of the content photo
    style: Features  # {layer: A^l} the style's representation (Gram (N, N), or distances.py's),
    #                  at the output's size; with regions each leaf stacked (R, ...)
    guides: Features = {}  # regions only: {layer: T^l, (h, w, R)} masks at layer resolution
    region_weights: Any = None  # regions only: (R,) b_r


def features_key(ob: Objective, side: str) -> Objective:
    """What the "content" or "style" targets depend on: the objective without the weights
    (alpha, beta, TV, w_l, Eq. 4's denominator) and the other side's layers, so that
    objectives differing only there (a sweep over beta; the content under another style
    loss) share one compiled program in jit's cache."""
    unit = lambda layers: tuple((n, 1.0) for n, _ in layers)
    c, s = (unit(ob.content_layers), ()) if side == "content" else ((), unit(ob.style_layers))
    loss = ob.style_loss if side == "style" else "gram"
    ob = replace(ob, content_layers=c, style_layers=s, style_loss=loss, style_normalization="gatys")
    return replace(ob, content_weight=0.0, style_weight=0.0, tv_weight=0.0)


def content_targets(params: Any, content_x: ArrayLike, objective: Objective, ops: Ops = Ops()) -> Features:
    """P^l of the content photo: {layer: (h, w, N)} (none without content layers). Compiled
    once per network, content layers, ops and size (jit's cache keyed on features_key)."""
    return _content_targets(params, content_x, features_key(objective, "content"), ops)


def style_targets(
    params: Any, style_x: ArrayLike, out_hw: Tuple[int, int], objective: Objective, ops: Ops = Ops()
) -> Features:
    """A^l of one style image (preprocessed (h, w, 3), any size) for an output of `out_hw`
    (H, W): the Gram rescaled to the output's M_l (module docstring), or distances.py's
    representation. Compiled once per network, style layers and loss, ops and sizes."""
    return _style_targets(params, style_x, tuple(out_hw), features_key(objective, "style"), ops)


@partial(jax.jit, static_argnames=("objective", "ops"))
def _content_targets(params: Any, content_x: ArrayLike, objective: Objective, ops: Ops) -> Features:
    layers = [n for n, _ in objective.content_layers]
    if not layers:  # texture synthesis: no content target
        return {}
    return get(objective.model).features(
        params, content_x, layers, objective.pooling, objective.precision, ops
    )


@partial(jax.jit, static_argnames=("out_hw", "ob", "ops"))
def _style_targets(params: Any, style_x: ArrayLike, out_hw: Tuple, ob: Objective, ops: Ops) -> Features:
    layers = [n for n, _ in ob.style_layers]
    if not layers:  # reconstruction: no style target
        return {}
    bb = get(ob.model)
    s = bb.features(params, style_x, layers, ob.pooling, ob.precision, ops)
    out = bb.feature_shapes(out_hw)
    target = style_distance(ob).target  # Gram: A^l <- (M_l / M^a_l) A^l
    return {k: target(v, out[k][0] * out[k][1], layers.index(k)) for k, v in s.items()}


def make_targets(
    params: Any, objective: Objective, content_x: ArrayLike, style_x: ArrayLike, ops: Ops = Ops()
) -> Targets:
    """Compute P^l and A^l once. content_x, style_x: preprocessed (H, W, 3), any sizes;
    the output has the content's size, and A^l is rescaled to it (module docstring)."""
    h, w = jnp.shape(content_x)[:2]
    return Targets(
        content=content_targets(params, content_x, objective, ops),
        style=style_targets(params, style_x, (h, w), objective, ops),
    )


def region_targets(
    targets: Sequence[Targets], weights: Sequence[float], masks: ArrayLike, objective: Objective
) -> Targets:
    """Several styles, each in its region: style targets stacked (R, N, N), masks
    (H, W, R) in 0..1 at the output's size pooled to each style layer, weights b_r.
    Content targets: the first's."""
    t = jnp.asarray(masks, jnp.float32)[None]  # (1, H, W, R)
    # {layer: (h, w, R)} at each style layer's resolution, as the backbone gets there
    guides = get(objective.model).guides(t, [n for n, _ in objective.style_layers])
    style = {
        name: jax.tree.map(lambda *a: jnp.stack(a), *[tg.style[name] for tg in targets])
        for name in targets[0].style
    }
    return Targets(targets[0].content, style, guides, jnp.asarray(weights, jnp.float32))


def blend_targets(targets: Sequence[Targets], weights: Sequence[float], objective: Objective) -> Targets:
    """Several styles as one: for the Gram loss A^l = sum_k b_k A^l_k, the blend of their
    Gram matrices (jcjohnson/neural-style's -style_blend_weights); the other distances'
    blends: distances.py. Content targets: the first's."""
    if len(targets) == 1:  # (one style: as it is, not recomputed from its moments)
        return targets[0]
    blend = style_distance(objective).blend
    style = {name: blend([t.style[name] for t in targets], weights) for name in targets[0].style}
    return Targets(content=targets[0].content, style=style)


def weighted_terms(
    f: Features, targets: Targets, ob: Objective, dtype: DTypeLike = jnp.float32
) -> Tuple[jax.Array, jax.Array]:
    """(content, style) of the layers present in f: sum_l w_l L^l, Eq. 1 and Eq. 5."""
    zero = jnp.zeros((), dtype)
    content = sum((w * content_loss(f[n], targets.content[n]) for n, w in ob.content_layers if n in f), zero)

    d = style_distance(ob)

    def style_loss(n):
        if targets.guides:
            return d.guided(f[n], targets.style[n], targets.guides[n], targets.region_weights)
        return d.layer(f[n], targets.style[n])

    style = sum((w * style_loss(n) for n, w in ob.style_layers if n in f), zero)
    return content, style


def combine(content: jax.Array, style: jax.Array, tv: jax.Array, ob: Objective) -> Dict[str, jnp.ndarray]:
    """{term: value} of TERMS: L_total = alpha L_content + beta L_style + t L_tv (Eq. 7)."""
    total = ob.content_weight * content + ob.style_weight * style + ob.tv_weight * tv
    return {"total": total, "content": content, "style": style, "tv": tv}


def loss_terms(
    params: Any, targets: Targets, x: jax.Array, objective: Objective, ops: Ops = Ops()
) -> Dict[str, jnp.ndarray]:
    """The terms (TERMS: their weighted sum, then each unweighted) for image x
    (preprocessed (H, W, 3))."""
    ob = objective
    f = get(ob.model).features(params, x, ob.layers, ob.pooling, ob.precision, ops)
    return combine(*weighted_terms(f, targets, ob, x.dtype), tv_loss(x), ob)


@dataclass(frozen=True)
class Loss:
    """The objective as an optimiser's `fun(x, aux) -> (total, terms)`, aux = (params,
    targets): a value (hashable, equal for equal settings), so that the pieces compiled for
    it serve every later run of the same objective (run/programs.py)."""

    objective: Objective
    ops: Ops = Ops()
    terms: Callable = loss_terms  # loss_terms, or fast/remat.py's twin with the same values

    def __call__(self, x: jax.Array, aux: Any) -> Tuple[jax.Array, Dict[str, jnp.ndarray]]:
        params, targets = aux
        t = self.terms(params, targets, x, self.objective, self.ops)
        return t["total"], t
