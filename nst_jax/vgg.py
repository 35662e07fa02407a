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
"""

from typing import Any, Dict, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from . import winograd as wg
from .errors import NstError

BLOCK_SIZES = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # convs per block
BLOCK_WIDTHS = (64, 128, 256, 512, 512)  # output channels of every conv in a block
MIN_SIDE = 16  # 4 poolings before block 5: 16 px -> 1 px at relu5_x
POOLINGS = ("max", "avg")


def check_model(model: str) -> str:
    if model not in BLOCK_SIZES:
        raise NstError(f"unknown model {model!r}; use one of: {', '.join(BLOCK_SIZES)}")
    return model


def conv_layers(model: str) -> Tuple[str, ...]:
    """Canonical names of the model's convolutions in order: ('relu1_1', ..., 'relu5_4')."""
    return tuple(f"relu{b}_{i}" for b, n in enumerate(BLOCK_SIZES[check_model(model)], 1)
                 for i in range(1, n + 1))


def conv_shapes(model: str) -> Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]]:
    """{'conv1_1': (kernel shape (3, 3, in, out) HWIO, bias shape (out,)), ...}"""
    shapes, c_in = {}, 3
    for b, n in enumerate(BLOCK_SIZES[check_model(model)], 1):
        c_out = BLOCK_WIDTHS[b - 1]
        for i in range(1, n + 1):
            shapes[f"conv{b}_{i}"] = ((3, 3, c_in, c_out), (c_out,))
            c_in = c_out
    return shapes


def resolve_layer(model: str, name: str) -> str:
    """'conv4_2' | 'relu4_2' | 'block4_conv2' -> 'relu4_2'; anything else is an NstError."""
    key = name.strip().lower()
    if key.startswith("block") and "_conv" in key:  # Keras: block4_conv2
        key = "relu" + key[len("block"):].replace("_conv", "_", 1)
    elif key.startswith("conv"):  # Caffe: conv4_2 (post-ReLU, as Caffe's in-place ReLU)
        key = "relu" + key[len("conv"):]
    if key not in conv_layers(model):
        raise NstError(f"unknown layer {name!r} for {model}; valid names: "
                       f"{', '.join(conv_layers(model))} (or conv4_2 / block4_conv2 forms)")
    return key


def max_pool_2x2(x):
    """2x2 stride-2 max pooling, (N, H, W, C) -> (N, H/2, W/2, C) (odd rows/columns dropped,
    as VALID pooling does). Same values and gradient as `nn.max_pool` (the gradient goes
    to the first maximum of each window in row-major order, as in XLA and PyTorch), but
    ~7x faster backward on CPU: see `_max_pool_bwd`."""
    return _max_pool(_even(x))


