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

from typing import Dict, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

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


class VGG(nn.Module):
    """The convolutional part of VGG; returns the requested post-ReLU activations."""
    model: str = "vgg19"  # "vgg16" | "vgg19"
    pooling: str = "max"  # "max" | "avg"
    outputs: Tuple[str, ...] = ("relu4_2",)  # canonical names, see resolve_layer
    dtype: Optional[jnp.dtype] = None  # computation dtype; None: that of inputs and params

    @nn.compact
    def __call__(self, x):  # (N, H, W, 3) preprocessed BGR -> {name: (N, h, w, C)}
        order = conv_layers(self.model)
        deepest = max(order.index(name) for name in self.outputs)
        feats, k = {}, 0
        for b, n_convs in enumerate(BLOCK_SIZES[self.model], 1):
            if b > 1:  # 2x2 stride-2 pooling between blocks: (N, h, w, C) -> (N, h/2, w/2, C)
                pool = nn.max_pool if self.pooling == "max" else nn.avg_pool
                x = pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")
            for i in range(1, n_convs + 1):
                # F = ReLU(W * x + b), 3x3 kernel HWIO (3, 3, C_in, C_out), SAME zero padding
                x = nn.Conv(BLOCK_WIDTHS[b - 1], (3, 3), padding="SAME", dtype=self.dtype,
                            name=f"conv{b}_{i}")(x)
                x = nn.relu(x)
                if order[k] in self.outputs:
                    feats[order[k]] = x
                if k == deepest:
                    return feats  # nothing past the deepest requested layer is computed
                k += 1
        return feats


def features(params, image, layers: Sequence[str], model: str = "vgg19",
             pooling: str = "max"):
    """Pure function: (params, (H, W, 3) preprocessed image) -> {canonical layer: (h, w, C)}.

    `params` is the flat Flax dict {'conv1_1': {'kernel': (3,3,3,64), 'bias': (64,)}, ...}.
    Extra params (a VGG19 dict used for relu1_1 only, say) are ignored.
    """
    if pooling not in POOLINGS:
        raise NstError(f"unknown pooling {pooling!r}; use max or avg")
    names = tuple(dict.fromkeys(resolve_layer(model, n) for n in layers))
    if not names:
        raise NstError("no layers requested")
    needed = {k: params[k] for k in conv_shapes(model) if k in params}
    out = VGG(model=model, pooling=pooling, outputs=names).apply(
        {"params": needed}, image[None])  # add the batch axis: (1, H, W, 3)
    return {k: v[0] for k, v in out.items()}


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
