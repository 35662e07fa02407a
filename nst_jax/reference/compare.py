"""Cross-framework check: our features, losses and gradients against PyTorch and Keras.

`python -m nst_jax compare [CONTENT STYLE] --weights FILE.h5 --size N` computes, on the
same preprocessed image:
  - ours: vgg.features and the losses of losses.py, gradients by jax.grad;
  - a PyTorch reference written independently with torch.nn.functional (conv2d with
    padding 1, relu, max/avg pool), reading the same HDF5 file with its own few lines of
    h5py, gradients by autograd (torch_vgg.py);
  - Keras' own keras.applications.VGG16/VGG19(weights=FILE) on the torch backend, with
    Keras' own preprocess_input: an independent check of our weight conversion, layer
    order, padding and preprocessing (max pooling only: Keras' VGG has no avg option;
    keras_vgg.py).
For other backbones (ResNet50), which have no PyTorch reference, Keras' own network on the
torch backend is the whole reference: activations, terms and gradients (keras_net.py).
It reports per layer the largest absolute and relative difference of the activations;
per loss term (content, each style layer, tv) both values and the gradient's relative L2
error, largest absolute error and cosine; the time of a forward and of a
forward-and-backward pass in each framework (median after warm-up; JAX's compile time
apart); and a float64 finite-difference check of our gradient along random directions.
The style terms are Gatys' Gram loss, or with --style-loss w2, sliced or meanstd
distances.py's distance (ours) against the same formulas in torch (torch_distances.py);
the style's targets (Gram matrix, or the distance's distributions) are computed once, by
ours, and shared as data.

Each reference is a step (`_references`) that writes its own columns into the report:
`layers[name][framework]`, `terms[k][framework]`, `terms[k][framework + "_grad"]` (and
`_grad64` in float64), `timing[framework]`; the table and the tolerances read whichever
references ran, the first being the one whose terms and gradients are judged.

Over 300 lines: the steps of every reference, the report's table and its tolerances in
one place.
"""

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import numpy as np

from ..errors import NstError
from ..io import image_files
from ..paper import image as im
from ..paper.backbones import get
from .measure import diff, median_seconds
from .torch_vgg import CONTENT, STYLE


def _layers(model: str):
    """(content layer, style layers) compared: the reference's for VGG, else the model's."""
    bb = get(model)
    return (CONTENT, STYLE) if bb.family == "vgg" else (bb.content_layers[0], bb.style_layers)


def _distance(model: str, style_loss: str):
    """Ours: the StyleDistance of `style_loss`, as losses.py picks it for an objective."""
    from ..paper.losses import Objective, style_distance

    return style_distance(Objective(model, "max", (), (), 1.0, 1.0, 0.0, style_loss=style_loss))


def terms(params: Any, targets: Dict[str, Any], x: Any, model: str, pooling: str, style_loss: str = "gram"):
    """Ours: {term: value} of image x, built from losses.py (and distances.py for
    `style_loss`); params and targets are arguments, so that the compiled programs below
    hold no weights as constants and serve every call of the same shapes."""
    from ..paper.losses import content_loss, style_layer_loss, tv_loss

    CONTENT, STYLE = _layers(model)
    layer_loss = style_layer_loss if style_loss == "gram" else _distance(model, style_loss).layer
    f = get(model).features(params, x, (CONTENT,) + tuple(STYLE), pooling)
    out = {"content": content_loss(f[CONTENT], targets["content"])}
    out.update({f"style {n}": layer_loss(f[n], targets["style"][n]) for n in STYLE})
    out["tv"] = tv_loss(x)
    return out


def jax_terms_fn(
    params: Any, model: str, pooling: str, targets: Dict[str, Any], style_loss: str = "gram"
) -> Callable[[Any], Dict[str, Any]]:
    """Ours: x -> {term: value} (`terms` with the rest fixed)."""
    return lambda x: terms(params, targets, x, model, pooling, style_loss)


def _total(params, targets, x, model, pooling, style_loss):
    return sum(terms(params, targets, x, model, pooling, style_loss).values())


# compiled once per model, pooling, style loss, shapes and dtypes (float32, and float64
# under jax.enable_x64); x is argument 2
_STATIC = ("model", "pooling", "style_loss")
_terms = jax.jit(terms, static_argnames=_STATIC)
_jacobian = jax.jit(jax.jacrev(terms, argnums=2), static_argnames=_STATIC)
_value = jax.jit(_total, static_argnames=_STATIC)
_gradient = jax.jit(jax.grad(_total, argnums=2), static_argnames=_STATIC)
_value_and_gradient = jax.jit(jax.value_and_grad(_total, argnums=2), static_argnames=_STATIC)
_features = jax.jit(
    lambda p, x, model, pooling: get(model).features(p, x, get(model).layers, pooling), static_argnums=(2, 3)
)


