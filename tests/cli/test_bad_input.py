"""Hostile and odd inputs, as a new user tries them (issue 16): each numbered defect of
the issue has a test here, at the level the user meets it (the command line, in-process
where that is faithful, a real process for signals and pipes). Every case: one line on
stderr, a non-zero exit, no traceback, nothing lost."""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

import nst_jax
from nst_jax.cli import app as cli

LONG = "x" * 300 + ".png"  # a file name over the 255-byte limit


def fails(capsys, argv, match, code=2):
    assert cli.main([str(a) for a in argv]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture
def run(small_vgg16, photo, painting, tmp_path):
    """photo, painting and fast options: the synthetic VGG16, 32 px, 2 iterations."""
    return [photo, painting, "--weights", small_vgg16, "--size", "32", "--iters", "2", "--quiet"]


def _edited(tmp_path, src, edit, name="broken.h5"):
    dst = tmp_path / name
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


# 1 -------------------------------------------------------------------------------------
def test_1_broken_hdf5_structure_is_named(capsys, tmp_path, small_vgg16, vgg19_files, photo, painting):
    no_kernel = _edited(tmp_path, small_vgg16, lambda f: f["block3_conv2"].__delitem__("block3_conv2_W_1:0"))
    no_group = _edited(tmp_path, small_vgg16, lambda f: f.__delitem__("block4_conv1"), "nogroup.h5")
    no_var = _edited(
        tmp_path, vgg19_files["keras3"], lambda f: f["layers/conv2d_3/vars"].__delitem__("0"), "novar.h5"
    )
    base = [photo, painting, "--size", "32", "--iters", "1", "--quiet", "-o", tmp_path / "o.png"]
    want = "is not a valid VGG16 weights file: layer block3_conv2 has no kernel"
    fails(capsys, [*base, "--weights", no_kernel], want)
    fails(
        capsys, [*base, "--weights", no_group], "layer block4_conv1 is listed in layer_names but has no group"
    )
    fails(capsys, [*base, "--weights", no_var, "--model", "vgg19"], "has vars ['1'], expected 0 (kernel)")
    fails(
        capsys,
        ["weights", "--convert", no_kernel, "-o", tmp_path / "w.npz"],
        "layer block3_conv2 has no kernel",
    )
    fails(capsys, ["weights", "--inspect", no_group], "block4_conv1 is listed in layer_names")
    fails(capsys, ["compare", photo, painting, "--weights", no_kernel, "--size", "32"], "has no kernel")
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "w.npz").exists()


# 2 -------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_2_nonfinite_weights_are_refused_and_not_cached(capsys, tmp_path, small_vgg16, run, bad):
    def poison(f):
        k = f["block2_conv1/block2_conv1_W_1:0"]
        k[0, 0, 0, :3] = bad

    w = _edited(tmp_path, small_vgg16, poison)
    argv = [*run[:2], "--weights", w, *run[4:], "-o", tmp_path / "o.png"]
    fails(capsys, argv, "is not a valid VGG16 weights file: conv2_1/kernel has 3 NaN or infinite values")
    fails(capsys, ["weights", "--inspect", w], "conv2_1/kernel has 3 NaN or infinite values")
    assert not (tmp_path / "o.png").exists()
    assert list(Path(os.environ["NST_JAX_CACHE"]).glob("*.npz")) == []  # nothing cached


