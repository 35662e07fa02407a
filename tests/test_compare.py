"""compare.py: our features, losses and gradients agree with PyTorch and Keras."""

import shutil

import pytest

from nst_jax import cli
from nst_jax.reference import compare as cp
from nst_jax.reference import torch_vgg


def check(report, keras=True):
    over = cp.within(report)
    assert not over, (over, cp.worst(report))
    assert ("keras" in report) == keras
    assert len(report["layers"]) in (13, 16) and len(report["terms"]) == 7
    assert len(report["finite_differences"]) == 3


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_real_vgg16(real_vgg16, images, pooling):
    # Keras' VGG has no average-pooling option: it is compared for max pooling only
    r = cp.compare(images / "tubingen.jpg", images / "starry_night.jpg", real_vgg16, size=64, pooling=pooling)
    check(r, keras=pooling == "max")
    assert r["model"] == "vgg16"


@pytest.mark.parametrize(
    "layout, pooling", [("keras1", "max"), ("keras2", "avg"), ("keras2-model", "max"), ("keras3", "max")]
)
def test_synthetic_vgg19(vgg19_files, photo, painting, tmp_path, layout, pooling):
    path = vgg19_files[layout]
    if layout == "keras3":  # Keras 3 reads this layout only under its own suffix
        path = shutil.copy(path, tmp_path / "vgg19.weights.h5")
    r = cp.compare(photo, painting, path, size=40, pooling=pooling, fd_directions=3)
    check(r, keras=pooling == "max")
    assert r["model"] == "vgg19"


def test_independent_reader_matches_ours(vgg19_files, vgg19_params):
    import numpy as np

    for path in vgg19_files.values():
        theirs = torch_vgg.read_h5(path)
        assert theirs.keys() == vgg19_params.keys()
        for k, (kern, bias) in theirs.items():
            assert np.array_equal(kern, vgg19_params[k]["kernel"])
            assert np.array_equal(bias, vgg19_params[k]["bias"])


def test_cli(capsys, small_vgg16, photo, painting, tmp_path):
    assert (
        cli.main(
            [
                "compare",
                str(photo),
                str(painting),
                "--weights",
                str(small_vgg16),
                "--size",
                "32",
                "--framework",
                "torch",
                "--json",
                str(tmp_path / "c.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| relu5_3 |" in out and "all figures within tolerance" in out and "| torch |" in out
    assert (tmp_path / "c.json").exists()
    assert cli.main(["compare", "--framework", "tensorflow"]) == 2
    assert "unknown framework" in capsys.readouterr().err
    assert (
        cli.main(["compare", str(photo), str(painting), "--weights", str(small_vgg16), "--size", "24"]) == 2
    )
    assert "Keras' VGG needs at least 32 px" in capsys.readouterr().err


def test_missing_pytorch_says_how_to_install(capsys, small_vgg16, photo, painting, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import fails as if absent
    assert (
        cli.main(
            [
                "compare",
                str(photo),
                str(painting),
                "--weights",
                str(small_vgg16),
                "--size",
                "32",
                "--framework",
                "torch",
            ]
        )
        == 2
    )
    assert "pip install 'nst_jax[compare]'" in capsys.readouterr().err


def test_cli_in_a_fresh_process_uses_keras_on_torch(small_vgg16, photo, painting, tmp_path):
    """In-process tests may meet Keras already on the JAX backend; a user's command starts
    fresh, with Keras on torch, and times Keras too."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_jax",
            "compare",
            str(photo),
            str(painting),
            "--weights",
            str(small_vgg16),
            "--size",
            "48",
            "--json",
            str(tmp_path / "c.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["keras"]["backend"] == "torch"
    assert set(report["timing"]) == {"jax", "torch", "keras"}
    assert "| keras |" in p.stdout and "all figures within tolerance" in p.stdout
