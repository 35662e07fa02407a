"""Cross-framework check: our features, losses and gradients against PyTorch and Keras.

`python -m nst_jax compare [CONTENT STYLE] --weights FILE.h5 --size N` computes, on the
same preprocessed image:
  - ours: vgg.features and the losses of losses.py, gradients by jax.grad;
  - a PyTorch reference written independently with torch.nn.functional (conv2d with
    padding 1, relu, max/avg pool), reading the same HDF5 file with its own few lines of
    h5py, gradients by autograd;
  - Keras' own keras.applications.VGG16/VGG19(weights=FILE) on the torch backend, with
    Keras' own preprocess_input: an independent check of our weight conversion, layer
    order, padding and preprocessing (max pooling only: Keras' VGG has no avg option).
It reports per layer the largest absolute and relative difference of the activations;
per loss term (content, each style layer, tv) both values and the gradient's relative L2
error, largest absolute error and cosine; the time of a forward and of a
forward-and-backward pass in each framework (median after warm-up; JAX's compile time
apart); and a float64 finite-difference check of our gradient along random directions.
"""

import os
import statistics
import time
from typing import Dict, List

import numpy as np

from . import image as im
from .errors import NstError
from .vgg import BLOCK_SIZES, conv_layers

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT = "relu4_2"


def read_h5(path) -> Dict[str, tuple]:
    """Independent reader: {'conv1_1': (kernel HWIO, bias)} from the file's own attributes."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        if "layers" in f:  # Keras 3
            for g in f["layers"].values():
                if "vars" in g and len(g["vars"]) == 2:
                    name = g["vars"].attrs["name"]
                    out[name] = (g["vars"]["0"][()], g["vars"]["1"][()])
        else:  # Keras 1/2, possibly under model_weights
            root = f["model_weights"] if "model_weights" in f else f
            for name in root.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else str(name)
                w = [n.decode() if isinstance(n, bytes) else str(n)
                     for n in root[name].attrs["weight_names"]]
                if len(w) == 2:
                    out[name] = (root[name][w[0]][()], root[name][w[1]][()])
    return {f"conv{k[5]}_{k.split('_conv')[1]}": v for k, v in out.items() if "_conv" in k}


def torch_inputs(weights, targets, dtype):
    """Convert once: conv weights to OIHW tensors, targets to tensors."""
    import torch
    w = {k: (torch.tensor(kern, dtype=dtype).permute(3, 2, 0, 1).contiguous(),  # HWIO -> OIHW
             torch.tensor(bias, dtype=dtype)) for k, (kern, bias) in weights.items()}
    t = {"content": torch.tensor(targets["content"], dtype=dtype).permute(2, 0, 1),
         "style": {k: torch.tensor(v, dtype=dtype) for k, v in targets["style"].items()}}
    return w, t


def torch_terms(weights, x_hwc, targets, model, pooling, last=None):
    """PyTorch, written from the paper: activations up to `last` (default: the deepest
    layer the losses need) and the loss terms of a (H, W, 3) preprocessed image."""
    import torch
    import torch.nn.functional as F
    dtype = weights["conv1_1"][0].dtype
    if isinstance(x_hwc, torch.Tensor):  # already (1, 3, H, W) on its device (bench.py)
        x = x_hwc.requires_grad_(True)
    else:
        x = torch.tensor(np.ascontiguousarray(x_hwc), dtype=dtype).permute(2, 0, 1)[None]
        x.requires_grad_(True)
    acts, h = {}, x
    for b, n in enumerate(BLOCK_SIZES[model], 1):
        if b > 1:
            h = (F.max_pool2d if pooling == "max" else F.avg_pool2d)(h, 2)
        for i in range(1, n + 1):
            w, bias = weights[f"conv{b}_{i}"]
            h = F.relu(F.conv2d(h, w, bias, padding=1))  # 3x3, zero padding 1 = SAME
            acts[f"relu{b}_{i}"] = h[0]
            if f"relu{b}_{i}" == (last or STYLE[-1]):
                break
        else:
            continue
        break
    return x, acts, torch_loss(acts, x, targets)


def torch_loss(acts, x, targets):
    """The paper's terms from (C, h, w) activations and the (1, 3, H, W) image, in torch."""
    terms = {"content": 0.5 * ((acts[CONTENT] - targets["content"]) ** 2).sum()}  # Eq. 1
    for name in STYLE:
        f = acts[name].reshape(acts[name].shape[0], -1)  # (N, M)
        n_, m_ = f.shape
        terms[f"style {name}"] = ((f @ f.T - targets["style"][name]) ** 2).sum() / (4.0 * n_ ** 2 * m_ ** 2)
    terms["tv"] = ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum() + \
        ((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum()
    return terms


def jax_terms_fn(params, model, pooling, targets):
    """Ours: x -> {term: value}, built from losses.py."""
    from .losses import content_loss, style_layer_loss, tv_loss
    from .vgg import features

    def terms(x):
        f = features(params, x, (CONTENT,) + STYLE, model, pooling)
        out = {"content": content_loss(f[CONTENT], targets["content"])}
        out.update({f"style {n}": style_layer_loss(f[n], targets["style"][n]) for n in STYLE})
        out["tv"] = tv_loss(x)
        return out
    return terms


def _diff(a, b) -> Dict[str, float]:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    scale = max(np.abs(b).max(), 1e-30)
    return {"max_abs": float(np.abs(a - b).max()), "max_rel": float(np.abs(a - b).max() / scale),
            "rel_l2": float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)),
            "cosine": float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))}


