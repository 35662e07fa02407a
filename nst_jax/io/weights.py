"""ImageNet weights: read Keras HDF5 files, validate, cache as .npz (lookup.py finds and
downloads the files).

Keras distributes the convolutional part of VGG16, VGG19 and ResNet50 as `*_notop.h5`
files. Three layouts are met in the wild; the reader is guided by each file's own
attributes:

  (a) Keras 1 release files: root attr `layer_names`; per layer group attr `weight_names`
      = ['block1_conv1_W_1:0', 'block1_conv1_b_1:0'], datasets inside the layer group.
  (b) Keras 2 legacy files: the same attributes, weight names 'block1_conv1/kernel:0'
      (nested groups), all under a `model_weights` group in whole-model files.
  (c) Keras 3 `*.weights.h5`: `layers/<object>/vars/0` (kernel) and `/1` (bias), where the
      `vars` group's attr `name` is the layer's name ('block1_conv1').

Each layer's arrays, in weight order, are the backbone's to name (`Backbone.from_keras`:
VGG's [kernel, bias]; a batch norm's [gamma, beta, moving_mean, moving_variance]) and
are checked against its `param_shapes`: every missing, extra, mis-shaped or non-finite
array is named. Kernels are HWIO (3, 3, C_in, C_out), the layout Flax uses, so no
transpose is needed. The stored weights are cached once as a flat `.npz` keyed
'conv1_1/kernel', with a format version and the sha256 of the source file, and loaded
from there later; `load_weights` returns them as the network takes them
(`Backbone.prepare`: ResNet50's batch norms as per-channel affine maps).
"""

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import h5py
import numpy as np

from ..errors import NstError
from ..paper.backbones import NAMES, get
from .files import StrPath, atomic_write, check_input, show

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


def _read_layers(f) -> Tuple[Dict[str, List[np.ndarray]], List[str]]:
    """({keras layer name: [arrays in weight order]}, [what is broken]) for layouts (a),
    (b) and (c); a layer whose group or datasets are missing is named, not read."""
    root = f["model_weights"] if "model_weights" in f else f
    out, broken = {}, []
    if "layer_names" in root.attrs:  # layouts (a) and (b)
        for lname in map(_str, root.attrs["layer_names"]):
            if lname not in root or not isinstance(root[lname], h5py.Group):
                broken.append(f"layer {lname} is listed in layer_names but has no group")
                continue
            g = root[lname]
            names = [_str(n) for n in g.attrs.get("weight_names", [])]
            absent = [n for n in names if not isinstance(g.get(n), h5py.Dataset)]
            if absent:
                broken.append(f"layer {lname} has no {_part(absent, names)} ({', '.join(absent)})")
            elif names:
                out[lname] = [np.asarray(g[n]) for n in names]
        return out, broken
    if "layers" in f:  # layout (c): layers/<object>/vars/{0,1}
        for obj, g in f["layers"].items():
            if not isinstance(g, h5py.Group) or "vars" not in g or len(g["vars"]) == 0:
                continue
            lname, v = _str(g["vars"].attrs.get("name", obj)), g["vars"]
            keys = sorted((k for k in v if k.isdecimal()), key=int)
            if (
                keys != [str(i) for i in range(len(keys))]
                or len(keys) < 2
                or not all(isinstance(v[k], h5py.Dataset) for k in keys)
            ):
                broken.append(f"layer {lname} has vars {sorted(v)}, expected 0 (kernel), 1 (bias), ...")
                continue
            out[lname] = [np.asarray(v[k]) for k in keys]
        return out, broken
    raise NstError(
        f"{show(f.filename)} has neither `layer_names` nor `layers/`: it is not a Keras "
        "weights file; use a Keras VGG16, VGG19 or ResNet50 *_notop.h5 file"
    )


def _part(absent: List[str], names: List[str]) -> str:
    """Which of a layer's weights the `absent` names are: 'kernel', 'bias' or both."""
    parts = [n.split("/")[-1].split(":")[0] for n in absent]  # 'conv1_bn/gamma:0' -> 'gamma'
    parts = ["kernel" if p.endswith("_W_1") else "bias" if p.endswith("_b_1") else p for p in parts]
    return " and ".join(dict.fromkeys(parts))


def _ours(model: str, groups: Dict[str, List[np.ndarray]]) -> Params:
    """{Keras layer: arrays} -> {our layer: {part: array}} as `model` names them; a layer
    that is not the model's keeps its name (and is named as extra), a classifier is skipped."""
    found: Params = {}
    for lname, arrays in groups.items():
        named = get(model).from_keras(lname, arrays)
        if named is None and lname in CLASSIFIER_LAYERS:
            continue  # the classifier of a with-top file
        layer, parts = named or (lname, {})
        found[layer] = parts
    return found


def _best(names_as: Callable[[str], set]) -> str:
    """The model whose layers the found ones are, each model naming them its own way
    (`names_as(model)`): the fewest missing and extra, then the smaller (a VGG16 file is
    not a VGG19 file missing three layers)."""
    shapes = {m: set(get(m).param_shapes()) for m in NAMES}
    return min(NAMES, key=lambda m: (len(names_as(m) ^ shapes[m]), len(shapes[m])))


def _held(groups: Dict[str, List[np.ndarray]]) -> str:  # a file's Keras layers
    return _best(lambda m: set(_ours(m, groups)))


def _wrong_model(source: Any, held: str, model: str) -> NstError:
    return NstError(
        f"{show(source)} holds {held.upper()} weights, not {model.upper()}; "
        f"pass --model {held} or a {model.upper()} weights file"
    )


