"""ImageNet VGG weights: read Keras HDF5 files, validate, cache as .npz (lookup.py finds
and downloads the files).

Keras distributes the convolutional part of VGG16/VGG19 as `*_notop.h5` files. Three
layouts are met in the wild; the reader is guided by each file's own attributes:

  (a) Keras 1 release files: root attr `layer_names`; per layer group attr `weight_names`
      = ['block1_conv1_W_1:0', 'block1_conv1_b_1:0'], datasets inside the layer group.
  (b) Keras 2 legacy files: the same attributes, weight names 'block1_conv1/kernel:0'
      (nested groups), all under a `model_weights` group in whole-model files.
  (c) Keras 3 `*.weights.h5`: `layers/<object>/vars/0` (kernel) and `/1` (bias), where the
      `vars` group's attr `name` is the layer's name ('block1_conv1').

Kernels are HWIO (3, 3, C_in, C_out), the layout Flax's `nn.Conv` uses, so no transpose
is needed. The converted weights are cached once as a flat `.npz` keyed 'conv1_1/kernel',
with a format version and the sha256 of the source file, and loaded from there later.
"""

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import NstError
from .image import StrPath, atomic_write
from .vgg import CHANNELS, layers, param_shapes

FORMAT_VERSION = 1  # of the .npz cache; bump when its keys or meaning change
CLASSIFIER_LAYERS = ("flatten", "fc1", "fc2", "predictions")  # with-top files: ignored
Params = Dict[str, Dict[str, np.ndarray]]