# 3 -------------------------------------------------------------------------------------
def test_3_unwritable_outputs_fail_before_the_work(capsys, tmp_path, run, small_vgg16, monkeypatch):
    import nst_jax.io.weights as wt
    from nst_jax.run import inputs

    def no_work(*a, **k):
        raise AssertionError("the work started before the outputs were checked")

    monkeypatch.setattr(inputs.lookup, "resolve", no_work)  # the weights load: the work
    (tmp_path / "d.json").mkdir()
    for ext in ("psd", "xbm", "h5"):  # formats Pillow reads but cannot write
        fails(capsys, [*run, "-o", tmp_path / f"x.{ext}"], f"Pillow cannot write .{ext} images")
    fails(capsys, [*run, "-o", tmp_path / "x.png", "--log", tmp_path / "d.json"], "is a folder")
    fails(
        capsys, [*run, "-o", tmp_path / "x.png", "--save-every", "1", "--log", "/sys/l.json"], "not writable"
    )
    monkeypatch.setattr(wt, "read_keras_h5", no_work)
    fails(capsys, ["weights", "--convert", small_vgg16, "-o", "/sys/w.npz"], "not writable")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "painting.png", "photo.png"]


def test_3_a_full_disk_at_the_end_keeps_the_result(capsys, tmp_path, run, monkeypatch):
    import tempfile

    from nst_jax.io import files

    full, spare = tmp_path / "full", tmp_path / "spare"
    full.mkdir(), spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    real = files.atomic_write

    def disk_full_in(path, write):  # the probe of check_output passes: the disk fills later
        if os.path.dirname(path) == str(full):
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(files, "atomic_write", disk_full_in)
    err = fails(capsys, [*run, "-o", full / "out.png", "--log", full / "log.json"], "No space left on device")
    kept = sorted(spare.iterdir(), key=lambda p: p.suffix)
    assert [p.suffix for p in kept] == [".json", ".png"] and all(str(p) in err for p in kept)
    assert Image.open(kept[1]).size == (32, 26) and json.loads(kept[0].read_text())["history"]


