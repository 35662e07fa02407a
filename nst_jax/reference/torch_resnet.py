"""A PyTorch ResNet50 (v1), written independently of nst_jax's JAX code: what `bench`
times nst_jax's ResNet50 against, and `compare`'s float64 check of its gradients.

torch.nn.functional in NCHW: conv2d (7x7 stride 2 on 3 px of zero padding; 3x3 with
padding 1; 1x1), batch_norm in inference mode on the stored statistics (not folded),
relu, max_pool2d 3x3 stride 2 on 1 px of zero padding; the stride of each stage in its
first block's first 1x1 convolution, as Keras' ResNet50. Its own few lines of h5py read
the weights file (legacy and Keras 3 layouts). Only Keras' layer names are shared. The
other style losses (--style-loss w2, sliced, meanstd): torch_distances.py.
"""

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from ..io.files import StrPath
from .torch_distances import paper_terms, torch_targets

STAGES = ((2, 3, 1), (3, 4, 2), (4, 6, 2), (5, 3, 2))  # (stage, blocks, stride): He et al., Table 1
EPS = 1.001e-5


def read_h5(path: StrPath) -> Dict[str, Tuple[np.ndarray, ...]]:
    """{Keras layer: its arrays in weight order} for the convolutions and batch norms."""
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        if "layers" in f:  # Keras 3: layers/<object>/vars/0..n
            for g in f["layers"].values():
                v = g.get("vars")
                if v is not None and len(v):
                    out[str(v.attrs["name"])] = tuple(v[str(i)][()] for i in range(len(v)))
        else:  # legacy, possibly under model_weights
            root = f["model_weights"] if "model_weights" in f else f
            for name in root.attrs["layer_names"]:
                name = name.decode() if isinstance(name, bytes) else str(name)
                w = [n.decode() if isinstance(n, bytes) else str(n) for n in root[name].attrs["weight_names"]]
                if w:
                    out[name] = tuple(root[name][n][()] for n in w)
    return out


def torch_weights(arrays: Dict[str, Tuple[np.ndarray, ...]], dtype: Any) -> Dict[str, Tuple[Any, ...]]:
    """Convolutions' kernels HWIO -> OIHW tensors; batch norms' four arrays as tensors."""
    import torch

    out = {}
    for k, a in arrays.items():
        t = [torch.tensor(np.asarray(x), dtype=dtype) for x in a]
        if k.endswith("_conv"):
            t[0] = t[0].permute(3, 2, 0, 1).contiguous()  # (kh, kw, I, O) -> (O, I, kh, kw)
        out[k] = tuple(t)
    return out


def features(w: Dict[str, Tuple[Any, ...]], x: Any, names: Sequence[str]) -> Dict[str, Any]:
    """(1, 3, H, W) Caffe-preprocessed -> {Keras name: (1, C, h, w)} up to the deepest of names."""
    import torch.nn.functional as F

    acts: Dict[str, Any] = {}
    wanted = set(names)

    def conv_bn(h, name, stride=1, relu=True):
        kernel, bias = w[f"{name}_conv"]
        pad = 1 if kernel.shape[-1] == 3 else 0
        h = acts[f"{name}_conv"] = F.conv2d(h, kernel, bias, stride=stride, padding=pad)
        g, b, mean, var = w[f"{name}_bn"]
        h = acts[f"{name}_bn"] = F.batch_norm(h, mean, var, g, b, training=False, eps=EPS)
        if relu:
            h = acts[f"{name}_relu"] = F.relu(h)
        return h

    h = conv_bn(F.pad(x, (3, 3, 3, 3)), "conv1", stride=2)
    h = acts["pool1_pool"] = F.max_pool2d(F.pad(h, (1, 1, 1, 1)), 3, stride=2)
    for stage, blocks, stride in STAGES:
        for b in range(1, blocks + 1):
            if wanted <= set(acts):
                return {n: acts[n] for n in names}  # nothing past the deepest requested
            name, s = f"conv{stage}_block{b}", stride if b == 1 else 1
            shortcut = conv_bn(h, f"{name}_0", s, relu=False) if b == 1 else h
            y = conv_bn(conv_bn(h, f"{name}_1", s), f"{name}_2")
            y = acts[f"{name}_add"] = conv_bn(y, f"{name}_3", relu=False) + shortcut
            h = acts[f"{name}_out"] = F.relu(y)
    return {n: acts[n] for n in names}


def torch_terms(
    w: Dict[str, Tuple[Any, ...]],
    x: Any,
    targets: Dict[str, Any],
    content: str,
    style: Sequence[str],
    style_loss: str = "gram",
) -> Dict[str, Any]:
    """The paper's terms (Eq. 1, Eq. 4 with Gatys' normalisation, total variation) of a
    (1, 3, H, W) image, targets as tensors: content (C, h, w), style {layer: (C, C)} (or
    under another `style_loss`, its target: torch_distances.py)."""
    f = features(w, x, [content, *style])
    return paper_terms({n: v[0] for n, v in f.items()}, x, targets, content, style, style_loss)


def check(
    weights_path: StrPath,
    x: np.ndarray,
    targets: Dict[str, Any],
    content: str,
    style: Sequence[str],
    ours: Dict[str, Any],
    ours64: Dict[str, np.ndarray],
    report: Dict,
    style_loss: str = "gram",
) -> None:
    """Into compare's report: our activations at every layer against these (float32), and
    each term's gradient against autograd's in float64 (`ours64`: ours in float64)."""
    import torch

    from .measure import diff

    arrays = read_h5(weights_path)
    for dtype in (torch.float32, torch.float64):
        w = torch_weights(arrays, dtype)
        xt = torch.tensor(np.ascontiguousarray(x), dtype=dtype).permute(2, 0, 1)[None].requires_grad_(True)
        if dtype == torch.float32:
            names = list(report["layers"])
            with torch.no_grad():
                acts = features(w, xt, names)
            for n in names:
                report["layers"][n]["torch"] = diff(ours["acts"][n], acts[n][0].permute(1, 2, 0).numpy())
            continue
        for k, v in torch_terms(w, xt, torch_targets(targets, dtype), content, style, style_loss).items():
            (g,) = torch.autograd.grad(v, xt, retain_graph=True)
            report["terms"][k]["torch_grad64"] = diff(ours64[k], g[0].permute(1, 2, 0).numpy())
