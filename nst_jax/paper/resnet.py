"""ResNet50 (v1), block by block, in Flax, as Keras' applications define it.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016),
Table 1, column 50-layer; Keras' `keras.applications.ResNet50` (v1, the stride in the
first 1x1 convolution of each stage's first block):

    conv1       7x7, 64, stride 2 (3 px of zero padding); batch norm; ReLU      H/2
    pool1       3x3 max, stride 2 (1 px of zero padding)                          H/4
    conv2_x     [1x1, 64;  3x3, 64;  1x1, 256]  x 3   (stride 1)                 H/4
    conv3_x     [1x1, 128; 3x3, 128; 1x1, 512]  x 4   (stride 2 in block1's 1x1) H/8
    conv4_x     [1x1, 256; 3x3, 256; 1x1, 1024] x 6                               H/16
    conv5_x     [1x1, 512; 3x3, 512; 1x1, 2048] x 3                               H/32

A bottleneck block (`_block`): y = ReLU(F(x) + S(x)), F = three convolutions each with
batch norm (ReLU after the first two), S the identity, or in a stage's first block a 1x1
convolution with batch norm (`_0_conv`, `_0_bn`) to the new width and stride.

Names are Keras' own (`conv4_block1_1_conv`, `conv4_block1_out`, ...), as the reports
that use this network cite them. A `_conv` layer is the convolution's output, before its
batch norm and ReLU, as Keras' Conv2D layer outputs it; `_bn`, `_relu`, `_add` and `_out`
the later steps.

Batch norm at inference is an affine map per channel, computed once from the stored
statistics (`bn_affine`):

    BN(x) = gamma (x - mu) / sqrt(var + eps) + beta = a x + b,
        a = gamma / sqrt(var + eps),  b = beta - a mu,       eps = 1.001e-5 (Keras)

and folded into the convolution before it where nothing requested needs that
convolution's own output: a (W * x + c) + b = (a W) * x + (a c + b), the kernel scaled
per output channel, so the network runs as plain convolutions.

Weights: Keras stores a batch norm as gamma, beta, moving_mean, moving_variance
(`param_shapes`, what a file is checked against); `prepare` turns them into (a, b) once,
when the file is loaded. `backbone()` is this file's entry in backbones.py. `--pooling avg`
makes pool1 a 3x3 average (its zero padding counted, as in Keras' AveragePooling2D on a
padded input); the rest of the network has no pooling to change.

Over 300 lines: the network, its names, its stored and prepared weights and its entry in
backbones.py: one network, one file, as every backbone is.
"""

import functools
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import NstError
from .backbones import conv_parts, traced_shapes
from .vgg import PRECISIONS

EPSILON = 1.001e-5  # Keras' batch-norm epsilon for ResNet50
STAGES = ((2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2))  # (stage, width, blocks, stride)
MIN_SIDE = 32  # five halvings: 32 px -> 1 px at conv5
BN_PARTS = ("gamma", "beta", "moving_mean", "moving_variance")  # Keras' order in every layout


def convolutions() -> List[Tuple[str, int, int, int]]:
    """Every convolution in order: (name, kernel size, output channels, stride)."""
    out = [("conv1_conv", 7, 64, 2)]
    for stage, width, blocks, stride in STAGES:
        for b in range(1, blocks + 1):
            name, s = f"conv{stage}_block{b}", stride if b == 1 else 1
            if b == 1:
                out.append((f"{name}_0_conv", 1, 4 * width, s))
            out += [(f"{name}_1_conv", 1, width, s), (f"{name}_2_conv", 3, width, 1)]
            out.append((f"{name}_3_conv", 1, 4 * width, 1))
    return out


def layer_names() -> Tuple[str, ...]:
    """Every named output, in the order the network computes them."""
    names = ["conv1_conv", "conv1_bn", "conv1_relu", "pool1_pool"]
    for stage, _, blocks, _ in STAGES:
        for b in range(1, blocks + 1):
            name = f"conv{stage}_block{b}"
            for k in (0, 1, 2, 3) if b == 1 else (1, 2, 3):
                names += [f"{name}_{k}_conv", f"{name}_{k}_bn"] + (
                    [f"{name}_{k}_relu"] if k in (1, 2) else []
                )
            names += [f"{name}_add", f"{name}_out"]
    return tuple(names)