def _float64(tree):
    """Every array of a pytree as float64 (call inside jax.enable_x64)."""
    import jax
    import jax.numpy as jnp
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _median_seconds(fn, repeats=3):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def compare(content, style, weights_path, *, model=None, size=128, pooling="max",
            frameworks=("torch", "keras"), fd_directions=3, seed=0) -> Dict:
    import jax
    import jax.numpy as jnp
    from . import weights as wt
    from .losses import gram
    from .vgg import features
    file_model, params = wt.load_weights(weights_path, model)
    model = file_model
    rgb_c = im.load_image(content)[0]
    hw = im.fit_size(*rgb_c.shape[:2], size)
    c = im.resize(rgb_c, *hw)
    if "keras" in frameworks and pooling == "max" and min(hw) < 32:
        raise NstError(f"Keras' VGG needs at least 32 px per side, the image is {hw[1]}x{hw[0]}; "
                       "raise --size or pass --framework torch")
    s_rgb = im.load_image(style)[0]
    s = im.resize(s_rgb, *im.fit_size(*s_rgb.shape[:2], size))
    rng = np.random.default_rng(seed)
    # The image compared: the content photo plus Gaussian noise, so the content gradient is
    # not zero. Not clipped: clipping makes flat saturated regions, whose exactly equal
    # activations tie in max pooling, where JAX and PyTorch route the gradient to different
    # (equally valid) elements; continuous noise leaves no ties.
    x_rgb = (c + rng.normal(0, 20, c.shape)).astype(np.float32)
    x = np.asarray(im.preprocess(x_rgb), np.float32)
    jparams = jax.tree.map(jnp.asarray, params)
    fc = features(jparams, im.preprocess(c), [CONTENT], model, pooling)
    fs = features(jparams, im.preprocess(s), STYLE, model, pooling)
    targets = {"content": np.asarray(fc[CONTENT]), "style": {k: np.asarray(gram(v)) for k, v in fs.items()}}
    report = {"model": model, "pooling": pooling, "size": [hw[1], hw[0]], "layers": {}, "terms": {},
              "timing": {}, "finite_differences": []}

    layers = conv_layers(model)
    terms_fn = jax_terms_fn(jparams, model, pooling, targets)
    feats = jax.jit(lambda x: features(jparams, x, layers, model, pooling))
    ours_acts = {k: np.asarray(v) for k, v in feats(x).items()}
    ours_terms = {k: float(v) for k, v in jax.jit(terms_fn)(x).items()}
    grad_of = jax.jit(jax.jacrev(terms_fn))
    t = time.perf_counter()
    total_vg = jax.jit(jax.value_and_grad(lambda x: sum(terms_fn(x).values()))).lower(x).compile()
    compile_s = time.perf_counter() - t
    ours_grads = {k: np.asarray(v) for k, v in grad_of(x).items()}
    total_v = jax.jit(lambda x: sum(terms_fn(x).values()))
    report["timing"]["jax"] = {  # the same work in each framework: the loss, then its gradient
        "forward": _median_seconds(lambda: total_v(x).block_until_ready()),
        "forward_backward": _median_seconds(lambda: total_vg(x)[1].block_until_ready()),
        "compile": compile_s}

    if "torch" in frameworks:
        try:
            import torch
        except ImportError:
            raise NstError("compare needs PyTorch: pip install 'nst_jax[compare]'") from None
        ref_w, ref_t = torch_inputs(read_h5(weights_path), targets, torch.float32)
        xt, acts, terms = torch_terms(ref_w, x, ref_t, model, pooling, last=layers[-1])
        for name in layers:
            report["layers"].setdefault(name, {})["torch"] = _diff(
                ours_acts[name], acts[name].detach().permute(1, 2, 0).numpy())
        for k, v in terms.items():
            g, = torch.autograd.grad(v, xt, retain_graph=True)
            report["terms"].setdefault(k, {"jax": ours_terms[k]})
            report["terms"][k]["torch"] = float(v.detach())
            report["terms"][k]["torch_grad"] = _diff(ours_grads[k], g[0].permute(1, 2, 0).numpy())

        # float64 in both: rounding ~1e-15 cannot flip a max-pooling winner (see `worst`)
        ref_w64, ref_t64 = torch_inputs(read_h5(weights_path), targets, torch.float64)
        xt64, _, terms64 = torch_terms(ref_w64, x.astype(np.float64), ref_t64, model, pooling)
        with jax.enable_x64(True):
            p64, t64 = _float64(params), _float64(targets)
            ours64 = jax.jit(jax.jacrev(jax_terms_fn(p64, model, pooling, t64)))(
                jnp.asarray(x, jnp.float64))
            ours64 = {k: np.asarray(v) for k, v in ours64.items()}
        for k, v in terms64.items():
            g, = torch.autograd.grad(v, xt64, retain_graph=True)
            report["terms"][k]["torch_grad64"] = _diff(ours64[k], g[0].permute(1, 2, 0).numpy())

        def fwd():
            with torch.no_grad():
                sum(torch_terms(ref_w, x, ref_t, model, pooling)[2].values())

        def fwd_bwd():
            sum(torch_terms(ref_w, x, ref_t, model, pooling)[2].values()).backward()
        report["timing"]["torch"] = {"forward": _median_seconds(fwd),
                                     "forward_backward": _median_seconds(fwd_bwd)}

    if "keras" in frameworks and pooling == "max":
        report["keras"] = _keras_layers(weights_path, model, x_rgb, ours_acts, layers, targets)
        if "timing" in report["keras"]:
            report["timing"]["keras"] = report["keras"].pop("timing")

    # finite differences in float64: (f(x + e v) - f(x - e v)) / 2e against grad . v
    with jax.enable_x64(True):
        p64, t64 = _float64(params), _float64(targets)
        f64 = jax.jit(lambda x: sum(jax_terms_fn(p64, model, pooling, t64)(x).values()))
        x64 = jnp.asarray(x, jnp.float64)
        g64 = jax.jit(jax.grad(f64))(x64)
        for _ in range(fd_directions):
            v = jnp.asarray(rng.normal(size=x.shape))
            v = v / jnp.linalg.norm(v)
            eps = 1e-3
            fd = (f64(x64 + eps * v) - f64(x64 - eps * v)) / (2 * eps)
            an = jnp.vdot(g64, v)
            report["finite_differences"].append(
                {"analytic": float(an), "numeric": float(fd),
                 "rel_error": float(abs(fd - an) / max(abs(an), 1e-30))})
    return report


