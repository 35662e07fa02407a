"""weights.py: the three Keras layouts, validation, the .npz cache, lookup and download."""

import hashlib
import http.server
import os
import threading

import h5py
import numpy as np
import pytest
from keras_files import WRITERS, write_keras1

from nst_jax import NstError
from nst_jax.io import lookup as lk
from nst_jax.io import weights as wt
from nst_jax.paper.vgg import layers

KERAS_TO_OURS = {layer.keras: layer.conv for layer in layers("vgg19")}  # block4_conv2 -> conv4_2


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        for p in ("kernel", "bias"):
            np.testing.assert_array_equal(a[k][p], b[k][p], err_msg=f"{k}/{p}")


@pytest.mark.parametrize("layout", list(WRITERS))
def test_vgg19_loads_from_every_layout(vgg19_files, vgg19_params, layout):
    model, params = wt.read_keras_h5(vgg19_files[layout])
    assert model == "vgg19"
    assert_same_params(params, vgg19_params)


def test_files_written_by_keras_itself(tmp_path, vgg19_params):
    """Keras 3 writes layouts (b) and (c); our reader must agree with Keras' own arrays."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="keras is in the [test] extra")
    m = keras.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
    m.save_weights(tmp_path / "k3.weights.h5")  # layout (c)
    m.save(tmp_path / "whole_model.h5")  # legacy whole-model file: layout (b), model_weights/
    for name in ("k3.weights.h5", "whole_model.h5"):
        model, params = wt.read_keras_h5(tmp_path / name)
        assert model == "vgg19"
        for layer in m.layers:
            if "_conv" in layer.name:
                kernel, bias = layer.get_weights()
                ours = params[KERAS_TO_OURS[layer.name]]
                np.testing.assert_array_equal(ours["kernel"], kernel)
                np.testing.assert_array_equal(ours["bias"], bias)


# Published values of the Keras ImageNet VGG16 weights (../shared/weights/PROVENANCE.md)
PROBES = [
    ("conv1_1", "kernel", (0, 0, 0, 0), 0.42947057),
    ("conv1_1", "bias", (25,), 0.7446502),
    ("conv1_2", "kernel", (2, 2, 63, 63), 0.016082443),
    ("conv2_1", "bias", (1,), 0.06440781),
    ("conv5_1", "kernel", (1, 0, 63, 269), -0.011236359),
    ("conv5_2", "bias", (510,), 0.23517226),
    ("conv5_3", "kernel", (0, 2, 0, 400), -0.008714244),
]


def test_real_vgg16_matches_published_values(real_vgg16):
    model, params = wt.read_keras_h5(real_vgg16)
    assert model == "vgg16"
    assert sum(v.size for d in params.values() for v in d.values()) == 14_714_688
    for layer, part, index, value in PROBES:
        assert params[layer][part][index] == pytest.approx(value, abs=1e-6), (layer, part)


def test_real_vgg16_features_match_keras(real_vgg16, images):
    """Keras' own VGG16 reading the same file, with Keras' own preprocess_input."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="keras is in the [test] extra")
    from nst_jax.io import image_files
    from nst_jax.paper import image as im
    from nst_jax.paper.vgg import features

    rgb = im.resize(image_files.load_image(images / "tubingen.jpg")[0], 48, 64)
    km = keras.applications.VGG16(weights=str(real_vgg16), include_top=False, input_shape=(48, 64, 3))
    names = ["block1_conv1", "block3_conv3", "block4_conv2", "block5_conv3"]
    probe = keras.Model(km.input, [km.get_layer(n).output for n in names])
    theirs = probe.predict(keras.applications.vgg16.preprocess_input(rgb[None].copy()), verbose=0)
    _, params = wt.load_weights(real_vgg16)
    ours = features(params, im.preprocess(rgb), names, "vgg16")
    for n, t in zip(names, theirs):
        ref = t[0]
        # same float32 arithmetic in a different order: relative 1e-4 of the layer's scale
        np.testing.assert_allclose(
            ours[KERAS_TO_OURS[n].replace("conv", "relu")], ref, atol=1e-4 * np.abs(ref).max(), err_msg=n
        )


def test_missing_extra_and_misshaped_layers_are_named(tmp_path, vgg19_params):
    write_keras1(tmp_path / "missing.h5", vgg19_params, "vgg19", skip=("block3_conv4",))
    with pytest.raises(NstError, match=r"missing conv3_4"):
        wt.read_keras_h5(tmp_path / "missing.h5")
    write_keras1(
        tmp_path / "extra.h5",
        vgg19_params,
        "vgg19",
        extra={"block6_conv1": (np.zeros((3, 3, 512, 512)), np.zeros(512))},
    )
    with pytest.raises(NstError, match=r"extra block6_conv1"):
        wt.read_keras_h5(tmp_path / "extra.h5")
    bad = dict(
        vgg19_params,
        conv2_1={"kernel": np.zeros((3, 3, 64, 64), np.float32), "bias": np.zeros(128, np.float32)},
    )
    write_keras1(tmp_path / "shape.h5", bad, "vgg19")
    with pytest.raises(
        NstError,
        match=r"conv2_1/kernel has shape \(3, 3, 64, 64\), expected "
        r"\(3, 3, 64, 128\)",
    ):
        wt.read_keras_h5(tmp_path / "shape.h5")


def test_classifier_layers_of_with_top_files_are_ignored(tmp_path, vgg19_params):
    write_keras1(
        tmp_path / "top.h5", vgg19_params, "vgg19", extra={"fc1": (np.zeros((25088, 8)), np.zeros(8))}
    )
    assert wt.read_keras_h5(tmp_path / "top.h5")[0] == "vgg19"


