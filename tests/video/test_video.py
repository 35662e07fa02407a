"""video/: a film's frames through the run layer with the temporal term; resumable, with
its flicker; refusals in one line. A tiny synthetic VGG16 (the behaviour, not the look)."""

import builtins
import importlib
import json
import os
import signal

import numpy as np
import pytest
from PIL import Image

from nst_jax.cli import app as cli
from nst_jax.errors import NstError
from nst_jax.run.board import Board
from nst_jax.video import frames as fr
from nst_jax.video.video import stylize_video

OPTIONS = dict(size=32, iters=4, style_weight=300.0, progress=False)


def film(path, n=3, size=(40, 32)):
    """An n-frame GIF: a textured frame panning 2 px right per frame."""
    rng = np.random.default_rng(0)
    wide = rng.uniform(0, 255, (size[1] // 4, (size[0] + 2 * n) // 4 + 1, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(wide).resize(((size[0] + 2 * n) // 4 * 4 + 4, size[1]), Image.BILINEAR))
    frames = [Image.fromarray(big[:, 2 * k : 2 * k + size[0]]) for k in range(n)]
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=[70, 80, 90][:n] + [50] * (n - 3), loop=0
    )
    return path


def frames_of(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))]


def test_a_gif_in_gives_frames_a_record_and_a_gif_out(tmp_path, small_vgg16, painting, monkeypatch):
    """Three frames in, three out (and the GIF); the style's targets computed once."""
    losses = importlib.import_module("nst_jax.paper.losses")  # (what the plan calls for targets)
    styles, real = [], losses.style_targets
    monkeypatch.setattr(losses, "style_targets", lambda *a: styles.append(1) or real(*a))
    out = tmp_path / "out.gif"
    r = stylize_video(
        film(tmp_path / "in.gif"), painting, out, weights=str(small_vgg16), frame_iters=2, **OPTIONS
    )
    assert r.info["stop"] == "iterations" and len(r.frames) == 3 and len(styles) == 1
    record = json.loads((tmp_path / "out_frames" / "video.json").read_text())
    assert [f["iterations"] for f in record["frames"]] == [4, 2, 2]  # --iters, then --frame-iters
    assert "flicker" not in record["frames"][0] and all(f["flicker"] >= 0 for f in record["frames"][1:])
    assert set(record["frames"][1]["terms"]) >= {"total", "content", "style", "temporal"}
    assert r.info["flicker"] == pytest.approx(np.mean([f["flicker"] for f in record["frames"][1:]]))
    src = fr.read_frames(tmp_path / "in.gif")
    assert len(src.images) == 3 and not np.array_equal(src.images[0], src.images[1])  # each its own
    assert fr.read_frames(tmp_path / "in.gif", 1, 1).images[0].tolist() == src.images[1].tolist()
    with Image.open(out) as gif:  # the frames, with the input's durations
        assert gif.n_frames == 3 and gif.size == (32, 26)
        assert [gif.seek(k) or gif.info["duration"] for k in range(3)] == [70, 80, 90]


def test_a_resumed_film_gives_the_frames_of_an_uninterrupted_one(
    tmp_path, small_vgg16, painting, compilations
):
    """Two frames, then the rest on a rerun: the same frames as one run (each frame starts
    from the previous one as written); a longer film of the same frames compiles nothing."""
    src = film(tmp_path / "in.gif", n=4)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    stylize_video(src, painting, whole, weights=str(small_vgg16), frames=3, **OPTIONS)
    stylize_video(src, painting, parts, weights=str(small_vgg16), frames=2, **OPTIONS)
    assert len(frames_of(parts)) == 2
    before = compilations()
    r = stylize_video(src, painting, parts, weights=str(small_vgg16), frames=3, **OPTIONS)
    assert len(r.info["frames"]) == 3 and compilations() == before  # (one frame run, nothing compiled)
    for a, b in zip(frames_of(whole), frames_of(parts), strict=True):
        np.testing.assert_array_equal(a, b)  # (the same programs on the same inputs: equal)
    r = stylize_video(src, painting, parts, weights=str(small_vgg16), frames=4, **OPTIONS)
    assert len(r.frames) == 4 and compilations()[1] == before[1]  # a fourth frame: no new program


