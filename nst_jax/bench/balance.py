"""`python -m nst_jax bench balance`: how large each backbone's style term is beside its
content term, under each style normalisation: what sets resnet50's defaults.

Gatys' Eq. 4 divides a layer's squared Gram error by 4 N^2 M^2. For activations of a
typical size f, a Gram entry is ~ M f^2, so E_l ~ f^4 while the content term ~ N M f^2:
their balance depends on how large a network's activations are. VGG's (ReLU outputs of
unnormalised convolutions on 0..255 pixels) are large; ResNet50's batch norms keep its
activations near unit size, so with Eq. 4 and VGG's beta its style term vanishes
(Lisciandrello et al.: "only a blurred photo").

For each network and each normalisation this measures, at a noise image against the
bundled photo and painting (the same for every network):
  - beta_eq = L_content / L_style: the beta at which both terms start equal;
  - the largest style layer's share of L_style (with the objective's equal w_l): how far
    one layer dominates, which a global beta cannot mend.
A default beta is carried from VGG16's (real weights, Gatys' normalisation, beta 300 by
a sweep) as beta = 300 x beta_eq / beta_eq(VGG16, gatys): the same starting balance.

Real ResNet50 (and VGG19) ImageNet weights cannot be had on our machines. Without a file
for a model, its weights are random: VGG He-normal; ResNet50 He-normal with each batch
norm's statistics set to the mean and variance of its convolution's output over the 7
reference images (normalize.py), layer after layer (`calibrate`), so that its activations
have the unit scale a trained network's batch norms give them. Measurements of this run.
"""

import argparse
import functools
from typing import Any, Dict, List, Sequence

import numpy as np

from ..paper.backbones import STYLE_NORMALIZATIONS, get

REFERENCE = ("vgg16", "gatys", 3e2)  # the model, normalisation and beta the others are carried from
NORMALIZED_STYLE_WEIGHT = 1e6  # (config.py's) for VGG16 with normalised weights: their reference


def _calibrated_statistics(params, x):
    """One forward pass of ResNet50 over the batch x (B, H, W, 3) in which every batch norm
    normalises by its convolution's statistics over the batch (training mode, gamma 1,
    beta 0): conv k's statistics are then those it has with the batch norms before it
    calibrated. Returns {convolution's name: (mean, var)}, each (C,)."""
    import flax.linen as nn
    import jax.numpy as jnp

    from ..paper import resnet

    stats = {}

    def batch_statistics(next_fun, args, kwargs, context):
        if not (isinstance(context.module, resnet.Conv) and context.method_name == "__call__"):
            return next_fun(*args, **kwargs)
        y = next_fun(args[0])  # W * x + c, the batch norm not folded in: (B, h, w, C)
        mean, var = y.mean(axis=(0, 1, 2)), y.var(axis=(0, 1, 2))  # (C,), (C,)
        stats[context.module.name] = (mean, var)
        return (y - mean) / jnp.sqrt(var + resnet.EPSILON)  # BN(y) = (y - mu) / sqrt(var + eps)

    with nn.intercept_methods(batch_statistics):
        resnet.ResNet50((resnet.layer_names()[-1],)).apply({"params": params}, x)
    return stats


@functools.lru_cache(maxsize=None)
def _jitted(fn, static_argnums=()):
    """fn jitted once per process (jit then caches per shape and static argument): the same
    compiled programs serve every row of every run. jax is imported late, as the CLI does."""
    import jax

    return jax.jit(fn, static_argnums=static_argnums)


def calibrate(params: Dict[str, Dict[str, np.ndarray]], images: Sequence[np.ndarray]) -> Dict:
    """ResNet50 stored params with each batch norm's (moving) mean and variance those of
    its convolution's output over `images` (one shape), gamma 1 and beta 0: as each depends
    on the ones before, in one forward pass that normalises as it goes."""
    import jax.numpy as jnp

    bb = get("resnet50")
    x = jnp.asarray(np.stack(images), jnp.float32)  # (B, H, W, 3)
    stats = _jitted(_calibrated_statistics)(bb.prepare(params), x)
    assert len(stats) == sum(n.endswith("_conv") for n in bb.layers)  # all 53
    out = {k: dict(v) for k, v in params.items()}
    for name, (mean, var) in stats.items():
        c = mean.shape
        out[name[: -len("conv")] + "bn"] = dict(
            gamma=np.ones(c, np.float32),
            beta=np.zeros(c, np.float32),
            moving_mean=np.asarray(mean, np.float32),
            moving_variance=np.asarray(var, np.float32),
        )
    return out


def weights_for(model: str, side: int = 256) -> Any:
    """(stored params, source): a file for `model` if one is found, else random ones
    (ResNet50's batch norms calibrated on the reference images at side x side px)."""
    from ..io import lookup as lk
    from ..io import weights as wt
    from ..io.image_files import reference_set
    from ..paper import image as im

    path = lk.find_weights(None, model)
    if path is not None:
        found, params = wt.load_stored(path)
        if found == model:
            return params, path.name
    params = get(model).init_params(0)
    if model == "resnet50":
        images = [im.preprocess(im.resize(im.deprocess(x), side, side)) for x in reference_set()]
        return calibrate(params, images), "random, batch norms calibrated"
    return params, "random (He-normal)"