def _float64(tree):
    """Every array of a pytree as float64 (call inside jax.enable_x64)."""
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def compare(
    content: image_files.ImageLike,
    style: image_files.ImageLike,
    weights_path: image_files.StrPath,
    *,
    model: Optional[str] = None,
    size: int = 128,
    pooling: str = "max",
    frameworks: Sequence[str] = ("torch", "keras"),
    fd_directions: int = 3,
    seed: int = 0,
    style_loss: str = "gram",
) -> Dict:
    """The whole report (module docstring) for the two images at `size` px, the style
    terms under `style_loss` (distances.STYLE_LOSSES)."""
    from ..io import weights as wt
    from ..paper.distances import STYLE_LOSSES

    if style_loss not in STYLE_LOSSES:
        raise NstError(f"unknown style loss {style_loss!r}; use one of: {', '.join(STYLE_LOSSES)}")
    model, params = wt.load_weights(weights_path, model)
    rng = np.random.default_rng(seed)
    x_rgb, x, targets, hw = _inputs(content, style, params, model, size, pooling, frameworks, rng, style_loss)
    report: Dict = {"model": model, "pooling": pooling, "size": [hw[1], hw[0]], "style_loss": style_loss}
    report.update(layers={}, terms={}, timing={}, backends={}, finite_differences=[])
    ours = _ours(params, model, pooling, targets, x, report, style_loss)
    steps = _references(model, frameworks, pooling)
    report["references"] = [name for name, _ in steps]  # the first: the terms' and gradients'
    run = Run(weights_path, params, model, pooling, targets, x, x_rgb, ours, style_loss)
    for _, step in steps:
        step(run, report)
    report["finite_differences"] = _finite_differences(
        params, model, pooling, targets, x, rng, fd_directions, style_loss
    )
    return report


class Run(NamedTuple):
    """What every reference is given: the weights file, ours, the image and targets."""

    weights_path: image_files.StrPath
    params: Any  # ours, as loaded
    model: str
    pooling: str
    targets: Dict[str, Any]  # computed once, by ours, shared as data
    x: np.ndarray  # (H, W, 3) preprocessed: the image compared
    x_rgb: np.ndarray  # (H, W, 3) RGB, for Keras' own preprocessing
    ours: Dict[str, Any]  # our activations, terms and per-term gradients
    style_loss: str


def _references(model: str, frameworks: Sequence[str], pooling: str) -> List[Tuple[str, Callable]]:
    """(framework, step) in order; each step writes its columns into the report, the first
    the terms and gradients `worst` judges. VGG: the PyTorch VGG, then Keras' own VGG (its
    activations and timings; max pooling only: Keras' VGG has no average option). Other
    backbones: Keras' own network is the whole reference (keras_net.py), and the PyTorch
    ResNet50 checks the activations and, in float64, the gradients."""
    if get(model).family != "vgg":
        return [("keras", _keras_net), ("torch", _torch_resnet)]
    steps = [("torch", _torch)] if "torch" in frameworks else []
    return steps + ([("keras", _keras_vgg)] if "keras" in frameworks and pooling == "max" else [])


def _keras_net(run: Run, report: Dict) -> None:
    from .keras_net import keras_reference

    content_layer, style_layers = _layers(run.model)
    keras_reference(
        run.weights_path, get(run.model), run.x_rgb, run.ours, run.targets, content_layer, style_layers,
        report, run.style_loss,
    )  # fmt: skip


def _torch_resnet(run: Run, report: Dict) -> None:
    from .torch_resnet import check

    content_layer, style_layers = _layers(run.model)
    ours64 = _grads64(run.params, run.model, run.pooling, run.targets, run.x, run.style_loss)
    check(
        run.weights_path,
        run.x,
        run.targets,
        content_layer,
        style_layers,
        run.ours,
        ours64,
        report,
        run.style_loss,
    )


def _keras_vgg(run: Run, report: Dict) -> None:
    from .keras_vgg import keras_layers

    bb = get(run.model)
    out = keras_layers(
        run.weights_path, run.model, run.x_rgb, run.ours["acts"], bb.layers, run.targets, run.style_loss
    )
    for name, d in out["layers"].items():
        report["layers"].setdefault(name, {})["keras"] = d
    report["backends"]["keras"] = out["backend"]
    if "timing" in out:
        report["timing"]["keras"] = out["timing"]


