"""Gatys-normalised VGG weights: every filter's mean activation rescaled to 1.

Gatys, Ecker & Bethge (CVPR 2016), Sec. 2: "We normalized the network by scaling the
weights such that the mean activation of each convolutional filter over images and
positions is equal to one. Such re-scaling can be done for the VGG network without
changing its output, because it contains only rectifying linear activation functions
and no normalization or pooling over feature maps."

With c^l_j the mean activation of filter j of layer l in the original network (over the
given images and all positions), the rescaled layer is

    W'^l_{..ij} = W^l_{..ij} c^{l-1}_i / c^l_j,     b'^l_j = b^l_j / c^l_j

(c^0 = 1 for the image's channels). By induction every activation becomes
F'^l_j = F^l_j / c^l_j: the input to layer l is F^{l-1}/c^{l-1}, which the kernel's
factor c^{l-1}_i undoes; ReLU, max and average pooling commute with a positive
per-channel factor. So one forward pass of the original network gives every c^l, and
the new network computes the same features up to a per-channel scale, with mean 1.

What changes for style transfer is the weighting inside the losses: a Gram entry
G'_ij = G_ij / (c_i c_j), so filters with small activations, and the deep layers,
count for more than in the raw ImageNet weights. Gatys used ImageNet images; here the
means are taken over a fixed reference set, the seven public-domain/CC0 photos and
paintings bundled in nst_jax/data (central squares, 256 px: io/image_files.reference_set), so that the normalised network depends on
the weights only. A set of two images (a run's content and style) was measured to be
too small: filters that hardly fire on those two get means 20-100x below their
7-image values (relu2_1: 0.34 vs 8.7), and their 1/c then dominates the style loss.
"""

from functools import partial
from typing import Dict, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .vgg import conv_layers, features, layers

Params = Dict[str, Dict[str, np.ndarray]]


@partial(jax.jit, static_argnames=("model", "pooling"))
def _sums(params: Params, x: jax.Array, model: str, pooling: str) -> Dict:
    """{layer: ((C,) sum of its activations over the positions, positions)} of one image;
    compiled once per model, pooling and size."""
    return {
        k: (jnp.sum(v, axis=(0, 1)), v.shape[0] * v.shape[1])  # (h, w, C) -> (C,), h w
        for k, v in features(params, x, conv_layers(model), model, pooling).items()
    }


def mean_activations(
    params: Params, images: Sequence, model: str, pooling: str = "max"
) -> Dict[str, np.ndarray]:
    """{'relu1_1': (64,) c^l, ...}: each filter's mean activation over the images
    (preprocessed (H, W, 3), any sizes) and all their positions."""
    layers = conv_layers(model)
    sums = partial(_sums, model=model, pooling=pooling)
    total: Dict[str, np.ndarray] = {}  # {layer: (C,) sum over the images and positions}
    count: Dict[str, int] = {}  # {layer: positions}
    for x in images:  # one forward pass per image: (H, W, 3) -> {layer: (C,) sum, positions}
        for name, (s, m) in sums(params, jnp.asarray(x, jnp.float32)).items():
            total[name] = total.get(name, 0.0) + np.asarray(s, np.float64)
            count[name] = count.get(name, 0) + int(m)
    return {name: total[name] / count[name] for name in layers}


def normalize_weights(
    params: Params, model: str, pooling: str, images: Sequence
) -> Tuple[Params, Dict[str, np.ndarray]]:
    """(rescaled params, {layer: c^l}): every filter's mean activation over `images`
    (preprocessed (H, W, 3); the run gives the bundled reference set,
    io/image_files.reference_set) is 1. A filter that never fires on them (c = 0) keeps
    its scale (factor 1)."""
    means = mean_activations(params, images, model, pooling)
    out, c_in = dict(params), np.ones(3)  # c^0 = 1: the image channels are not rescaled
    for name, conv in ((layer.name, layer.conv) for layer in layers(model)):  # in order:
        c_out = np.where(means[name] > 0, means[name], 1.0)  # (C_out,); each layer needs c^{l-1}
        kernel = np.asarray(params[conv]["kernel"], np.float64)  # (3, 3, C_in, C_out)
        # W'_{..ij} = W_{..ij} c^{l-1}_i / c^l_j ;  b'_j = b_j / c^l_j
        out[conv] = {
            "kernel": (kernel * c_in[:, None] / c_out).astype(np.float32),
            "bias": (np.asarray(params[conv]["bias"], np.float64) / c_out).astype(np.float32),
        }
        c_in = c_out
    return out, means
