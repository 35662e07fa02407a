"""A PyTorch VGG and the paper's losses, written independently of nst_jax's JAX code.

What `compare` and `bench` hold nst_jax against: torch.nn.functional's conv2d (zero
padding 1), relu and max/avg pooling in NCHW, the losses of Gatys et al. written again
from the paper, gradients by autograd, and its own few lines of h5py to read the
weights file. Only the layer table (vgg.layers: names and order) is shared. The other
style losses (--style-loss w2, sliced, meanstd): torch_distances.py.
"""

from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..io.files import StrPath
from ..paper.vgg import layers
from .torch_distances import paper_terms, torch_targets

STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT = "relu4_2"


def read_h5(path: StrPath) -> Dict[str, tuple]:
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
                w = [n.decode() if isinstance(n, bytes) else str(n) for n in root[name].attrs["weight_names"]]
                if len(w) == 2:
                    out[name] = (root[name][w[0]][()], root[name][w[1]][()])
    names = {layer.keras: layer.conv for layer in layers("vgg19")}  # block1_conv1 -> conv1_1
    return {names[k]: v for k, v in out.items() if k in names}


def conv_weights(weights: Dict[str, Tuple[Any, Any]], dtype: Any) -> Dict[str, Tuple[Any, Any]]:
    """Each conv's (kernel HWIO, bias) as tensors: (OIHW, bias)."""
    import torch

    return {
        k: (
            torch.tensor(kern, dtype=dtype).permute(3, 2, 0, 1).contiguous(),  # HWIO -> OIHW
            torch.tensor(bias, dtype=dtype),
        )
        for k, (kern, bias) in weights.items()
    }


def torch_inputs(
    weights: Dict[str, Tuple[Any, Any]], targets: Dict[str, Any], dtype: Any
) -> Tuple[Dict[str, Tuple[Any, Any]], Dict[str, Any]]:
    """Convert once: conv weights to OIHW tensors, targets to tensors (a style target
    of distances.py, a NamedTuple of arrays, as the same NamedTuple of tensors)."""
    return conv_weights(weights, dtype), torch_targets(targets, dtype)


def torch_terms(
    weights: Dict[str, Tuple[Any, Any]],
    x_hwc: Any,
    targets: Dict[str, Any],
    model: str,
    pooling: str,
    last: Optional[str] = None,
    style_loss: str = "gram",
) -> Tuple[Any, Dict[str, Any], Dict[str, Any]]:
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
    for layer in layers(model):
        if layer.block > 1 and layer.conv.endswith("_1"):  # 2x2 pooling between blocks
            h = (F.max_pool2d if pooling == "max" else F.avg_pool2d)(h, 2)
        w, bias = weights[layer.conv]
        h = F.relu(F.conv2d(h, w, bias, padding=1))  # 3x3, zero padding 1 = SAME
        acts[layer.name] = h[0]
        if layer.name == (last or STYLE[-1]):
            break
    return x, acts, torch_loss(acts, x, targets, style_loss)


def torch_loss(
    acts: Dict[str, Any], x: Any, targets: Dict[str, Any], style_loss: str = "gram"
) -> Dict[str, Any]:
    """The paper's terms (torch_distances.paper_terms) of VGG's default layers from (C, h, w)
    activations and the (1, 3, H, W) image."""
    return paper_terms(acts, x, targets, CONTENT, STYLE, style_loss)