def _inputs(content, style, params, model, size, pooling, frameworks, rng, style_loss="gram"):
    """(x_rgb, x preprocessed, targets, (h, w)): the image compared and the targets."""
    import jax
    import jax.numpy as jnp

    from ..paper.losses import gram

    CONTENT, STYLE = _layers(model)
    features = get(model).features
    rgb_c = image_files.load_image(content)[0]
    hw = im.fit_size(rgb_c.shape[0], rgb_c.shape[1], size)
    c = im.resize(rgb_c, *hw)
    if get(model).family != "vgg" and pooling != "max":
        raise NstError(
            f"compare --model {model} runs Keras' own network, which has max pooling; drop --pooling"
        )
    if get(model).family != "vgg" and min(hw) < 32:
        raise NstError(
            f"Keras' {model} needs at least 32 px per side, the image is {hw[1]}x{hw[0]}; raise --size"
        )
    if "keras" in frameworks and pooling == "max" and min(hw) < 32:
        raise NstError(
            f"Keras' VGG needs at least 32 px per side, the image is {hw[1]}x{hw[0]}; "
            "raise --size or pass --framework torch"
        )
    s_rgb = image_files.load_image(style)[0]
    s = im.resize(s_rgb, *im.fit_size(s_rgb.shape[0], s_rgb.shape[1], size))
    # The image compared: the content photo plus Gaussian noise, so the content gradient is
    # not zero. Not clipped: clipping makes flat saturated regions, whose exactly equal
    # activations tie in max pooling, where JAX and PyTorch route the gradient to different
    # (equally valid) elements; continuous noise leaves no ties.
    x_rgb = (c + rng.normal(0, 20, c.shape)).astype(np.float32)
    x = np.asarray(im.preprocess(x_rgb), np.float32)
    jparams = jax.tree.map(jnp.asarray, params)
    fc = features(jparams, im.preprocess(c), [CONTENT], pooling)
    fs = features(jparams, im.preprocess(s), STYLE, pooling)
    targets = {"content": np.asarray(fc[CONTENT]), "style": {k: np.asarray(gram(v)) for k, v in fs.items()}}
    if style_loss != "gram":  # the distance's target: at the compared image's M = h*w positions
        out = get(model).feature_shapes(hw)  # (jit: one program a layer, not one an operation)
        target = jax.jit(_distance(model, style_loss).target, static_argnums=(1, 2))
        targets["style"] = {
            k: jax.tree.map(np.asarray, target(v, out[k][0] * out[k][1], list(STYLE).index(k)))
            for k, v in fs.items()
        }
    return x_rgb, x, targets, hw


def _ours(params, model, pooling, targets, x, report, style_loss="gram") -> Dict:
    """Our activations, terms and per-term gradients at x; our timings into the report."""
    import time

    import jax
    import jax.numpy as jnp

    jparams = jax.tree.map(jnp.asarray, params)
    how = dict(model=model, pooling=pooling, style_loss=style_loss)
    out = {
        "acts": {k: np.asarray(v) for k, v in _features(jparams, x, model, pooling).items()},
        "terms": {k: float(v) for k, v in _terms(jparams, targets, x, **how).items()},
        "grads": {k: np.asarray(v) for k, v in _jacobian(jparams, targets, x, **how).items()},
    }
    t = time.perf_counter()
    total_vg = _value_and_gradient.lower(jparams, targets, x, **how).compile()
    compile_s = time.perf_counter() - t
    report["timing"]["jax"] = {  # the same work in each framework: the loss, then its gradient
        "forward": median_seconds(lambda: _value(jparams, targets, x, **how).block_until_ready()),
        "forward_backward": median_seconds(lambda: total_vg(jparams, targets, x)[1].block_until_ready()),
        "compile": compile_s,
    }
    return out


