"""The networks nst_jax sees images through, behind one small interface.

A backbone is everything the rest of nst_jax knows of a network (a `Backbone`): its layer
table, a pure `features(params, x, names, ...)` that stops at the deepest requested layer,
its preprocessing, how its Keras weights file is read and where it is downloaded from, and
its default layers and style loss. The losses, optimisers, memory estimate, bench and
compare see only this. Entries:

    vgg19, vgg16   vgg.py      Simonyan & Zisserman 2014; Gatys et al. 2016's networks
    resnet50       resnet.py   He et al. 2016, Keras' ResNet50 (v1)

A new network is one new file defining `backbone(name) -> Backbone`, and one line in
MODULES. `get(name)` imports the file on first use (nothing is imported with this module).
Preprocessing is Keras' "caffe" mode for all three (image.preprocess: RGB 0..255 -> BGR
minus the ImageNet mean): Keras' VGG16, VGG19 and ResNet50 share it.
"""

import importlib
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..errors import NstError

# name -> the module that defines it (its backbone(name)); the first is the default model
MODULES = {"vgg19": "vgg", "vgg16": "vgg", "resnet50": "resnet"}
NAMES = tuple(MODULES)
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications"  # Keras' own downloads
STYLE_NORMALIZATIONS = ("gatys", "none", "neural-style")  # losses.style_layer_loss


class Backbone(NamedTuple):
    """A network as nst_jax sees it. Layer names are canonical: the backbone's own."""

    name: str  # 'resnet50'
    layers: Tuple[str, ...]  # every named output, in the order the network computes them
    resolve: Callable[[str], str]  # any accepted spelling ('conv4_2') -> canonical ('relu4_2')
    features: Callable  # (params, (H, W, 3) preprocessed, names, pooling, precision, ops)
    #                     -> {name: (h, w, C) float32}; stops after the deepest of names
    param_shapes: Callable[[], Dict[str, Dict[str, Tuple[int, ...]]]]  # as Keras stores them
    prepare: Callable[[Dict], Dict]  # stored params -> what `features` takes (once, at load)
    init_params: Callable[[int], Dict]  # seed -> random stored params (tests, the bench)
    feature_shapes: Callable[[Tuple[int, int]], Dict[str, Tuple[int, int, int]]]  # (H, W) ->
    from_keras: Callable[[str, List[np.ndarray]], Optional[Tuple[str, Dict[str, np.ndarray]]]]
    #   (Keras layer name, its arrays in weight order) -> (our layer, {part: array}), or None
    guides: Callable  # ((1, H, W, R) masks, style layers) -> {layer: (h, w, R)} at its size
    keras_app: str  # keras.applications' class: 'ResNet50' (reference/keras_net.py)
    keras_name: Callable[[str], str]  # canonical -> Keras' layer name ('relu4_2' -> 'block4_conv2')
    filename: str  # Keras' *_notop.h5 file
    url: str  # where Keras downloads it from
    md5: str  # its md5, as in Keras' source
    content_layers: Tuple[str, ...]  # defaults
    style_layers: Tuple[str, ...]
    style_normalization: str  # the default of --style-normalization (STYLE_NORMALIZATIONS)
    style_weights: Dict[str, float]  # the default beta at 256 px per --style-loss (gram: with
    #                                  its default normalisation; Config.beta carries it to any size)
    min_side: int  # px: the smallest image side it takes
    family: str  # "vgg": nst_jax/fast's VGG machinery applies (Winograd, remat, weight
    #              normalisation); anything else runs as written


def check(name: str) -> str:
    if name not in MODULES:
        raise NstError(f"unknown model {name!r}; use one of: {', '.join(NAMES)}")
    return name


def get(name: str) -> Backbone:
    """The backbone called `name` ('vgg19', 'vgg16', 'resnet50')."""
    module = importlib.import_module(f"nst_jax.paper.{MODULES[check(name)]}")
    return module.backbone(name)


def traced_shapes(net: Any, hw: Tuple[int, int]) -> Tuple[Dict, Dict]:
    """({layer: {part: shape}}, {output: (h, w, C)}) of a Flax network taking a (1, H, W, 3)
    image: traced (jax.eval_shape), nothing computed. Each network caches its own."""
    import jax
    import jax.numpy as jnp

    x = jax.ShapeDtypeStruct((1, *hw, 3), jnp.float32)
    feats, variables = jax.eval_shape(lambda x: net.init_with_output(jax.random.PRNGKey(0), x), x)
    params = {k: {p: tuple(v.shape) for p, v in d.items()} for k, d in variables["params"].items()}
    return params, {k: tuple(v.shape[1:]) for k, v in feats.items()}


def conv_parts(arrays: Sequence[Any]) -> Dict[str, Any]:
    """A Keras convolution's arrays -> {kernel, bias}: the 4-D one and the 1-D one in
    whatever order the file keeps them, else the first and the last (validate names a
    misshaped one)."""
    kernels, biases = [a for a in arrays if a.ndim == 4], [a for a in arrays if a.ndim == 1]
    return {"kernel": kernels[0] if kernels else arrays[0], "bias": biases[0] if biases else arrays[-1]}


def deepest(name: str, layers: Sequence[str]) -> str:
    """The deepest of some layer names: where a forward pass may stop."""
    bb = get(name)
    return max((bb.resolve(n) for n in layers), key=bb.layers.index)


def resize_guides(masks: Any, shapes: Dict[str, Tuple[int, int, int]]) -> Dict[str, Any]:
    """Masks (1, H, W, R) averaged down to each layer's (h, w): for networks whose
    layers are not plain halvings (strided convolutions with padding)."""
    import jax

    return {
        n: jax.image.resize(masks[0], (h, w, masks.shape[-1]), "linear", antialias=True)
        for n, (h, w, _) in shapes.items()
    }
