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
from ..io.files import StrPath
from .measure import diff, median_seconds
from .torch_distances import paper_terms, torch_targets


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
    tg = torch_targets(targets, channels_first=False)  # (Keras' layout)

    def terms(grad: bool):
        xt = torch.tensor(np.ascontiguousarray(pre), dtype=torch.float32, requires_grad=grad)
        with torch.set_grad_enabled(grad):
            o = loss_net(xt)
            acts = {n: v[0] for n, v in zip(wanted, o)}  # (h, w, C): Keras' layout
            return xt, paper_terms(acts, xt, tg, content, style, style_loss, channels_last=True)

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