def _keras_layers(weights_path, model, x_rgb, ours_acts, layers, targets) -> Dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise NstError("compare --framework keras needs Keras 3: pip install 'nst_jax[compare]'") from None
    app = {"vgg16": keras.applications.vgg16, "vgg19": keras.applications.vgg19}[model]
    net = (keras.applications.VGG16 if model == "vgg16" else keras.applications.VGG19)(
        weights=str(weights_path), include_top=False, input_shape=x_rgb.shape)
    names = [f"block{n[4]}_conv{n[6:]}" for n in layers]
    probe = keras.Model(net.input, [net.get_layer(n).output for n in names])
    pre = app.preprocess_input(x_rgb[None].copy())  # Keras' own preprocessing
    outs = probe(pre)
    out = {"backend": keras.backend.backend(), "layers": {}}
    for name, o in zip(layers, outs):
        out["layers"][name] = _diff(ours_acts[name], keras.ops.convert_to_numpy(o)[0])
    if out["backend"] == "torch":  # timings: Keras' forward, and backward by torch autograd
        import torch
        _, ref_t = torch_inputs({}, targets, torch.float32)
        wanted = (CONTENT,) + STYLE  # the same work as the others: up to relu5_1
        loss_net = keras.Model(net.input, [net.get_layer(f"block{n[4]}_conv{n[6:]}").output
                                           for n in wanted])

        def loss(grad):
            xt = torch.tensor(np.ascontiguousarray(pre), dtype=torch.float32, requires_grad=grad)
            with torch.set_grad_enabled(grad):
                o = loss_net(xt)
                acts = {n: o[i][0].permute(2, 0, 1) for i, n in enumerate(wanted)}
                total = sum(torch_loss(acts, xt.permute(0, 3, 1, 2), ref_t).values())
                if grad:
                    total.backward()
        out["timing"] = {"forward": _median_seconds(lambda: loss(False)),
                         "forward_backward": _median_seconds(lambda: loss(True))}
    return out


