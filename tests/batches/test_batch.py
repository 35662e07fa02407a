"""batch.py, manifest.py, fast/mesh.py: many images through one vmapped, sharded optimiser.

Synthetic VGG16 weights and 32 px images keep every compilation small; the multi-device
and multi-process runs are fresh processes (XLA_FLAGS, jax.distributed)."""

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from photos import photos
from PIL import Image

import nst_jax
from nst_jax.batches import batch as bt
from nst_jax.batches.manifest import Item, Manifest, collect, items, stamp
from nst_jax.cli.app import main
from nst_jax.errors import NstError
from nst_jax.run.board import Board

ROOT = Path(__file__).resolve().parents[2]
COMMON = dict(size=32, iters=6, style_weight=300.0)


def history(out: Path, name: str):
    return json.loads((out / "logs" / (Path(name).stem + ".json")).read_text())["history"]


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_batch_is_each_image_optimised_alone(tmp_path, small_vgg16, painting, optimizer):
    """Three images of one size in one batch: each loss history equals its single-image
    run. The vmapped program does the same float32 arithmetic per image, but XLA may
    block a batched convolution differently: measured 0 difference with the host loop,
    <= 1.2e-7 relative with the device loop (real VGG16, 12 L-BFGS iterations); 1e-5
    leaves room for L-BFGS amplifying such rounding over the iterations, and is far below
    what a mixed-up image, target or line search would give (> 1e-2)."""
    contents = photos(tmp_path / "in", 3)
    options = dict(COMMON, weights=str(small_vgg16), optimizer=optimizer)
    r = nst_jax.stylize_batch(contents, [painting], tmp_path / "out", batch_size=3, progress=False, **options)
    assert len(r.done) == 3 and not r.failed and not r.pending
    assert r.info["per_device"] == {"32x26": 3}  # one group, one batch of three
    evaluations = set()
    for c in contents:
        alone = nst_jax.stylize(c, painting, progress=False, **options).history
        together = history(tmp_path / "out", f"{c.stem}__{painting.stem}.png")
        assert [h["iteration"] for h in alone] == [h["iteration"] for h in together]
        assert [h["evaluations"] for h in alone] == [h["evaluations"] for h in together]
        np.testing.assert_allclose([h["total"] for h in together], [h["total"] for h in alone], rtol=1e-5)
        evaluations.add(alone[-1]["evaluations"])
    if optimizer == "lbfgs":  # (the line searches differ per image: some waited, held still)
        assert len(evaluations) > 1