def validate(found: Params, model: Optional[str], source: str) -> Tuple[str, Params]:
    """Check layer names and shapes; -> (model, params). Errors name every problem."""
    names = set(found)
    other = _best(lambda m: names)  # (the model the file holds: the best match)
    model = model or other
    expected = get(model).param_shapes()  # read off the Flax model itself
    if names == set(get(other).param_shapes()) and names != set(expected):
        raise _wrong_model(source, other, model)
    missing, extra = [k for k in expected if k not in found], sorted(names - set(expected))
    problems = (["missing " + ", ".join(missing)] if missing else []) + (
        ["extra " + ", ".join(extra)] if extra else []
    )
    for layer, part, want in [(k, p, w) for k in expected if k in found for p, w in expected[k].items()]:
        a = found[layer].get(part)  # each array: there, of its shape, of numbers, finite
        if a is None:
            problems.append(f"{layer} has no {part}")
        elif tuple(a.shape) != want:
            problems.append(f"{layer}/{part} has shape {tuple(a.shape)}, expected {want}")
        elif np.asarray(a).dtype.kind not in "fiu":  # (strings, objects, booleans, complex)
            problems.append(f"{layer}/{part} holds {np.asarray(a).dtype} values, not numbers")
        elif (bad := int(np.size(a) - np.count_nonzero(np.isfinite(a)))) > 0:
            problems.append(f"{layer}/{part} has {bad} NaN or infinite value{'s' * (bad > 1)}")
    if problems:
        raise NstError(
            f"{show(source)} is not a valid {model.upper()} weights file: {', '.join(problems)}; "
            "download or convert the file again"
        )
    return model, {k: {p: np.asarray(found[k][p], np.float32) for p in expected[k]} for k in expected}


def read_keras_h5(path: StrPath, model: Optional[str] = None) -> Tuple[str, Params]:
    """A Keras *_notop.h5 in any of the three layouts -> (model, stored params)."""
    p = check_input(path, "weights file")
    if not h5py.is_hdf5(p):
        raise NstError(f"{show(p)} is not an HDF5 file; give a Keras *_notop.h5 weights file")
    try:
        with h5py.File(p, "r") as f:
            groups, broken = _read_layers(f)
    except (OSError, KeyError, ValueError, TypeError) as e:  # truncated or corrupt HDF5
        raise NstError(f"{show(p)} is damaged or truncated ({e}); download it again") from None
    if broken:  # the model: the best match of the layers read and named (not the one asked)
        named = {n for b in broken for n in b.split() if n not in groups}  # (the broken ones)
        m = _held({n: [] for n in named} | groups)
        if model not in (None, m):
            raise NstError(
                f"{show(p)} holds {m.upper()} weights (damaged: {', '.join(broken)}), not {model.upper()}; "
                f"pass --model {m} with a sound {m.upper()} file, or a {model.upper()} weights file"
            )
        raise NstError(
            f"{show(p)} is not a valid {m.upper()} weights file: {', '.join(broken)}; download it again"
        )
    held = _held(groups)
    if model not in (None, held) and set(_ours(held, groups)) == set(get(held).param_shapes()):
        raise _wrong_model(p, held, model)
    model = model or held  # the model the file holds: the best match of its layers
    return validate(_ours(model, groups), model, str(p))


def file_hash(path: StrPath, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def npz_writer(model: str, params: Params, source_sha256: str) -> Callable[[str], None]:
    """write(tmp_path) of our .npz cache: flat 'conv1_1/kernel' keys, format and source."""
    flat: Dict[str, Any] = {f"{k}/{p}": v for k, d in params.items() for p, v in d.items()}
    flat.update(
        __format_version__=np.array(FORMAT_VERSION),
        __model__=np.array(model),
        __source_sha256__=np.array(source_sha256),
    )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **flat)

    return write


def save_npz(path: StrPath, model: str, params: Params, source_sha256: str) -> None:
    atomic_write(path, npz_writer(model, params, source_sha256))


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
        raise _wrong_model(path, file_model, model)
    model, params = validate(found, file_model, str(path))
    return model, params, sha


def load_weights(path: StrPath, model: Optional[str] = None, cache: bool = True) -> Tuple[str, Params]:
    """.h5 or .npz -> (model, params as the network takes them: Backbone.prepare); an .h5
    is converted once into the cache folder."""
    m, params = load_stored(path, model, cache)
    return m, get(m).prepare(params)


def load_stored(path: StrPath, model: Optional[str] = None, cache: bool = True) -> Tuple[str, Params]:
    """.h5 or .npz -> (model, params as the file stores them, checked)."""
    p = check_input(path, "weights file")
    if p.suffix == ".npz":
        m, params, _ = load_npz(p, model)
        return m, params
    digest = file_hash(p)
    cached = cache_dir() / f"{p.stem}.{digest[:16]}.npz"
    if cache and cached.is_file():
        try:  # (the wrong model or a stale cache: the .h5 is read, and answers)
            m, params, sha = load_npz(cached)
            if sha == digest and model in (None, m):
                return m, params
        except NstError:
            pass
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
    m, params = load_stored(path, cache=False)
    lines = [
        f"{path}: {m.upper()}, {sum(v.size for d in params.values() for v in d.values()):,}"
        f" parameters, sha256 {file_hash(path)}"
    ]
    for k, d in params.items():
        first = next(iter(d))
        lines.append(
            f"  {k:8s} "
            + "  ".join(f"{p} {tuple(v.shape)}" for p, v in d.items())
            + f"  {first}[0]={d[first].flat[0]:.8g}"
        )
    return "\n".join(lines)
