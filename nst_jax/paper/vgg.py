"""VGG16 and VGG19, layer by layer, in Flax.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (2014), Table 1, columns D (VGG16) and E (VGG19): five blocks of 3x3
convolutions (stride 1, SAME zero padding, ReLU), each block followed by a 2x2 pooling
of stride 2. Only the convolutional part is used for style transfer (Gatys et al. 2016,
Sec. 2: "we used the feature space provided by ... the 19-layer VGG network", without
the fully connected layers).

    block   VGG16 convs   VGG19 convs   channels   resolution
      1         2             2            64        H
      2         2             2           128        H/2
      3         3             4           256        H/4
      4         3             4           512        H/8
      5         3             4           512        H/16

`CHANNELS` is that table, and `layers(model)` every name of every layer derived from it:
the one source of truth for the network. Parameter and feature shapes are read off the
Flax model itself (`param_shapes`, `feature_shapes`: `jax.eval_shape`, nothing computed).

Layer names. `relu4_2`, `conv4_2` and Keras' `block4_conv2` all name the same thing:
the activation *after* the ReLU of the second convolution of block 4, as in Caffe
(whose in-place ReLU overwrote the conv output) and in Keras (whose Conv2D carries the
ReLU). Every name is resolved to its canonical `reluB_I` form by `resolve_layer`.

Pooling. `max` is what the ImageNet weights were trained with; `avg` is Gatys' choice
("replacing the max-pooling operation by average pooling improves the gradient flow
and one obtains slightly more appealing results", Sec. 2).

Input: a batch of Caffe-preprocessed images, (N, H, W, 3) BGR minus the ImageNet mean
(see `image.preprocess`). The network stops at the deepest requested layer, so asking
for relu4_2 alone never runs block 5.

`backbone(model)` is this file's entry in backbones.py: the interface the rest of
nst_jax sees. This file is the definition. Faster ways to compute the same convolutions and poolings
(nst_jax/fast/) are handed in as `Ops`; the plain ones below are the default.

Over 300 lines: the network, every name its layers go by and its entry in backbones.py:
one network, one file, as every backbone is.
"""

import functools
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple, cast

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..errors import NstError
from .backbones import conv_parts, traced_shapes

CHANNELS = {  # output channels of each convolution, block by block (Table 1, D and E)
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}
MIN_SIDE = 16  # 4 poolings before block 5: 16 px -> 1 px at relu5_x
POOLINGS = ("max", "avg")
# precision -> (dtype of the convolutions, lax precision). "float32": exact float32 products
# everywhere; "tf32": the device's default for float32 (TensorFloat-32 on Ampere/Hopper
# GPUs, bf16 passes on TPU; the same as float32 on CPU); "bf16": activations and weights
# in bfloat16 (float32 accumulation), losses in float32.
PRECISIONS = {
    "float32": (None, jax.lax.Precision.HIGHEST),
    "tf32": (None, jax.lax.Precision.DEFAULT),
    "bf16": (jnp.bfloat16, jax.lax.Precision.DEFAULT),
}


class Layer(NamedTuple):
    """One convolution of the table, with every name it goes by."""

    name: str  # 'relu3_2': its activation after the ReLU, nst_jax's name for the layer
    conv: str  # 'conv3_2': its Flax module, and its key in the params
    keras: str  # 'block3_conv2': Keras' name of the layer
    block: int  # 3
    channels: int  # output channels, 256


def check_model(model: str) -> str:
    if model not in CHANNELS:
        raise NstError(f"unknown model {model!r}; use one of: {', '.join(CHANNELS)}")
    return model


def layers(model: str) -> Tuple[Layer, ...]:
    """The layer table of `model`, in order: relu1_1, relu1_2, relu2_1, ..."""
    return tuple(
        Layer(f"relu{b}_{i}", f"conv{b}_{i}", f"block{b}_conv{i}", b, c)
        for b, widths in enumerate(CHANNELS[check_model(model)], 1)
        for i, c in enumerate(widths, 1)
    )


