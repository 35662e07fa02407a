"""A size-free score: the content and style terms of a result at one analysis size.

The loss a run minimises is not comparable between sizes (tutorial chapter 7): the
content term is a sum over the H*W positions of each layer (Gatys et al. 2016, Eq. 1),
the style term is normalised by 1/(4 N_l^2 M_l^2) (Eq. 4), and VGG's receptive fields are
fixed in pixels, so the same look gives other numbers at 512 px than at 256. The score
puts every result on one scale: the result, the content photo and the style image(s) are
all resized to the same analysis size (longest side 256 px by default) and the unweighted
terms computed there,

    score(x) = (L_content(x_a, p_a), L_style(x_a, a_a))    x_a, p_a, a_a at the analysis size

with the objective's layers and weights per layer. Lower is closer, each term on its own;
results of different sizes, settings and tools compare by it (`python -m nst_jax score`,
and `summary.score` in every run's log). Several styles are scored against their blend
(masks are not used: the score is of the whole image).
"""

from functools import partial
from typing import Any, Dict, Optional, Sequence

import jax
import numpy as np

from ..paper import image as im
from ..paper.losses import Objective, blend_targets, loss_terms, make_targets
from ..paper.vgg import Ops

ANALYSIS_SIZE = 256  # px, longest side: the README's top run, where the defaults are set


def score(
    params: Any,
    objective: Objective,
    result: np.ndarray,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    blend: Optional[Sequence[float]] = None,
    size: Optional[int] = ANALYSIS_SIZE,
    ops: Ops = Ops(),
    terms=loss_terms,
) -> Dict[str, Any]:
    """{size: [w, h], content, style, tv} of `result` (RGB 0..255, (H, W, 3)) against
    `content` and `styles` (RGB 0..255, any sizes), all at longest side `size` (None: the
    result's own size). `ops`, `terms`: the plan's, when params are prepared for them."""
    h, w = result.shape[:2]
    hw = (h, w) if size is None else im.fit_size(h, w, size)
    side = max(hw)
    x = im.preprocess(im.resize(result, *hw))  # (h, w, 3)
    p = im.preprocess(im.resize(content, *hw))  # the photo at the result's shape
    each = [
        make_targets(
            params, objective, p, im.preprocess(im.resize(s, *im.fit_size(s.shape[0], s.shape[1], side))), ops
        )
        for s in styles
    ]  # each style at the same longest side, its Grams rescaled to the result's positions
    targets = blend_targets(each, blend or [1.0 / len(styles)] * len(styles), objective)
    t = _terms(params, targets, x, objective, ops, terms)
    return {"size": [hw[1], hw[0]], **{k: float(t[k]) for k in ("content", "style", "tv")}}


@partial(jax.jit, static_argnames=("objective", "ops", "terms"))
def _terms(params, targets, x, objective: Objective, ops: Ops, terms):
    """terms(...) compiled once per objective, ops and size (jit's cache)."""
    return terms(params, targets, x, objective, ops)


def describe(s: Dict[str, Any]) -> str:
    """One line: 'at 256x192 px: content 5.28e+09, style 1.76e+07, tv 1.2e+07'."""
    return f"at {s['size'][0]}x{s['size'][1]} px: content {s['content']:.4g}, style {s['style']:.4g}, tv {s['tv']:.4g}"
