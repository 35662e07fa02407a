"""Style transfer end to end: two images in, one stylized image and its loss history out.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks"
(CVPR 2016), Sec. 2.3. In code:

    job = prepare(...)                   # inputs.py: checks, images, weights, the plan
    run_scales([job], ...)               # scales.py: per scale the targets, the start and
                                         #   loop.run (loop.py: the optimiser's iterations)
    finish: the image, its history and summary; the writes

A batch (batches/batch.py) runs its images through the same `run_scales`. Colours
(`preserve_colors`, color.py), several styles blended or in regions (`style_masks`: the
guided Gram loss of losses.py, Gatys et al. 2017, Sec. 4.1), `normalize_weights`
(normalize.py) and `ema` (optimizers/average.py) are options of the same run. With a log, the result's
size-free score (score.py) is logged too, as `summary.score`.
"""

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from ..io import files, image_files, signals
from ..paper import color
from ..paper import image as im
from .board import Board, scales_of
from .inputs import HW, Images, Job, prepare
from .monitor import Monitor, log_writer
from .scales import run_scales
from .score import ANALYSIS_SIZE, score


class Result(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8 RGB, or (H, W, 4) RGBA when the content had alpha
    history: List[Dict[str, float]]  # one record per iteration, see monitor.record
    info: Dict[str, Any]  # stop reason, model, weights path, sizes, timings, plan, config


def stylize(
    content: image_files.ImageLike,
    style: Images,
    output: Optional[image_files.StrPath] = None,
    log: Optional[image_files.StrPath] = None,
    progress: bool = True,
    allow_download: bool = True,
    style_masks: Optional[Images] = None,
    verbose: bool = False,
    board: Optional[Board] = None,
    **options: Any,
) -> Result:
    """Stylize `content` (path, PIL image or array) with `style` (one image, or a list
    blended by the `style_blend` weights); see Config for options.

    `style_masks`: one grayscale image per style (path, PIL image or array, the content's
    shape), white where that style applies: each style in its region instead of a blend;
    `style_blend` then gives each region's strength (default 1 each, not normalised).

    Returns Result(image, history, info). With `output`, writes the image there
    (atomically) and, with save_every, intermediate images beside it; with `log`, writes
    the JSON log; `verbose` prints the plan (fast/plan.py). A non-finite loss stops the
    run and keeps the last finite image, if any (info['stop'] == 'nonfinite'). Ctrl-C or
    SIGTERM, from the first scale to the last write, stops it after the current chunk and
    writes the result so far ('interrupted'; info['signal'] names it). info['wrote'] lists
    the files written; a write that fails at the end (a full disk) is kept in a fallback
    file, which the NstError then raised names. `board` (board.py): the run shown as it
    runs, its Stop (`board.ask_stop()`) doing what Ctrl-C does.
    """
    job = prepare(content, style, output, log, style_masks, options, allow_download, progress, verbose)
    if board is not None:
        board.planned(job.describe())
        board.start(_title(content, style), scales_of(job))
    with signals.StopFlag() as flag:  # a signal from here on: the result so far is written
        watch = lambda k, cfg, colors: _monitor(job, k, cfg, colors, progress, flag, board)
        r = run_scales([job], job.params, watch)
        totals = dict(
            seconds=r.seconds,
            compile_seconds=r.compile_seconds,
            evaluations=r.evaluations[0],
            iterations=r.iterations[0],
        )  # (at a coarse scale: the result so far, upsampled to the output's size)
        result = _finish(job, im.resize(r.xs[0], *job.hws[-1]), r.stops[0], flag, r.histories[0], totals)
    if board is not None:
        board.end(*_ending(result), image=result.image)
    return result


def _monitor(job: Job, k: int, cfg, colors, progress: bool, flag: signals.StopFlag, board) -> Monitor:
    """What watches scale k (options `cfg`): its iterations, the output's intermediate
    images (at the last scale only), the colours put back for them, the board."""
    output = job.output if k == len(job.hws) - 1 else None
    to_rgb = lambda x: as_shown(job, x, colors)
    if board is not None:
        board.scale(k)
    return Monitor(cfg, output, _alpha(job, job.hws[k]), progress, to_rgb, flag, board=board)


def _title(content, style) -> str:
    """'photo.jpg in the style of painting.jpg' (arrays: "an image")."""
    name = lambda v: Path(v).name if isinstance(v, (str, Path)) else "an image"
    styles = style if isinstance(style, (list, tuple)) else [style]
    return f"{name(content)} in the style of {' + '.join(name(s) for s in styles)}"


def _ending(r: Result) -> Tuple[str, str]:
    """(the board's status, its line) at the end of a run."""
    i = r.info
    wrote = " and ".join(files.show(w) for w in i["wrote"]) or "nothing"
    line = f"{i['iterations']} iterations in {i['seconds']:.1f} s; wrote {wrote}"
    if i["stop"] == "nonfinite":
        return "failed", f"the loss became NaN or infinite; {line}"
    return ("interrupted", f"stopped by {i['signal']}; {line}") if i["signal"] else ("done", line)


def as_shown(job: Job, x, colors) -> np.ndarray:
    """The optimised image (preprocessed) as RGB 0..255 as shown, colours put back."""
    rgb = im.deprocess(np.asarray(x))
    return color.recombine(rgb, colors) if job.cfg.preserve_colors == "luminance" else rgb


def _alpha(job: Job, hw: HW):
    return None if job.alpha is None else im.resize(job.alpha[..., None], *hw)[..., 0]


def _score(job: Job, image: np.ndarray) -> Dict[str, Any]:
    """The result's size-free score (score.py): its terms at the analysis size (at its own
    size when smaller: an upsampled image has no more to say)."""
    blend = job.blend if job.masks is None else None  # regions: scored against the even blend
    rgb = image[..., :3].astype(np.float32)  # the image as written
    side = min(ANALYSIS_SIZE, max(image.shape[:2]))
    s = score(job.params, job.objective, rgb, job.content, job.styles, blend, side, *job.plan_ops())
    return dict(s, analysis_size=side)


def output_image(job: Job, x_rgb: np.ndarray) -> np.ndarray:
    """The image written: (H, W, 3|4) uint8, the content's colours (luminance mode) and
    alpha channel put back."""
    hw = job.hws[-1]
    rgb = (
        color.recombine(x_rgb, im.resize(job.content, *hw))
        if job.cfg.preserve_colors == "luminance"
        else x_rgb
    )
    return im.to_uint8(rgb, _alpha(job, hw))


def _finish(job: Job, x_rgb, stop: str, flag: signals.StopFlag, history, totals) -> Result:
    """The output image (the alpha channel back on), the summary, and the writes."""
    hw = job.hws[-1]
    image = output_image(job, x_rgb)
    info = {
        "stop": stop,
        "signal": flag.name,  # the signal that stopped it: SIGINT (Ctrl-C), SIGTERM, or None
        "model": job.model,
        "weights": str(job.weights),
        **totals,
        "size": [hw[1], hw[0]],
        "scales": [[w, h] for h, w in job.hws],
        "style_sizes": [[w, h] for h, w in job.style_hws(job.settings.sides[-1])],
        "style_blend": list(job.blend),
        "style_masks": job.mask_names,
        "estimated_memory": job.estimated_memory,
        "plan": job.plan.to_dict(),
        "objective": dataclasses.asdict(job.objective),  # the layers and weights the run used
        "config": dict(job.settings.to_dict(), weights=str(job.weights)),  # (options, settled)
    }
    finite = any(np.isfinite(h["total"]) for h in history)  # else not even the start's loss was
    if stop == "nonfinite":
        warnings.warn(
            f"the loss became non-finite at iteration {totals['iterations'] + 1}; kept the last "
            f"finite image (iteration {totals['iterations']})"
            if finite
            else "the loss of the starting image is not finite; no image written",
            stacklevel=2,
        )
    if job.log is not None:  # (one more compilation: only for the log)
        info["score"] = _score(job, image)
    writes: List[files.Write] = []
    if job.output is not None and finite:
        writes.append(("the image", job.output, image_files.image_writer(job.output, image)))
    if job.log is not None:
        writes.append(("the log", job.log, log_writer(info, history)))
    files.write_kept(writes)  # (a failed one is kept elsewhere and named; a signal waits)
    info["signal"] = flag.name  # (one during the writes too)
    info["wrote"] = [str(path) for _, path, _ in writes]
    return Result(image, history, info)
