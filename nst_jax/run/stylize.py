"""Style transfer end to end: two images in, one stylized image and its loss history out.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks"
(CVPR 2016), Sec. 2.3: start from an image (the content photo by default), compute the
targets once (content features P^l, style Grams A^l), then minimise
alpha L_content + beta L_style + t L_tv over the pixels. In code:

    job = prepare(...)                   # inputs.py: checks, images, weights, the plan
    for each scale:                      # one, unless coarse to fine
        targets, starting image          # this file
        loop.run(problem, ...)           # loop.py: the optimiser's iterations
    finish: the image, its history and summary; the writes

Coarse to fine (`scales` / `num_scales`; Gatys et al. 2017, "Controlling Perceptual
Factors in Neural Style Transfer", Sec. 5): optimise at a small size, where an
evaluation is cheap and the large structures settle, then upsample the result as the
next scale's starting image (`upsample`); targets are recomputed at each size, and a
coarse scale's content and TV weights are scaled by the pixel ratio so that it aims at
the final content/style balance. The history is one list, seconds and evaluations
counted from the start.

Colours (`preserve_colors`, color.py), several styles blended or in regions
(`style_masks`: the guided Gram loss of losses.py, Gatys et al. 2017, Sec. 4.1),
`normalize_weights` (normalize.py) and `ema` (loop.py) are options of the same run. With a
log, the result's size-free score (score.py) is logged too, as `summary.score`.
"""

import dataclasses
import hashlib
import warnings
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from ..fast import tiles
from ..io import files, image_files, signals
from ..optimizers.optim import Problem
from ..paper import color
from ..paper import image as im
from ..paper.losses import TERMS, Loss, Targets, blend_targets, content_targets, region_targets, style_targets
from . import loop
from .inputs import HW, Images, Job, prepare
from .monitor import Monitor, log_writer
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
    file, which the NstError then raised names.
    """
    job = prepare(content, style, output, log, style_masks, options, allow_download, progress, verbose)
    history: List[Dict[str, float]] = []
    totals = dict(seconds=0.0, compile_seconds=0.0, evaluations=0, iterations=0)
    x_rgb, previous, stop = None, None, "iterations"
    with signals.StopFlag() as flag:  # a signal from here on: the result so far is written
        for k, (side, hw) in enumerate(zip(job.cfg.sizes(), job.hws)):
            content_rgb, colors, styles = scale_images(job, side, hw)
            if x_rgb is None:
                start = start_image(job, content_rgb, styles[0], hw)
            else:  # coarse to fine: from the last scale's result
                start = upsample(x_rgb, previous, content_rgb, job.cfg.init == "content")
            problem, aux = scale_problem(job, content_rgb, styles, hw)
            with _monitor(job, k, colors, progress, flag) as monitor:
                outcome = loop.run(problem, aux, im.preprocess(start), monitor.cfg, job.plan.loop, monitor)
            totals = _add_scale(history, totals, k, monitor, outcome)
            x_rgb, previous, stop = im.deprocess(outcome.x), content_rgb, outcome.stop
            stop = "interrupted" if flag.set and stop != "nonfinite" else stop  # (also between scales)
            if stop in ("nonfinite", "interrupted"):
                break  # (at a coarse scale: the result so far, upsampled to the output's size)
        assert x_rgb is not None  # every run has one scale or more
        return _finish(job, im.resize(x_rgb, *job.hws[-1]), stop, flag, history, totals)


def _monitor(job: Job, k: int, colors, progress: bool, flag: signals.StopFlag) -> Monitor:
    """What watches scale k: its iterations, the output's intermediate images (at the
    last scale only), the colours put back for them."""
    iters = job.cfg.iterations()[k]
    cfg = dataclasses.replace(job.cfg, iters=iters, size=job.cfg.sizes()[k])
    output = job.output if k == len(job.hws) - 1 else None
    to_rgb = lambda x: _to_rgb(job, x, colors)
    return Monitor(cfg, output, _alpha(job, job.hws[k]), progress, to_rgb, flag)


def _add_scale(history, totals, k: int, monitor: Monitor, outcome: loop.Outcome) -> Dict[str, Any]:
    """Scale k's rows into the one history, seconds and evaluations counted from the
    start; the totals with this scale's added."""
    for h in monitor.history:
        seconds = round(h["seconds"] + totals["seconds"], 4)
        history.append(
            dict(h, scale=k, seconds=seconds, evaluations=h["evaluations"] + totals["evaluations"])
        )
    return dict(
        seconds=totals["seconds"] + monitor.elapsed(),
        compile_seconds=totals["compile_seconds"] + monitor.compile_seconds,
        evaluations=totals["evaluations"] + outcome.evaluations,
        iterations=totals["iterations"] + outcome.iterations,
    )