@pytest.mark.slow
def test_a_batch_with_octaves_is_each_image_alone(tmp_path, small_vgg16, painting):
    """--octaves 2: the octaves' targets ride beside each image's Targets, stacked and
    vmapped like them; each history equals its single-image run (1e-5: as above)."""
    contents = photos(tmp_path / "in", 2)
    options = dict(COMMON, size=40, octaves=2, weights=str(small_vgg16))
    r = nst_jax.stylize_batch(contents, [painting], tmp_path / "out", batch_size=2, progress=False, **options)
    assert len(r.done) == 2 and not r.failed and r.info["per_device"] == {"40x32": 2}
    for c in contents:
        alone = nst_jax.stylize(c, painting, progress=False, **options).history
        together = history(tmp_path / "out", f"{c.stem}__{painting.stem}.png")
        assert [h["evaluations"] for h in alone] == [h["evaluations"] for h in together]
        np.testing.assert_allclose([h["total"] for h in together], [h["total"] for h in alone], rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("style_loss", ["w2", "sliced"])
def test_a_batch_with_another_style_loss_is_each_image_alone(tmp_path, small_vgg16, painting, style_loss):
    """The distances' targets (NamedTuples of arrays) batch like the Gram matrices, and the
    custom gradients (nuclear norm, sort) vmap: each history equals its single run (the
    start's loss to 1e-6, the same image and targets; then XLA:CPU's batched SVD and
    cumulative sums round otherwise than single ones and L-BFGS amplifies it: measured
    1.2e-5 (w2) and 1.2e-4 (sliced) relative after 6 iterations; a mixed-up target or
    image is off by > 1e-2)."""
    contents = photos(tmp_path / "in", 2)
    options = dict(COMMON, weights=str(small_vgg16), style_loss=style_loss)
    r = nst_jax.stylize_batch(contents, [painting], tmp_path / "out", batch_size=2, progress=False, **options)
    assert len(r.done) == 2 and not r.failed
    for c in contents:
        alone = nst_jax.stylize(c, painting, progress=False, **options).history
        together = history(tmp_path / "out", f"{c.stem}__{painting.stem}.png")
        assert together[0]["total"] == pytest.approx(alone[0]["total"], rel=1e-6)
        np.testing.assert_allclose([h["total"] for h in together], [h["total"] for h in alone], rtol=1e-3)


@pytest.mark.slow
def test_a_style_s_targets_are_computed_once_per_size(
    tmp_path, small_vgg16, painting, monkeypatch, compilations
):
    """Four photos of one size in two batches, two scales: the style's targets are computed
    once per scale (not once per photo, scale and batch: 8), each photo's content targets
    its own; a second command of the same shapes traces and compiles nothing."""
    ls = importlib.import_module("nst_jax.paper.losses")  # (what the plan calls: the whole image)
    sizes, real = [], ls.style_targets
    monkeypatch.setattr(ls, "style_targets", lambda p, x, hw, *a: sizes.append(hw) or real(p, x, hw, *a))
    contents = photos(tmp_path / "in", 4)
    options = dict(COMMON, weights=str(small_vgg16), size=40, scales=(32, 40), scale_iters=(2, 1))
    r = nst_jax.stylize_batch(contents, [painting], tmp_path / "out", batch_size=2, progress=False, **options)
    assert len(r.done) == 4 and not r.failed
    assert sorted(sizes) == [(26, 32), (32, 40)]  # (h, w) of the output at each scale
    before = compilations()
    r = nst_jax.stylize_batch(
        contents, [painting], tmp_path / "again", batch_size=2, progress=False, **options
    )
    assert len(r.done) == 4 and compilations() == before


FOUR_DEVICES = """
import sys
import time
from pathlib import Path
import jax, nst_jax
assert jax.device_count() == 4
contents, painting, weights, out = sys.argv[1:5]
r = nst_jax.stylize_batch([contents], [painting], out, batch_size=4, progress=False,
                          weights=weights, size=32, iters=6, style_weight=300.0)
assert r.info["per_device"] == {"32x26": 1}, r.info
print(len(r.done))
"""


@pytest.mark.slow
def test_four_devices_give_what_one_gives(tmp_path, small_vgg16, painting):
    """5 images on 4 simulated CPU devices (a batch of 4, then 1 with 3 padding slots)
    write the same images as one device running all 5 in one batch (measured identical;
    <= 1 level allows a rounding at .5 from a differently blocked convolution)."""
    photos(tmp_path / "in", 5)
    one = nst_jax.stylize_batch(
        [tmp_path / "in"], [painting], tmp_path / "one", progress=False, weights=str(small_vgg16), **COMMON
    )
    assert len(one.done) == 5 and one.info["per_device"] == {"32x26": 5}
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    args = [tmp_path / "in", painting, small_vgg16, tmp_path / "four"]
    p = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICES, *map(str, args)], env=env, capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout.split()[-1] == "5", p.stderr[-2000:]
    written = sorted(q.name for q in (tmp_path / "four").glob("*.png"))
    assert written == sorted(one.done)  # the padding never written
    for name in written:
        a, b = (np.asarray(Image.open(tmp_path / d / name), int) for d in ("one", "four"))
        assert np.abs(a - b).max() <= 1, name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_split_a_folder(tmp_path, small_vgg16, painting):
    """Two processes on localhost, joined by jax.distributed into one mesh of 2 devices,
    4 images in batches of 2: three of one size (a full batch, then one image and one
    padding slot) and one of another (the same): each process writes only its own slots'
    images, process 1 has only padding in two batches, process 0 writes the manifest."""
    photos(tmp_path / "in", 3)
    photos(tmp_path / "in", 1, (32, 48), prefix="tall")
    out, port = tmp_path / "out", free_port()
    run = [sys.executable, "-m", "nst_jax", "batch", str(tmp_path / "in"), "--style", str(painting)]
    run += ["-o", str(out), "--weights", str(small_vgg16), "--size", "32", "--iters", "2", "--quiet"]
    run += [
        "--style-weight",
        "300",
        "--batch-size",
        "2",
        "--coordinator",
        f"localhost:{port}",
        "--num-processes",
        "2",
        "--web",  # (process 0 serves the page; the board shown from its own shard, no collective)
        "0",
    ]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    procs = [
        subprocess.Popen(
            [*run, "--process-id", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    m = json.loads((out / "manifest.json").read_text())
    assert sorted(m["items"]) == sorted([*(f"p{k}__painting.png" for k in range(3)), "tall0__painting.png"])
    assert all(e["state"] == "done" for e in m["items"].values())
    by = {n: e["process"] for n, e in m["items"].items()}  # each image once, by its slot's process
    assert by == {
        "p0__painting.png": 0,
        "p1__painting.png": 1,
        "p2__painting.png": 0,
        "tall0__painting.png": 0,
    }
    assert m["summary"]["processes"] == 2 and m["summary"]["devices"] == 2
    assert sorted(q.name for q in out.glob("*.png")) == sorted(m["items"])
    assert not list(out.glob(".manifest-*.json"))  # folded into manifest.json
    assert b"4 of 4 images done" in outs[0][0] and b"images done" not in outs[1][0]
    assert b"preview: http://127.0.0.1:" in outs[0][1] and b"preview:" not in outs[1][1]


@pytest.mark.slow
def test_interrupted_batch_resumes_without_redoing(tmp_path, small_vgg16, painting, monkeypatch):
    """Images of two sizes form two groups (each output keeps its image's aspect ratio);
    Ctrl-C during the first leaves the second pending (exit status 130 at the command
    line); the rerun does only the second, the first's images untouched."""
    photos(tmp_path / "in", 2, (40, 32), prefix="wide")
    photos(tmp_path / "in", 2, (32, 48), prefix="tall", seed=1)
    out, real, ran = tmp_path / "out", bt._run_batch, []

    def run_then_ctrl_c(template, params, slots, *rest):
        lost = real(template, params, slots, *rest)
        ran.append([s.name for s in slots if s is not None])
        if len(ran) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # (the stop flag's handler: finish, then stop)
        return lost

    monkeypatch.setattr(bt, "_run_batch", run_then_ctrl_c)
    options = dict(COMMON, weights=str(small_vgg16))
    first = nst_jax.stylize_batch([tmp_path / "in"], [painting], out, progress=False, **options)
    assert first.info["signal"] == "SIGINT" and len(ran) == 1 and len(first.done) == 2
    assert sorted(first.done) == sorted(ran[0]) and len(first.pending) == 2
    assert {n[:4] for n in first.done} != {n[:4] for n in first.pending}  # a group each
    m = json.loads((out / "manifest.json").read_text())["items"]
    assert sorted(e["state"] for e in m.values()) == ["done", "done", "pending", "pending"]
    stamps = {n: (out / n).stat().st_mtime_ns for n in first.done}
    again = nst_jax.stylize_batch([tmp_path / "in"], [painting], out, progress=False, **options)
    assert len(ran) == 2 and sorted(ran[1]) == sorted(first.pending)  # only the rest
    assert len(again.done) == 4 and not again.pending and again.info["run"] == 2
    assert {n: (out / n).stat().st_mtime_ns for n in first.done} == stamps
    for name in again.done:  # 40x32 -> 32x26, 32x48 -> 21x32
        w, h = Image.open(out / name).size
        assert (w, h) == ((32, 26) if name.startswith("wide") else (21, 32))


def test_a_corrupt_image_fails_alone(tmp_path, small_vgg16, painting, capsys):
    """A truncated PNG in the folder: its item fails with its one-line error in the
    manifest, the others are written, exit status 1 naming the failure."""
    good = photos(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.png").write_bytes(good[0].read_bytes()[:60])
    out = tmp_path / "out"
    argv = ["batch", str(tmp_path / "in"), "--style", str(painting), "-o", str(out), "--quiet"]
    argv += ["--weights", str(small_vgg16), "--size", "32", "--iters", "3", "--style-weight", "300"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error: broken__painting.png:" in err and "Traceback" not in err
    m = json.loads((out / "manifest.json").read_text())["items"]
    assert m["broken__painting.png"]["state"] == "failed"
    assert "broken.png" in m["broken__painting.png"]["error"]
    assert [m[f"p{k}__painting.png"]["state"] for k in range(2)] == ["done", "done"]
    assert not (out / "broken__painting.png").exists()


def test_a_changed_config_or_input_redoes_the_items(tmp_path):
    """Done items count as done only with the same options, their image there and their
    inputs unchanged (size and modification time); older entries without `inputs` as before."""
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "p.png").write_bytes(b"photo")
    (tmp_path / "s.png").write_bytes(b"style")
    a, b = (
        Item("a.png", tmp_path / "p.png", tmp_path / "s.png"),
        Item("b.png", tmp_path / "p.png", tmp_path / "s.png"),
    )
    m = Manifest(tmp_path, {"iters": 10})
    m.set("a.png", "done", inputs=stamp(a))
    m.set("b.png", "done", inputs=stamp(b))  # (its image is missing)
    m.save()
    same, other = Manifest(tmp_path, {"iters": 10}).load(), Manifest(tmp_path, {"iters": 20}).load()
    assert same.finished(a) and not same.finished(b)
    assert not other.finished(a)
    assert Manifest(tmp_path, {"iters": 10, "chunk": 3}).load().finished(a)  # (speed only)
    os.utime(tmp_path / "s.png", ns=(0, 10**18))  # the style edited (a new modification time)
    assert not Manifest(tmp_path, {"iters": 10}).load().finished(a)
    m.set("a.png", "done")  # an entry of an older manifest: no inputs recorded
    m.save()
    assert Manifest(tmp_path, {"iters": 10}).load().finished(a)


def test_items_from_files_folders_and_globs(tmp_path, painting):
    a, b = photos(tmp_path / "f", 2)
    (tmp_path / "f" / "notes.txt").write_text("not an image")
    assert collect([tmp_path / "f"], "content") == [a, b]
    assert collect([str(tmp_path / "f" / "p*.png")], "content") == [a, b]
    assert [it.name for it in items([a, b], [painting], tmp_path)] == ["p0__painting.png", "p1__painting.png"]
    photos(tmp_path / "g", 1)
    with pytest.raises(NstError, match="would both write"):
        items([a, tmp_path / "g" / "p0.png"], [painting], tmp_path)
    with pytest.raises(NstError, match="no content images"):
        collect([str(tmp_path / "none*.png")], "content")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--optimizer", "scipy-lbfgsb"], "SciPy's L-BFGS-B drives one image"),
        (["--ema", "0.9"], "--ema belongs to one image's run"),
        (["--save-every", "2"], "--save-every belongs to one image's run"),
        (["--tile", "64"], "--tile belongs to one image's run"),  # (strips take no batch axis)
        (["--coordinator", "localhost:1"], "go together"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_batch_refusals(tmp_path, painting, capsys, extra, message):
    photos(tmp_path / "in", 1)
    argv = ["batch", str(tmp_path / "in"), "--style", str(painting), "-o", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_output_folder_that_is_a_file(tmp_path, painting, capsys):
    photos(tmp_path / "in", 1)
    (tmp_path / "out").write_text("a file")
    assert main(["batch", str(tmp_path / "in"), "--style", str(painting), "-o", str(tmp_path / "out")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_at_the_command_line(tmp_path, small_vgg16, painting):
    """SIGTERM once the first group's image is written: the command finishes its chunk,
    records the second group as pending and exits 143; nothing is lost or half written."""
    photos(tmp_path / "in", 1, (40, 32), prefix="wide")
    photos(tmp_path / "in", 1, (32, 48), prefix="tall", seed=1)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "nst_jax", "batch", str(tmp_path / "in"), "--style", str(painting)]
    argv += [
        "-o",
        str(out),
        "--weights",
        str(small_vgg16),
        "--size",
        "32",
        "--iters",
        "60",
        "--chunk",
        "5",
        "--quiet",
    ]
    p = subprocess.Popen([*argv, "--style-weight", "300"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("*.png")) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=300)[1]
    assert p.returncode == 143, err[-2000:]
    assert "interrupted by SIGTERM: 1 image(s) pending; rerun to finish" in err and "Traceback" not in err
    m = json.loads((out / "manifest.json").read_text())["items"]
    assert sorted(e["state"] for e in m.values()) == ["done", "pending"]
    assert sorted(q.name for q in out.glob("*.png")) == [n for n, e in m.items() if e["state"] == "done"]


@pytest.mark.slow
def test_two_batches_at_once_and_sigkill_then_resume(tmp_path, small_vgg16, painting):
    """Two batches on one folder at once: the second is refused while the first holds the
    lock (the first is SIGSTOPped meanwhile, so the overlap is certain). Then the first is
    SIGKILLed at a random moment (no handler runs) and resumed: the images it had recorded
    are byte-identical and not redone, every image equals an uninterrupted run's, and no
    partial or temporary file and no lock is left."""
    import random

    seed = int(os.environ.get("NST_JAX_TEST_SEED", time.time_ns() % 10**6))  # (a new moment each run)
    rng = random.Random(seed)
    photos(tmp_path / "in", 4)
    argv = [sys.executable, "-m", "nst_jax", "batch", str(tmp_path / "in"), "--style", str(painting)]
    argv += ["--weights", str(small_vgg16), "--size", "32", "--iters", "40", "--batch-size", "1"]
    argv += ["--chunk", "5", "--style-weight", "300", "--quiet"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert (
        subprocess.run([*argv, "-o", str(whole)], env=env, capture_output=True, timeout=300).returncode == 0
    )
    p = subprocess.Popen([*argv, "-o", str(out)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    lock = out / ".batch.lock"  # (made, then locked, then its owner written: wait for the last)
    while (
        not (lock.exists() and lock.read_text().strip()) and p.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    p.send_signal(signal.SIGSTOP)  # holding the lock, certainly (stopped after the file's
    # creation but before its owner was written, it made the second say "another process")
    second = subprocess.run([*argv, "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 2 and "another batch (pid" in second.stderr, second.stderr[-2000:]
    p.send_signal(signal.SIGCONT)
    wait_for = rng.randrange(0, 3)  # images written before the kill, then a random moment
    while len(list(out.glob("*__painting.png"))) < wait_for and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.5))
    p.kill()
    p.wait(timeout=60)
    print(f"killed after {wait_for} image(s) and a moment (NST_JAX_TEST_SEED={seed} repeats it)")
    m = out / "manifest.json"
    recorded = json.loads(m.read_text())["items"] if m.exists() else {}
    kept = {
        n: ((out / n).read_bytes(), (out / n).stat().st_mtime_ns)
        for n, e in recorded.items()
        if e["state"] == "done"
    }
    again = subprocess.run([*argv, "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {n: ((out / n).read_bytes(), (out / n).stat().st_mtime_ns) for n in kept} == kept  # none redone
    images = sorted(q.name for q in whole.glob("*.png"))
    assert sorted(q.name for q in out.glob("*.png")) == images and len(images) == 4
    for name in images:  # the same pixels as without the kill
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(whole / name))), name
    left = sorted(q.name for q in out.iterdir() if q.name not in images)
    assert left == ["logs", "manifest.json"], left  # no temporary file, no lock
    assert sorted(q.name for q in (out / "logs").iterdir()) == sorted(
        n.replace(".png", ".json") for n in images
    )


def test_the_plan_is_made_for_the_largest_output_and_headers_read_once(
    tmp_path, painting, small_vgg16, capsys, monkeypatch
):
    """The batch's one plan is a run of its largest output alone (the most square photo:
    40x32 at --size 40, not a 40x40 stand-in), and each photo's header is read once."""
    photos(tmp_path / "in", 1)  # 40x32
    photos(tmp_path / "in", 1, (32, 48), prefix="tall")  # 32x48 -> 27x40
    reads, real = [], bt.image_files.peek_size
    monkeypatch.setattr(bt.image_files, "peek_size", lambda p: reads.append(Path(p).name) or real(p))
    options = dict(COMMON, weights=str(small_vgg16), size=40, iters=1)
    r = nst_jax.stylize_batch(
        [tmp_path / "in"], [painting], tmp_path / "out", progress=False, verbose=True, **options
    )
    assert len(r.done) == 2 and not r.failed
    assert "scales: 40x32 (1 iterations)" in capsys.readouterr().err
    assert sorted(reads) == sorted(["p0.png", "tall0.png", painting.name])


class StopAtFirstImage(Board):
    """A board whose watcher presses Stop as soon as it sees an image."""

    def show(self, *a, **k):
        super().show(*a, **k)
        self.ask_stop()


def test_a_batch_on_a_board_and_stopped_from_it(tmp_path, small_vgg16, painting):
    """--web's board: every entry with its state, a thumbnail of each image written (the
    image as written, made small), the first image of each batch shown as it runs, its
    rows; the board's Stop leaves the rest pending, as Ctrl-C does."""
    contents = photos(tmp_path / "in", 3)
    options = dict(COMMON, weights=str(small_vgg16), chunk=2)
    board = Board("batch")
    r = nst_jax.stylize_batch(contents, [painting], tmp_path / "out", 1, False, board=board, **options)
    s = board.snapshot()
    assert len(r.done) == 3 and s["status"] == "done" and s["message"].startswith("3 of 3 images done")
    assert [i["status"] for i in s["items"]] == ["done"] * 3 and all(i["thumb"] for i in s["items"])
    assert s["picture"] >= 3 * 3 and [r["iteration"] for r in s["rows"]] == list(
        range(7)
    )  # (the last batch's)
    assert s["plan"].startswith("plan:") and s["title"].endswith("the first of 1 in this batch")
    for k, name in enumerate(r.done):
        written = np.asarray(Image.open(tmp_path / "out" / name).convert("RGB"))
        assert np.array_equal(board.thumbnail(k)[1], written)  # (32 px: below the thumbnail's 160)
    stopping = StopAtFirstImage("batch")
    r = nst_jax.stylize_batch(contents, [painting], tmp_path / "stopped", 1, False, board=stopping, **options)
    s = stopping.snapshot()
    assert r.info["signal"] == "SIGINT" and len(r.pending) == 3 and s["status"] == "interrupted"
    assert [i["status"] for i in s["items"]] == ["pending"] * 3
