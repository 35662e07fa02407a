"""The exact loss and gradient of a large image, computed strip by strip.

A VGG evaluation keeps every activation for the backward pass; at 4096x3072 the first
block alone holds several 3 GB maps. But every term of the objective is a sum over
positions, or a function of such sums:

    Gram        G^l = sum_k F^l_:k F^l_:k^T                        (losses.py, Eq. 3)
    content     L_content = 1/2 sum_k |F^l_:k - P^l_:k|^2           (Eq. 1)
    style       E_l = E(G^l), dE/dF^l_:k = 2 (dE/dG^l) F^l_:k       (dE/dG symmetric)

so the image is cut into horizontal strips, each strip is run through the network with a
halo of rows above and below it (wide enough for the receptive field of the deepest
layer, so the features of the strip's own rows are exactly those of the whole image),
and each strip's features are cropped to its own rows:

    pass 1 (forward only)     G^l = sum_strips G^l_strip, L_content = sum_strips L_strip
    between                   E_l(G^l) and D^l = beta w_l dE_l/dG^l, from the global G^l
    pass 2 (forward+backward) grad x_strip of  sum_l <D^l, G^l_strip> + alpha L_strip,
                              added into the image's gradient at the strip's rows

The result is the whole image's loss and gradient (tests/fast/test_tiles.py: equal to the
plain evaluation within float32 rounding), with the memory of one strip, at the cost
of the halos and of pass 1's forward (docs/guide/performance.md, "The largest images"). Strips start on
multiples of 2^(b-1) for the deepest block b, so every pooling window falls as it does
in the whole image. It covers
the Gram loss without masks on VGG, the objective the large runs use; `supported` says
why not otherwise. The run loop calls it from Python (fast/plan.py picks the host loop).
"""

from dataclasses import dataclass
from functools import partial
from typing import Dict, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from ..paper import vgg
from ..paper.losses import Objective, Targets, content_loss, gram, gram_loss, tv_loss
from ..paper.vgg import Ops


class Strip(NamedTuple):
    start: int  # first input row of the strip, halo included
    stop: int  # one past its last input row
    own: int  # first row it answers for (start + the halo above, or 0)
    own_stop: int  # one past the last


def supported(ob: Objective, guided: bool = False, optimizer: str = "lbfgs") -> Optional[str]:
    """None when the run can be evaluated in strips, else why not."""
    if optimizer == "optax-lbfgs":
        return "optax-lbfgs evaluates inside its own compiled line search"
    if not ob.model.startswith("vgg"):
        return f"{ob.model}'s receptive field spans the image"
    if ob.style_loss != "gram":
        return f"the {ob.style_loss} style loss is not a sum over positions"
    if guided:
        return "the masked (guided) Gram loss is not written for strips"
    return None


def align(ob: Objective) -> int:
    """Rows a strip starts on a multiple of: 2^(poolings before the deepest layer)."""
    return 2 ** (vgg.last_block(ob.model, ob.layers) - 1)