def conv_layers(model: str) -> Tuple[str, ...]:
    """Canonical names of the model's convolutions in order: ('relu1_1', ..., 'relu5_4')."""
    return tuple(layer.name for layer in layers(model))


def resolve_layer(model: str, name: str) -> str:
    """'conv4_2' | 'relu4_2' | 'block4_conv2' -> 'relu4_2'; anything else is an NstError."""
    key = name.strip().lower()
    for layer in layers(model):
        if key in (layer.name, layer.conv, layer.keras):
            return layer.name
    raise NstError(
        f"unknown layer {name!r} for {model}; valid names: "
        f"{', '.join(conv_layers(model))} (or conv4_2 / block4_conv2 forms)"
    )


def deepest(model: str, names: Sequence[str]) -> str:
    """The deepest of some layer names (canonical): where a forward pass may stop."""
    return max((resolve_layer(model, n) for n in names), key=conv_layers(model).index)


def last_block(model: str, names: Sequence[str]) -> int:
    """The block of the deepest layer in `names`: (relu4_2,) -> 4."""
    return layers(model)[conv_layers(model).index(deepest(model, names))].block


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 stride-2 max pooling, (N, H, W, C) -> (N, H/2, W/2, C); an odd last row or
    column is dropped, as VALID pooling does."""
    return nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")


def avg_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 stride-2 average pooling as a reshape and a mean (its gradient: a broadcast)."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]  # drop an odd last row / column
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class Ops(NamedTuple):
    """How the network's operations are computed: the plain definitions by default; the
    run's plan (nst_jax/fast) hands in faster ones with the same values."""

    max_pool: Callable = max_pool_2x2  # (N, H, W, C) -> (N, H/2, W/2, C)
    convs: Tuple[Tuple[str, Any], ...] = ()  # (('conv4_2', Module class), ...): these
    #   convolutions computed by another Flax module instead of nn.Conv, same values
    max_pool_3x3: Optional[Callable] = None  # ResNet50's pool1 (3x3, stride 2); None: plain


def pool(pooling: str, ops: Ops = Ops()) -> Callable:
    return ops.max_pool if pooling == "max" else avg_pool_2x2


def vgg_block(
    x: jax.Array,
    model: str,
    block: int,
    pooling: str,
    outputs: Sequence[str],
    precision: str,
    ops: Ops,
    pool_first: bool = True,
) -> Tuple[jax.Array, Dict[str, jax.Array]]:
    """Block `block` (1..5): pooling (except before block 1, or with pool_first=False),
    then its convolutions, each followed by ReLU. Call inside a Flax compact method: the
    convolutions are that module's submodules, named conv{block}_{i}. Returns
    (activation, {name: activation}) and stops after the deepest of `outputs`."""
    dtype, lax_precision = PRECISIONS[precision]
    last, feats, special = deepest(model, outputs), {}, dict(ops.convs)
    if block > 1 and pool_first:  # 2x2 stride 2: (N, h, w, C) -> (N, h/2, w/2, C)
        x = pool(pooling, ops)(x)
    for layer in (lay for lay in layers(model) if lay.block == block):
        if layer.conv in special:
            x = special[layer.conv](layer.channels, name=layer.conv)(x)
        else:  # W * x + b, 3x3 kernel HWIO (3, 3, C_in, C_out), SAME zero padding
            x = nn.Conv(
                layer.channels, (3, 3), padding="SAME", dtype=dtype, precision=lax_precision, name=layer.conv
            )(x)
        x = nn.relu(x)  # F = ReLU(W * x + b): (N, h, w, C_out)
        if layer.name in outputs:
            feats[layer.name] = x
        if layer.name == last:
            break  # nothing past the deepest requested layer is computed
    return x, feats