def table(report: Dict) -> str:
    lines = [f"{report['model']} {report['size'][0]}x{report['size'][1]}, {report['pooling']} pooling",
             "", "| layer | torch max abs | torch max rel |" + (" keras max rel |" if "keras" in report else ""),
             "| --- | --- | --- |" + (" --- |" if "keras" in report else "")]
    for name, d in report["layers"].items():
        k = f" {report['keras']['layers'][name]['max_rel']:.2e} |" if "keras" in report else ""
        lines.append(f"| {name} | {d['torch']['max_abs']:.2e} | {d['torch']['max_rel']:.2e} |{k}")
    lines += ["", "| term | jax | torch | rel diff | grad rel L2 | grad max abs | grad cosine "
              "| grad rel L2 (float64) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, d in report["terms"].items():
        g = d["torch_grad"]
        lines.append(f"| {k} | {d['jax']:.7g} | {d['torch']:.7g} | "
                     f"{abs(d['jax'] - d['torch']) / max(abs(d['torch']), 1e-30):.1e} | "
                     f"{g['rel_l2']:.1e} | {g['max_abs']:.2e} | {g['cosine']:.8f} | "
                     f"{d['torch_grad64']['rel_l2']:.1e} |")
    lines += ["", "| framework | forward | forward + backward | compile |", "| --- | --- | --- | --- |"]
    for fw, t in report["timing"].items():
        lines.append(f"| {fw} | {t['forward'] * 1e3:.0f} ms | {t['forward_backward'] * 1e3:.0f} ms | "
                     + (f"{t['compile']:.1f} s |" if "compile" in t else "— |"))
    lines += ["", "finite differences (float64), relative error of grad . v: "
              + ", ".join(f"{d['rel_error']:.1e}" for d in report["finite_differences"])]
    return "\n".join(lines)


def worst(report: Dict) -> Dict[str, float]:
    """The largest error of each kind, for tests and the exit status.

    Gradients: in float32 for average pooling. Max pooling's gradient jumps where two
    values of a window tie; values within float32 rounding (~1e-6) of each other are met
    by chance among the ~1e5 windows of an image, and each framework's own rounding may
    pick a different winner (both correct), so its float32 gradients can differ by ~1e-3
    in L2. For max pooling the criterion is therefore the float64 comparison, where no
    winner flips; the float32 figures are still reported."""
    grad_key = "torch_grad" if report["pooling"] == "avg" else "torch_grad64"
    return {
        "activation_rel": max(d["torch"]["max_rel"] for d in report["layers"].values()),
        "keras_activation_rel": max((d["max_rel"] for d in report.get("keras", {}).get("layers", {}).values()), default=0.0),
        "term_rel": max(abs(d["jax"] - d["torch"]) / max(abs(d["torch"]), 1e-30) for d in report["terms"].values()),
        "grad_rel_l2": max(d[grad_key]["rel_l2"] for d in report["terms"].values()),
        "fd_rel": max(d["rel_error"] for d in report["finite_differences"]),
    }


# Issue #4's tolerances (gradients of max pooling: compared in float64, see `worst`).
# The finite-difference bound: central
# differences with a step of 1e-3 (pixel units) on a function with ReLU and max-pooling
# kinks measured 5e-9 .. 7e-7 relative error in float64; a wrong gradient is off by O(1).
TOLERANCES = {"activation_rel": 1e-5, "keras_activation_rel": 1e-5, "term_rel": 1e-5,
              "grad_rel_l2": 1e-4, "fd_rel": 1e-5}


def within(report: Dict) -> List[str]:
    """Names of the figures over their tolerance (empty: all within)."""
    return [k for k, v in worst(report).items() if not v <= TOLERANCES[k]]
