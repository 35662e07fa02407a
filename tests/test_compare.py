"""compare.py: our features, losses and gradients agree with PyTorch and Keras."""

import shutil

import pytest

from nst_jax import compare as cp
from nst_jax import cli


def check(report, keras=True):
    over = cp.within(report)
    assert not over, (over, cp.worst(report))
    assert ("keras" in report) == keras
    assert len(report["layers"]) in (13, 16) and len(report["terms"]) == 7
    assert len(report["finite_differences"]) == 3


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_real_vgg16(real_vgg16, images, pooling):
    # Keras' VGG has no average-pooling option: it is compared for max pooling only
    r = cp.compare(images / "tubingen.jpg", images / "starry_night.jpg", real_vgg16, size=64,
                   pooling=pooling)
    check(r, keras=pooling == "max")
    assert r["model"] == "vgg16"


@pytest.mark.parametrize("layout, pooling", [("keras1", "max"), ("keras2", "avg"),
                                             ("keras2-model", "max"), ("keras3", "max")])
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
        theirs = cp.read_h5(path)
        assert theirs.keys() == vgg19_params.keys()
        for k, (kern, bias) in theirs.items():
            assert np.array_equal(kern, vgg19_params[k]["kernel"])


def test_cli(capsys, small_vgg16, photo, painting, tmp_path):
    assert cli.main(["compare", str(photo), str(painting), "--weights", str(small_vgg16),
                     "--size", "32", "--framework", "torch", "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "| relu5_3 |" in out and "all figures within tolerance" in out and "| torch |" in out
    assert (tmp_path / "c.json").exists()
    assert cli.main(["compare", "--framework", "tensorflow"]) == 2
    assert "unknown framework" in capsys.readouterr().err