class Block(nn.Module):
    """One block of VGG as its own module, with the same flat parameter names (conv3_1,
    ...): fast/remat.py runs each block and its losses as one `jax.checkpoint`."""

    model: str
    block: int  # 1..5
    pooling: str = "max"
    outputs: Tuple[str, ...] = ("relu4_2",)
    precision: str = "float32"
    ops: Ops = Ops()
    pool_first: bool = True  # pool first (blocks 2-5); False: the caller pooled already

    @nn.compact  # (N, h, w, C) -> ((N, h', w', C'), {name: activation})
    def __call__(self, x: jax.Array) -> Tuple[jax.Array, Dict[str, jax.Array]]:
        return vgg_block(
            x, self.model, self.block, self.pooling, self.outputs, self.precision, self.ops, self.pool_first
        )


class VGG(nn.Module):
    """The convolutional part of VGG; returns the requested post-ReLU activations."""

    model: str = "vgg19"  # "vgg16" | "vgg19"
    pooling: str = "max"  # "max" | "avg"
    outputs: Tuple[str, ...] = ("relu4_2",)  # canonical names, see resolve_layer
    precision: str = "float32"  # of the convolutions, see PRECISIONS
    ops: Ops = Ops()

    @nn.compact  # (N, H, W, 3) preprocessed BGR -> {name: (N, h, w, C)}
    def __call__(self, x: jax.Array) -> Dict[str, jax.Array]:
        feats = {}
        for b in range(1, last_block(self.model, self.outputs) + 1):
            x, f = vgg_block(x, self.model, b, self.pooling, self.outputs, self.precision, self.ops)
            feats.update(f)
        return feats


def check_request(model: str, pooling: str, precision: str, names: Sequence[str]) -> Tuple[str, ...]:
    """Validate pooling and precision; layer names -> canonical names, in order, unique."""
    if pooling not in POOLINGS:
        raise NstError(f"unknown pooling {pooling!r}; use max or avg")
    if precision not in PRECISIONS:
        raise NstError(f"unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)}")
    canonical = tuple(dict.fromkeys(resolve_layer(model, n) for n in names))
    if not canonical:
        raise NstError(
            "no layers requested (an empty --content-layers or --style-layers); name at least one layer, e.g. conv1_1"
        )
    return canonical


def features(
    params: Any,
    image: Any,
    names: Sequence[str],
    model: str = "vgg19",
    pooling: str = "max",
    precision: str = "float32",
    ops: Ops = Ops(),
) -> Dict[str, jax.Array]:
    """Pure function: (params, (H, W, 3) preprocessed image) -> {canonical layer: (h, w, C)}.

    `params` is the flat Flax dict {'conv1_1': {'kernel': (3,3,3,64), 'bias': (64,)}, ...}.
    Extra params (a VGG19 dict used for relu1_1 only, say) are ignored. Features are
    returned in float32 whatever the `precision` (see PRECISIONS).
    """
    net = VGG(model, pooling, check_request(model, pooling, precision, names), precision, ops)
    # add the batch axis: (1, H, W, 3); cast: without `mutable`, apply returns the output alone
    feats = cast(Dict[str, jax.Array], net.apply({"params": params}, image[None]))
    return {k: v[0].astype(image.dtype) for k, v in feats.items()}


def block_params(params: Any, block: int) -> Dict[str, Any]:
    """The parameters of one block: {'conv3_1': ..., 'conv3_2': ...}."""
    return {k: v for k, v in params.items() if k.startswith(f"conv{block}_")}


@functools.lru_cache(maxsize=None)
def _shapes(model: str, hw: Tuple[int, int]):
    return traced_shapes(VGG(model, outputs=conv_layers(model)), hw)


def param_shapes(model: str) -> Dict[str, Dict[str, Tuple[int, ...]]]:
    """{'conv1_1': {'kernel': (3, 3, 3, 64), 'bias': (64,)}, ...}, read off the Flax model."""
    return {k: dict(v) for k, v in _shapes(model, (MIN_SIDE, MIN_SIDE))[0].items()}