def halo(ob: Objective) -> int:
    """Rows of context each side of a strip: how far the deepest layer reaches. Each 3x3
    convolution of block b widens a row's reach by one of its rows, 2^(b-1) input rows;
    a 2x2 pooling adds nothing beyond the 2^(b-1) input rows a row of block b stands for
    (VGG16 to relu5_1: 2 + 2*2 + 3*4 + 3*8 + 16 = 58 rows above a row's first input row
    and below its last). Rounded up to `align`."""
    last = vgg.deepest(ob.model, ob.layers)
    reach = 0
    for layer in vgg.layers(ob.model):
        reach += 2 ** (layer.block - 1)  # input rows per row of this block
        if layer.name == last:
            break
    a = align(ob)
    return -(-reach // a) * a


def strips(height: int, rows: int, context: int, step: int) -> List[Strip]:
    """Strips of `rows` own rows (a multiple of `step`) covering `height`, each with up
    to `context` rows of halo above and below."""
    assert rows % step == 0 and context % step == 0 and rows > 0
    out = []
    for own in range(0, height, rows):
        own_stop = min(own + rows, height)
        out.append(Strip(max(own - context, 0), min(own_stop + context, height), own, own_stop))
    return out


def _crop(f: jax.Array, geo: Tuple[int, int, int], block: int) -> jax.Array:
    """The rows of a block-`block` feature map of a strip that are its own. geo: the
    strip's (rows, first own row, own rows), in input rows; the first own row is a
    multiple of the block's scale, so its own rows there are own // scale (a last strip
    of odd height: what the whole image's flooring poolings leave, the same count)."""
    scale = 2 ** (block - 1)
    lo = geo[1] // scale
    return f[lo : lo + geo[2] // scale]  # (h_strip, w, N) -> (h_own, w, N)


def _block(ob: Objective, name: str) -> int:
    """The VGG block of layer `name`: its rows stand for 2^(block-1) input rows."""
    return vgg.layers(ob.model)[vgg.conv_layers(ob.model).index(name)].block


def _own_features(params, xs, names, ob: Objective, ops: Ops, geo) -> Dict[str, jax.Array]:
    """The features `names` of a strip, cropped to its own rows."""
    f = vgg.features(params, xs, names, ob.model, ob.pooling, ob.precision, ops)
    return {n: _crop(v, geo, _block(ob, n)) for n, v in f.items()}


def _strip_terms(params, targets: Targets, xs, own, ob: Objective, ops: Ops, geo):
    """(this strip's Grams {layer: (N, N)}, its content loss sum_l w_l L^l over its own
    rows); `own`: the first own row in the whole image (traced: one compilation serves
    every strip of the same geometry)."""
    mine = _own_features(params, xs, ob.layers, ob, ops, geo)
    content = jnp.zeros((), xs.dtype)
    for n, w in ob.content_layers:  # P^l of the whole image, at this strip's own rows
        p = jax.lax.dynamic_slice_in_dim(
            targets.content[n], own // 2 ** (_block(ob, n) - 1), mine[n].shape[0]
        )
        content = content + w * content_loss(mine[n], p)
    return {n: gram(mine[n]) for n, _ in ob.style_layers}, content


def _geometry(height: int, rows: int, ob: Objective):
    """[(strip, (rows, first own row, own rows) relative to the strip)] covering `height`."""
    parts = strips(height, rows, halo(ob), align(ob))
    return [(s, (s.stop - s.start, s.own - s.start, s.own_stop - s.own)) for s in parts]


@partial(jax.jit, static_argnames=("names", "ob", "ops", "geo"))
def _strip_features(params, xs, names: Tuple[str, ...], ob: Objective, ops: Ops, geo) -> Dict[str, jax.Array]:
    return _own_features(params, xs, names, ob, ops, geo)


def content_targets(params, content_x, ob: Objective, ops: Ops, rows: int) -> Dict[str, jax.Array]:
    """losses.content_targets in strips: P^l put together from each strip's own rows."""
    names = tuple(n for n, _ in ob.content_layers)
    if not names:
        return {}
    parts = [
        _strip_features(params, content_x[s.start : s.stop], names, ob, ops, geo)
        for s, geo in _geometry(len(content_x), rows, ob)
    ]
    return {n: jnp.concatenate([f[n] for f in parts]) for n in names}  # own rows, top to bottom


def style_targets(params, style_x, out_hw, ob: Objective, ops: Ops, rows: int) -> Dict[str, jax.Array]:
    """losses.style_targets in strips: A^l the sum of the strips' Grams, rescaled to the
    output's M_l (out_hw: the output's (H, W); losses.py)."""
    names = tuple(n for n, _ in ob.style_layers)
    a: Dict[str, jax.Array] = {}
    for s, geo in _geometry(len(style_x), rows, ob) if names else ():
        f = _strip_features(params, style_x[s.start : s.stop], names, ob, ops, geo)
        a = {n: gram(f[n]) + a.get(n, 0.0) for n in names}  # sum_strips F^T F = G of the whole
    out, src = vgg.feature_shapes(ob.model, tuple(out_hw)), vgg.feature_shapes(ob.model, style_x.shape[:2])
    scale = {n: (out[n][0] * out[n][1]) / (src[n][0] * src[n][1]) for n in names}
    return {n: v * scale[n] for n, v in a.items()}


def _style(grams: Dict[str, jax.Array], targets: Targets, ob: Objective, hw: Tuple[int, int]):
    """sum_l w_l E_l(G^l) (Eq. 5) from the whole image's Grams (losses.gram_loss, Eq. 4,
    with M_l of the whole image)."""
    shapes = vgg.feature_shapes(ob.model, hw)
    total = jnp.zeros((), jnp.float32)
    for n, w in ob.style_layers:
        h, wd, c = shapes[n]
        total = total + w * gram_loss(grams[n], targets.style[n], c, h * wd, ob.style_normalization)
    return total


@partial(jax.jit, static_argnames=("ob", "ops", "geo"))
def _forward(params, targets, xs, own, ob: Objective, ops: Ops, geo):
    return _strip_terms(params, targets, xs, own, ob, ops, geo)


@partial(jax.jit, static_argnames=("ob", "ops", "geo"))
def _backward(params, targets, xs, own, d, ob: Objective, ops: Ops, geo):
    def surrogate(xs):  # its gradient: this strip's share of the whole image's
        grams, content = _strip_terms(params, targets, xs, own, ob, ops, geo)
        return ob.content_weight * content + sum(jnp.sum(d[n] * grams[n]) for n in grams)

    return jax.grad(surrogate)(xs)


@partial(jax.jit, static_argnames=("ob", "hw"))
def _style_and_d(grams, targets, ob: Objective, hw: Tuple[int, int]):
    """(L_style, D^l = beta dL_style/dG^l) from the whole image's Grams."""
    value, d = jax.value_and_grad(lambda g: _style(g, targets, ob, hw))(grams)
    return value, jax.tree.map(lambda v: ob.style_weight * v, d)


_tv = jax.jit(jax.value_and_grad(tv_loss))


@dataclass(frozen=True)
class Evaluation:
    """evaluate(x, (params, targets)) -> ((total, terms), grad) of losses.loss_terms, strip
    by strip (module docstring): a Python function of compiled pieces (module level, each
    compiled once per strip geometry: the first, the middle ones, the last). A value, so
    that equal runs share the pieces built for it (run/programs.py)."""

    ob: Objective
    ops: Ops
    rows: int

    def __call__(self, x, aux):
        ob, ops = self.ob, self.ops
        params, targets = aux
        parts = _geometry(x.shape[0], self.rows, ob)
        grams, content = None, jnp.zeros((), x.dtype)
        for s, geo in parts:  # pass 1: the whole image's Grams and content loss
            g, c = _forward(params, targets, x[s.start : s.stop], s.own, ob, ops, geo)
            grams, content = (g if grams is None else jax.tree.map(jnp.add, grams, g)), content + c
        style_value, d = _style_and_d(grams, targets, ob, tuple(x.shape[:2]))
        grad = jnp.zeros_like(x)
        for s, geo in parts:  # pass 2: each strip's share of the gradient
            grad = grad.at[s.start : s.stop].add(
                _backward(params, targets, x[s.start : s.stop], s.own, d, ob, ops, geo)
            )
        tv_value, tv_grad = _tv(x)
        terms = {"content": content, "style": style_value, "tv": tv_value}
        total = ob.content_weight * content + ob.style_weight * style_value + ob.tv_weight * tv_value
        return (total, {"total": total, **terms}), grad + ob.tv_weight * tv_grad


def value_and_grad(ob: Objective, ops: Ops, rows: int) -> Evaluation:
    """The tiled evaluation of `ob` in strips of `rows` rows (Evaluation)."""
    return Evaluation(ob, ops, rows)