def test_3_every_write_failing_is_still_one_line(capsys, tmp_path, run):
    """A real limit on file size (RLIMIT_FSIZE: writes fail with EFBIG) in a real process:
    no write can succeed, not even the fallback, and the error is still one line."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    npz = tmp_path / "w.npz"  # (converted first: the cache's write would fail, with a warning)
    assert cli.main(["weights", "--convert", str(run[3]), "-o", str(npz)]) == 0
    run = [*run[:3], npz, *run[4:]]
    p = subprocess.run(
        [sys.executable, "-m", "nst_jax", *map(str, run), "-o", str(tmp_path / "o.png")],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )
    err = p.stderr.strip()
    assert p.returncode == 2 and "\n" not in err and "Traceback" not in err, err
    assert (
        err.startswith(f"error: could not write the image {tmp_path / 'o.png'} (File too large)")
        and "nor a copy" in err
    )
    assert not (tmp_path / "o.png").exists()


# 4 -------------------------------------------------------------------------------------
def test_4_subcommands_check_their_outputs_first(capsys, photo, painting, small_vgg16, monkeypatch):
    from nst_jax import bench
    from nst_jax.reference import compare

    def no_work(*a, **k):
        raise AssertionError("the work started before the outputs were checked")

    for module, name in ((bench, "main_speed"), (bench, "main_optimizers"), (compare, "compare")):
        monkeypatch.setattr(module, name, no_work)
    fails(capsys, ["bench", "--size", "32", "--json", "/nonexistent/b.json"], "does not exist")
    fails(capsys, ["compare", "--weights", small_vgg16, "--json", "/nonexistent/c.json"], "does not exist")
    o = ["bench", "optimizers", photo, painting, "--weights", small_vgg16]
    fails(capsys, [*o, "--json", "/nonexistent/o.json"], "does not exist")
    fails(capsys, [*o, "--plot", "/nonexistent/o.png"], "does not exist")
    fails(capsys, [*o, "--plot", "/tmp/o.xyz"], "matplotlib cannot write .xyz")
    fails(capsys, [*o, "--json", photo], "is the content image")


# 5 -------------------------------------------------------------------------------------
def test_5_names_over_255_bytes(capsys, tmp_path, run, photo, painting):
    long = tmp_path / LONG
    o = ["-o", tmp_path / "o.png"]
    fails(capsys, [long, *run[1:], *o], "file name of 304 bytes")
    fails(capsys, [photo, long, *run[2:], *o], "file name of 304 bytes")
    fails(capsys, [*run, *o, "--style-mask", long], "file name of 304 bytes")
    fails(capsys, [*run, *o, "--init", long], "file name of 304 bytes")
    fails(capsys, [*run, "-o", long], "file name of 304 bytes")
    fails(capsys, [*run, *o, "--weights", long], "file name of 304 bytes")
    # the output's name is fine, its intermediate images' are not: refused before the run
    near = tmp_path / ("y" * 249 + ".png")
    fails(capsys, [*run, "-o", near, "--save-every", "1"], "intermediate image")


# 6 -------------------------------------------------------------------------------------
def test_6_intermediate_images_never_overwrite_inputs(capsys, tmp_path, run, photo, painting, small_vgg16):
    (tmp_path / "in2").mkdir()
    c = tmp_path / "in2" / "c_00001.png"
    shutil.copy(photo, c)
    before = c.read_bytes()
    o = [painting, "--weights", small_vgg16, "--size", "32", "--iters", "2", "--quiet", "--save-every", "1"]
    fails(capsys, [c, *o, "-o", tmp_path / "in2" / "c.png"], "intermediate image")
    assert c.read_bytes() == before
    # the same by inode: an intermediate name that is a hard link to the style image
    (tmp_path / "out_00002.png").hardlink_to(painting)
    fails(capsys, [photo, *o, "-o", tmp_path / "out.png"], "is the style image")
    # and against the weights, the mask and --init
    fails(capsys, [*run, "-o", photo], "is the content image")
    shutil.copy(photo, tmp_path / "m.png")
    fails(capsys, [*run, "-o", tmp_path / "m.png", "--init", tmp_path / "m.png"], "is the --init image")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "in2" / "c.png").exists()


# 7: tests/paper/test_image.py::test_dark_16_bit_image_stays_dark --------------------------------
def test_7_dark_16_bit_content_stays_dark(capsys, tmp_path, run):
    dark = np.arange(32 * 40).reshape(32, 40).astype(np.uint16) % 200  # all below 256 of 65535
    Image.fromarray(dark).save(tmp_path / "dark.png")
    assert (
        cli.main(
            [str(tmp_path / "dark.png"), *map(str, run[1:]), "--iters", "0", "-o", str(tmp_path / "o.png")]
        )
        == 0
    )
    assert np.asarray(Image.open(tmp_path / "o.png")).max() <= 1  # 199/65535*255 = 0.77


# 8 -------------------------------------------------------------------------------------
def test_8_a_log_beside_the_content_is_no_overwrite(capsys, tmp_path, run):
    log = run[0].with_suffix(".json")  # photo.json beside photo.png
    assert cli.main([*map(str, run), "--log", str(log), "-o", str(tmp_path / "x.png")]) == 0
    assert json.loads(log.read_text())["summary"]["stop"] == "iterations"


# 9 -------------------------------------------------------------------------------------
def test_9_style_blend_whose_sum_overflows(capsys, run, painting, tmp_path):
    s = f"{painting},{painting}"
    argv = [run[0], s, *run[2:], "-o", tmp_path / "o.png"]
    fails(capsys, [*argv, "--style-blend", "1e308,1e308"], "finite sum above 0")
    fails(capsys, [*argv, "--style-blend", "0,0"], "finite sum above 0")


# 10 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["content", "style", "--style-mask", "--init", "--weights"])
def test_10_a_fifo_is_refused_not_waited_on(tmp_path, run, which):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    argv = [str(a) for a in run] + ["-o", str(tmp_path / "o.png")]
    if which in ("content", "style"):
        argv[0 if which == "content" else 1] = str(fifo)
    else:
        argv += [which, str(fifo)]
    p = subprocess.run([sys.executable, "-m", "nst_jax", *argv], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "not a regular file" in p.stderr and len(p.stderr.splitlines()) == 1, (
        p.stderr
    )


# 11 ------------------------------------------------------------------------------------
def _start(argv, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "nst_jax", *map(str, argv)], env=env, text=True, **kw)


@pytest.mark.slow
def test_11_sigterm_in_the_loop_writes_the_image_and_log(tmp_path, run):
    out, log = tmp_path / "out.png", tmp_path / "log.json"
    argv = [*run[:6], "--iters", "100000", "--quiet", "-o", out, "--log", log, "--save-every", "1"]
    p = _start(argv, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (tmp_path / "out_00001.png").exists() and time.time() < deadline:
        time.sleep(0.05)  # the first iteration is done: we are in the loop
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert err.strip().startswith("interrupted by SIGTERM: wrote ") and len(err.strip().splitlines()) == 1, (
        err
    )
    summary = json.loads(log.read_text())["summary"]
    assert summary["stop"] == "interrupted" and summary["signal"] == "SIGTERM" and summary["iterations"] >= 1
    assert Image.open(out).size == (32, 26)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_11_a_signal_while_starting_is_one_line(tmp_path, run, signum, status):
    for delay in (0.1, 0.4, 1.0):  # during Python's, JAX's and nst_jax's imports
        p = _start([*run, "-o", tmp_path / "o.png"], stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signum)
        _, err = p.communicate(timeout=120)
        assert p.returncode == status and "Traceback" not in err, (delay, err)
        assert err.strip().startswith(f"interrupted by {signal.Signals(signum).name}"), (delay, err)
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists(), (delay, err)


# 12 ------------------------------------------------------------------------------------
def test_12_messages(capsys, tmp_path, run, photo, painting, monkeypatch):
    o = ["-o", tmp_path / "o.png"]
    err = fails(capsys, [tmp_path / "a\nb.png", *run[1:], *o], "image not found")
    assert "'" + str(tmp_path / "a\\nb.png") + "'" in err  # quoted: still one line
    fails(capsys, [*run, *o, "--size", "0"], "--size must be at least 16 px")
    fails(capsys, [*run, *o, "--weights", tmp_path], "is a folder, not a weights file")
    # memory refusals name what makes the estimate large, never remat (not in the estimate)
    from nst_jax.run import inputs

    monkeypatch.setattr(inputs, "available_memory", lambda: 2**30)
    for flag, value, advice in (
        ("--style-size", "4000", "--style-size"),
        ("--lbfgs-memory", "100000", "--lbfgs-memory"),
    ):
        err = fails(capsys, [*run, *o, flag, value], advice)
        assert "remat" not in err and "lower --size or " in err


def test_12_no_finite_image_is_not_called_one(capsys, tmp_path, run):
    err = fails(capsys, [*run, "-o", tmp_path / "o.png", "--style-weight", "3e38"], "NaN or infinite", 1)
    assert "the loss of the starting image is already NaN or infinite" in err and "wrote no image" in err
    assert "last finite" not in err and not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_11_a_signal_between_scales_still_writes_the_result(
    tmp_path, photo, painting, small_vgg16, monkeypatch
):
    """SIGTERM while the next scale is being prepared (its targets computed): the result
    of the scales done is written, upsampled to the output's size."""
    st = importlib.import_module("nst_jax.run.scales")

    real, calls = st.scale_problem, []

    def problem_then_sigterm(job, *a):
        calls.append(1)
        if len(calls) == 2:  # preparing the second scale
            os.kill(os.getpid(), signal.SIGTERM)
        return real(job, *a)

    monkeypatch.setattr(st, "scale_problem", problem_then_sigterm)
    out = tmp_path / "o.png"
    r = nst_jax.stylize(
        photo, painting, weights=str(small_vgg16), scales=(20, 40), iters=2, output=out, progress=False
    )
    assert r.info["stop"] == "interrupted" and r.info["signal"] == "SIGTERM" and r.info["wrote"] == [str(out)]
    assert Image.open(out).size == (40, 32) and r.info["iterations"] <= 2 + 1