def test_the_temporal_term_lowers_the_flicker(tmp_path, small_vgg16, painting):
    """The same frames, stylized alone and with the temporal term: less flicker with it
    (a strong weight, so that the tiny network's few iterations show it)."""
    r = stylize_video(
        film(tmp_path / "in.gif"), painting, tmp_path / "o", weights=str(small_vgg16),
        temporal_weight=1e6, compare_independent=True, **OPTIONS,
    )  # fmt: skip
    # measured 0.09 against 121 (about 1400x, DIS flow); bound: issue 34's target of 10x,
    # a margin wide enough for another machine's rounding or the JAX flow
    assert r.info["flicker"] * 10 < r.info["independent_flicker"]
    assert r.info["style"] > 0 and r.info["independent_style"] > 0  # (frames 2-3: both measured)
    alone = sorted((tmp_path / "o" / "alone").glob("frame_*.png"))  # (written to look at)
    assert len(alone) == 3 and not np.array_equal(
        np.asarray(Image.open(alone[1])), frames_of(tmp_path / "o")[1]
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(scales=(16, 32)), "--scales is not for video"),
        (dict(save_every=2), "--save-every is not for video"),
        (dict(preserve_colors="luminance"), "--preserve-colors is not for video"),
        (dict(temporal_weight=-1.0), "--temporal-weight must be a number >= 0"),
        (dict(start=9), "no frames in"),
        (dict(tile="16"), "--tile is not for video"),
        (dict(fps=0.0), "--fps must be a number of frames a second"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, small_vgg16, painting, options, message):
    with pytest.raises(NstError, match=message):
        stylize_video(
            film(tmp_path / "in.gif"),
            painting,
            tmp_path / "o",
            weights=str(small_vgg16),
            **{**OPTIONS, **options},
        )


def test_outputs_and_frames_are_checked_before_any_work(tmp_path, small_vgg16, painting):
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (40, 32)).save(folder / "a.png")
    Image.new("RGB", (30, 32)).save(folder / "b.png")
    with pytest.raises(NstError, match="differ in size"):
        stylize_video(folder, painting, tmp_path / "o", weights=str(small_vgg16), **OPTIONS)
    with pytest.raises(NstError, match="is the input; give another -o"):
        stylize_video(folder, painting, folder, weights=str(small_vgg16), **OPTIONS)
    src = film(tmp_path / "in.gif", n=3)
    with pytest.raises(NstError, match="in.gif is the input; give another -o"):
        stylize_video(src, painting, src, weights=str(small_vgg16), **OPTIONS)
    assert not (tmp_path / "in_frames").exists()  # (a refused run leaves no folder)
    stylize_video(src, painting, tmp_path / "o", weights=str(small_vgg16), frames=1, **OPTIONS)
    with pytest.raises(NstError, match="holds frames made with other options; give another -o"):
        stylize_video(src, painting, tmp_path / "o", weights=str(small_vgg16), **dict(OPTIONS, iters=5))


def test_the_command_and_a_signal_keep_the_frames_done(tmp_path, small_vgg16, painting, monkeypatch, capsys):
    """SIGTERM during the second frame: the first is kept, exit 143; the same command again
    finishes the film."""
    vid = importlib.import_module("nst_jax.video.frame")
    real, calls = vid.run_frame, []

    def frame_then_sigterm(*a):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*a)

    monkeypatch.setattr(vid, "run_frame", frame_then_sigterm)
    src, out = film(tmp_path / "in.gif"), tmp_path / "out"
    argv = ["video", str(src), str(painting), "-o", str(out), "--size", "32", "--iters", "3", "--quiet"]
    argv += ["--weights", str(small_vgg16)]
    assert cli.main(argv) == 143
    assert "interrupted by SIGTERM: 1 frame(s) kept" in capsys.readouterr().err
    assert [p.name for p in sorted(out.glob("*.png"))] == [fr.frame_name(1)]
    assert cli.main(argv) == 0
    assert "3 frame(s) ->" in capsys.readouterr().out and len(list(out.glob("*.png"))) == 3


def test_inputs_and_outputs_of_the_wrong_kind_are_one_line_errors(tmp_path, small_vgg16, painting):
    src, taken = film(tmp_path / "in.gif"), tmp_path / "taken"
    taken.write_text("a file, not a folder")
    with pytest.raises(NstError, match="taken is a file; give a folder"):
        stylize_video(src, painting, taken, weights=str(small_vgg16), **OPTIONS)
    with pytest.raises(NstError, match="neither a folder of frames, a GIF nor a video"):
        stylize_video(painting, painting, tmp_path / "o", weights=str(small_vgg16), **OPTIONS)
    with pytest.raises(NstError, match="video frames not found"):
        stylize_video(tmp_path / "missing.gif", painting, tmp_path / "o", weights=str(small_vgg16), **OPTIONS)
    assert not (tmp_path / "o").exists()  # (refused before any folder is made)


