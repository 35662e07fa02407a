"""bench.py: the analytic FLOP count against XLA's, and `bench` on the command line.

Timings are printed, never asserted: these check that the benchmark measures the right
work and reports it completely."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax import bench
from nst_jax.cli import app as cli
from nst_jax.config import Config
from nst_jax.paper.losses import loss_terms, make_targets
from nst_jax.paper.vgg import init_params


def test_vgg16_conv_flops_match_the_published_count():
    # VGG16's 13 convolutions on a 224x224 image: 15.35 GMACs (e.g. Canziani et al. 2016,
    # "An Analysis of Deep Neural Network Models for Practical Applications", ~15.5 G
    # operations with the fully connected layers' 0.12 G)
    assert bench.conv_flops("vgg16", 224, 224, "relu5_3") / 2 == pytest.approx(15.35e9, rel=0.005)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["vgg16", "vgg19"])
def test_eval_flops_match_xlas_cost_analysis(model):
    ob = Config().objective(model)
    params = init_params(model)
    x = jnp.asarray(np.random.default_rng(0).normal(0, 50, (256, 192, 3)), jnp.float32)
    targets = make_targets(params, ob, x, x)
    grad = jax.jit(jax.grad(lambda x, p, t: loss_terms(p, t, x, ob)["total"]))
    cost = grad.lower(x, params, targets).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    ours = bench.eval_flops(model, 256, 192, [n for n, _ in ob.style_layers], "relu5_1")
    # XLA also counts elementwise work (ReLU, pooling, losses: ~1%) and skips the taps of
    # SAME padding that fall on zeros, which we count (as PyTorch and the hardware do):
    # 1 - (1 - 2/(3h))(1 - 2/(3w)) of a layer, 12% on relu5_1's 16x12 here: within 5%
    assert ours == pytest.approx(cost["flops"], rel=0.05)


@pytest.mark.slow
def test_bench_speed_cli(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        cli.main(
            [
                "bench",
                "--size",
                "48",
                "--model",
                "vgg16",
                "--framework",
                "jax,jax-direct,torch",
                "--repeats",
                "1",
                "--conv",
                "winograd",
                "--style-loss",
                "gram,meanstd",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    rows = json.loads(out.read_text())
    # each framework with each style loss; PyTorch's reference has the Gram loss only
    got = [(r["framework"], r["style_loss"]) for r in rows]
    assert got == [("jax", "gram"), ("jax", "meanstd"), ("jax-direct", "gram"), ("jax-direct", "meanstd")] + [
        ("torch", "gram")
    ]
    rows = [r for r in rows if r["style_loss"] == "gram"]
    # the jax row runs with --conv (Winograd from conv3_2 on), jax-direct never
    assert rows[0]["winograd_layers"][0] == "conv3_2" and rows[1]["winograd_layers"] == []
    for r in rows:
        assert r["seconds"] > 0 and r["peak_bytes"] > 2**20 and r["gflops"] > 0
        assert r["size"] == [48, 32] and r["matmul_gflops"] > 0
    assert "compile_seconds" in rows[0] and "| vgg16 | 48x32 | jax |" in table
    assert "vs PyTorch" in table and "Matmul peak" in table and "| meanstd |" in table


def test_bench_errors_are_one_line(capsys):
    for argv, message in (
        (["bench", "--framework", "tf"], "unknown --framework tf"),
        (["bench", "--model", "resnet"], "unknown --model resnet"),
        (["bench", "--style-loss", "l1"], "unknown --style-loss l1"),
        (["bench", "--size", "8"], "--size must be"),
        (["bench", "--repeats", "0"], "--repeats must be"),
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


@pytest.mark.slow
def test_bench_batch_cli(tmp_path, small_vgg16, photo, painting, capsys):
    """`bench batch` runs each batch size and one by one, and its rows agree with
    themselves: images/s is the batch over its seconds, the speed-up their ratio."""
    out = tmp_path / "rows.json"
    argv = ["bench", "batch", str(photo), str(painting), "--size", "32", "--batch", "1,2", "--iters", "2"]
    assert cli.main([*argv, "--weights", str(small_vgg16), "--json", str(out), "--quiet"]) == 0
    rows = json.loads(out.read_text())
    assert [r["batch"] for r in rows] == [1, 2] and all(r["size"] == "32x26" for r in rows)
    for r in rows:  # (rounded to 4 digits in the JSON)
        assert r["images_per_second"] == pytest.approx(r["batch"] / r["seconds"], rel=1e-2)
        assert r["speedup"] == pytest.approx(
            r["images_per_second"] / r["one_by_one_images_per_second"], rel=1e-2
        )
    assert rows[1]["estimated_bytes"] > rows[0]["estimated_bytes"] > 0  # two images' activations
    assert "| 2 | 32x26 |" in capsys.readouterr().out


def test_resnet50_flops_match_the_published_count():
    # He et al. 2016, Table 1: 3.8e9 multiply-adds for ResNet50 at 224x224 (4.1e9 in
    # torchvision's count). XLA counts 2 flops per multiply-add and skips the taps of SAME
    # padding that fall on zeros (18% of the 3x3 taps at conv5's 7x7): measured 3.71e9
    macs = bench.forward_flops("resnet50", 224, 224, "conv5_block3_out") / 2
    assert 3.6e9 <= macs <= 4.2e9


@pytest.mark.slow
def test_bench_speed_cli_resnet50(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "--size", "64", "--model", "resnet50", "--framework", "jax,torch", "--repeats", "1"]
    assert cli.main([*argv, "--json", str(out), "--quiet"]) == 0
    rows, table = json.loads(out.read_text()), capsys.readouterr().out
    assert rows[0]["seconds"] > 0 and rows[0]["peak_bytes"] > 2**20 and rows[0]["winograd_layers"] == []
    assert rows[0]["flops"] > 2 * bench.forward_flops(
        "resnet50", *rows[0]["size"][::-1], "conv5_block1_1_conv"
    )
    assert rows[1]["framework"] == "torch" and rows[1]["seconds"] > 0  # reference/torch_resnet.py
    assert "| resnet50 | 64x4" in table


@pytest.mark.slow
def test_bench_balance(tmp_path, capsys):
    """`bench balance`: every (model, weights, style loss and normalisation), VGG16 at its own
    beta (raw: 300, normalised: 1e6), the others carried by beta_eq; the numbers are this
    run's (the README's are at 256 px)."""
    out = tmp_path / "balance.json"
    assert (
        cli.main(["bench", "balance", "--model", "vgg16,resnet50", "--size", "64", "--json", str(out)]) == 0
    )
    rows = json.loads(out.read_text())
    losses = [("gram", n) for n in ("gatys", "none", "neural-style")] + [
        (k, "—") for k in ("w2", "sliced", "meanstd")
    ]
    variants = [("vgg16", False), ("vgg16", True), ("resnet50", False)]
    got = [(r["model"], r["weights"].endswith("normalised"), r["loss"], r["normalization"]) for r in rows]
    assert got == [(m, v, k, n) for m, v in variants for k, n in losses]
    for first, beta in ((rows[0], 300), (rows[6], 1e6)):
        assert first["beta"] == pytest.approx(beta)
    for k, r in enumerate(rows):
        ref = rows[6] if 6 <= k < 12 else rows[0]
        assert r["beta_eq"] == pytest.approx(r["content"] / r["style"])
        assert r["beta"] == pytest.approx(ref["beta"] * r["beta_eq"] / ref["beta_eq"]) and 0 < r["share"] <= 1
    table = capsys.readouterr().out
    assert "| resnet50 | random, batch norms calibrated | gram | none |" in table
    assert "| resnet50 | random, batch norms calibrated | w2 | — |" in table


@pytest.mark.slow
def test_calibrated_batch_norms_normalise_their_convolutions():
    """balance.calibrate: each batch norm's output over the calibration images has mean 0
    and variance var / (var + eps) per channel (gamma 1, beta 0; var: its convolution's, so
    1 but for channels whose var is near eps, e.g. 0.998 for var 0.005), through the whole
    network. float32 forward passes against float64 statistics: 1e-3; 2e-3 for the means,
    sums of values of either sign near 0 whose float32 rounding (of the convolution's
    output, divided by sqrt(var + eps)) shows in absolute terms 50 layers deep (one channel
    of conv5_block3_3_bn's 2048 came to 1.18e-3 on one machine's kernels, 2026-12-08)."""
    from nst_jax.bench.balance import calibrate
    from nst_jax.paper import resnet

    rng = np.random.default_rng(0)
    images = [rng.uniform(-120, 130, (40, 40, 3)).astype(np.float32) for _ in range(3)]
    calibrated = calibrate(resnet.init_params(1), images)
    params = resnet.prepare(calibrated)
    names = ["conv1_bn", "conv3_block2_2_bn", "conv5_block3_3_bn"]
    f = [resnet.features(params, x, names) for x in images]
    for n in names:
        a = np.stack([np.asarray(g[n], np.float64) for g in f])  # (3, h, w, C)
        var = np.asarray(calibrated[n]["moving_variance"], np.float64)
        np.testing.assert_allclose(a.mean(axis=(0, 1, 2)), 0, atol=2e-3)
        np.testing.assert_allclose(a.var(axis=(0, 1, 2)), var / (var + resnet.EPSILON), atol=1e-3, rtol=1e-3)