def test_wrong_model_is_refused(small_vgg16, vgg19_files):
    with pytest.raises(NstError, match="holds VGG16 weights, not VGG19; pass --model vgg16"):
        wt.read_keras_h5(small_vgg16, "vgg19")
    with pytest.raises(NstError, match="holds VGG19"):
        wt.load_weights(vgg19_files["keras3"], "vgg16")


def test_not_hdf5_truncated_and_foreign_files(tmp_path, vgg19_files):
    (tmp_path / "x.h5").write_text("hello")
    with pytest.raises(NstError, match="not an HDF5 file"):
        wt.read_keras_h5(tmp_path / "x.h5")
    data = vgg19_files["keras1"].read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(NstError, match="damaged or truncated"):
        wt.read_keras_h5(tmp_path / "cut.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(NstError, match="not a Keras weights file"):
        wt.read_keras_h5(tmp_path / "other.h5")
    with pytest.raises(NstError, match="not found"):
        wt.read_keras_h5(tmp_path / "absent.h5")


def test_npz_cache_is_written_once_and_reused(vgg19_files, vgg19_params, monkeypatch):
    src = vgg19_files["keras2"]
    wt.load_weights(src)
    (cached,) = wt.cache_dir().glob("*.npz")
    with np.load(cached) as z:
        assert int(z["__format_version__"]) == wt.FORMAT_VERSION
        assert str(z["__source_sha256__"]) == hashlib.sha256(src.read_bytes()).hexdigest()
        assert "conv1_1/kernel" in z.files
    monkeypatch.setattr(wt, "read_keras_h5", lambda *a: pytest.fail("the cache was not used"))
    model, params = wt.load_weights(src)
    assert model == "vgg19"
    assert_same_params(params, vgg19_params)
    model, params = wt.load_weights(cached)  # the .npz is itself a valid --weights file
    assert_same_params(params, vgg19_params)


def test_stale_or_foreign_npz(tmp_path, vgg19_params):
    np.savez(tmp_path / "old.npz", __format_version__=np.array(0))
    with pytest.raises(NstError, match="format 0"):
        wt.load_weights(tmp_path / "old.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NstError, match="not a readable"):
        wt.load_weights(tmp_path / "junk.npz")


def test_lookup_order(tmp_path, monkeypatch, vgg19_files, small_vgg16):
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(lk, "REPO_WEIGHTS", repo)
    assert lk.find_weights() is None
    # --weights, $NST_JAX_WEIGHTS, the repository's weights/, the user cache: nothing else
    assert [what for what, _ in lk.search_path("vgg16")] == ["repo weights/", "user cache"]
    cached = wt.cache_dir() / lk.FILENAMES["vgg16"]
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(small_vgg16.read_bytes())
    assert lk.find_weights() == cached  # the user cache
    assert lk.find_weights(model="vgg19") is None  # only VGG16 there
    (repo / lk.FILENAMES["vgg19"]).write_bytes(b"x")
    assert lk.find_weights() == repo / lk.FILENAMES["vgg19"]  # repo weights/ before the cache
    monkeypatch.setenv("NST_JAX_WEIGHTS", str(vgg19_files["keras3"]))
    assert lk.find_weights() == vgg19_files["keras3"]  # the environment before the folders
    assert lk.find_weights(small_vgg16) == small_vgg16  # --weights before everything
    monkeypatch.setenv("NST_JAX_WEIGHTS", str(tmp_path / "gone.h5"))
    with pytest.raises(NstError, match="NST_JAX_WEIGHTS is set, but weights file not found"):
        lk.find_weights()
    with pytest.raises(NstError, match="not found"):
        lk.find_weights(tmp_path / "gone.h5")


@pytest.fixture
def server(tmp_path):
    """A web server on the loopback interface serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(www), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_and_renames(server, small_vgg16, tmp_path):
    www, url = server
    (www / "w.h5").write_bytes(small_vgg16.read_bytes())
    good = hashlib.md5(small_vgg16.read_bytes()).hexdigest()
    dest = tmp_path / "dl"
    path = lk.download("vgg16", dest, url=f"{url}/w.h5", expected_md5=good, progress=False)
    assert path == dest / lk.FILENAMES["vgg16"]
    assert wt.load_weights(path)[0] == "vgg16"
    assert [p.name for p in dest.iterdir()] == [path.name]  # no .part left


def test_failed_downloads_leave_nothing(server, small_vgg16, tmp_path):
    www, url = server
    (www / "w.h5").write_bytes(small_vgg16.read_bytes())
    dest = tmp_path / "dl"
    with pytest.raises(
        NstError,
        match=r"md5 .* expected 0+ \(corrupt or changed\); download .* by hand, then pass "
        r"--weights PATH",
    ):
        lk.download("vgg16", dest, url=f"{url}/w.h5", expected_md5="0" * 32, progress=False)
    assert list(dest.iterdir()) == []
    with pytest.raises(NstError, match="could not download"):
        lk.download("vgg16", dest, url=f"{url}/missing.h5", progress=False)  # HTTP 404
    assert list(dest.iterdir()) == []


def test_resolve_without_weights_or_download(tmp_path, monkeypatch):
    monkeypatch.setattr(lk, "REPO_WEIGHTS", tmp_path)
    with pytest.raises(NstError, match="no VGG19 weights found; pass --weights"):
        lk.resolve(allow_download=False)
