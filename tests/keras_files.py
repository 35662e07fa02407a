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


def resnet50_keras(input_shape=(64, 80, 3), seed=0):
    """Keras' own ResNet50 (weights=None), every variable set to random values, batch-norm
    statistics too (so that the folding is tested): (keras, model)."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    rng = np.random.default_rng(seed)
    m = keras.applications.ResNet50(weights=None, include_top=False, input_shape=input_shape)
    for layer in m.layers:
        w = layer.get_weights()
        if isinstance(layer, keras.layers.Conv2D):
            k = rng.normal(0, (2.0 / np.prod(w[0].shape[:3])) ** 0.5, w[0].shape)
            layer.set_weights([k.astype("float32"), rng.normal(0, 0.1, w[1].shape).astype("float32")])
        elif w:  # gamma, beta, moving_mean, moving_variance
            c = w[0].shape
            stats = [
                rng.normal(1, 0.2, c),
                rng.normal(0, 0.2, c),
                rng.normal(0, 0.3, c),
                rng.uniform(0.5, 2, c),
            ]
            layer.set_weights([a.astype("float32") for a in stats])
    return keras, m


def write_resnet50(folder, model):
    """The model's weights in the three layouts, as Keras writes them where it can:
    {'keras3': *.weights.h5 (c), 'keras2': legacy (b), 'keras2-model': whole-model (b),
    'keras1': (a), written here from the same arrays in Keras 1's naming}."""
    from keras.src.legacy.saving import legacy_h5_format

    paths = {k: f"{folder}/resnet50_{k}.{'weights.h5' if k == 'keras3' else 'h5'}" for k in WRITERS}
    model.save_weights(paths["keras3"])
    with h5py.File(paths["keras2"], "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    model.save(paths["keras2-model"])
    with h5py.File(paths["keras1"], "w") as f:
        names = [layer.name for layer in model.layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for layer in model.layers:
            g = f.create_group(layer.name)
            parts = (
                ["W", "b"]
                if layer.name.endswith("_conv")
                else ["gamma", "beta", "running_mean", "running_std"]
            )
            arrays = layer.get_weights()
            wnames = [f"{layer.name}_{p}_1:0" for p in parts[: len(arrays)]]
            g.attrs["weight_names"] = np.array([n.encode() for n in wnames], dtype="S64" if wnames else "S1")
            for n, a in zip(wnames, arrays):
                g[n] = a
    return paths


if __name__ == "__main__":  # python keras_files.py resnet50 FOLDER: the files, their arrays
    import json
    import sys

    folder = sys.argv[2]
    _, net = resnet50_keras()
    paths = write_resnet50(folder, net)
    arrays = {f"{layer.name}/{i}": a for layer in net.layers for i, a in enumerate(layer.get_weights())}
    np.savez(f"{folder}/arrays.npz", **arrays)
    with open(f"{folder}/paths.json", "w") as f:
        json.dump(paths, f)
