"""Keras' own VGG16/VGG19 (keras.applications) with Keras' own preprocessing.

An independent check of nst_jax's weight conversion, layer order, padding and
preprocessing: the activations of keras.applications.VGG16/VGG19(weights=FILE) against
ours (max pooling only: Keras' VGG has no average option); on the torch backend also
the time of its forward pass and of the backward pass by torch's autograd.
"""

import os
from typing import Any, Dict, Sequence

import numpy as np

from ..errors import NstError
from ..io.files import StrPath
from ..paper.vgg import layers
from .measure import diff, median_seconds
from .torch_distances import torch_targets
from .torch_vgg import CONTENT, STYLE, torch_loss


def keras_layers(
    weights_path: StrPath,
    model: str,
    x_rgb: np.ndarray,
    ours_acts: Dict[str, np.ndarray],
    names: Sequence[str],
    targets: Dict[str, Any],
    style_loss: str = "gram",
) -> Dict:
    """Keras' activations of the (H, W, 3) RGB image x_rgb at `names` against ours
    (`ours_acts`), and on the torch backend the timings of the loss (`targets`, under
    `style_loss`)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        raise NstError("compare --framework keras needs Keras 3; pip install 'nst_jax[compare]'") from None
    app = {"vgg16": keras.applications.vgg16, "vgg19": keras.applications.vgg19}[model]
    net = (keras.applications.VGG16 if model == "vgg16" else keras.applications.VGG19)(
        weights=str(weights_path), include_top=False, input_shape=x_rgb.shape
    )
    keras_name = {layer.name: layer.keras for layer in layers(model)}  # relu4_2 -> block4_conv2
    probe = keras.Model(net.input, [net.get_layer(keras_name[n]).output for n in names])
    pre = app.preprocess_input(x_rgb[None].copy())  # Keras' own preprocessing
    outs = probe(pre)
    out = {"backend": keras.backend.backend(), "layers": {}}
    for name, o in zip(names, outs):
        out["layers"][name] = diff(ours_acts[name], keras.ops.convert_to_numpy(o)[0])
    if out["backend"] == "torch":  # timings: Keras' forward, and backward by torch autograd
        import torch

        ref_t = torch_targets(targets, torch.float32)
        wanted = (CONTENT,) + STYLE  # the same work as the others: up to relu5_1
        loss_net = keras.Model(net.input, [net.get_layer(keras_name[n]).output for n in wanted])

        def loss(grad):
            xt = torch.tensor(np.ascontiguousarray(pre), dtype=torch.float32, requires_grad=grad)
            with torch.set_grad_enabled(grad):
                o = loss_net(xt)
                acts = {n: o[i][0].permute(2, 0, 1) for i, n in enumerate(wanted)}
                total = sum(torch_loss(acts, xt.permute(0, 3, 1, 2), ref_t, style_loss).values())
                if grad:
                    total.backward()

        out["timing"] = {
            "forward": median_seconds(lambda: loss(False)),
            "forward_backward": median_seconds(lambda: loss(True)),
        }
    return out
