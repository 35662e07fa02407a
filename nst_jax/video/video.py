"""`stylize_video`: a film's frames stylized one after another, coherent in time.

Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016), Sec. 3. The
first frame is stylized as one image is (from the content, `iters` iterations); each
later frame i (paper/temporal.py; the flow: video/flows.py, ours in JAX or OpenCV's DIS):

    b, f = flow(frame_i -> frame_i-1), flow(frame_i-1 -> frame_i)    backward and forward
    c    = consistency(f, b)                  1 where the flow can be trusted
    w    = warp(x_i-1, b)                     the last stylized frame moved into frame i
    x0   = c w + (1 - c) frame_i              the start; disoccluded pixels from the photo
    minimise L_total + lambda L_temporal(x, w, c) for `frame_iters` iterations (Eq. 7)

With `long_term`, frame i is held to frames i-1, i-2 and i-4 (each warped by its own flow,
weighted by Eq. 9's c_long: each pixel to the nearest frame that sees it; Eq. 8), so a
region hidden for a frame or two comes back as it was. With `passes` > 1, the film made so
is refined by passes of every frame at once, each one batch (passes.py).

Each frame goes through the run layer as one image does: scales.py's targets (the style's
computed once, kept in a memo) and problem, loop.py's loop. The temporal term is one more
piece on the loss (`WithTemporal`, equal for every frame; the first frame's is 0): the
loop never hears of it, and the frames after the first compile nothing but the flow.

Resumable: each frame is written atomically when done, with its record in
OUTDIR/video.json; a rerun of the same command continues after the last frame written.
Every frame starts from the previous one *as written* (8-bit), so a resumed run gives the
frames of an uninterrupted one. Ctrl-C or SIGTERM finish the current chunk and stop,
keeping the frames done. Flicker: each frame's warping error against the previous one
warped into it (temporal.warping_error), recorded per frame, its mean reported; with
`compare_independent`, the same for the frames stylized one by one.
"""

import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from ..errors import NstError
from ..io import files, image_files, signals
from ..paper import temporal
from ..run.board import Board
from ..run.inputs import prepare
from . import flows, frame, record
from .frames import frame_name, read_frames, write_film
from .passes import run_passes

TEMPORAL_WEIGHT = 4e7  # lambda at 256 px, carried to a frame's longest side s by (s / 256)^2
#   as beta is (L_temporal is a mean, the content term a sum over positions); measured at
#   128 px (1e7 there, DIS flow): flicker 104 -> 24.8 against weight 0, 1219 for the frames
#   alone, at their style term (docs/guide/video.md: docs/bench/video.py --weights)
ALONE = "alone"  # the subfolder of the frames stylized alone (compare_independent)
REFUSED = {  # options of one image's run that a film's frames do not take, and why
    "scales": "each frame is one scale",
    "num_scales": "each frame is one scale",
    "save_every": "each frame is written when done",
    "preserve_colors": "luminance mode is not written for video (histogram is)",
}


class VideoResult(NamedTuple):
    frames: List[Path]  # every stylized frame written so far, in order
    info: Dict[str, Any]  # records per frame, flicker, stop, output


