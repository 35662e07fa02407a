"""Keras' own network (keras.applications) as the whole reference, for backbones without
a PyTorch one (ResNet50): its activations, the paper's loss terms on them and their
gradients by torch's autograd, on Keras' torch backend.

Keras builds `keras.applications.<Backbone.keras_app>(weights=FILE, include_top=False)`
and preprocesses with its own `preprocess_input` ("caffe" for VGG and ResNet50); the
terms are written again here in torch from the paper (Eq. 1, Eq. 4 with Gatys'
normalisation, total variation), apart from losses.py; the other style losses
(--style-loss w2, sliced, meanstd) from theirs in torch_distances.py. What is compared: per layer the
largest difference of the activations, per term the values and the gradient's relative
L2 error (compare.py's report, with "keras" where the VGG report has "torch").
"""

import os
from typing import Any, Dict, Sequence

import numpy as np

from ..errors import NstError
from ..image import StrPath
from .measure import diff, median_seconds
from .torch_distances import to_torch, torch_style_term


def keras_model(weights_path: StrPath, keras_app: str, input_shape: Sequence[int]) -> Any:
    """keras.applications.<keras_app> with these weights, on the torch backend."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise NstError("compare needs Keras 3 and PyTorch; pip install 'nst_jax[compare]'") from None
    if keras.backend.backend() != "torch":
        raise NstError(
            f"compare needs Keras on the torch backend, this process has {keras.backend.backend()}; "
            "run it with KERAS_BACKEND=torch"
        )
    return keras, getattr(keras.applications, keras_app)(
        weights=str(weights_path), include_top=False, input_shape=tuple(input_shape)
    )


def torch_terms(
    acts: Dict[str, Any],
    x: Any,
    targets: Dict[str, Any],
    content: str,
    style: Sequence[str],
    style_loss: str = "gram",
):
    """The paper's terms in torch from (1, h, w, C) activations and the (1, H, W, 3) image;
    the style terms under `style_loss` (gram: Eq. 4; the others: torch_distances.py)."""
    terms = {"content": 0.5 * ((acts[content][0] - targets["content"]) ** 2).sum()}  # Eq. 1
    for name in style:
        f = acts[name][0].reshape(-1, acts[name].shape[-1])  # (M, N)
        if style_loss != "gram":
            terms[f"style {name}"] = torch_style_term(f, targets["style"][name], style_loss)
            continue
        m_, n_ = f.shape
        g = f.T @ f  # (N, N), Eq. 3
        terms[f"style {name}"] = ((g - targets["style"][name]) ** 2).sum() / (4.0 * n_**2 * m_**2)  # Eq. 4
    terms["tv"] = ((x[:, 1:] - x[:, :-1]) ** 2).sum() + ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum()
    return terms


def keras_reference(
    weights_path: StrPath,
    bb: Any,
    x_rgb: np.ndarray,
    ours: Dict[str, Any],
    targets: Dict[str, Any],
    content: str,
    style: Sequence[str],
    report: Dict,
    style_loss: str = "gram",
) -> None:
    """Keras' activations at every layer, the terms (`style_loss`'s style terms) and their
    gradients against ours."""
    import torch

    keras, net = keras_model(weights_path, bb.keras_app, x_rgb.shape)
    names = list(bb.layers)
    probe = keras.Model(net.input, [net.get_layer(bb.keras_name(n)).output for n in names])
    pre = np.ascontiguousarray(
        keras.applications.imagenet_utils.preprocess_input(x_rgb[None].copy(), mode="caffe")
    )
    with torch.no_grad():
        outs = probe(torch.tensor(pre))
    for name, o in zip(names, outs):
        report["layers"].setdefault(name, {})["keras"] = diff(
            ours["acts"][name], keras.ops.convert_to_numpy(o)[0]
        )
    wanted = [content, *style]
    loss_net = keras.Model(net.input, [net.get_layer(bb.keras_name(n)).output for n in wanted])
    tg = {
        "content": torch.tensor(targets["content"]),
        "style": {k: to_torch(v) for k, v in targets["style"].items()},
    }

    def terms(grad: bool):
        xt = torch.tensor(np.ascontiguousarray(pre), dtype=torch.float32, requires_grad=grad)
        with torch.set_grad_enabled(grad):
            o = loss_net(xt)
            return xt, torch_terms(dict(zip(wanted, o)), xt, tg, content, style, style_loss)

    xt, values = terms(True)
    for k, v in values.items():
        (g,) = torch.autograd.grad(v, xt, retain_graph=True)
        report["terms"].setdefault(k, {"jax": ours["terms"][k]})
        report["terms"][k]["keras"] = float(v.detach())
        report["terms"][k]["keras_grad"] = diff(ours["grads"][k], g[0].numpy())

    def fwd_bwd():
        sum(terms(True)[1].values()).backward()

    report["timing"]["keras"] = {
        "forward": median_seconds(lambda: terms(False)),
        "forward_backward": median_seconds(fwd_bwd),
    }