def resolve_layer(name: str) -> str:
    """Keras' layer names, in any case: 'Conv4_Block1_1_Conv' -> 'conv4_block1_1_conv'."""
    key = name.strip().lower()
    if key not in layer_names():
        raise NstError(
            f"unknown layer {name!r} for resnet50; name one of Keras' layers, e.g. conv4_block1_1_conv "
            "or conv4_block1_out (`python -m nst_jax layers --model resnet50` lists them all)"
        )
    return key


def check_layers(names: Sequence[str]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(resolve_layer(n) for n in names))


def bn_affine(gamma, beta, mean, variance, eps: float = EPSILON) -> Dict[str, np.ndarray]:
    """Inference batch norm as a x + b per channel: a = gamma / sqrt(var + eps), b = beta - a mu."""
    a = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(variance, np.float64) + eps)
    b = np.asarray(beta, np.float64) - a * np.asarray(mean, np.float64)
    return {"scale": a.astype(np.float32), "shift": b.astype(np.float32)}


class Conv(nn.Module):
    """W * x + c, kernel HWIO; or, given a batch norm's (a, b) to fold, (a W) * x + (a c + b)."""

    width: int
    size: int
    stride: int = 1
    precision: str = "float32"  # vgg.PRECISIONS

    @nn.compact  # (N, h, w, C) -> (N, h/stride, w/stride, width)
    def __call__(self, x, fold=None):
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (self.size, self.size, x.shape[-1], self.width)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.width,))
        if fold is not None:
            kernel, bias = kernel * fold[0], bias * fold[0] + fold[1]  # (a W), (a c + b)
        pad = "SAME" if self.size == 3 else "VALID"  # (conv1's 3 px of zero padding: added before)
        dtype, precision = PRECISIONS[self.precision]
        y = jax.lax.conv_general_dilated(
            x.astype(dtype or x.dtype),
            kernel.astype(dtype or x.dtype),
            (self.stride,) * 2,
            pad,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=precision,
            preferred_element_type=None if dtype is None else jnp.float32,  # (bf16: float32 sums)
        )
        return y.astype(x.dtype) + bias


class BatchNorm(nn.Module):
    """Inference batch norm as its per-channel affine map (a, b), see bn_affine."""

    width: int

    @nn.compact
    def __call__(self):
        a = self.param("scale", nn.initializers.ones, (self.width,))
        return a, self.param("shift", nn.initializers.zeros, (self.width,))


def _last(names: Sequence[str]) -> Tuple[int, int]:
    """(stage, block) of the deepest requested layer: where the network may stop."""
    deepest = max(names, key=layer_names().index)
    if "_block" not in deepest:
        return (1, 0)  # conv1 or pool1
    stage, block = deepest.split("_")[:2]
    return int(stage[4:]), int(block[5:])