def balance(models: Sequence[str], size: int = 256) -> List[Dict]:
    """One row per (model, weights, style loss and normalisation): beta_eq, the largest
    layer share, the carried beta. The Gram terms in float64 from the features; the other
    distances (distances.py) as the run computes them. VGG also with normalised weights."""
    import jax
    import jax.numpy as jnp

    from ..io import image_files
    from ..paper import image as im
    from ..paper.normalize import normalize_weights

    c, s = (image_files.load_image(f)[0] for f in (image_files.DEMO_CONTENT, image_files.DEMO_STYLE))
    c, s = (im.preprocess(im.resize(a, *im.fit_size(a.shape[0], a.shape[1], size))) for a in (c, s))
    noise = im.preprocess(np.random.default_rng(0).uniform(0, 255, c.shape).astype(np.float32))
    rows = []
    for model in models:
        bb, (stored, source) = get(model), weights_for(model, size)
        variants = [(source, stored)]
        if bb.family == "vgg":
            variants.append(
                (
                    source + ", normalised",
                    normalize_weights(stored, model, "max", image_files.reference_set())[0],
                )
            )
        for name, p in variants:
            params = jax.tree.map(jnp.asarray, bb.prepare(p))
            rows += [dict(model=model, weights=name, **r) for r in _rows(params, model, c, s, noise)]
    for r in rows:  # carried from the reference's balance (None without its row)
        normalised = r["weights"].endswith("normalised")
        ref = [q for q in rows if (q["model"], q["normalization"], q["loss"]) == REFERENCE[:2] + ("gram",)]
        ref = [q for q in ref if q["weights"].endswith("normalised") == normalised]
        beta = NORMALIZED_STYLE_WEIGHT if normalised else REFERENCE[2]
        r["beta"] = beta * r["beta_eq"] / ref[0]["beta_eq"] if ref else None
    return rows


def _distance_terms(ob, f, style_targets):
    """{layer: w_l E_l} for the objective's style distance (distances.py), all in one program."""
    from ..paper.losses import style_distance

    layer = style_distance(ob).layer
    return {n: w * layer(f[n], style_targets[n]) for n, w in ob.style_layers}


def _rows(params, model: str, c, s, noise) -> List[Dict]:
    """Content against each style loss (and each Gram normalisation) at the noise image."""
    import jax.numpy as jnp

    from ..config import Config
    from ..paper.distances import STYLE_LOSSES
    from ..paper.losses import make_targets, style_denominator

    bb, rows = get(model), []
    ob = Config(model=model, style_weight=1.0).validate().objective(model)
    f32 = _jitted(bb.features, 2)(params, jnp.asarray(noise), ob.layers)
    f = {k: np.asarray(v, np.float64).reshape(-1, v.shape[-1]) for k, v in f32.items()}  # (M, N)
    targets = make_targets(params, ob, c, s)  # P^l, and A^l at the noise's size
    content = sum(  # Eq. 1, weighted
        w * 0.5 * np.sum((f[n] - np.asarray(targets.content[n], np.float64).reshape(f[n].shape)) ** 2)
        for n, w in ob.content_layers
    )
    sq = {
        n: np.sum((f[n].T @ f[n] - np.asarray(targets.style[n], np.float64)) ** 2) for n, _ in ob.style_layers
    }
    per_loss = {}
    for norm in STYLE_NORMALIZATIONS:  # E_l = sum (G - A)^2 / denominator, w_l E_l
        d = {n: w * sq[n] / style_denominator(f[n].shape[1], f[n].shape[0], norm) for n, w in ob.style_layers}
        per_loss[("gram", norm)] = d
    for loss in STYLE_LOSSES[1:]:
        o = Config(model=model, style_weight=1.0, style_loss=loss).validate().objective(model)
        t = make_targets(params, o, c, s)
        per_loss[(loss, "—")] = {n: float(v) for n, v in _jitted(_distance_terms, 0)(o, f32, t.style).items()}
    for (loss, norm), per in per_loss.items():
        style = sum(per.values())
        top = max(per, key=lambda n: per[n])
        rows.append(dict(loss=loss, normalization=norm, content=float(content), style=float(style)))
        rows[-1].update(beta_eq=float(content / style), largest=top, share=float(per[top] / style))
    return rows


def table(rows: List[Dict]) -> str:
    lines = [
        "| model | weights | style loss | normalisation | beta_eq | carried beta | largest style layer (share) |",
        "|" + " --- |" * 7,
    ]
    for r in rows:
        beta = f"{r['beta']:.3g}" if r["beta"] is not None else "—"
        lines.append(
            f"| {r['model']} | {r['weights']} | {r['loss']} | {r['normalization']} | {r['beta_eq']:.3g} | {beta} "
            f"| {r['largest']} ({r['share']:.0%}) |"
        )
    return "\n".join(lines)


def main_balance(a: argparse.Namespace) -> int:
    from ..io import files

    rows = balance(a.model, a.size)
    print(table(rows))
    if a.json:
        from pathlib import Path

        files.write_kept([("the measurements", Path(a.json), files.json_writer(rows))])
    return 0