def test_a_video_file_in_gives_a_video_file_out_at_its_rate(tmp_path, small_vgg16, painting, capsys):
    """.mp4 in (the pan at 12.5 frames a second), .webm out through the command: the
    frames, their size and the rate kept; --fps sets another; the input is never touched."""
    gif = film(tmp_path / "in.gif")
    pngs = []
    for k, image in enumerate(fr.read_frames(gif).images):
        pngs.append(tmp_path / f"f{k}.png")
        Image.fromarray(image).save(pngs[-1])
    src = tmp_path / "in.mp4"
    fr.write_film(src, pngs, [80] * 3, None)
    before = src.read_bytes()
    argv = ["video", str(src), str(painting), "--size", "32", "--iters", "2", "--quiet"]
    assert cli.main([*argv, "-o", str(tmp_path / "out.webm"), "--weights", str(small_vgg16)]) == 0
    out = fr.read_frames(tmp_path / "out.webm")
    assert len(out.images) == 3 and out.images[0].shape == (26, 32, 3) and out.fps == pytest.approx(12.5)
    assert "3 frame(s) ->" in capsys.readouterr().out and src.read_bytes() == before
    assert cli.main([*argv, "--fps", "30", "--weights", str(small_vgg16)]) == 0  # (default: in_stylized.mp4)
    again = fr.read_frames(tmp_path / "in_stylized.mp4")
    assert again.fps == pytest.approx(30) and len(again.images) == 3
    # the same frames, written by the same program (only the codec differs): close, not equal
    assert np.abs(again.images[1].astype(float) - out.images[1]).mean() < 12


def test_a_corrupt_video_or_frame_is_a_one_line_error(tmp_path, small_vgg16, painting):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(NstError, match="cannot read the video .*bad.mp4.*; give a playable film"):
        stylize_video(bad, painting, tmp_path / "o", weights=str(small_vgg16), **OPTIONS)
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("RGB", (40, 32)).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png")
    with pytest.raises(NstError, match="b.png"):
        stylize_video(folder, painting, tmp_path / "o", weights=str(small_vgg16), **OPTIONS)
    with pytest.raises(NstError, match="--fps must be a number of frames a second"):
        stylize_video(gif := film(tmp_path / "in.gif"), painting, tmp_path / "o.gif", fps=0, **OPTIONS)
    assert gif.exists() and not (tmp_path / "o").exists() and not (tmp_path / "o_frames").exists()