def _torch(run: Run, report: Dict) -> None:
    """PyTorch's activations, terms and gradients (float32 and float64) against ours."""
    try:
        import torch
    except ImportError:
        raise NstError("compare needs PyTorch; pip install 'nst_jax[compare]'") from None
    from .torch_vgg import read_h5, torch_inputs, torch_terms

    layers, ours = get(run.model).layers, run.ours
    # terms(dtype, upto): (x as a tensor, activations up to layer `upto`, terms) in PyTorch
    inputs = {
        d: torch_inputs(read_h5(run.weights_path), run.targets, d) for d in (torch.float32, torch.float64)
    }
    terms_in = lambda dtype, upto: torch_terms(  # noqa: E731
        inputs[dtype][0], run.x.astype(np.float64 if dtype == torch.float64 else np.float32),
        inputs[dtype][1], run.model, run.pooling, upto, run.style_loss,
    )  # fmt: skip
    xt, acts, terms = terms_in(torch.float32, layers[-1])
    for name in layers:
        report["layers"].setdefault(name, {})["torch"] = diff(
            ours["acts"][name], acts[name].detach().permute(1, 2, 0).numpy()
        )
    for k, v in terms.items():
        (g,) = torch.autograd.grad(v, xt, retain_graph=True)
        report["terms"].setdefault(k, {"jax": ours["terms"][k]})
        report["terms"][k]["torch"] = float(v.detach())
        report["terms"][k]["torch_grad"] = diff(ours["grads"][k], g[0].permute(1, 2, 0).numpy())

    # float64 in both: rounding ~1e-15 cannot flip a max-pooling winner (see `worst`)
    xt64, _, terms64 = terms_in(torch.float64, None)
    ours64 = _grads64(run.params, run.model, run.pooling, run.targets, run.x, run.style_loss)
    for k, v in terms64.items():
        (g,) = torch.autograd.grad(v, xt64, retain_graph=True)
        report["terms"][k]["torch_grad64"] = diff(ours64[k], g[0].permute(1, 2, 0).numpy())

    def fwd():
        with torch.no_grad():
            sum(terms_in(torch.float32, None)[2].values())

    def fwd_bwd():
        sum(terms_in(torch.float32, None)[2].values()).backward()

    report["timing"]["torch"] = {"forward": median_seconds(fwd), "forward_backward": median_seconds(fwd_bwd)}


def _grads64(params, model, pooling, targets, x, style_loss="gram") -> Dict[str, np.ndarray]:
    """Each term's gradient, ours, in float64."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        p64, t64 = _float64(params), _float64(targets)
        g = _jacobian(
            p64, t64, jnp.asarray(x, jnp.float64), model=model, pooling=pooling, style_loss=style_loss
        )
        return {k: np.asarray(v) for k, v in g.items()}


def _finite_differences(params, model, pooling, targets, x, rng, directions, style_loss="gram") -> List[Dict]:
    """Float64 central differences (f(x + e v) - f(x - e v)) / 2e against grad . v."""
    import jax
    import jax.numpy as jnp

    out = []
    with jax.enable_x64(True):
        p64, t64 = _float64(params), _float64(targets)
        how = dict(model=model, pooling=pooling, style_loss=style_loss)
        f64 = lambda x: _value(p64, t64, x, **how)
        x64 = jnp.asarray(x, jnp.float64)
        g64 = _gradient(p64, t64, x64, **how)
        for _ in range(directions):
            v = jnp.asarray(rng.normal(size=x.shape))
            v = v / jnp.linalg.norm(v)
            eps = 1e-3
            fd = (f64(x64 + eps * v) - f64(x64 - eps * v)) / (2 * eps)
            an = jnp.vdot(g64, v)
            out.append(
                {
                    "analytic": float(an),
                    "numeric": float(fd),
                    "rel_error": float(abs(fd - an) / max(abs(an), 1e-30)),
                }
            )
    return out


def table(report: Dict) -> str:
    """The report as markdown: each layer's activations against every reference, each
    term and its gradient against the first (the one judged), the timings, the finite
    differences."""
    ref, others = report["references"][0], report["references"][1:]
    lines = [
        f"{report['model']} {report['size'][0]}x{report['size'][1]}, {report['pooling']} pooling, "
        f"{report.get('style_loss', 'gram')} style loss",
        "",
        f"| layer | {ref} max abs | {ref} max rel |" + "".join(f" {o} max rel |" for o in others),
        "| --- | --- | --- |" + " --- |" * len(others),
    ]
    for name, d in report["layers"].items():
        rel = "".join(f" {d[o]['max_rel']:.2e} |" if o in d else " — |" for o in others)
        lines.append(f"| {name} | {d[ref]['max_abs']:.2e} | {d[ref]['max_rel']:.2e} |{rel}")
    lines += (
        [
            "",
            f"| term | jax | {ref} | rel diff | grad rel L2 | grad max abs | grad cosine "
            "| grad rel L2 (float64) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        if report["terms"]
        else []
    )  # (Keras' VGG alone: activations only)
    for k, d in report["terms"].items():
        g, g64 = d[f"{ref}_grad"], _float64_grad(d)
        lines.append(
            f"| {k} | {d['jax']:.7g} | {d[ref]:.7g} | "
            f"{abs(d['jax'] - d[ref]) / max(abs(d[ref]), 1e-30):.1e} | "
            f"{g['rel_l2']:.1e} | {g['max_abs']:.2e} | {g['cosine']:.8f} | "
            + (f"{g64['rel_l2']:.1e} |" if g64 else "— |")
        )
    lines += ["", "| framework | forward | forward + backward | compile |", "| --- | --- | --- | --- |"]
    for fw, t in report["timing"].items():
        lines.append(
            f"| {fw} | {t['forward'] * 1e3:.0f} ms | {t['forward_backward'] * 1e3:.0f} ms | "
            + (f"{t['compile']:.1f} s |" if "compile" in t else "— |")
        )
    lines += [
        "",
        "finite differences (float64), relative error of grad . v: "
        + ", ".join(f"{d['rel_error']:.1e}" for d in report["finite_differences"]),
    ]
    return "\n".join(lines)


def _float64_grad(term: Dict) -> Optional[Dict]:
    """A term's float64 gradient comparison, whichever reference made it (or None)."""
    return next((v for k, v in term.items() if k.endswith("_grad64")), None)