def stylize_video(
    frames_in: image_files.StrPath,
    style: Any,
    output: Optional[image_files.StrPath] = None,
    progress: bool = True,
    allow_download: bool = True,
    verbose: bool = False,
    start: int = 0,
    frames: Optional[int] = None,
    frame_iters: Optional[int] = None,
    temporal_weight: Optional[float] = None,
    compare_independent: bool = False,
    fps: Optional[float] = None,
    flow: str = "auto",
    long_term: bool = False,
    passes: int = 1,
    board: Optional[Board] = None,
    **options: Any,
) -> VideoResult:
    """Stylize the frames of `frames_in` (a folder of images, a GIF or a video file) with
    `style` (see the module docstring) into `output`: a folder of PNG frames, or a .gif or
    video file (its frames in <name>_frames beside it) at `fps` frames a second (default:
    the input's); default <input>_stylized beside the input, of the input's kind.
    `board` (run/board.py): the film shown as it runs, frame by frame."""
    _check(options, start, frames, frame_iters, temporal_weight, fps, passes)
    method = flows.choose(flow)
    folder, film = record.outputs(frames_in, output)
    with files.tentative_folder(folder):  # (removed again if anything below refuses)
        files.check_output(folder / record.RECORD, "record")
        src = read_frames(frames_in, start, frames)
        job = prepare(
            src.images[0].astype(np.float32), style, None, None, None, dict(options, num_scales=1),
            allow_download, progress, verbose,
        )  # fmt: skip
        if job.plan.tile_rows:
            raise NstError(
                "frames this large need strips, which the temporal term does not take; lower --size"
            )
    tm = _temporal(job, frame_iters, temporal_weight, method, long_term)
    said = _said(job, frames_in, style, start, tm, passes)
    records = record.resume(folder, said)
    paths = [folder / frame_name(start + k + 1) for k in range(len(src.images))]
    memo: Dict = {}
    _show(board, job, paths, len(records))
    with signals.StopFlag() as flag:
        stop = _film(job, src, paths, records, memo, tm, (flag, board), progress, folder, said)
        if passes > 1 and stop != "interrupted":  # (passes 2..: every frame of a pass in one batch)
            book = record.passes_record(folder, said, records, len(paths))
            stop = run_passes(job, src, paths, book, memo, tm, passes, (flag, board), progress, folder)
            records = book.get("frames", [])
        independent = {}  # (with compare_independent: the frames stylized one by one, their flicker)
        if compare_independent:
            alone = _independent(job, src, paths, memo, tm, (flag, board)) if stop != "interrupted" else []
            independent = dict(independent_flicker=_mean(alone), independent_style=_mean(alone, "style"))
    done = [p for p in paths if p.exists()][: len(records)]
    if film is not None and stop != "interrupted" and len(done) == len(paths):
        write_film(film, done, src.durations, fps)
    info = dict(stop=stop, signal=flag.name, output=str(film or folder), fps=fps or src.fps, frames=records)
    _show_end(board, film, done, paths, flag.name)
    return VideoResult(done, dict(info, flicker=_mean(records), style=_mean(records, "style"), **independent))


