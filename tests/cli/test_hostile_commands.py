"""The commands added after the single-image one, under hostile input (issue 32): each
numbered defect class of the issue has a test here, at the command line, that failed on
the code before. Every case: one line on stderr, a non-zero exit, no traceback, nothing
lost (the files named as outputs are compared byte for byte afterwards)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nst_jax.cli import app as cli
from nst_jax.errors import NstError
from nst_jax.io import files


def refused(capsys, argv, match="refusing to overwrite it"):
    assert cli.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture
def kept(tmp_path, photo, painting, small_vgg16):
    """Copies of the inputs in one folder (a.png the photo, s.png the painting, r.png a
    result to score, w.h5 the weights), and a check that none of them changed."""
    names = {"a.png": photo, "s.png": painting, "r.png": photo, "w.h5": small_vgg16}
    for name, src in names.items():
        shutil.copy(src, tmp_path / name)
    before = {name: (tmp_path / name).read_bytes() for name in names}
    yield tmp_path
    for name, data in before.items():
        assert (tmp_path / name).read_bytes() == data, f"{name} was overwritten"


# 1 -------------------------------------------------------------------------------------
# Every output of every command (JSON, plots, markdown, converted weights) goes through
# files.check_outputs: apart from every input (resolved path and inode) and from the
# command's other outputs, before any work.
def cases(d):
    a, s, r, w = d / "a.png", d / "s.png", d / "r.png", d / "w.h5"
    score = ["score", r, a, s, "--weights", w, "--analysis-size", 32]
    compare = ["compare", a, s, "--weights", w, "--size", 32]
    batch = ["bench", "batch", a, s, "--weights", w, "--size", 32, "--batch", 1, "--iters", 1, "--quiet"]
    optimizers = ["bench", "optimizers", a, s, "--weights", w, "--size", 32, "--evals", 1, "--quiet"]
    return {
        "score --json the photo": [*score, "--json", a],
        "score --json the scored image": [*score, "--json", r],
        "score --json a style of several": ["score", r, a, f"{s},{a}", "--weights", w, "--json", s],
        "score --json the weights": [*score, "--json", w],
        "compare --json the photo": [*compare, "--json", a],
        "compare --json the weights": [*compare, "--json", w],
        "bench batch --json the style": [*batch, "--json", s],
        "bench optimizers --plot the photo": [*optimizers, "--plot", a],
        "bench optimizers --json the weights": [*optimizers, "--json", w],
    }


@pytest.mark.parametrize("case", sorted(cases(Path("."))))  # (the names; the paths come per test)
def test_1_no_output_is_an_input(capsys, kept, case):
    refused(capsys, cases(kept)[case])


def test_1_through_a_hard_link_and_a_symbolic_one(capsys, kept):
    os.link(kept / "a.png", kept / "hard.json")
    os.symlink(kept / "s.png", kept / "soft.json")
    base = ["score", kept / "r.png", kept / "a.png", kept / "s.png", "--weights", kept / "w.h5"]
    refused(capsys, [*base, "--json", kept / "hard.json"], "is the content image")
    refused(capsys, [*base, "--json", kept / "soft.json"], "is the style image")


def test_1_two_outputs_of_one_command_are_two_files(capsys, tmp_path):
    same = tmp_path / "gpu.json"
    refused(
        capsys, ["bench", "gpu", "--quick", "--json", same, "--markdown", same], "give them different paths"
    )
    assert not same.exists()


def test_1_the_check_itself(tmp_path, photo):
    # a report may have any name (it is JSON whatever it is called): no advice to use .png
    assert files.check_outputs([("--json", tmp_path / "report.txt", None), ("--plot", None, None)], []) == [
        tmp_path / "report.txt",
        None,
    ]
    with pytest.raises(NstError, match="--json .* is the content image"):
        files.check_outputs([("--json", photo, None)], [("content image", str(photo)), ("style image", "")])


# 2 -------------------------------------------------------------------------------------
# The multi-process flags, checked before JAX waits for other processes (a wrong one
# waited for minutes, ignored SIGTERM and aborted in C++): and before anything is created.
@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--coordinator", "localhost", "--num-processes", 1, "--process-id", 0],
            "takes HOST:PORT, got 'localhost'",
        ),
        (["--coordinator", "localhost:99999", "--num-processes", 1, "--process-id", 0], "takes HOST:PORT"),
        (["--coordinator", "localhost:29431", "--num-processes", 0, "--process-id", 0], "at least 1, got 0"),
        (
            ["--coordinator", "localhost:29431", "--num-processes", 2, "--process-id", 2],
            "must be in 0..1, got 2",
        ),
        (
            ["--coordinator", "nohost.invalid:29432", "--num-processes", 1, "--process-id", 0],
            "cannot be resolved",
        ),
    ],
)
def test_2_coordinator_flags_fail_at_once(capsys, tmp_path, photo, painting, flags, message):
    argv = ["batch", photo, "--style", painting, "-o", tmp_path / "out", "--quiet", *flags]
    err = refused(capsys, argv, message)
    assert "0..-1" not in err and not (tmp_path / "out").exists()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_2_a_process_that_never_comes_is_one_line_in_time(capsys, tmp_path, photo, painting):
    """Process 1 whose process 0 is not there, process 0 whose process 1 is not: each a
    one-line error naming the coordinator within --connect-timeout (JAX's own wait would
    abort the process in C++ after five minutes), nothing created."""
    port = free_port()
    base = ["batch", photo, "--style", painting, "-o", tmp_path / "out", "--quiet", "--connect-timeout", 1]
    flags = ["--coordinator", f"localhost:{port}", "--num-processes", 2]
    started = time.monotonic()
    refused(
        capsys, [*base, *flags, "--process-id", 1], f"--coordinator localhost:{port}: process 0 could not"
    )
    refused(capsys, [*base, *flags, "--process-id", 0], "process(es) 1 did not connect in time")
    assert time.monotonic() - started < 20  # (two waits of 1 s each, and their retries)
    assert not (tmp_path / "out").exists()
    refused(capsys, [*base, *flags, "--process-id", 0, "--connect-timeout", 0], "--connect-timeout must be")


def test_2_the_rendezvous(tmp_path):
    """Three processes (threads here) meet whatever their order; different counts stop both."""
    from nst_jax.fast.processes import rendezvous

    def meet(plan):
        port, said = free_port(), {}

        def one(pid, n):
            try:
                rendezvous(f"localhost:{port}", n, pid, 10.0)
                said[pid] = "go"
            except NstError as e:
                said[pid] = str(e)

        threads = [threading.Thread(target=one, args=a) for a in plan]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=30)
        return said

    assert meet([(2, 3), (1, 3), (0, 3)]) == {0: "go", 1: "go", 2: "go"}
    said = meet([(0, 2), (1, 3)])
    assert "process 1 was given --num-processes 3, process 0 2" in said[0]
    assert "was given --num-processes 2, this one 3" in said[1]
    import socket

    with socket.socket() as busy:  # the coordinator's port taken by another program
        busy.bind(("", 0))
        busy.listen()
        with pytest.raises(NstError, match=r"cannot listen on port \d+ \(.*\); choose another port"):
            rendezvous(f"localhost:{busy.getsockname()[1]}", 2, 0, 1.0, say=False)
    said = meet([(0, 3), (1, 3), (1, 3)])  # two processes 1: every one stops, at once
    assert "a second process 1 came to" in said[0] and "give each process its own --process-id" in said[0]
    assert "process 0 at localhost" in said[1] and "stopped waiting for the others" in said[1]


def test_2_a_signal_ends_the_wait(tmp_path, photo, painting):
    """SIGTERM while process 0 waits for the others: exit 143, one line, at once."""
    port = free_port()
    argv = [sys.executable, "-m", "nst_jax", "batch", photo, "--style", painting, "-o", tmp_path / "out"]
    argv += ["--coordinator", f"localhost:{port}", "--num-processes", 2, "--process-id", 0]
    p = subprocess.Popen([str(a) for a in argv], stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None and "process 0: waiting for processes 1..1" in p.stderr.readline()
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=30)[1]
    assert p.returncode == 143 and "interrupted by SIGTERM" in err and "Traceback" not in err, err


# 6 -------------------------------------------------------------------------------------
# A refused batch leaves no trace: the output folder (and logs/) only once every check passed.
def test_6_refused_batches_create_nothing(capsys, tmp_path, photo, painting, small_vgg16):
    (tmp_path / "in").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(photo, tmp_path / "in" / "a.png")
    shutil.copy(photo, tmp_path / "b" / "a.png")  # another a.png: both would write a__painting.png
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not HDF5")
    out = tmp_path / "new" / "out"  # two levels missing
    common = ["-o", out, "--weights", small_vgg16, "--size", 32, "--iters", 1, "--quiet"]
    for argv, message in [
        (["batch", tmp_path / "empty", "--style", painting, *common], "no content images"),
        (["batch", tmp_path / "nothing*.png", "--style", painting, *common], "no content images in"),
        (["batch", tmp_path / "in", "--style", "", *common], "no style images"),
        (["batch", tmp_path / "in", tmp_path / "b", "--style", painting, *common], "would both write"),
        (["batch", tmp_path / "in", "--style", painting, *common, "--weights", broken], "not an HDF5 file"),
    ]:
        refused(capsys, argv, message)
        assert not (tmp_path / "new").exists(), argv
    (tmp_path / "new").mkdir()  # a folder the user made is kept, and so is what is in it
    refused(capsys, ["batch", tmp_path / "empty", "--style", painting, *common], "no content images")
    assert (tmp_path / "new").is_dir() and not out.exists()


def test_6_an_empty_output_name_is_refused(capsys, tmp_path, photo, painting, small_vgg16):
    base = ["--weights", small_vgg16, "--size", 32, "--iters", 1, "--quiet"]
    refused(
        capsys,
        ["batch", photo, "--style", painting, "-o", "", *base],
        "the output folder (-o) is an empty name",
    )
    refused(capsys, [photo, painting, "-o", "", *base], "output is an empty name")
    refused(
        capsys, ["score", photo, photo, painting, "--json", " ", "--weights", small_vgg16], "is an empty name"
    )
    refused(
        capsys, ["score", photo, photo, painting, "--json", "", "--weights", small_vgg16], "is an empty name"
    )


# 3 -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_3_a_full_disk_mid_batch_loses_nothing(capsys, tmp_path, painting, small_vgg16, monkeypatch):
    """The output folder fills up while the second of three images is written: that image
    is kept in the temporary folder and its entry says where, the batch stops (the third
    pending), the manifest on disk still says what is on disk (the first image done), the
    manifest of this run is kept and named; a rerun with space again finishes the rest."""
    import tempfile

    from photos import photos
    from PIL import Image

    photos(tmp_path / "in", 3)
    out, spare = tmp_path / "out", tmp_path / "spare"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))  # (where fallbacks go)
    real, full = files.atomic_write, [False]

    def filling(path, write):  # the disk is full from the second image on
        full.append(full[-1] or Path(path).name == "p1__painting.png")
        if full[-1] and Path(path).resolve().is_relative_to(out.resolve()):
            raise OSError(28, "No space left on device")
        real(path, write)

    monkeypatch.setattr(files, "atomic_write", filling)
    argv = ["batch", tmp_path / "in", "--style", painting, "-o", out, "--weights", small_vgg16, "--size", 32]
    argv = [str(a) for a in [*argv, "--iters", 2, "--batch-size", 1, "--quiet"]]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert "Traceback" not in "\n".join(err)
    image = next(line for line in err if "p1__painting.png" in line)
    assert (
        f"could not write the image {out / 'p1__painting.png'} (No space left on device), kept it in" in image
    )
    kept = [q for q in spare.iterdir() if q.name.startswith("nst_jax.p1__painting")]
    assert len(kept) == 1 and str(kept[0]) in image and Image.open(kept[0]).size == (32, 26)
    named = next(line for line in err if "could not write the manifest" in line)
    kept_manifest = Path(named.split("kept it in ")[1].split(";")[0])  # (the last one written)
    assert err[-1].startswith("error: a write failed, so the batch stopped with 1 image(s) pending")
    on_disk = json.loads((out / "manifest.json").read_text())["items"]  # (saved after the first)
    assert {n: e["state"] for n, e in on_disk.items()} == {"p0__painting.png": "done"}
    assert sorted(q.name for q in out.glob("*.png")) == ["p0__painting.png"]
    entries = json.loads(kept_manifest.read_text())["items"]
    assert str(kept[0]) in entries["p1__painting.png"]["error"]  # (where the image is)
    states = {n: e["state"] for n, e in entries.items()}
    assert states == {"p0__painting.png": "done", "p1__painting.png": "failed", "p2__painting.png": "pending"}
    monkeypatch.setattr(files, "atomic_write", real)  # space again
    assert cli.main(argv) == 0
    assert "3 of 3 images done (2 this run" in capsys.readouterr().out
    assert sorted(q.name for q in out.glob("*.png")) == [f"p{k}__painting.png" for k in range(3)]


# 4 -------------------------------------------------------------------------------------
def test_4_a_batch_into_its_own_input_folder_runs_again(capsys, tmp_path, photo, painting, small_vgg16):
    """`batch photos --style s.png -o photos`, twice: the second run finds its image done,
    and takes neither it (named in the manifest) nor one the naming rule gives as a photo."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(photo, photos / "a.png")
    argv = ["batch", photos, "--style", painting, "-o", photos, "--weights", small_vgg16]
    argv = [str(a) for a in [*argv, "--size", 32, "--iters", 1, "--quiet"]]
    assert cli.main(argv) == 0
    done = (photos / "a__painting.png").read_bytes()
    shutil.copy(photo, photos / "old__painting.png")  # an output of the rule, in no manifest
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert "1 of 1 images done (0 this run" in capsys.readouterr().out
    assert (photos / "a__painting.png").read_bytes() == done
    assert sorted(p.name for p in photos.glob("*.png")) == ["a.png", "a__painting.png", "old__painting.png"]
    assert list(json.loads((photos / "manifest.json").read_text())["items"]) == ["a__painting.png"]
    refused(capsys, [*argv[:1], str(photos / "a__painting.png"), *argv[2:]], "are this batch's own outputs")