def scale_images(job: Job, side: int, hw: HW):
    """(content as optimised, content's colours, styles) at one scale: as loaded, resized;
    in luminance mode all gray (the colours put back at the end), in histogram mode the
    styles recoloured to the content's colours (color.py)."""
    content = im.resize(job.content, *hw)
    styles = [im.resize(s, *s_hw) for s, s_hw in zip(job.styles, job.style_hws(side))]
    if job.cfg.preserve_colors == "histogram":
        return content, content, [color.match_colors(s, content) for s in styles]
    if job.cfg.preserve_colors == "luminance":
        return (
            color.luminance_inputs(content, content)[0],
            content,
            [color.luminance_inputs(content, s)[1] for s in styles],
        )
    return content, content, styles


def scale_problem(job: Job, content_rgb, styles, hw: HW, memo: Optional[Dict] = None):
    """(Problem, aux) of one scale: the targets (each style's, blended or in regions)
    and the objective, whose content and TV weights keep the final balance: they are
    sums over positions, the Gatys-normalised style loss is not, so a coarse scale
    weights them by the pixel ratio instead of being 4x more stylized at half the size.
    `memo`: a dict that keeps each style's targets for the next image of the same size
    (a batch: one style's targets computed once, not once per photo)."""
    ob, ops, rows = job.objective, job.plan.ops, job.plan.tile_rows
    c = im.preprocess(content_rgb)
    if rows:  # (in strips when the plan tiles the evaluation: the same targets)
        each = [tiles.targets(job.params, ob, ops, rows, c, im.preprocess(s)) for s in styles]
    else:
        content = content_targets(job.params, c, ob, ops)  # P^l, once for every style
        each = [Targets(content, _style_targets(job, im.preprocess(s), c.shape[:2], memo)) for s in styles]
    targets = (
        blend_targets(each, job.blend, ob)
        if job.masks is None
        else region_targets(each, job.blend, im.resize(job.masks, *hw, clip=False).clip(0, 1), ob)
    )
    ratio = (job.hws[-1][0] * job.hws[-1][1]) / (hw[0] * hw[1])
    ob = dataclasses.replace(ob, content_weight=ob.content_weight * ratio, tv_weight=ob.tv_weight * ratio)
    evaluate = tiles.value_and_grad(ob, ops, rows) if rows else None  # (strips: the plan's choice)
    return Problem(Loss(ob, ops, job.plan.loss_terms), TERMS, *im.PIXEL_BOX, evaluate), (job.params, targets)


def _style_targets(job: Job, style_x: np.ndarray, hw: HW, memo: Optional[Dict]):
    """A^l of one preprocessed style image for an output of `hw`, from `memo` when the
    same pixels were seen at the same sizes (keyed on their digest: a style recoloured
    for each photo is another image)."""
    key = (hashlib.sha256(style_x.tobytes()).hexdigest(), style_x.shape, hw, job.objective, job.plan.ops)
    if memo is not None and key in memo:
        return memo[key]
    a = style_targets(job.params, style_x, hw, job.objective, job.plan.ops)
    if memo is not None:
        memo[key] = a
    return a


def start_image(job: Job, content_rgb, style_rgb, hw: HW) -> np.ndarray:
    """The first scale's starting image (RGB 0..255): the content, noise, the style, or a file."""
    cfg = job.cfg
    if cfg.init == "content":
        return content_rgb
    if cfg.init == "noise":  # uniform white noise over 0..255
        return np.random.default_rng(cfg.seed).uniform(0, 255, (*hw, 3)).astype(np.float32)
    if cfg.init == "style":
        return im.resize(style_rgb, *hw)
    return im.resize(image_files.load_image(cfg.init)[0], *hw)


def upsample(x_rgb, coarse_content, content_rgb, residual: bool) -> np.ndarray:
    """The next scale's starting image. From a content init, the content at the new size
    plus the upsampled change the coarse scales made, x' = p' + up(x - p): the photo's fine
    detail, which no coarse image holds, is kept (plain upsampling blurs it away: the
    512 px stage then started at a loss of 1.04e11 instead of 6.7e10, README). Otherwise:
    up(x)."""
    height, width = content_rgb.shape[:2]
    if not residual:
        return im.resize(x_rgb, height, width)
    change = im.resize(x_rgb - coarse_content, height, width, clip=False)  # (h, w, 3) -> (H, W, 3)
    return np.clip(content_rgb + change, 0, 255)


def _to_rgb(job: Job, x, colors) -> np.ndarray:
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
        "style_sizes": [[w, h] for h, w in job.style_hws(job.cfg.sizes()[-1])],
        "style_blend": list(job.blend),
        "style_masks": job.mask_names,
        "estimated_memory": job.estimated_memory,
        "plan": job.plan.to_dict(),
        "objective": dataclasses.asdict(job.objective),  # the layers and weights the run used
        "config": dict(dataclasses.asdict(job.cfg), model=job.model, weights=str(job.weights)),
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