def _temporal(job, frame_iters, temporal_weight, method, long_term) -> frame.Temporal:
    """The temporal term's weight, a later frame's steps (--frame-iters, default half of
    --iters), the flow, and the frames each is held to."""
    later = job.settings.steps(0)
    later = later._replace(iters=later.iters // 2 if frame_iters is None else frame_iters)
    return frame.Temporal(
        _weight(job, temporal_weight), later, method, flows.LONG_TERM if long_term else (1,)
    )


def _show(board: Optional[Board], job, paths: List[Path], done: int) -> None:
    """The film on a board (--web): the plan, each frame's entry, the ones done before."""
    if board is not None:
        board.planned(job.describe())
        board.items([p.name for p in paths], ["done" if k < done else "pending" for k in range(len(paths))])
        for p in paths[:done]:
            board.item(p.name, "done", p)


def _show_end(board: Optional[Board], film: Optional[Path], done: List[Path], paths, signal) -> None:
    if board is not None:
        wrote = files.show(film) if film is not None and len(done) == len(paths) else f"{len(done)} frames"
        board.end("interrupted" if signal else "done", f"{len(done)} of {len(paths)} frames; wrote {wrote}")


def _said(job, frames_in, style, start: int, tm: frame.Temporal, passes: int) -> Dict:
    """The options of the film, as its record keeps them: what a rerun must match."""
    styles = [str(s) for s in (style if isinstance(style, (list, tuple)) else [style])]
    said = dict(job.settings.to_dict(), weights=str(job.weights), input=str(frames_in), start=start)
    said.update(style=styles, temporal_weight=tm.weight, frame_iters=tm.steps.iters, flow=tm.flow)
    return dict(said, long_term=len(tm.frames) > 1, passes=passes)


def _weight(job, given: Optional[float]) -> float:
    """lambda: as given, else TEMPORAL_WEIGHT carried from 256 px to the frame's side."""
    return TEMPORAL_WEIGHT * (job.settings.sides[-1] / 256) ** 2 if given is None else float(given)


def _check(options, start, frames, frame_iters, temporal_weight, fps, passes) -> None:
    for name, why in REFUSED.items():
        value = options.get(name)
        if value and not (name == "preserve_colors" and value == "histogram") and value != 1:
            raise NstError(f"--{name.replace('_', '-')} is not for video ({why}); leave it out")
    if start < 0 or (frames is not None and frames < 1) or (frame_iters is not None and frame_iters < 0):
        raise NstError("--start must be >= 0, --frames >= 1 and --frame-iters >= 0; e.g. --frames 10")
    if temporal_weight is not None and not (np.isfinite(temporal_weight) and temporal_weight >= 0):
        raise NstError(f"--temporal-weight must be a number >= 0, got {temporal_weight}; e.g. 1e3")
    if fps is not None and not (np.isfinite(fps) and 0 < fps <= 1000):
        raise NstError(f"--fps must be a number of frames a second in (0, 1000], got {fps}; e.g. 25")
    if options.get("tile") not in (None, "auto", "off"):
        raise NstError("--tile is not for video (the temporal term is not evaluated in strips); leave it out")
    if passes < 1:
        raise NstError(
            f"--passes must be >= 1 (1: one frame after another, the default), got {passes}; e.g. 4"
        )


def _film(job, src, paths, records, memo, tm: frame.Temporal, watching, progress, folder, said) -> str:
    """Every frame not yet written, in order, each written with its record as it ends;
    "interrupted" if a signal stopped one (not kept), else "iterations". `watching`: (the
    stop flag, the board or None)."""
    flag, board = watching
    history: List[tuple] = []  # the last max(J) frames: (as optimised, its stylized frame as written)
    for k, image in enumerate(src.images):
        f_job, scaled = frame.scaled(job, image)
        content = scaled[0]  # (the frame at the output's size, as optimised)
        if k < len(records):  # (done in an earlier run: it is where the next one starts)
            history = [*history, (content, image_files.load_image(paths[k])[0])][-max(tm.frames) :]
            continue
        t = time.perf_counter()
        if board is not None:
            board.titled(f"frame {k + 1} of {len(src.images)}: {src.names[k]}")
            board.item(paths[k].name, "running")
        out, rec = frame.run_frame(f_job, scaled, history, memo, tm, flag, board)
        if out is None:  # (interrupted: this frame is not kept)
            return "interrupted"
        files.write_kept([("a frame", paths[k], image_files.image_writer(paths[k], out))])
        if board is not None:
            board.item(paths[k].name, "done", out)
        records.append(
            dict(rec, frame=src.names[k], file=paths[k].name, seconds=round(time.perf_counter() - t, 3))
        )
        files.write_kept(
            [("the record", folder / record.RECORD, files.json_writer(dict(said, frames=records)))]
        )
        if progress:
            print(_line(k, len(src.images), records[-1]), flush=True)
        history = [*history, (content, out.astype(np.float32))][-max(tm.frames) :]
    return "iterations"


def _independent(job, src, paths, memo, tm: frame.Temporal, watching) -> List[Dict]:
    """The same frames stylized one by one, as the single-image command would (no temporal
    term, each from its content, --iters each), written to OUTDIR/alone/ to look at: each
    later frame's flicker and style term, what ours compares with."""
    flag, board = watching
    records, last, alone = [], None, frame.Temporal(0.0, tm.steps, tm.flow, tm.frames)
    (paths[0].parent / ALONE).mkdir(exist_ok=True)
    for k, (image, path) in enumerate(zip(src.images, paths)):
        f_job, scaled = frame.scaled(job, image)
        content = scaled[0]
        if board is not None:
            board.titled(f"frame {k + 1} of {len(paths)} alone (--compare-independent)")
        out, rec = frame.run_frame(f_job, scaled, [], memo, alone, flag, board)
        if out is None:
            break
        mine = path.parent / ALONE / path.name
        files.write_kept([("a frame stylized alone", mine, image_files.image_writer(mine, out))])
        if last is not None:
            warped, _, c = flows.references([last], content, (1,), tm.flow)
            flicker = float(temporal.warping_error(out.astype(np.float32), warped[0], c))
            records.append(dict(flicker=flicker, terms=rec["terms"]))
        last = (content, out.astype(np.float32))
    return records


def _mean(records: List[Dict], term: str = "") -> Optional[float]:
    """The mean flicker (or unweighted `term`) of the frames after the first."""
    values = [r["terms"][term] if term else r["flicker"] for r in records if "flicker" in r]
    return float(np.mean(values)) if values else None


def _line(k: int, n: int, r: Dict) -> str:
    flicker = f", flicker {r['flicker']:.1f}" if "flicker" in r else ""
    return f"frame {k + 1}/{n}: {r['iterations']} iterations, {r['seconds']:.1f} s{flicker}"