def feature_shapes(model: str, hw: Tuple[int, int]) -> Dict[str, Tuple[int, int, int]]:
    """{'relu1_1': (H, W, 64), ...}: every layer's (h, w, C) for an (H, W) image."""
    return dict(_shapes(model, (int(hw[0]), int(hw[1])))[1])


def init_params(model: str, seed: int = 0) -> Dict[str, Dict[str, jax.Array]]:
    """Random (He-normal) parameters of the right shapes: for tests and synthetic files."""
    key, params, shapes_of = jax.random.PRNGKey(seed), {}, param_shapes(model)
    for name in (layer.conv for layer in layers(model)):
        shapes = shapes_of[name]
        key, k1, k2 = jax.random.split(key, 3)
        fan_in = shapes["kernel"][0] * shapes["kernel"][1] * shapes["kernel"][2]
        params[name] = {
            "kernel": jax.random.normal(k1, shapes["kernel"]) * (2.0 / fan_in) ** 0.5,
            "bias": jax.random.normal(k2, shapes["bias"]) * 0.1,
        }
    return params


def _guides(model: str, masks: jax.Array, style_layers: Sequence[str]) -> Dict[str, jax.Array]:
    """Masks (1, H, W, R) pooled as the network pools: {layer: (h, w, R)} at its resolution."""
    guides, t = {}, masks
    for layer in layers(model):
        if layer.block > 1 and layer.conv.endswith("_1"):  # 2x2 average: (1, h, w, R) -> (1, h/2, w/2, R)
            t = avg_pool_2x2(t)
        if layer.name in style_layers:
            guides[layer.name] = t[0]
    return guides


def _from_keras(name: str, arrays: Sequence[Any]) -> Any:
    """('block4_conv2', [kernel, bias]) -> ('conv4_2', {'kernel', 'bias'}); None if not ours."""
    conv = next((layer.conv for layer in layers("vgg19") if layer.keras == name), None)
    if conv is None or not arrays:
        return None if conv is None else (conv, {})
    return conv, conv_parts(arrays)


def backbone(model: str):
    """VGG16 or VGG19 as a backbones.Backbone."""
    from .backbones import KERAS_URL, Backbone

    keras = {layer.name: layer.keras for layer in layers(model)}
    file = f"{model}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return Backbone(
        name=model,
        layers=conv_layers(model),
        resolve=functools.partial(resolve_layer, model),
        features=lambda params, x, names, pooling="max", precision="float32", ops=Ops(): features(
            params, x, names, model, pooling, precision, ops
        ),
        param_shapes=functools.partial(param_shapes, model),
        prepare=lambda params: params,
        init_params=functools.partial(init_params, model),
        feature_shapes=functools.partial(feature_shapes, model),
        from_keras=_from_keras,
        guides=functools.partial(_guides, model),
        keras_app=model.upper(),
        keras_name=keras.__getitem__,
        filename=file,
        url=f"{KERAS_URL}/{model}/{file}",
        md5={"vgg19": "253f8cb515780f3b799900260a226db6", "vgg16": "6d6bbae143d832006294945121d1f1fc"}[model],
        content_layers=("relu4_2",),  # Gatys et al. 2016, Sec. 3
        style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        style_normalization="gatys",
        # gram: with L-BFGS at 256 px, the ImageNet weights as they are (docs/guide/objective.md's sweep); sliced,
        # meanstd: gram's starting balance of style and content (`bench balance`); w2: that
        # (1.3e7) made it far more stylized, 6.5x lower ends as gram does (docs/guide/objective.md, Style losses)
        style_weights={"gram": 3e2, "w2": 2e6, "sliced": 2.3e7, "meanstd": 1.8e7},
        min_side=MIN_SIDE,
        family="vgg",
    )
