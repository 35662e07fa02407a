"""files.py: inputs and outputs checked before the work; one atomic writer; results kept
when their write fails."""

import errno
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from nst_jax import NstError
from nst_jax.io import files, image_files

LONG = "x" * 300  # a path component over the 255-byte limit of Linux and macOS


def test_output_checks(tmp_path, photo):
    assert files.check_output(tmp_path / "out.png") == tmp_path / "out.png"
    cases = [
        (tmp_path / "missing" / "out.png", "does not exist"),
        (tmp_path / "out.xyz", "extension"),
        ("/sys/out.png", "not writable"),  # read-only even for root
        (tmp_path, "is a folder"),
        (tmp_path / f"{LONG}.png", "file name of 304 bytes"),
        (tmp_path / "x.psd", "Pillow cannot write .psd"),  # formats Pillow reads, not writes
        (tmp_path / "x.xbm", "Pillow cannot write .xbm"),
        (tmp_path / "x.h5", "Pillow cannot write .h5"),
    ]
    for path, match in cases:
        with pytest.raises(NstError, match=match):
            files.check_output(path)
    with pytest.raises(NstError, match="alpha channel"):
        files.check_output(tmp_path / "x.jpg", mode="RGBA")
    assert files.check_output(tmp_path / "x.jpg") == tmp_path / "x.jpg"
    assert files.check_output(tmp_path / "log.json") == tmp_path / "log.json"
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(NstError, match="not a regular file"):
        files.check_output(tmp_path / "pipe.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "pipe.png"]  # no probe left


def test_input_checks(tmp_path, photo):
    assert files.check_input(photo) == photo
    os.mkfifo(tmp_path / "pipe.png")  # opening it would block until a writer came
    cases = [
        (tmp_path / "none.png", "image not found"),
        (tmp_path, "is a folder, not an image file"),
        (tmp_path / "pipe.png", "not a regular file"),
        (tmp_path / f"{LONG}.png", "file name of 304 bytes"),
        (photo / "x.png", "a folder in it is a file"),
    ]
    for path, match in cases:
        with pytest.raises(NstError, match=match):
            files.check_input(path)
    with pytest.raises(NstError, match="is a folder, not a weights file"):
        files.check_input(tmp_path, "weights file")


def test_outputs_are_never_inputs(tmp_path, photo):
    """By resolved path and by inode: a hard link, a symbolic link, a relative path."""
    (tmp_path / "hard.png").hardlink_to(photo)
    (tmp_path / "soft.png").symlink_to(photo)
    for out in (photo, tmp_path / "hard.png", tmp_path / "soft.png", tmp_path / "." / "photo.png"):
        with pytest.raises(NstError, match="is the content image"):
            files.check_apart([("output", out)], [("content image", photo)])
    files.check_apart([("output", tmp_path / "new.png")], [("content image", photo), ("x", np.zeros(3))])


def test_show_keeps_messages_on_one_line():
    assert files.show("a b/é.png") == "a b/é.png"
    assert files.show("a\nb.png") == "'a\\nb.png'"


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    a = np.zeros((16, 16, 3), np.uint8)
    image_files.save_image(tmp_path / "ok.png", a)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "ok.png")), a)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "ok.png").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    (tmp_path / "keep.png").write_bytes(b"old")

    def fail(tmp):
        open(tmp, "wb").write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_write(tmp_path / "keep.png", fail)
    assert (tmp_path / "keep.png").read_bytes() == b"old"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png", "ok.png"]  # no temp left


def test_a_failed_write_is_kept_in_a_fallback(tmp_path, monkeypatch):
    """A full disk at the end: the result goes to the temporary folder, the error names
    it, and the other writes still happen."""
    full, spare = tmp_path / "full", tmp_path / "spare"
    full.mkdir(), spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    real = files.atomic_write

    def disk_full_in(path, write):
        if os.path.dirname(path) == str(full):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(files, "atomic_write", disk_full_in)
    with pytest.raises(NstError) as e:
        files.write_kept(
            [
                (
                    "the image",
                    full / "out.png",
                    image_files.image_writer(full / "out.png", np.zeros((4, 5, 3), np.uint8)),
                ),
                ("the log", tmp_path / "log.json", lambda tmp: open(tmp, "w").write("{}")),
            ]
        )
    (kept,) = spare.iterdir()
    assert (
        f"could not write the image {full / 'out.png'} (No space left on device), kept it in {kept}"
        in str(e.value)
    )
    assert Image.open(kept).size == (5, 4) and json.loads((tmp_path / "log.json").read_text()) == {}
    monkeypatch.setattr(tempfile, "tempdir", "/sys")  # the fallback fails too: still one line
    with pytest.raises(NstError, match="nor a copy in /sys"):
        files.write_kept([("the log", full / "log.json", lambda tmp: open(tmp, "w").write("{}"))])


KILLED_WRITER = """
import json, sys
import numpy as np
from nst_jax.io import files, image_files
folder, k = sys.argv[1], 1
print("ready", flush=True)
while True:  # versions k = 1, 2, ...: every file holds k throughout
    image_files.save_image(f"{folder}/a.png", np.full((64, 64, 3), k % 256, np.uint8))
    files.atomic_write(f"{folder}/a.json", lambda t: open(t, "w").write(json.dumps([k] * 5000)))
    files.atomic_write(f"{folder}/a.npz", lambda t: np.savez(open(t, "wb"), k=np.full(50000, k)))
    k += 1
"""


def test_sigkill_leaves_the_old_file_or_the_new_one(tmp_path):
    """Killed at random moments of a write loop, each file is whole: one version of it."""
    rng = random.Random(0)
    for trial in range(6):
        folder = tmp_path / str(trial)
        folder.mkdir()
        p = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(folder)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.6))
        p.kill()
        p.wait()
        names = {q.name for q in folder.iterdir() if not q.name.startswith(".")}
        assert names <= {"a.png", "a.json", "a.npz"}
        if "a.png" in names:
            a = np.asarray(Image.open(folder / "a.png"))
            assert a.shape == (64, 64, 3) and (a == a[0, 0, 0]).all()
        if "a.json" in names:
            v = json.loads((folder / "a.json").read_text())
            assert len(v) == 5000 and len(set(v)) == 1
        if "a.npz" in names:
            with np.load(folder / "a.npz") as z:
                assert z["k"].shape == (50000,) and len(set(z["k"].tolist())) == 1
        (folder / ".a.png.notes").write_text("a user's file that only looks like a temporary")
        files.remove_temporaries(folder, ["a.png", "a.json", "a.npz"])  # what the kill left
        assert {q.name for q in folder.iterdir()} == names | {".a.png.notes"}