class ResNet50(nn.Module):
    """The network up to the deepest of `outputs`; params {conv: {kernel, bias}, bn: {scale, shift}}."""

    outputs: Tuple[str, ...] = ("conv4_block1_1_conv",)
    pooling: str = "max"  # of pool1: "max" (as trained) | "avg"
    precision: str = "float32"  # of the convolutions, vgg.PRECISIONS
    max_pool: Optional[Callable] = None  # pool1 as max: (N, H, W, C) -> 3x3 windows, stride 2;
    #   None: nn.max_pool (the plan's: fast/pool.py, the same values and gradient)

    def _conv_bn(self, x, name: str, size: int, width: int, stride: int, feats: Dict[str, Any]):
        """Convolution then batch norm, folded unless the convolution's output is asked for."""
        conv = Conv(width, size, stride, self.precision, name=f"{name}_conv")
        bn = BatchNorm(width, name=f"{name}_bn")
        a, b = bn()
        if f"{name}_conv" in self.outputs:  # the convolution's own output is a feature: BN after it
            feats[f"{name}_conv"] = y = conv(x)
            y = y * a + b  # BN(y) = a y + b
        else:
            y = conv(x, fold=(a, b))
        feats[f"{name}_bn"] = y
        return y

    def _block(self, x, stage: int, b: int, width: int, stride: int, feats):
        """Bottleneck block b of a stage: ReLU(F(x) + S(x))."""
        name = f"conv{stage}_block{b}"
        shortcut = x if b > 1 else self._conv_bn(x, f"{name}_0", 1, 4 * width, stride, feats)
        y = feats[f"{name}_1_relu"] = nn.relu(
            self._conv_bn(x, f"{name}_1", 1, width, stride if b == 1 else 1, feats)
        )
        y = feats[f"{name}_2_relu"] = nn.relu(self._conv_bn(y, f"{name}_2", 3, width, 1, feats))
        y = feats[f"{name}_add"] = (
            self._conv_bn(y, f"{name}_3", 1, 4 * width, 1, feats) + shortcut
        )  # F(x) + S(x)
        feats[f"{name}_out"] = nn.relu(y)
        return feats[f"{name}_out"]

    @nn.compact  # (N, H, W, 3) Caffe BGR -> {name: (N, h, w, C)}
    def __call__(self, x):
        feats: Dict[str, Any] = {}
        x = jnp.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)))  # conv1_pad
        x = feats["conv1_relu"] = nn.relu(self._conv_bn(x, "conv1", 7, 64, 2, feats))
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # pool1_pad: zeros (x >= 0 after the ReLU)
        if self.pooling == "max" and self.max_pool is not None:
            x = feats["pool1_pool"] = self.max_pool(x)
        else:
            pool = nn.max_pool if self.pooling == "max" else nn.avg_pool  # 3x3, stride 2
            x = feats["pool1_pool"] = pool(x, (3, 3), strides=(2, 2), padding="VALID")
        last = _last(self.outputs)
        for stage, width, blocks, stride in STAGES:
            for b in range(1, blocks + 1):
                if (stage, b) <= last:  # nothing past the deepest requested layer is computed
                    x = self._block(x, stage, b, width, stride, feats)
        return {n: feats[n] for n in self.outputs}


def features(
    params: Dict[str, Dict[str, Any]],
    image: Any,
    names: Sequence[str],
    pooling: str = "max",
    precision: str = "float32",
    ops: Any = None,
) -> Dict[str, jax.Array]:
    """Pure function: (params, (H, W, 3) preprocessed image) -> {Keras layer name: (h, w, C)}.

    `params` as `prepare` makes them ({conv: {kernel, bias}, bn: {scale, shift}}); `ops`
    (vgg.Ops, the plan's fast operations): its 3x3 max pool replaces pool1's."""
    if min(image.shape[:2]) < MIN_SIDE:
        raise NstError(
            f"the image is {image.shape[1]}x{image.shape[0]}; resnet50 needs {MIN_SIDE} px per side: raise --size"
        )
    net = ResNet50(check_layers(names), pooling, precision, None if ops is None else ops.max_pool_3x3)
    feats = cast(Dict[str, jax.Array], net.apply({"params": params}, image[None]))
    return {k: v[0].astype(image.dtype) for k, v in feats.items()}


@functools.lru_cache(maxsize=None)
def _shapes(hw: Tuple[int, int]):
    return traced_shapes(ResNet50(layer_names()), hw)


def flax_shapes() -> Dict[str, Dict[str, Tuple[int, ...]]]:
    """{'conv1_conv': {'kernel': (7, 7, 3, 64), 'bias': (64,)}, 'conv1_bn': {'scale', 'shift'}, ...}."""
    return {k: dict(v) for k, v in _shapes((MIN_SIDE, MIN_SIDE))[0].items()}


