"""`stylize_video`: a film's frames stylized one after another, coherent in time.

Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016), Sec. 3. The
first frame is stylized as one image is (from the content, `iters` iterations); each
later frame i (paper/temporal.py):

    b, f = flow(frame_i -> frame_i-1), flow(frame_i-1 -> frame_i)    backward and forward
    c    = consistency(f, b)                  1 where the flow can be trusted
    w    = warp(x_i-1, b)                     the last stylized frame moved into frame i
    x0   = c w + (1 - c) frame_i              the start; disoccluded pixels from the photo
    minimise L_total + lambda L_temporal(x, w, c) for `frame_iters` iterations (Eq. 7, 8)

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

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import numpy as np

from ..errors import NstError
from ..io import files, image_files, signals
from ..paper import image as im
from ..paper import temporal
from ..paper.losses import TERMS
from ..run import loop
from ..run.inputs import prepare
from ..run.monitor import Monitor
from ..run.scales import scale_images, scale_problem, scale_targets, start_image
from ..run.stylize import output_image
from .frames import frame_name, is_gif, is_video, need_av, read_frames, write_film

TEMPORAL_WEIGHT = 4e7  # lambda at 256 px, carried to a frame's longest side s by (s / 256)^2
#   as beta is (L_temporal is a mean, the content term a sum over positions); measured at
#   128 px (1e7 there): flicker 199 -> 51 for a style term 10% higher (README, Video)
RECORD = "video.json"
REFUSED = {  # options of one image's run that a film's frames do not take, and why
    "scales": "each frame is one scale",
    "num_scales": "each frame is one scale",
    "save_every": "each frame is written when done",
    "preserve_colors": "luminance mode is not written for video (histogram is)",
}


@dataclasses.dataclass(frozen=True)
class WithTemporal:
    """fun(x, (aux, (w, c))) = loss(x, aux) + weight L_temporal(x, w, c): a frame's loss
    with Ruder et al.'s term (a value: equal for every frame, compiled once)."""

    loss: Callable
    weight: float

    def __call__(self, x, aux):
        inner, (warped, c) = aux
        total, terms = self.loss(x, inner)
        t = temporal.temporal_loss(x, warped, c)  # (preprocessed x and w: the same differences)
        total = total + self.weight * t
        return total, dict(terms, total=total, temporal=t)


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
    **options: Any,
) -> VideoResult:
    """Stylize the frames of `frames_in` (a folder of images, a GIF or a video file) with
    `style` (see the module docstring) into `output`: a folder of PNG frames, or a .gif or
    video file (its frames in <name>_frames beside it) at `fps` frames a second (default:
    the input's); default <input>_stylized beside the input, of the input's kind."""
    _check(options, start, frames, frame_iters, temporal_weight, fps)
    folder, film = _outputs(frames_in, output)
    with files.tentative_folder(folder):  # (removed again if anything below refuses)
        files.check_output(folder / RECORD, "record")
        src = read_frames(frames_in, start, frames)
        job = prepare(
            src.images[0].astype(np.float32),
            style,
            None,
            None,
            None,
            dict(options, num_scales=1),
            allow_download,
            progress,
            verbose,
        )
        if job.plan.tile_rows:
            raise NstError(
                "frames this large need strips, which the temporal term does not take; lower --size"
            )
    weight, later = _weight(job, temporal_weight), job.settings.steps(0)
    later = later._replace(iters=later.iters // 2 if frame_iters is None else frame_iters)
    styles = [str(s) for s in (style if isinstance(style, (list, tuple)) else [style])]
    said = dict(
        job.settings.to_dict(), weights=str(job.weights), input=str(frames_in), start=start, style=styles
    )
    said.update(temporal_weight=weight, frame_iters=later.iters)  # (what a rerun must match)
    records = _resume(folder, said)
    paths = [folder / frame_name(start + k + 1) for k in range(len(src.images))]
    memo: Dict = {}
    with signals.StopFlag() as flag:
        stop = _film(job, src, paths, records, memo, weight, later, flag, progress, folder, said)
        independent = {}  # (with compare_independent: the frames stylized one by one, their flicker)
        if compare_independent:
            alone = _independent(job, src.images, memo, flag) if stop != "interrupted" else []
            independent = dict(independent_flicker=_mean(alone), independent_style=_mean(alone, "style"))
    done = [p for p in paths if p.exists()][: len(records)]
    if film is not None and stop != "interrupted" and len(done) == len(paths):
        write_film(film, done, src.durations, fps)
    info = dict(stop=stop, signal=flag.name, output=str(film or folder), fps=fps or src.fps, frames=records)
    return VideoResult(done, dict(info, flicker=_mean(records), style=_mean(records, "style"), **independent))


def _weight(job, given: Optional[float]) -> float:
    """lambda: as given, else TEMPORAL_WEIGHT carried from 256 px to the frame's side."""
    return TEMPORAL_WEIGHT * (job.settings.sides[-1] / 256) ** 2 if given is None else float(given)


def _check(options, start, frames, frame_iters, temporal_weight, fps) -> None:
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


def _film(job, src, paths, records, memo, weight, later, flag, progress, folder, said) -> str:
    """Every frame not yet written, in order, each written with its record as it ends;
    "interrupted" if a signal stopped one (not kept), else "iterations"."""
    previous: Optional[tuple] = None  # (the last frame as optimised, its stylized frame as written)
    for k, image in enumerate(src.images):
        steps = later if previous is not None else job.settings.steps(0)
        f_job, scaled = _scaled(job, image)
        content = scaled[0]  # (the frame at the output's size, as optimised)
        if k < len(records):  # (done in an earlier run: it is where the next one starts)
            previous = (content, image_files.load_image(paths[k])[0])
            continue
        t = time.perf_counter()
        out, rec = _frame(f_job, scaled, previous, memo, weight, steps, flag)
        if out is None:  # (interrupted: this frame is not kept)
            return "interrupted"
        files.write_kept([("a frame", paths[k], image_files.image_writer(paths[k], out))])
        records.append(
            dict(rec, frame=src.names[k], file=paths[k].name, seconds=round(time.perf_counter() - t, 3))
        )
        files.write_kept([("the record", folder / RECORD, files.json_writer(dict(said, frames=records)))])
        if progress:
            print(_line(k, len(src.images), records[-1]), flush=True)
        previous = (content, out.astype(np.float32))
    return "iterations"


def _scaled(job, image):
    """(the frame's job, scale_images' (content, its colours, styles) at the output's size)."""
    f_job = job._replace(content=image.astype(np.float32))
    return f_job, scale_images(f_job, job.settings.sides[-1], job.hws[-1])


def _frame(job, scaled, previous, memo, weight: float, steps, flag):
    """One frame (`scaled`: from _scaled): (its 8-bit RGB image, record), or (None, {})
    when a signal stopped it."""
    hw = job.hws[-1]
    c_img, _, styles = scaled
    targets = scale_targets(job, c_img, styles, hw, memo)
    problem, aux = scale_problem(job, hw), (job.params, targets)  # type: Any, Any
    if previous is None:  # (the first frame: the same problem with c = 0, its temporal term
        x0 = start_image(job, c_img, styles[0], hw)  # 0, so one program serves every frame)
        warped, c = np.asarray(x0, np.float32), np.zeros(hw, np.float32)
    else:
        c, warped = _warped(previous, c_img)
        x0 = c[..., None] * warped + (1 - c[..., None]) * c_img  # disoccluded: from the photo
    problem = problem._replace(fun=WithTemporal(problem.fun, weight), terms=TERMS + ("temporal",))
    aux = (aux, (im.preprocess(warped), c))
    with Monitor(steps, None, None, False, lambda x: im.deprocess(np.asarray(x)), flag) as m:
        out = loop.run(problem, aux, im.preprocess(x0), job.settings.optimizer, steps, job.plan.loop, m)
    if out.stop == "interrupted":
        return None, {}
    image = output_image(job, im.deprocess(np.asarray(out.x)))  # (H, W, 3) uint8
    rec = dict(
        iterations=int(out.iterations), evaluations=int(out.evaluations), stop=out.stop, terms=m.history[-1]
    )
    if previous is not None:
        rec["flicker"] = float(temporal.warping_error(image.astype(np.float32), warped, c))
        rec["consistent"] = float(np.mean(c))  # the share of pixels the flow is trusted at
    return image, rec


def _warped(previous, content):
    """(consistency (H, W), the previous stylized frame warped into this one (H, W, 3))."""
    last_content, last_out = previous
    b, f = temporal.flow(content, last_content), temporal.flow(last_content, content)
    return np.asarray(temporal.consistency(f, b)), np.asarray(temporal.warp(last_out, b))


def _independent(job, images, memo, flag) -> List[Dict]:
    """The same frames stylized one by one, as the single-image command would (no temporal
    term, each from its content, --iters each): each later frame's flicker and style term,
    what ours compares with."""
    records, last = [], None
    for image in images:
        f_job, scaled = _scaled(job, image)
        content = scaled[0]
        out, rec = _frame(f_job, scaled, None, memo, 0.0, job.settings.steps(0), flag)
        if out is None:
            break
        if last is not None:
            c, warped = _warped(last, content)
            flicker = float(temporal.warping_error(out.astype(np.float32), warped, c))
            records.append(dict(flicker=flicker, terms=rec["terms"]))
        last = (content, out.astype(np.float32))
    return records


def _outputs(frames_in, output):
    """(the folder of stylized frames, the GIF or video file or None), checked before any
    work: not the input, a folder if it exists, PyAV at hand for a video."""
    src = Path(frames_in)
    kind = src.suffix if is_gif(src) or is_video(src) else ""  # (by default: what came in)
    out = Path(output) if output is not None else src.parent / f"{src.stem}_stylized{kind}"
    film = out if is_gif(out) or is_video(out) else None
    if film is not None:
        if is_video(film):
            need_av(film, "writing")
        files.check_output(film, "film", mode=None)
        out = film.parent / f"{film.stem}_frames"
    if out.exists() and not out.is_dir():
        raise NstError(
            f"{files.show(out)} is a file; give a folder (or a .gif or video file) for the stylized frames (-o)"
        )
    for mine in (film, out):
        if mine is not None and mine.resolve() == src.resolve():
            raise NstError(f"{files.show(mine)} is the input; give another -o for the stylized frames")
    return out, film


def _resume(folder: Path, said: Dict) -> List[Dict]:
    """The records of the frames an earlier run of the same command wrote (none if new)."""
    path = folder / RECORD
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    frames = old.pop("frames", [])
    if json.loads(json.dumps(said)) != old:
        raise NstError(
            f"{files.show(folder)} holds frames made with other options; give another -o, or remove it to start again"
        )
    kept = []
    for r in frames:  # (in order: the frames up to the first one missing)
        if not (folder / r["file"]).is_file():
            break
        kept.append(r)
    return kept


def _mean(records: List[Dict], term: str = "") -> Optional[float]:
    """The mean flicker (or unweighted `term`) of the frames after the first."""
    values = [r["terms"][term] if term else r["flicker"] for r in records if "flicker" in r]
    return float(np.mean(values)) if values else None


def _line(k: int, n: int, r: Dict) -> str:
    flicker = f", flicker {r['flicker']:.1f}" if "flicker" in r else ""
    return f"frame {k + 1}/{n}: {r['iterations']} iterations, {r['seconds']:.1f} s{flicker}"