def worst(report: Dict) -> Dict[str, float]:
    """The largest error of each kind, for tests and the exit status.

    Gradients: in float32 for average pooling. Max pooling's gradient jumps where two
    values of a window tie; values within float32 rounding (~1e-6) of each other are met
    by chance among the ~1e5 windows of an image, and each framework's own rounding may
    pick a different winner (both correct), so its float32 gradients can differ by ~1e-3
    in L2. For max pooling the criterion is therefore the float64 comparison, where no
    winner flips; the float32 figures are still reported. The same for --style-loss w2
    with either pooling: a layer with fewer positions than filters has singular values
    of C S_s^1/2 down to ~1e-5 sigma_max (relu3_1 at 64 px: 7.9e-6, 160 positions, 256
    filters), under float32's rounding threshold, so float32 drops them (distances.py)
    while float64 keeps them; each carries a unit-norm gradient u v^T, whatever its
    size: 1.3e-3 in L2 (float64: 1.1e-8). (ResNet50's float64 gradients are the PyTorch
    ResNet50's, torch_resnet.py; its float32 ones Keras'.)"""
    ref, terms = report["references"][0], list(report["terms"].values())
    float64 = report["pooling"] == "max" or report.get("style_loss", "gram") == "w2"

    def grad(term: Dict) -> float:  # the criterion's relative L2 error
        g64 = _float64_grad(term)
        return (g64 if float64 and g64 else term[f"{ref}_grad"])["rel_l2"]

    return {
        "activation_rel": max(d[fw]["max_rel"] for d in report["layers"].values() for fw in d),
        # (Keras' VGG alone, --framework keras, computes no terms: activations only)
        "term_rel": max((abs(d["jax"] - d[ref]) / max(abs(d[ref]), 1e-30) for d in terms), default=0.0),
        "grad_rel_l2": max((grad(d) for d in terms), default=0.0),
        "fd_rel": max(d["rel_error"] for d in report["finite_differences"]),
    }


# Issue #4's tolerances (gradients of max pooling: compared in float64, see `worst`).
# The finite-difference bound: central
# differences with a step of 1e-3 (pixel units) on a function with ReLU and max-pooling
# kinks measured 5e-9 .. 7e-7 relative error in float64; a wrong gradient is off by O(1).
# The other style losses meet the same bounds (VGG16, chelsea and starry_night at 64 px,
# max and avg pooling; measured, largest style term): terms 3.3e-6 (w2: ours float32
# against the torch reference's float64 trace), 2.8e-7 (sliced), 2.2e-7 (meanstd);
# float32 gradients (the criterion for avg pooling) 2.2e-5 (sliced: near-equal
# projections sort in another order), 3.1e-6 (meanstd), w2's 1.7e-3 (not the criterion:
# `worst`); float64 gradients 1.2e-8 (w2: eigenvalues' and singular values' rank
# thresholds), 2.3e-14 (sliced), 6.2e-15 (meanstd); finite differences at most 3.4e-8.
TOLERANCES = {
    "activation_rel": 1e-5,  # every reference's, every layer
    "term_rel": 1e-5,
    "grad_rel_l2": 1e-4,
    "fd_rel": 1e-5,
}


def within(report: Dict) -> List[str]:
    """Names of the figures over their tolerance (empty: all within)."""
    return [k for k, v in worst(report).items() if not v <= TOLERANCES[k]]