def param_shapes() -> Dict[str, Dict[str, Tuple[int, ...]]]:
    """As Keras stores them: convolutions {kernel, bias}, batch norms {gamma, beta,
    moving_mean, moving_variance}; read off the Flax model (its (a, b) have the same shape)."""
    return {
        k: ({p: v["scale"] for p in BN_PARTS} if k.endswith("_bn") else v) for k, v in flax_shapes().items()
    }


def feature_shapes(hw: Tuple[int, int]) -> Dict[str, Tuple[int, int, int]]:
    """{'conv1_conv': (H/2, W/2, 64), ...}: every named output's (h, w, C) for an (H, W) image."""
    return dict(_shapes((int(hw[0]), int(hw[1])))[1])


def prepare(params: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Stored params -> the model's: each batch norm's statistics as its (a, b) (bn_affine)."""
    return {
        k: bn_affine(*(v[p] for p in BN_PARTS)) if k.endswith("_bn") else dict(v) for k, v in params.items()
    }


def init_params(seed: int = 0) -> Dict[str, Dict[str, np.ndarray]]:
    """Random stored params of the right shapes (He-normal kernels, batch norms near the
    identity): for tests and the bench when no file is found."""
    rng, out = np.random.default_rng(seed), {}
    for k, parts in param_shapes().items():
        if k.endswith("_bn"):
            c = parts["gamma"]
            out[k] = dict(zip(BN_PARTS, (np.ones(c), np.zeros(c), np.zeros(c), np.ones(c))))
        else:
            kernel = parts["kernel"]
            out[k] = {
                "kernel": rng.normal(0, (2 / np.prod(kernel[:3])) ** 0.5, kernel),
                "bias": np.zeros(kernel[-1]),
            }
    return {k: {p: np.asarray(a, np.float32) for p, a in v.items()} for k, v in out.items()}


def _from_keras(name: str, arrays: Sequence[Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """A Keras layer's arrays in weight order -> (layer, {part: array}); None if not ours."""
    if name.endswith("_conv") and name in layer_names() and not arrays:
        return name, {}
    if name.endswith("_conv") and name in layer_names():
        return name, conv_parts(arrays)
    if name.endswith("_bn") and name in layer_names():
        return name, dict(zip(BN_PARTS, arrays))  # fewer than four: named as missing by validate
    return None


def backbone(name: str = "resnet50"):
    """ResNet50 as a backbones.Backbone."""
    from .backbones import KERAS_URL, Backbone, resize_guides

    file = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return Backbone(
        name="resnet50",
        layers=layer_names(),
        resolve=resolve_layer,
        features=features,
        param_shapes=param_shapes,
        prepare=prepare,
        init_params=init_params,
        feature_shapes=feature_shapes,
        from_keras=_from_keras,
        guides=lambda masks, layers: resize_guides(
            masks, {n: feature_shapes(masks.shape[1:3])[n] for n in layers}
        ),
        keras_app="ResNet50",
        keras_name=lambda n: n,
        filename=file,
        url=f"{KERAS_URL}/resnet/{file}",
        md5="4d473c1dd8becc155b73f8504c6f6626",  # keras/src/applications/resnet.py, WEIGHTS_HASHES
        # Lisciandrello, Inzerillo & Monti's layers (docs/guide/backbones.md lists the others they tried)
        content_layers=("conv5_block1_1_conv",),
        style_layers=(
            "conv2_block3_1_conv",
            "conv3_block1_1_conv",
            "conv4_block1_1_conv",
            "conv5_block1_1_conv",
        ),
        # measured, docs/guide/backbones.md (`bench balance`): "none" keeps the style layers more even
        # than Eq. 4 (the largest 66% of the style term against 91%), and 3e-5 at 256 px gives
        # VGG16's starting balance of style and content (beta = 127 x beta_eq, as VGG16's 300)
        style_normalization="none",
        style_weights={"gram": 3e-5, "w2": 8.5e5, "sliced": 6.3e6, "meanstd": 6.1e6},  # (carried)
        min_side=MIN_SIDE,
        family="resnet",
    )
