"""resnet.py: ResNet50 in Flax against Keras' own ResNet50 on the same random weights;
its weights read from files Keras writes; compare and the command line end to end."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from nst_jax.errors import NstError
from nst_jax.paper import resnet


@pytest.fixture(scope="module")
def keras_resnet():
    """Keras' ResNet50 with every variable random, batch-norm statistics too (so that the
    folding is tested), and our params made from its arrays without our reader."""
    from keras_files import resnet50_keras

    keras, m = resnet50_keras((64, 80, 3), seed=3)
    params = {}
    for layer in m.layers:
        w = layer.get_weights()
        if isinstance(layer, keras.layers.Conv2D):
            params[layer.name] = {"kernel": w[0], "bias": w[1]}
        elif w:
            params[layer.name] = resnet.bn_affine(*w)
    return keras, m, params


@pytest.mark.slow
def test_params_are_the_models_own_shapes(keras_resnet):
    _, _, params = keras_resnet
    shapes = resnet.flax_shapes()
    assert set(shapes) == set(params) and len(shapes) == 106  # 53 convolutions, 53 batch norms
    assert all(params[k][p].shape == s for k, d in shapes.items() for p, s in d.items())
    stored = resnet.param_shapes()  # what a file is checked against: Keras' four statistics
    assert stored["conv1_bn"] == {p: (64,) for p in resnet.BN_PARTS}
    assert stored["conv5_block3_3_conv"] == {"kernel": (1, 1, 512, 2048), "bias": (2048,)}


@pytest.mark.slow
def test_features_equal_keras_at_every_named_layer(keras_resnet):
    """Every one of the 172 named outputs, asked for alone and all together (folded and
    unfolded batch norms): float32 against Keras' float32, measured <= 2.1e-6 relative to
    each layer's largest value; 1e-5 as the issue asks."""
    keras, m, params = keras_resnet
    names = list(resnet.layer_names())
    x = np.random.default_rng(1).uniform(-120, 130, (64, 80, 3)).astype("float32")
    ref = keras.Model(m.input, [m.get_layer(n).output for n in names]).predict(x[None], verbose=0)
    default = ["conv2_block3_1_conv", "conv3_block1_1_conv", "conv4_block1_1_conv", "conv5_block1_1_conv"]
    for request in (names, default, ["conv5_block3_out"], ["conv1_conv"]):
        ours = resnet.features(params, x, request)
        assert list(ours) == request
        for n in request:
            r = ref[names.index(n)][0]
            assert ours[n].shape == r.shape, n
            assert np.abs(np.asarray(ours[n]) - r).max() <= 1e-5 * np.abs(r).max(), n


def test_bn_affine_is_the_batch_norm_formula():
    rng = np.random.default_rng(2)
    g, b, mu, var = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.1, 2, 4)
    x = rng.normal(size=(5, 4))
    ab = resnet.bn_affine(g, b, mu, var)
    want = g * (x - mu) / np.sqrt(var + resnet.EPSILON) + b
    np.testing.assert_allclose(x * ab["scale"] + ab["shift"], want, rtol=1e-6, atol=1e-6)


def test_layer_names_are_keras_and_checked():
    assert resnet.resolve_layer("Conv4_Block1_1_Conv") == "conv4_block1_1_conv"
    with pytest.raises(NstError, match="unknown layer 'relu4_2' for resnet50; name one of Keras' layers"):
        resnet.resolve_layer("relu4_2")
    with pytest.raises(NstError, match="resnet50 needs 32 px per side"):
        resnet.features(
            resnet.prepare(resnet.init_params()), np.zeros((31, 64, 3), np.float32), ["conv1_conv"]
        )


@pytest.mark.slow
def test_every_layout_keras_writes_is_read(resnet50_files):
    """The three layouts (Keras' own .weights.h5, legacy and whole-model .h5; Keras 1's
    naming written from the same arrays): the model is found without --model and every
    array is Keras' own, exactly."""
    from nst_jax.io import weights as wt

    paths, arrays = resnet50_files
    for layout, path in paths.items():
        model, params = wt.read_keras_h5(path)
        assert model == "resnet50" and len(params) == 106, layout
        for name, parts in params.items():
            want = arrays[name]
            got = [parts[p] for p in (("kernel", "bias") if name.endswith("_conv") else resnet.BN_PARTS)]
            assert all(np.array_equal(g, w) for g, w in zip(got, want)), (layout, name)


@pytest.mark.slow
def test_load_weights_prepares_the_batch_norms(resnet50_files):
    from nst_jax.io import weights as wt

    paths, arrays = resnet50_files
    model, params = wt.load_weights(paths["keras2"])
    want = resnet.bn_affine(*arrays["conv3_block2_2_bn"])
    np.testing.assert_array_equal(params["conv3_block2_2_bn"]["scale"], want["scale"])
    assert model == "resnet50" and set(params["conv1_bn"]) == {"scale", "shift"}