# 5 -------------------------------------------------------------------------------------
# Malformed data that passes a first look: numbers through str.isdecimal (what int()
# reads: "²" is a digit to str.isdigit, not to int), manifests against their layout.
def test_5_superscript_digits_are_refused_not_a_traceback(capsys, tmp_path, photo, painting, small_vgg16):
    base = [photo, painting, "--weights", small_vgg16, "--size", 32, "--iters", 1, "-o", tmp_path / "o.png"]
    refused(capsys, [*base, "--tile", "²"], "--tile takes auto, off or rows per strip")
    (tmp_path / "in").mkdir()
    shutil.copy(photo, tmp_path / "in" / "a.png")
    batch = ["batch", tmp_path / "in", "--style", painting, "-o", tmp_path / "out"]
    assert cli.main([str(a) for a in [*batch, "--batch-size", "²"]]) == 2  # argparse's usage line
    assert "expected a number of images >= 1 or auto, got '²'" in capsys.readouterr().err


def test_5_no_isdigit_in_the_package():
    """The mechanism: str.isdigit says yes to "²", which int() refuses (a traceback)."""
    root = Path(__file__).resolve().parents[2] / "nst_jax"
    found = [str(p) for p in root.rglob("*.py") if ".isdigit()" in p.read_text(encoding="utf-8")]
    assert not found, f"use str.isdecimal (what int() reads): {found}"


