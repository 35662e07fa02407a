"""The command line: every bad input is one line on stderr, a non-zero exit, no traceback,
and nothing lost. Most cases call cli.main in-process (fast); a few run the real
`python -m nst_jax` in a subprocess, as a user would."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from nst_jax.cli import app as cli
from nst_jax.cli import stylize as stylize_command
from nst_jax.cli.flags import config_options


def fails(capsys, argv, match, code=2):
    assert cli.main([str(a) for a in argv]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture
def args(small_vgg16, tmp_path):
    """Fast common options: the synthetic VGG16, tiny size, few steps, an output in tmp."""
    return ["--weights", small_vgg16, "--size", "40", "--iters", "2", "--quiet", "-o", tmp_path / "out.png"]


def test_bad_images(capsys, args, photo, painting, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    data = photo.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    fails(capsys, [tmp_path / "nope.jpg", painting, *args], "image not found")
    fails(capsys, [photo, tmp_path / "notes.txt", *args], "not an image")
    fails(capsys, [tmp_path / "cut.png", painting, *args], "truncated")
    fails(capsys, [tmp_path, painting, *args], "is a folder")
    fails(capsys, [photo, *args], "give both CONTENT and STYLE")


@pytest.mark.slow
def test_bad_sizes_and_numbers(capsys, args, photo, painting):
    fails(capsys, [photo, painting, *args, "--size", "8"], "at least 16 px")
    fails(capsys, [photo, painting, *args, "--size", "200000"], "GiB is available; lower --size")
    fails(capsys, [photo, painting, *args, "--style-weight", "-1"], "--style-weight must be")
    fails(capsys, [photo, painting, *args, "--tv-weight", "nan"], "--tv-weight must be")
    fails(capsys, [photo, painting, *args, "--iters", "-5"], "--iters must be >= 0")
    fails(capsys, [photo, painting, *args, "--lr", "x"], "invalid float value")
    fails(capsys, [photo, painting, *args, "--pooling", "min"], "invalid choice")


def test_bad_layers(capsys, args, photo, painting):
    err = fails(capsys, [photo, painting, *args, "--content-layers", "relu9_1"], "unknown layer")
    assert "relu4_2" in err  # lists the valid names
    fails(
        capsys,
        [photo, painting, *args, "--style-layers", "relu1_1,relu2_1", "--style-layer-weights", "1"],
        "one weight per layer",
    )


def test_bad_weights(capsys, args, photo, painting, tmp_path, small_vgg16):
    (tmp_path / "w.h5").write_text("not hdf5")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(small_vgg16.read_bytes()[:100_000])
    base = [photo, painting, "--size", "40", "--iters", "1", "--quiet", "-o", tmp_path / "o.png"]
    fails(capsys, [*base, "--weights", tmp_path / "w.h5"], "not an HDF5 file")
    fails(capsys, [*base, "--weights", cut], "damaged or truncated")
    fails(capsys, [*base, "--weights", tmp_path / "none.h5"], "weights file not found")
    fails(capsys, [*base, "--weights", small_vgg16, "--model", "vgg19"], "holds VGG16")


def test_bad_outputs_lose_nothing(capsys, args, photo, painting, tmp_path, small_vgg16):
    before = photo.read_bytes()
    base = [photo, painting, "--weights", small_vgg16, "--size", "40", "--iters", "1", "--quiet"]
    fails(capsys, [*base, "-o", photo], "refusing to overwrite")
    assert photo.read_bytes() == before
    fails(capsys, [*base, "-o", tmp_path / "no" / "out.png"], "does not exist")
    fails(capsys, [*base, "-o", "/sys/out.png"], "not writable")
    fails(capsys, [*base, "-o", tmp_path / "out.abc"], "extension")
    fails(capsys, [*base, "-o", tmp_path / "o.png", "--log", tmp_path / "no" / "l.json"], "does not exist")


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "RGBA"])
def test_odd_image_modes_work(capsys, args, painting, tmp_path, mode):
    a = (np.arange(32 * 40) % 200).reshape(32, 40).astype(np.uint8)
    img = {
        "L": lambda: Image.fromarray(a),
        "P": lambda: Image.fromarray(a).convert("P"),
        "I;16": lambda: Image.fromarray(a.astype(np.uint16) * 257),
        "RGBA": lambda: Image.fromarray(np.dstack([a, a, a, a]), "RGBA"),
    }[mode]()
    img.save(tmp_path / "c.png")
    assert cli.main([str(tmp_path / "c.png"), str(painting), *map(str, args)]) == 0
    out = Image.open(tmp_path / "out.png")
    assert out.mode == ("RGBA" if mode == "RGBA" else "RGB") and out.size == (40, 32)


def test_summary_line_and_log(capsys, args, photo, painting, tmp_path):
    assert cli.main([str(photo), str(painting), *map(str, args), "--log", str(tmp_path / "l.json")]) == 0
    out = capsys.readouterr().out
    assert "2 iterations" in out and "s/it" in out and str(tmp_path / "out.png") in out
    assert len(json.loads((tmp_path / "l.json").read_text())["history"]) == 3


def test_nonfinite_from_the_start_writes_nothing_and_exits_1(capsys, args, photo, painting, tmp_path):
    err = fails(capsys, [photo, painting, *args, "--style-weight", "3e38"], "NaN or infinite", 1)
    assert "lower --style-weight" in err and not (tmp_path / "out.png").exists()


def test_nonfinite_message_names_the_image_kept():
    finite = [{"total": 1.0, "content": 0.0, "style": 1.0, "tv": 0.0}]
    inf = [{"total": float("inf"), "content": 0.0, "style": float("inf"), "tv": 1.0}]
    assert "wrote the last finite image (o.png)" in stylize_command._nonfinite(finite + inf, 1, "o.png")
    message = stylize_command._nonfinite(inf, 0, "nothing")
    assert "starting image is already NaN or infinite (content 0, style inf, tv 1)" in message
    assert "wrote no image" in message and "last finite" not in message


def test_weights_subcommand(capsys, small_vgg16, tmp_path):
    assert cli.main(["weights"]) == 0
    out = capsys.readouterr().out
    assert "1. --weights PATH" in out and "$NST_JAX_WEIGHTS" not in out and "user cache" in out
    assert cli.main(["weights", "--inspect", str(small_vgg16)]) == 0
    assert "VGG16, 14,714,688 parameters" in capsys.readouterr().out
    assert cli.main(["weights", "--convert", str(small_vgg16), "-o", str(tmp_path / "w.npz")]) == 0
    assert (tmp_path / "w.npz").exists()
    assert cli.main(["weights", "--inspect", str(tmp_path / "w.npz")]) == 0
    fails(capsys, ["weights", "--inspect", tmp_path / "none.h5"], "not found")


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1")


def test_real_process_error_has_no_traceback(tmp_path, painting):
    p = subprocess.run(
        [sys.executable, "-m", "nst_jax", str(tmp_path / "x.png"), str(painting)],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [f"error: image not found: {tmp_path / 'x.png'}; check the path"]


def test_demo_runs_with_no_images(tmp_path, small_vgg16):
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_jax",
            "--weights",
            str(small_vgg16),
            "--size",
            "48",
            "--iters",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
    )
    assert p.returncode == 0, p.stderr
    assert Image.open(tmp_path / "stylized.png").size == (48, 32)  # the cat photo is 451x300


def test_ctrl_c_stops_cleanly_and_writes_the_image(tmp_path, small_vgg16, photo, painting):
    out = tmp_path / "out.png"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst_jax",
            str(photo),
            str(painting),
            "-o",
            str(out),
            "--weights",
            str(small_vgg16),
            "--size",
            "64",
            "--iters",
            "100000",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    seen = ""
    deadline = time.time() + 120
    while "it/s" not in seen and "s/it" not in seen and time.time() < deadline:
        seen += p.stderr.read(1)  # the progress bar has started: we are in the loop
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert f"interrupted by SIGINT: wrote {out}" in err and "Traceback" not in err
    assert Image.open(out).size == (64, 51)


@pytest.mark.slow
def test_bench_optimizers(capsys, small_vgg16, photo, painting, tmp_path):
    assert (
        cli.main(
            [
                "bench",
                "optimizers",
                str(photo),
                str(painting),
                "--weights",
                str(small_vgg16),
                "--size",
                "32",
                "--evals",
                "6",
                "--adam-lrs",
                "5,10",
                "--quiet",
                "--json",
                str(tmp_path / "b.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for name in (
        "| lbfgs |",
        "| lbfgs (armijo) |",
        "| optax-lbfgs |",
        "| scipy-lbfgsb |",
        "| adam lr=5 |",
        "| adam (tuned) |",
        "| pytorch-lbfgs |",
    ):
        assert name in out, out
    assert "vs PyTorch @ 6" in out
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["evals"] == 6 and data["results"]["scipy-lbfgsb"]["history"][0]["evaluations"] == 1
    # PyTorch's L-BFGS: one record per evaluation, and the same objective: at the content
    # photo (evaluation 1 of every run) its loss is ours (float32, other convolutions: 1e-5)
    ref, ours = data["results"]["pytorch-lbfgs"]["history"], data["results"]["lbfgs"]["history"]
    assert [h["evaluations"] for h in ref] == list(range(1, 7))
    assert ref[0]["total"] == pytest.approx(ours[0]["total"], rel=1e-5)
    # and at any size: from 512 px a run's default objective adds octaves (paper/octaves.py),
    # which PyTorch's does not have, so every run of the bench keeps the image's own terms
    assert data["options"]["octaves"] == 1 and data["options"]["num_scales"] == 1
    assert data["results"]["adam (tuned)"]["best"] in ("adam lr=5", "adam lr=10")
    fails(capsys, ["bench", "optimizers", "--evals", "0"], "--evals must be >= 1")
    fails(capsys, ["bench", "optimizers", "--runs", "lbfgs,newton"], "unknown --runs newton; use some of:")
    fails(capsys, ["bench", "optimizers", "--model", "resnet50"], "leave pytorch-lbfgs out of --runs")


@pytest.mark.slow
def test_scales_remat_and_precision_flags(capsys, small_vgg16, photo, painting, tmp_path):
    out, log = tmp_path / "out.png", tmp_path / "log.json"
    assert (
        cli.main(
            [
                str(photo),
                str(painting),
                "--weights",
                str(small_vgg16),
                "--scales",
                "20,40",
                "--scale-iters",
                "2,3",
                "--remat",
                "--precision",
                "bf16",
                "--quiet",
                "-o",
                str(out),
                "--log",
                str(log),
            ]
        )
        == 0
    )
    summary = json.loads(log.read_text())["summary"]
    config = json.loads(log.read_text())["config"]
    assert summary["size"] == [40, 32] and summary["scales"] == [[20, 16], [40, 32]]
    assert config["remat"] is True and config["precision"] == "bf16" and config["size"] == 40
    assert Image.open(out).size == (40, 32)
    base = [str(photo), str(painting), "--weights", str(small_vgg16), "--quiet", "-o", str(out)]
    fails(capsys, [*base, "--scales", "20,40", "--size", "30"], "last of --scales (40)")
    fails(capsys, [*base, "--scales", "20,x"], "comma-separated integers")
    fails(capsys, [*base, "--num-scales", "2", "--scale-iters", "1,2,3"], "one count")
    fails(capsys, [*base, "--precision", "fp8"], "invalid choice")


@pytest.mark.slow
def test_masks_normalized_weights_and_ema_flags(capsys, small_vgg16, photo, painting, tmp_path):
    left = np.zeros((32, 40), np.uint8)
    left[:, :20] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    Image.fromarray(255 - left).save(tmp_path / "right.png")
    out, log = tmp_path / "out.png", tmp_path / "log.json"
    masks = f"{tmp_path / 'left.png'},{tmp_path / 'right.png'}"
    assert (
        cli.main(
            [
                str(photo),
                f"{painting},{photo}",
                "--style-mask",
                masks,
                "--weights",
                str(small_vgg16),
                "--size",
                "40",
                "--iters",
                "3",
                "--normalize-weights",
                "--ema",
                "0.9",
                "--quiet",
                "-o",
                str(out),
                "--log",
                str(log),
            ]
        )
        == 0
    )
    data = json.loads(log.read_text())
    assert data["summary"]["style_masks"] == [str(tmp_path / "left.png"), str(tmp_path / "right.png")]
    assert data["config"]["normalize_weights"] is True and data["config"]["ema"] == 0.9
    base = [str(photo), str(painting), "--weights", str(small_vgg16), "--quiet", "-o", str(out)]
    fails(capsys, [*base, "--ema", "1"], "--ema must be a decay in [0, 1)")
    fails(capsys, [*base, "--style-mask", masks], "2 style mask(s) for 1 style image(s)")
    fails(capsys, [*base, "--style-mask", tmp_path / "nope.png"], "not found")
    one_mask = [*base, "--style-mask", tmp_path / "left.png", "--octaves", "2"]
    fails(capsys, one_mask, "--octaves works on whole images, not --style-mask regions")
    fails(capsys, [*base, "--octaves", "0"], "--octaves must be >= 1")


def test_the_parser_is_generated_from_config():
    import dataclasses

    from nst_jax.config import Config

    p = stylize_command.stylize_parser()
    actions = {a.dest: a for a in p._actions}
    for f in dataclasses.fields(Config):
        a = actions.pop(f.name)
        assert a.option_strings == ["--" + f.name.replace("_", "-")], f.name
        assert a.help.replace("%%", "%") == f.metadata["help"], f.name  # the field's own help
        assert (tuple(a.choices) if a.choices else None) == f.metadata["choices"], f.name
        assert a.default == f.default, f.name
    # only what is not a Config field is written by hand
    assert set(actions) == {
        "help",
        "content",
        "style",
        "output",
        "style_mask",
        "log",
        "no_download",
        "quiet",
        "verbose",
        "version",
        "web",
        "open",
    }
    assert Config(**config_options(p.parse_args([]))) == Config()  # defaults round-trip
    a = p.parse_args(
        [
            "--scales",
            "128,256",
            "--style-layers",
            "relu1_1, conv2_1",
            "--style-blend",
            "1,2.5",
            "--remat",
            "--preserve-colors",
            "luminance",
            "--style-weight",
            "1e4",
            "--chunk",
            "3",
        ]
    )
    c = Config(**config_options(a))
    assert (c.scales, c.style_layers, c.style_blend, c.remat, c.preserve_colors, c.style_weight, c.chunk) == (
        (128, 256),
        ("relu1_1", "conv2_1"),
        (1.0, 2.5),
        True,
        "luminance",
        1e4,
        3,
    )
    text = p.format_help()
    for f in dataclasses.fields(Config):
        assert "--" + f.name.replace("_", "-") in text
    assert "(default: 200)" in text and "~20% of" in text and "the optimiser:" in text


def test_verbose_prints_the_plan(capsys, args, photo, painting):
    assert cli.main([str(photo), str(painting), *map(str, args), "--verbose"]) == 0
    err = capsys.readouterr().err
    assert "plan: 1 cpu device(s); conv direct (auto on cpu below" in err and "loop host" in err
    beta = 300 * (40 / 256) ** 2  # the size-aware default at 40 px (README, Image size)
    assert f"scales: 40x32 (2 iterations); style weight {beta:g}" in err


def test_layers_lists_every_name_with_its_shape(capsys):
    from nst_jax.paper import backbones

    assert cli.main(["layers", "--model", "resnet50", "--size", "64"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 172 and out[0].split()[:2] == ["conv1_conv", "32x32x64"]
    assert "conv5_block1_1_conv      2x2x512  (default content, style)" in out
    assert cli.main(["layers", "--model", "vgg16"]) == 0
    vgg = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in vgg] == list(backbones.get("vgg16").layers)
    assert "relu4_2                  32x32x512  (default content)" in vgg
    assert cli.main(["layers", "--model", "resnet50", "--size", "16"]) == 2
    assert "--size must be at least 32 px for resnet50" in capsys.readouterr().err