@pytest.mark.slow
def test_broken_files_name_every_problem(resnet50_files, tmp_path, small_vgg16):
    from nst_jax.io import weights as wt

    paths, _ = resnet50_files
    bad = tmp_path / "bad.h5"
    shutil.copy(paths["keras2"], bad)
    with h5py.File(bad, "r+") as f:
        del f["conv2_block1_1_bn"]["conv2_block1_1_bn"]["moving_variance"]  # a statistic lost
    with pytest.raises(NstError, match="conv2_block1_1_bn has no moving_variance"):
        wt.read_keras_h5(bad)
    with pytest.raises(
        NstError, match=r"holds RESNET50 weights \(damaged: .*\), not VGG16; pass --model resnet50"
    ):
        wt.read_keras_h5(bad, "vgg16")  # (was: "not a valid VGG16 weights file")
    shutil.copy(paths["keras3"], bad.with_suffix(".weights.h5"))
    with h5py.File(bad.with_suffix(".weights.h5"), "r+") as f:
        v = next(g["vars"] for g in f["layers"].values() if g["vars"].attrs.get("name") == "conv1_conv")
        del v["0"]
        v["0"] = np.zeros((3, 3, 3, 64), np.float32)  # the wrong kernel size
    with pytest.raises(
        NstError, match=r"conv1_conv/kernel has shape \(3, 3, 3, 64\), expected \(7, 7, 3, 64\)"
    ):
        wt.read_keras_h5(bad.with_suffix(".weights.h5"))
    with pytest.raises(NstError, match="holds VGG16 weights, not RESNET50; pass --model vgg16"):
        wt.read_keras_h5(small_vgg16, "resnet50")
    with pytest.raises(NstError, match="holds RESNET50 weights, not VGG19; pass --model resnet50"):
        wt.read_keras_h5(paths["keras2"], "vgg19")


def _run(args, **kw):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return subprocess.run(
        [sys.executable, "-m", "nst_jax", *args], capture_output=True, text=True, env=env, **kw
    )


@pytest.mark.slow
def test_compare_against_keras_on_torch(resnet50_files, photo, painting, tmp_path):
    """`compare --model resnet50`: Keras' own ResNet50 (torch backend) is the reference at
    every one of the 172 layers, and for the terms and their gradients by torch's autograd.
    Tolerances: compare.TOLERANCES (1e-5 activations, 1e-4 gradients, as the issue asks;
    measured 1.7e-6 and 4.0e-6 here), the gradients in float32 (Keras has no float64 run)."""
    paths, _ = resnet50_files
    out = tmp_path / "report.json"
    r = _run(
        [
            "compare",
            photo,
            painting,
            "--model",
            "resnet50",
            "--weights",
            paths["keras2"],
            "--size",
            "64",
            "--json",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "all figures within tolerance" in r.stdout
    report = json.loads(out.read_text())
    assert report["references"] == ["keras", "torch"] and len(report["layers"]) == 172
    assert max(d["keras"]["max_rel"] for d in report["layers"].values()) <= 1e-5
    assert {k for k in report["terms"]} == {"content", "tv"} | {
        f"style {n}" for n in resnet.backbone().style_layers
    }
    assert max(d["keras_grad"]["rel_l2"] for d in report["terms"].values()) <= 1e-4
    # and the independent PyTorch ResNet50 (reference/torch_resnet.py: batch norm unfolded,
    # its own reader): activations in float32 to 1e-5; gradients in float64 to 1e-5, the
    # float32 rounding of our batch norms' (a, b), computed once at load (measured 3.4e-7)
    assert max(d["torch"]["max_rel"] for d in report["layers"].values()) <= 1e-5
    assert max(d["torch_grad64"]["rel_l2"] for d in report["terms"].values()) <= 1e-5
    assert max(d["rel_error"] for d in report["finite_differences"]) <= 1e-5


@pytest.mark.slow
def test_command_line_end_to_end(resnet50_files, photo, painting, tmp_path):
    """The issue's command on a Keras-written file: the model is the file's, its layers and
    style loss the defaults of resnet50; the loss falls."""
    paths, _ = resnet50_files
    out, log = tmp_path / "out.png", tmp_path / "run.json"
    args = [
        photo,
        painting,
        "--weights",
        paths["keras3"],
        "--size",
        "64",
        "--iters",
        "6",
        "-o",
        str(out),
        "--log",
        str(log),
    ]
    r = _run([*args[:2], "--model", "resnet50", *args[2:]])
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads(log.read_text())
    assert info["summary"]["model"] == "resnet50" and out.is_file()
    ob, bb = info["summary"]["objective"], resnet.backbone()
    assert ob["style_normalization"] == bb.style_normalization  # the model's defaults
    assert [n for n, _ in ob["style_layers"]] == list(bb.style_layers)
    assert [n for n, _ in ob["content_layers"]] == list(bb.content_layers)
    losses = [h["total"] for h in info["history"]]
    assert losses[-1] < losses[0]
    r = _run([*args, "--remat"])
    assert r.returncode == 2 and "--remat is written for VGG, not resnet50; drop --remat" in r.stderr
    assert "Traceback" not in r.stderr