@pytest.mark.parametrize(
    "body, why",
    [
        ({"items": []}, "its items are list, not an object"),
        ({"items": {"a__s.png": "done"}}, "item 'a__s.png' is not an object"),
        ({"items": {"a__s.png": {"state": "done", "updated": None}}}, "a time 'updated'"),
        ({"items": {"a__s.png": {"state": "finished", "updated": 1.0}}}, "a state (done, failed, pending)"),
        ([1, 2], "its items are missing"),
    ],
)
def test_5_a_manifest_of_the_wrong_types_is_one_line(
    capsys, tmp_path, photo, painting, small_vgg16, body, why
):
    (tmp_path / "in").mkdir()
    shutil.copy(photo, tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("manifest.json", ".manifest-1.json"):  # process 0's file, and another process's
        (out / name).write_text(json.dumps(body))
        argv = ["batch", tmp_path / "in", "--style", painting, "-o", out, "--weights", small_vgg16]
        err = refused(capsys, [*argv, "--size", 32, "--iters", 1, "--quiet"], why)
        assert f"{name} is not a batch manifest (" in err and "move it away" in err
        (out / name).unlink()


def test_5_weights_of_the_right_shapes_but_not_numbers(capsys, tmp_path, photo, painting, small_vgg16):
    """A kernel of strings (or booleans) of the right shape: one line naming it, not a
    TypeError from np.isfinite."""
    import h5py
    import numpy as np

    for name, values in [
        ("strings.h5", lambda s: np.full(s, b"x", "S1")),
        ("bools.h5", lambda s: np.ones(s, bool)),
    ]:
        bad = tmp_path / name
        shutil.copy(small_vgg16, bad)
        with h5py.File(bad, "r+") as f:
            key = next(k for k in f["block1_conv1"] if "W" in k)
            shape = f["block1_conv1"][key].shape
            del f["block1_conv1"][key]
            f["block1_conv1"][key] = values(shape)
        argv = [photo, painting, "-o", tmp_path / "o.png", "--weights", bad, "--size", 32, "--iters", 1]
        err = refused(capsys, argv, "conv1_1/kernel holds ")
        assert "values, not numbers" in err and not (tmp_path / "o.png").exists()


# 7 -------------------------------------------------------------------------------------
def test_7_messages_name_what_differs(capsys, tmp_path, photo, painting, small_vgg16):
    # two styles of one name in two folders: the two styles are named, not the photo twice
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        shutil.copy(painting, tmp_path / d / "s.png")
    base = ["-o", tmp_path / "out", "--weights", small_vgg16, "--quiet"]
    style = f"{tmp_path / 'x' / 's.png'},{tmp_path / 'y' / 's.png'}"
    err = refused(capsys, ["batch", photo, "--style", style, *base], "would both write")
    assert str(tmp_path / "x" / "s.png") in err and str(tmp_path / "y" / "s.png") in err
    assert err.count(str(photo)) == 0
    # an empty --style says so, not "no style images in ;"
    refused(capsys, ["batch", photo, "--style", "", *base], "no style images in an empty list")


# 8 -------------------------------------------------------------------------------------
# Risky by design, decided: a missing style refused up front; a finished image redone
# when its options or inputs changed, said before any work; one batch per folder at a
# time (an flock, so a SIGKILLed batch's lock is taken over); score refuses to stretch.
def test_8_a_missing_style_is_refused_before_anything(capsys, tmp_path, photo, small_vgg16):
    out = tmp_path / "out"
    base = ["-o", out, "--weights", small_vgg16, "--size", 32, "--iters", 1, "--quiet"]
    refused(capsys, ["batch", photo, "--style", tmp_path / "nothere.png", *base], "style image not found")
    refused(capsys, ["batch", photo, "--style", ";", *base], "style image not found: ;")
    (tmp_path / "text.png").write_text("not an image")
    refused(capsys, ["batch", photo, "--style", tmp_path / "text.png", *base], "text.png")
    assert not out.exists()


def test_8_changed_options_or_inputs_redo_and_say_so(capsys, tmp_path, photo, painting, small_vgg16):
    shutil.copy(painting, tmp_path / "s.png")
    out = tmp_path / "out"
    argv = ["batch", photo, "--style", tmp_path / "s.png", "-o", out, "--weights", small_vgg16]
    argv = [str(a) for a in [*argv, "--size", 32, "--iters", 1, "--quiet"]]
    assert cli.main(argv) == 0
    assert "note:" not in capsys.readouterr().err
    assert cli.main(argv) == 0  # the same: nothing redone, nothing said
    io = capsys.readouterr()
    assert "(0 this run" in io.out and "note:" not in io.err
    os.utime(tmp_path / "s.png", ns=(0, 10**18))  # the style edited since
    assert cli.main(argv) == 0
    io = capsys.readouterr()
    assert "(1 this run" in io.out
    assert "note: 1 finished image(s) in" in io.err and "photo__s.png); to keep them" in io.err
    assert cli.main([*argv, "--iters", "2"]) == 0  # other options
    assert "will be replaced as they are redone" in capsys.readouterr().err


def test_8_one_batch_per_folder(capsys, tmp_path, photo, painting, small_vgg16):
    from nst_jax.batches.manifest import LOCK, locked

    out = tmp_path / "out"
    out.mkdir()
    argv = ["batch", photo, "--style", painting, "-o", out, "--weights", small_vgg16, "--size", 32]
    argv = [*argv, "--iters", 1, "--quiet"]
    with locked(out) as owner:  # another batch, this process: an flock on its own open file
        assert owner is None
        err = refused(capsys, argv, "another batch (pid")
        assert f"pid {os.getpid()} on " in err and "give another -o" in err
        assert not (out / "manifest.json").exists()
    assert not (out / LOCK).exists()
    (out / LOCK).write_text("pid 999999 on gone")  # a batch SIGKILLed: its file, no flock
    assert cli.main([str(a) for a in argv]) == 0, capsys.readouterr().err
    assert (out / "photo__painting.png").is_file() and not (out / LOCK).exists()


def test_8_score_refuses_to_stretch(capsys, tmp_path, photo, painting, small_vgg16):
    from PIL import Image

    Image.open(photo).resize((40, 20)).save(tmp_path / "squashed.png")  # 40x32 photo -> 2:1
    err = refused(
        capsys,
        ["score", tmp_path / "squashed.png", photo, painting, "--weights", small_vgg16],
        "another aspect ratio",
    )
    assert "40x20 px and the content photo 40x32 px" in err
    Image.open(photo).resize((20, 16)).save(tmp_path / "half.png")  # the same aspect: scored
    assert (
        cli.main(
            [str(a) for a in ["score", tmp_path / "half.png", photo, painting, "--weights", small_vgg16]]
        )
        == 0
    )


def test_7_each_refusal_names_what_made_it(capsys, tmp_path, photo, painting, small_vgg16, monkeypatch):
    from nst_jax.batches import batch as bt
    from nst_jax.config import Config
    from nst_jax.fast import mesh
    from nst_jax.io.signals import Stopped
    from nst_jax.run import score as sc
    from nst_jax.run.inputs import check_sides

    # the memory refusal of a batch quotes its photo's own shape (40x32 -> 32x26), not a square
    monkeypatch.setattr(mesh, "device_memory", lambda: 1000)
    out = tmp_path / "out"
    argv = ["batch", photo, "--style", painting, "-o", out, "--weights", small_vgg16, "--size", 32, "--quiet"]
    err = refused(capsys, argv, "one 32x26 image needs about")
    assert "32x32" not in err and not out.exists()
    monkeypatch.undo()
    # coarse to fine: the option that made the small scale
    small = [(24, 24), (34, 34), (48, 48)]
    for cfg, option in [
        (Config(size=48, num_scales=3), "give fewer --num-scales"),
        (Config(size=48, scales=(24, 34, 48)), "the first of --scales"),
    ]:
        with pytest.raises(NstError, match=option):
            check_sides(cfg.validate(), "resnet50", small)
    with pytest.raises(NstError, match="the output is 24x24; raise --size"):
        check_sides(Config(size=24).validate(), "resnet50", [(24, 24)])
    # out of memory in score: the option that sets its size
    monkeypatch.setattr(sc, "score", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    refused(
        capsys,
        ["score", photo, photo, painting, "--weights", small_vgg16],
        "out of memory; lower --analysis-size",
    )

    # a second SIGTERM in a batch that finished images: not "nothing written"
    def stopped(*a, **k):
        out.mkdir()
        (out / "manifest.json").write_text("{}")
        raise Stopped(15)

    monkeypatch.setattr(bt, "stylize_batch", stopped)
    assert cli.main([str(a) for a in argv]) == 143
    err = capsys.readouterr().err
    assert "interrupted by SIGTERM: the images finished are kept" in err and "nothing written" not in err