def test_frames_and_gifs_need_no_extra(tmp_path, small_vgg16, painting, monkeypatch):
    """With PyAV and OpenCV's imports blocked: a GIF in and out works; a video file in or
    out is a one-line error naming the extra, before any work."""
    real = builtins.__import__

    def blocked(name, *a, **k):
        if name.split(".")[0] in ("av", "cv2"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", blocked)
    src = film(tmp_path / "in.gif")
    r = stylize_video(src, painting, tmp_path / "o.gif", weights=str(small_vgg16), frames=2, **OPTIONS)
    assert len(r.frames) == 2 and (tmp_path / "o.gif").exists()
    with pytest.raises(NstError, match=r"writing .mp4 files need PyAV; pip install \"nst_jax\[video\]\""):
        stylize_video(src, painting, tmp_path / "m.mp4", weights=str(small_vgg16), **OPTIONS)
    (tmp_path / "in.mkv").write_bytes(b"whatever")
    with pytest.raises(NstError, match=r"reading .mkv files need PyAV"):
        stylize_video(tmp_path / "in.mkv", painting, tmp_path / "p", weights=str(small_vgg16), **OPTIONS)
    assert not (tmp_path / "m_frames").exists() and not (tmp_path / "p").exists()


def test_a_long_term_film_resumes_to_the_uninterrupted_frames(tmp_path, small_vgg16, painting):
    """--long-term (frames t-1, t-2, t-4; our JAX flow): 5 frames in one run, and 3 then 5
    in two runs, give the same frames (the history is rebuilt from the frames written)."""
    src, whole, parts = film(tmp_path / "in.gif", n=5), tmp_path / "whole", tmp_path / "parts"
    opts = dict(OPTIONS, weights=str(small_vgg16), long_term=True, flow="jax", iters=2)
    r = stylize_video(src, painting, whole, **opts)
    record = json.loads((whole / "video.json").read_text())
    assert record["long_term"] and record["flow"] == "jax" and len(r.frames) == 5
    stylize_video(src, painting, parts, frames=3, **opts)
    stylize_video(src, painting, parts, **opts)
    for a, b in zip(frames_of(whole), frames_of(parts), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(NstError, match="holds frames made with other options"):
        stylize_video(src, painting, parts, **dict(opts, long_term=False))


def test_passes_refine_every_frame_at_once_and_resume(tmp_path, small_vgg16, painting, monkeypatch):
    """--passes 3: the film frame after frame, then two passes of all four frames in one
    batch, each held to both neighbours. A SIGTERM in pass 3 keeps pass 2's frames; the
    rerun gives the uninterrupted frames."""
    src = film(tmp_path / "in.gif", n=4)
    opts = dict(OPTIONS, weights=str(small_vgg16), passes=3, temporal_weight=1e6)
    r = stylize_video(src, painting, tmp_path / "whole", compare_independent=True, **opts)
    record = json.loads((tmp_path / "whole" / "video.json").read_text())
    assert len(record["pass_records"]) == 2 and r.info["flicker"] == record["pass_records"][-1]["flicker"]
    # (what passes buy over the first pass shows with real weights and more iterations: the
    # README's table; this tiny network's 2-iteration frames are nearly their warped starts)
    assert r.info["flicker"] < r.info["independent_flicker"]
    assert [f["iterations"] for f in record["frames"]] == [2, 2, 2, 2]  # (a refining pass: --frame-iters)
    runs = importlib.import_module("nst_jax.run.loop")
    real, calls = runs.run, []

    def third_pass_sigterm(*a, **k):  # (runs 1-4: the four frames; 5: pass 2; 6: pass 3)
        calls.append(1)
        if len(calls) == 6:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)

    monkeypatch.setattr(runs, "run", third_pass_sigterm)
    r = stylize_video(src, painting, tmp_path / "parts", **opts)
    assert r.info["stop"] == "interrupted" and len(calls) == 6
    assert len(json.loads((tmp_path / "parts" / "video.json").read_text())["pass_records"]) == 1
    monkeypatch.setattr(runs, "run", real)
    stylize_video(src, painting, tmp_path / "parts", **opts)
    for a, b in zip(frames_of(tmp_path / "whole"), frames_of(tmp_path / "parts"), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(NstError, match="--passes must be >= 1"):
        stylize_video(src, painting, tmp_path / "o", **dict(opts, passes=0))


def test_a_pass_starts_each_frame_from_the_blend_with_its_neighbours(monkeypatch):
    """x0 = delta c mean(w) + (1 - delta c) x_i (Ruder et al.'s blend, delta = 0.5), w the
    neighbours' results warped into frame i: with no motion, their plain average; a film's
    end has one neighbour."""
    passes = importlib.import_module("nst_jax.video.passes")
    flows = importlib.import_module("nst_jax.video.flows")
    monkeypatch.setitem(flows.FLOWS, "still", lambda a, b: np.zeros((*a.shape[:2], 2), np.float32))
    contents = [np.zeros((12, 16, 3), np.float32)] * 3
    xs = [np.full((12, 16, 3), v, np.float32) for v in (10.0, 0.0, 30.0)]
    x0, warped, c = passes._start(contents, xs, 1, "still")
    np.testing.assert_allclose(x0, 0.5 * 20.0)  # half the neighbours' mean, half its own 0
    np.testing.assert_allclose(warped[:, 0, 0, 0], [10.0, 30.0])
    np.testing.assert_array_equal(c, 1.0)
    x0, _, c = passes._start(contents, xs, 0, "still")  # (frame 0: only frame 1, whose x is 0)
    np.testing.assert_allclose(x0, 0.5 * 10.0)
    np.testing.assert_array_equal(c[0], 0.0)


def test_frames_too_large_for_memory_whole_are_a_one_line_error(tmp_path, small_vgg16, painting, monkeypatch):
    """Where `--tile auto` would evaluate a frame in strips (here: as if it did not fit
    whole), the film is refused before any work, with what to do."""
    inputs, plan = importlib.import_module("nst_jax.run.inputs"), importlib.import_module("nst_jax.fast.plan")
    monkeypatch.setattr(
        inputs, "with_tiles", lambda p, *a: plan._retile(p, 8, "tile 8 rows (as if too large)")
    )
    with pytest.raises(NstError, match="frames this large need strips.*; lower --size"):
        stylize_video(
            film(tmp_path / "in.gif"), painting, tmp_path / "o", weights=str(small_vgg16), **OPTIONS
        )
    assert not (tmp_path / "o").exists()


def test_a_film_on_a_board(tmp_path, small_vgg16, painting):
    """--web's board for a film: one entry per frame, each with its thumbnail once written,
    each frame's run shown as it runs (and the passes', the batch's first frame)."""
    board = Board("video")
    opts = dict(OPTIONS, weights=str(small_vgg16), passes=2, chunk=1)
    r = stylize_video(film(tmp_path / "in.gif"), painting, tmp_path / "out", board=board, **opts)
    s = board.snapshot()
    assert len(r.frames) == 3 and s["status"] == "done" and s["message"].startswith("3 of 3 frames")
    assert [i["name"] for i in s["items"]] == [p.name for p in r.frames]
    assert all(i["status"] == "done" and i["thumb"] for i in s["items"])
    assert s["title"] == "pass 2 of 2: frames 1-3 at once" and s["scales"] == [[32, 26, 2]]
    assert {"temporal", "style"} <= set(s["rows"][-1]) and s["picture"] >= 4 + 2 + 2 + 2
    written = np.asarray(Image.open(r.frames[1]).convert("RGB"))
    assert np.array_equal(board.thumbnail(1)[1], written)
