"""Write synthetic VGG weights files in the three Keras HDF5 layouts (tests only).

Written from the layouts documented in ../shared/weights/PROVENANCE.md and observed in
files Keras itself writes, without using nst_jax's reader, so the tests check the reader
against an independent writer.
"""

import h5py
import numpy as np

BLOCK_SIZES = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # Simonyan & Zisserman, Table 1


def keras_layer_names(model):
    names = ["input_1"]
    for b, n in enumerate(BLOCK_SIZES[model], 1):
        names += [f"block{b}_conv{i}" for i in range(1, n + 1)] + [f"block{b}_pool"]
    return names


def _as_keras(params, name):  # 'block4_conv2' -> params['conv4_2']
    b, i = name[len("block") :].split("_conv")
    return params[f"conv{b}_{i}"]


def write_keras1(path, params, model, skip=(), extra=None):
    """(a) Keras 1 release layout: block1_conv1/block1_conv1_W_1:0 and _b_1:0, bytes attrs."""
    with h5py.File(path, "w") as f:
        names = keras_layer_names(model)
        f.attrs["layer_names"] = np.array([n.encode() for n in names if n not in skip])
        for n in names:
            if n in skip:
                continue
            g = f.create_group(n)
            if "_conv" in n:
                p = _as_keras(params, n)
                g.attrs["weight_names"] = np.array([f"{n}_W_1:0".encode(), f"{n}_b_1:0".encode()])
                g[f"{n}_W_1:0"] = np.asarray(p["kernel"])
                g[f"{n}_b_1:0"] = np.asarray(p["bias"])
            else:
                g.attrs["weight_names"] = np.array([], dtype="S1")
        for n, (k, b) in (extra or {}).items():
            f.attrs["layer_names"] = np.append(f.attrs["layer_names"], n.encode())
            g = f.create_group(n)
            g.attrs["weight_names"] = np.array([f"{n}_W_1:0".encode(), f"{n}_b_1:0".encode()])
            g[f"{n}_W_1:0"], g[f"{n}_b_1:0"] = k, b


def write_keras2(path, params, model, whole_model=False):
    """(b) Keras 2 legacy layout: nested block1_conv1/block1_conv1/kernel:0, str attrs."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"], f.attrs["backend"] = "2.15.0", "tensorflow"
        root = f.create_group("model_weights") if whole_model else f
        names = keras_layer_names(model)
        root.attrs["layer_names"] = names
        for n in names:
            g = root.create_group(n)
            if "_conv" in n:
                p = _as_keras(params, n)
                g.attrs["weight_names"] = [f"{n}/kernel:0", f"{n}/bias:0"]
                g[f"{n}/kernel:0"] = np.asarray(p["kernel"])
                g[f"{n}/bias:0"] = np.asarray(p["bias"])
            else:
                g.attrs["weight_names"] = []


def write_keras3(path, params, model):
    """(c) Keras 3 *.weights.h5: layers/conv2d_K/vars/{0,1}, vars attr name = layer name."""
    with h5py.File(path, "w") as f:
        layers = f.create_group("layers")
        convs = [n for n in keras_layer_names(model) if "_conv" in n]
        for k, n in enumerate(convs):
            v = layers.create_group("conv2d" if k == 0 else f"conv2d_{k}").create_group("vars")
            v.attrs["name"] = n
            p = _as_keras(params, n)
            v["0"], v["1"] = np.asarray(p["kernel"]), np.asarray(p["bias"])
        for k in range(5):
            v = layers.create_group("max_pooling2d" + (f"_{k}" if k else "")).create_group("vars")
            v.attrs["name"] = f"block{k + 1}_pool"
        f.create_group("vars").attrs["name"] = model


WRITERS = {
    "keras1": write_keras1,
    "keras2": write_keras2,
    "keras2-model": lambda p, params, m: write_keras2(p, params, m, whole_model=True),
    "keras3": write_keras3,
}