def avg_pool_2x2(x):
    """2x2 stride-2 average pooling as a reshape and a mean (its gradient: a broadcast)."""
    n, h, w, c = _even(x).shape
    return _even(x).reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _even(x):  # (N, H, W, C) -> (N, 2*(H//2), 2*(W//2), C)
    return x[:, : x.shape[1] // 2 * 2, : x.shape[2] // 2 * 2]


def _corners(x):  # the 4 elements of each window: 4 x (N, H/2, W/2, C), row-major order
    n, h, w, c = x.shape
    x6 = x.reshape(n, h // 2, 2, w // 2, 2, c)  # (N, H/2, dy, W/2, dx, C)
    return x6[:, :, 0, :, 0], x6[:, :, 0, :, 1], x6[:, :, 1, :, 0], x6[:, :, 1, :, 1]


@jax.custom_vjp
def _max_pool(x):
    a, b, c, d = _corners(x)
    return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def _max_pool_fwd(x):
    y = _max_pool(x)
    return y, (x, y)


def _max_pool_bwd(residuals, g):
    """dL/dx: g where x is its window's first maximum, else 0. XLA:CPU's generic
    select-and-scatter (the gradient of reduce_window max) walks windows one by one:
    0.28 s vs 0.04 s for this at 512x512x64 (measured, bench.py's machine)."""
    x, y = residuals
    a, b, c, _ = _corners(x)
    first_a = a == y
    first_b = (b == y) & ~first_a
    first_c = (c == y) & ~(first_a | first_b)
    first_d = ~(first_a | first_b | first_c)
    zero = jnp.zeros_like(g)
    top = jnp.stack([jnp.where(first_a, g, zero), jnp.where(first_b, g, zero)], axis=3)
    bottom = jnp.stack([jnp.where(first_c, g, zero), jnp.where(first_d, g, zero)], axis=3)
    return (jnp.stack([top, bottom], axis=2).reshape(x.shape),)  # (N,H/2,dy,W/2,dx,C)->x


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)
POOL = {"max": max_pool_2x2, "avg": avg_pool_2x2}


class WinogradConv(nn.Module):
    """nn.Conv's 3x3 SAME convolution (same `kernel` and `bias` parameters) computed by
    Winograd's F(4x4, 3x3) from the kernel's transforms (U, U') (`winograd.py`)."""
    features: int  # output channels

    @nn.compact
    def __call__(self, x, transforms):  # (N, H, W, C), (U, U') -> (N, H, W, K)
        self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return wg.conv3x3(x, *transforms) + bias


def vgg_block(x, model: str, block: int, pooling: str, outputs, precision, dtype, pool=True,
              winograd=None):
    """Block `block` (1..5): pooling (except before block 1, or with pool=False), then its
    convolutions; those named in `winograd` ({'conv4_2': (U, U')}) by Winograd's method.
    Call inside a Flax compact method: the convolutions are that module's submodules,
    named conv{block}_{i}. Returns (activation, {name: activation}) and stops after the
    deepest of `outputs`."""
    order = conv_layers(model)
    deepest = max(order.index(name) for name in outputs)
    feats = {}
    if block > 1 and pool:  # 2x2 stride-2 pooling between blocks: (N, h, w, C) -> (N, h/2, w/2, C)
        x = POOL[pooling](x)
    for i in range(1, BLOCK_SIZES[model][block - 1] + 1):
        # F = ReLU(W * x + b), 3x3 kernel HWIO (3, 3, C_in, C_out), SAME zero padding
        conv = f"conv{block}_{i}"
        if winograd and conv in winograd:
            x = WinogradConv(BLOCK_WIDTHS[block - 1], name=conv)(x, winograd[conv])
        else:
            x = nn.Conv(BLOCK_WIDTHS[block - 1], (3, 3), padding="SAME", dtype=dtype,
                        precision=precision, name=conv)(x)
        x = nn.relu(x)
        name = f"relu{block}_{i}"
        if name in outputs:
            feats[name] = x
        if order.index(name) == deepest:
            break  # nothing past the deepest requested layer is computed
    return x, feats


class VGG(nn.Module):
    """The convolutional part of VGG; returns the requested post-ReLU activations."""
    model: str = "vgg19"  # "vgg16" | "vgg19"
    pooling: str = "max"  # "max" | "avg"
    outputs: Tuple[str, ...] = ("relu4_2",)  # canonical names, see resolve_layer
    dtype: Optional[jnp.dtype] = None  # computation dtype; None: that of inputs and params
    precision: Any = jax.lax.Precision.HIGHEST  # of the convolutions (see PRECISIONS)

    @nn.compact
    def __call__(self, x):  # (N, H, W, 3) preprocessed BGR -> {name: (N, h, w, C)}
        feats = {}
        for b in range(1, last_block(self.model, self.outputs) + 1):
            x, f = vgg_block(x, self.model, b, self.pooling, self.outputs, self.precision,
                             self.dtype)
            feats.update(f)
        return feats


class Block(nn.Module):
    """One block of VGG, as its own module with the same flat parameter names
    (conv3_1, ...): `features` applies the blocks one by one, and losses.loss_terms with
    remat runs each block and its losses as one `jax.checkpoint`."""
    model: str
    block: int  # 1..5
    pooling: str
    outputs: Tuple[str, ...]
    dtype: Optional[jnp.dtype] = None
    precision: Any = jax.lax.Precision.HIGHEST
    pool: bool = True  # pool first (blocks 2-5); False: the caller pooled already

    @nn.compact
    def __call__(self, x, winograd=None):  # winograd: {'conv4_2': (U, U'), ...} or None
        return vgg_block(x, self.model, self.block, self.pooling, self.outputs, self.precision,
                         self.dtype, self.pool, winograd)


def last_block(model: str, outputs) -> int:
    """The block of the deepest layer in `outputs`: (relu4_2,) -> 4."""
    return max(int(resolve_layer(model, n)[4]) for n in outputs)


# precision -> (dtype of the convolutions, lax precision). "float32": exact float32 products
# everywhere; "tf32": the device's default for float32 (TensorFloat-32 on Ampere/Hopper
# GPUs, bf16 passes on TPU; the same as float32 on CPU); "bf16": activations and weights
# in bfloat16 (float32 accumulation), losses in float32.
PRECISIONS = {"float32": (None, jax.lax.Precision.HIGHEST),
              "tf32": (None, jax.lax.Precision.DEFAULT),
              "bf16": (jnp.bfloat16, jax.lax.Precision.DEFAULT)}


def block_params(params, block: int):
    """The parameters of one block: {'conv3_1': ..., 'conv3_2': ...}."""
    return {k: v for k, v in params.items() if k.startswith(f"conv{block}_")}


def block_winograd(params, block: int):
    """The Winograd kernel transforms of one block's convolutions, {} if none (`with_winograd`)."""
    return block_params(params.get(WINOGRAD, {}), block)


# Winograd F(4x4, 3x3) (winograd.py) for convolutions with at least this many input
# channels: measured faster there on XLA:CPU (conv3_2 onwards), slower on wider, thinner
# layers. "auto" uses it on CPU only (cuDNN on GPUs picks its own algorithms), and only
# for images of WINOGRAD_MIN_PIXELS or more: it compiles ~5 s longer and saved 0.09 s
# per evaluation at 256x170 (VGG16), so on smaller images a run rarely wins it back.
CONVS = ("auto", "direct", "winograd")
WINOGRAD, WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_PIXELS = "winograd", 256, 150 * 150


def uses_winograd(conv: str, precision: str, platform: str, pixels: Optional[int] = None) -> bool:
    """Whether `conv` means Winograd here; `pixels`: the image's H * W, if known."""
    if conv not in CONVS:
        raise NstError(f"unknown --conv {conv!r}; use one of: {', '.join(CONVS)}")
    if conv == "winograd" and precision == "bf16":
        raise NstError("--conv winograd needs float32 arithmetic; use --precision float32 "
                       "or --conv direct")
    return conv == "winograd" or (conv == "auto" and platform == "cpu" and precision != "bf16"
                                  and (pixels is None or pixels >= WINOGRAD_MIN_PIXELS))


def with_winograd(params, model: str, conv: str = "auto", precision: str = "float32",
                  layers: Optional[Sequence[str]] = None, platform: Optional[str] = None,
                  pixels: Optional[int] = None):
    """params plus, under the key 'winograd', the Winograd transforms (U, U') of every
    convolution with >= WINOGRAD_MIN_CHANNELS inputs (up to the deepest of `layers`, if
    given), when `conv` asks for them (`uses_winograd`; `pixels`: the largest image's
    H * W): computed once here (float64, on the host) instead of in every evaluation.
    `features` and the losses then use them; the parameters themselves are unchanged."""
    if not uses_winograd(conv, precision, platform or jax.default_backend(), pixels):
        return params
    order = conv_layers(model)
    deepest = max(order.index(resolve_layer(model, n)) for n in layers) if layers else len(order)
    names = [n for n, (k, _) in conv_shapes(model).items() if k[2] >= WINOGRAD_MIN_CHANNELS
             and n in params and order.index("relu" + n[4:]) <= deepest]
    # one layer at a time to the device, so that the host holds one layer's transforms
    return {**params, WINOGRAD: {n: tuple(map(jnp.asarray, wg.kernel_pair(params[n]["kernel"])))
                                 for n in names}}


def features(params, image, layers: Sequence[str], model: str = "vgg19",
             pooling: str = "max", precision: str = "float32"):
    """Pure function: (params, (H, W, 3) preprocessed image) -> {canonical layer: (h, w, C)}.

    `params` is the flat Flax dict {'conv1_1': {'kernel': (3,3,3,64), 'bias': (64,)}, ...}.
    Extra params (a VGG19 dict used for relu1_1 only, say) are ignored. Features are
    returned in float32 whatever the `precision` (see PRECISIONS).
    """
    names = check_request(model, pooling, precision, layers)
    dtype, lax_precision = PRECISIONS[precision]
    x, feats = image[None], {}  # add the batch axis: (1, H, W, 3)
    for b in range(1, last_block(model, names) + 1):
        x, f = Block(model, b, pooling, names, dtype, lax_precision).apply(
            {"params": block_params(params, b)}, x, block_winograd(params, b))
        feats.update(f)
    return {k: v[0].astype(image.dtype) for k, v in feats.items()}


def check_request(model: str, pooling: str, precision: str, layers) -> Tuple[str, ...]:
    """Validate pooling and precision; layer names -> canonical names, in order, unique."""
    if pooling not in POOLINGS:
        raise NstError(f"unknown pooling {pooling!r}; use max or avg")
    if precision not in PRECISIONS:
        raise NstError(f"unknown precision {precision!r}; use one of: {', '.join(PRECISIONS)}")
    names = tuple(dict.fromkeys(resolve_layer(model, n) for n in layers))
    if not names:
        raise NstError("no layers requested")
    return names


def init_params(model: str, seed: int = 0):
    """Random (He-normal) parameters of the right shapes: for tests and synthetic files."""
    key = jax.random.PRNGKey(seed)
    params = {}
    for name, (k_shape, b_shape) in conv_shapes(model).items():
        key, k1, k2 = jax.random.split(key, 3)
        fan_in = k_shape[0] * k_shape[1] * k_shape[2]
        params[name] = {"kernel": jax.random.normal(k1, k_shape) * (2.0 / fan_in) ** 0.5,
                        "bias": jax.random.normal(k2, b_shape) * 0.1}
    return params


def activation_elements(model: str, height: int, width: int, deepest: str) -> int:
    """Number of float activations a forward pass to `deepest` stores, for one image."""
    total, h, w = height * width * 3, height, width
    order = conv_layers(model)
    for k, name in enumerate(order):
        b = int(name[4])
        if k > 0 and name.endswith("_1"):
            h, w = h // 2, w // 2
        total += h * w * BLOCK_WIDTHS[b - 1]
        if name == deepest:
            break
    return total