def cache_dir() -> Path:
    """$NST_JAX_CACHE, else $XDG_CACHE_HOME/nst_jax, else ~/.cache/nst_jax."""
    if os.environ.get("NST_JAX_CACHE"):
        return Path(os.environ["NST_JAX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nst_jax"


def _str(x) -> str:
    return x.decode("utf8") if isinstance(x, bytes) else str(x)


def keras_to_ours(name: str) -> Optional[str]:
    """'block4_conv2' -> 'conv4_2' (vgg.layers' names); None for anything else."""
    return next((layer.conv for layer in layers("vgg19") if layer.keras == name), None)


def _read_layers(f) -> Dict[str, List[np.ndarray]]:
    """{keras layer name: [arrays in weight order]} for layouts (a), (b) and (c)."""
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" in root.attrs:  # layouts (a) and (b)
        out = {}
        for lname in map(_str, root.attrs["layer_names"]):
            g = root[lname]
            names = [_str(n) for n in g.attrs.get("weight_names", [])]
            if names:
                out[lname] = [np.asarray(g[n]) for n in names]
        return out
    if "layers" in f:  # layout (c): layers/<object>/vars/{0,1}
        out = {}
        for obj, g in f["layers"].items():
            if "vars" not in g or len(g["vars"]) == 0:
                continue
            lname = _str(g["vars"].attrs.get("name", obj))
            out[lname] = [np.asarray(g["vars"][k]) for k in sorted(g["vars"], key=int)]
        return out
    raise NstError(
        "the HDF5 file has neither `layer_names` nor `layers/`: it is not a Keras "
        "weights file; use a Keras VGG16/VGG19 *_notop.h5 file"
    )


def _kernel_bias(arrays: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    kernels = [a for a in arrays if a.ndim == 4]
    biases = [a for a in arrays if a.ndim == 1]
    return (kernels[0] if kernels else arrays[0]), (biases[0] if biases else arrays[-1])


def validate(found: Params, model: Optional[str], source: str) -> Tuple[str, Params]:
    """Check layer names and shapes; -> (model, params). Errors name every problem."""
    names = set(found)
    if model is None:  # the model is the one the file holds: the best match by layer names
        model = min(CHANNELS, key=lambda m: len(names ^ set(param_shapes(m))))
        if names == set(param_shapes("vgg16")):
            model = "vgg16"
    expected = param_shapes(model)  # read off the Flax model itself
    other = "vgg16" if model == "vgg19" else "vgg19"
    if names == set(param_shapes(other)) and names != set(expected):
        raise NstError(
            f"{source} holds {other.upper()} weights, not {model.upper()}; "
            f"pass --model {other} or a {model.upper()} weights file"
        )
    missing, extra = [k for k in expected if k not in found], sorted(names - set(expected))
    problems = (["missing " + ", ".join(missing)] if missing else []) + (
        ["extra " + ", ".join(extra)] if extra else []
    )
    problems += [
        f"{k}/{part} has shape {tuple(found[k][part].shape)}, expected {want}"
        for k in expected
        if k in found
        for part, want in expected[k].items()
        if tuple(found[k][part].shape) != want
    ]
    if problems:
        raise NstError(f"{source} is not a valid {model.upper()} weights file: " + "; ".join(problems))
    return model, {k: {p: np.asarray(found[k][p], np.float32) for p in ("kernel", "bias")} for k in expected}


def read_keras_h5(path: StrPath, model: Optional[str] = None) -> Tuple[str, Params]:
    """A Keras VGG *_notop.h5 in any of the three layouts -> (model, flat params)."""
    import h5py

    p = Path(path)
    if not p.is_file():
        raise NstError(f"weights file not found: {p}; check the path")
    if not h5py.is_hdf5(p):
        raise NstError(f"{p} is not an HDF5 file; give a Keras *_notop.h5 weights file")
    try:
        with h5py.File(p, "r") as f:
            groups = _read_layers(f)
    except OSError as e:  # truncated or corrupt HDF5
        raise NstError(f"{p} is damaged or truncated ({e}); download it again") from None
    found = {}
    for lname, arrays in groups.items():
        ours = keras_to_ours(lname)
        if ours is None and lname in CLASSIFIER_LAYERS:
            continue  # the classifier of a with-top file
        kernel, bias = _kernel_bias(arrays)
        found[ours or lname] = {"kernel": kernel, "bias": bias}
    return validate(found, model, str(p))


def file_hash(path: StrPath, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_npz(path: StrPath, model: str, params: Params, source_sha256: str) -> None:
    flat: Dict[str, Any] = {f"{k}/{p}": v for k, d in params.items() for p, v in d.items()}
    flat.update(
        __format_version__=np.array(FORMAT_VERSION),
        __model__=np.array(model),
        __source_sha256__=np.array(source_sha256),
    )
    atomic_write(path, lambda tmp: np.savez(open(tmp, "wb"), **flat))


def load_npz(path: StrPath, model: Optional[str] = None) -> Tuple[str, Params, str]:
    """Our .npz cache -> (model, params, source sha256)."""
    try:
        with np.load(path) as z:
            version = int(z["__format_version__"]) if "__format_version__" in z else -1
            if version != FORMAT_VERSION:
                raise NstError(
                    f"{path} is a cache of format {version}, expected "
                    f"{FORMAT_VERSION}; delete it and convert the .h5 again"
                )
            found: Params = {}
            for key in z.files:
                if not key.startswith("__"):
                    layer, part = key.split("/")
                    found.setdefault(layer, {})[part] = z[key]
            file_model, sha = str(z["__model__"]), str(z["__source_sha256__"])
    except NstError:
        raise
    except Exception as e:  # not a zip, truncated, missing keys
        raise NstError(f"{path} is not a readable nst_jax .npz cache ({e}); delete it") from None
    if model is not None and model != file_model:
        raise NstError(
            f"{path} holds {file_model.upper()} weights, not {model.upper()}; "
            f"pass --model {file_model} or a {model.upper()} weights file"
        )
    model, params = validate(found, file_model, str(path))
    return model, params, sha


def load_weights(path: StrPath, model: Optional[str] = None, cache: bool = True) -> Tuple[str, Params]:
    """.h5 or .npz -> (model, params); an .h5 is converted once into the cache folder."""
    p = Path(path)
    if p.suffix == ".npz":
        m, params, _ = load_npz(p, model)
        return m, params
    if not p.is_file():
        raise NstError(f"weights file not found: {p}; check the path")
    digest = file_hash(p)
    cached = cache_dir() / f"{p.stem}.{digest[:16]}.npz"
    if cache and cached.is_file():
        try:
            m, params, sha = load_npz(cached, model)
            if sha == digest:
                return m, params
        except NstError as e:
            if "holds" in str(e):  # wrong model: same answer the .h5 would give
                raise NstError(str(e).replace(str(cached), str(p))) from None
    m, params = read_keras_h5(p, model)
    if cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            save_npz(cached, m, params, digest)
        except OSError as e:  # a read-only home is no reason to fail
            print(f"warning: could not cache converted weights in {cached.parent}: {e}", file=sys.stderr)
    return m, params


def describe(path: StrPath) -> str:
    """A human summary of a weights file: model, layout, layers and shapes."""
    m, params = load_weights(path, cache=False)
    lines = [
        f"{path}: {m.upper()}, {sum(v.size for d in params.values() for v in d.values()):,}"
        f" parameters, sha256 {file_hash(path)}"
    ]
    for k, d in params.items():
        lines.append(
            f"  {k:8s} kernel {tuple(d['kernel'].shape)}  bias {tuple(d['bias'].shape)}"
            f"  kernel[0,0,0,0]={d['kernel'][0, 0, 0, 0]:.8g}"
        )
    return "\n".join(lines)
