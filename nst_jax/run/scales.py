"""The scales of a run: one image, or a batch of them, from the first scale to the last.

Gatys, Ecker & Bethge (CVPR 2016), Sec. 2.3: start from an image (the content photo by
default), compute the targets once (content features P^l, style Grams A^l), then
minimise alpha L_content + beta L_style + t L_tv over the pixels. Coarse to fine
(`scales` / `num_scales`; Gatys et al. 2017, "Controlling Perceptual Factors in Neural
Style Transfer", Sec. 5): optimise at a small size, where an evaluation is cheap and the
large structures settle, then upsample the result as the next scale's starting image
(`upsample`); targets are recomputed at each size, and a coarse scale's content and TV
weights are scaled by the pixel ratio so that it aims at the final content/style balance.

    for each scale k:
        each image's targets and starting image, computed as alone   (scale_inputs)
        loop.run(problem, aux, x0, ...)       (one image; or a batch stacked over `layout`)
    each image: its result, its history, why it stopped               (Scaled)

`stylize` runs its one image through `run_scales`, `stylize_batch` each batch of images:
the same scales, targets, starts and history rules. An image's history is one list over
the scales (`scale` added), seconds and evaluations counted from the start. An image that
stops on a non-finite loss keeps its last finite result and stops there; a Ctrl-C stops
every image; the scales end when every image has stopped so.
"""

import dataclasses
import hashlib
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import jax
import numpy as np

from ..fast import mesh
from ..io import image_files
from ..optimizers.optim import Problem
from ..paper import color, octaves
from ..paper import image as im
from ..paper.losses import TERMS, Loss, Targets, blend_targets, region_targets
from . import loop
from .inputs import HW, Job
from .monitor import Monitor
from .settings import Steps

ENDED = ("nonfinite", "interrupted")  # the stops after which an image's later scales are not run


class Scaled(NamedTuple):
    """What the scales give back, one entry per image (of this process's share)."""

    xs: List[np.ndarray]  # each result, RGB 0..255 (unclipped) at the last scale it reached
    histories: List[List[Dict[str, float]]]  # each image's rows over every scale
    stops: List[str]  # why each stopped: "iterations", "interrupted", or lbfgs.STOP_REASONS
    iterations: List[int]  # each image's iterations, every scale
    evaluations: List[int]  # each image's evaluations, every scale
    seconds: float  # the optimisation's seconds, every scale (a batch's: shared by its images)
    compile_seconds: float  # the compilations' seconds, every scale


def run_scales(
    jobs: List[Job],
    params: Any,
    watch: Callable[[int, Steps, Any], Monitor],
    layout: Optional[mesh.Batch] = None,
    memo: Optional[Dict] = None,
) -> Scaled:
    """Every scale of `jobs` (one image: layout None; else this process's share of a batch
    over `layout`), with `params` (a batch's: replicated over the devices). `watch(k, steps,
    colors)` is scale k's monitor (stylize: its bar and intermediate images; a batch: the
    batch's one bar); `memo` keeps each style's targets for the next image (scale_problem)."""
    n, settings, plan = len(jobs), jobs[0].settings, jobs[0].plan
    off = 0 if layout is None else jax.process_index() * n  # this process's first image
    histories: List[List[Dict[str, float]]] = [[] for _ in jobs]
    xs: List[Any] = [None] * n
    stops, its, evals = ["iterations"] * n, [0] * n, [0] * n
    seconds = compile_seconds = 0.0
    previous: List[Any] = [None] * n  # each content as the last scale optimised it
    for k in range(len(jobs[0].hws)):
        problem, aux, x0, contents, colors = scale_inputs(jobs, k, xs, previous, params, layout, memo)
        with watch(k, settings.steps(k), colors) as monitor:
            out = loop.run(problem, aux, x0, settings.optimizer, monitor.steps, plan.loop, monitor, layout)
        rows = [monitor.rows(off + j) for j in range(n)]
        x = (
            [im.deprocess(np.asarray(out.x))]
            if layout is None
            else list(im.deprocess(mesh.local_rows(out.x)))
        )
        each = lambda v: [v] if layout is None else list(v[off : off + n])  # (a batch: per image)
        for j, (stop, it, ev) in enumerate(zip(each(out.stop), each(out.iterations), each(out.evaluations))):
            if stops[j] in ENDED:  # (stopped at an earlier scale: its result stays that one)
                continue
            histories[j] += [
                dict(
                    r,
                    scale=k,
                    seconds=round(r["seconds"] + seconds, 4),
                    evaluations=r["evaluations"] + evals[j],
                )
                for r in rows[j]
            ]
            xs[j], previous[j], stops[j] = x[j], contents[j], stop
            its[j], evals[j] = its[j] + int(it), evals[j] + int(ev)
        seconds, compile_seconds = seconds + monitor.elapsed(), compile_seconds + monitor.compile_seconds
        if monitor.stopping():  # (asked between two chunks or scales: the same in every process)
            stops = [s if s == "nonfinite" else "interrupted" for s in stops]
        if all(s in ENDED for s in (stops if layout is None else out.stop)):
            break
    return Scaled(xs, histories, stops, its, evals, seconds, compile_seconds)


def scale_inputs(jobs: List[Job], k: int, xs, previous, params, layout: Optional[mesh.Batch], memo):
    """Scale k's problem, aux and starting image(s), each image's computed as alone (a
    batch's stacked and laid over the devices); each content at this scale (the next
    one's start), and the first image's colours (what its monitor puts back)."""
    cfg, side, hw = jobs[0].cfg, jobs[0].settings.sides[k], jobs[0].hws[k]
    problem = scale_problem(jobs[0], hw)  # (a batch's images: one objective, one size)
    starts, targets, contents, colors = [], [], [], None
    for j, job in enumerate(jobs):
        content, c_colors, styles = scale_images(job, side, hw)
        colors = c_colors if j == 0 else colors
        start = (
            start_image(job, content, styles[0], hw)
            if xs[j] is None
            else upsample(xs[j], previous[j], content, cfg.init == "content")
        )
        starts.append(im.preprocess(start))
        targets.append(scale_targets(job, content, styles, hw, memo))
        contents.append(content)
    if layout is None:
        return problem, (params, targets[0]), starts[0], contents, colors
    stacked = jax.tree.map(lambda *t: np.stack([np.asarray(a) for a in t]), *targets)  # each leaf (b, ...)
    x0 = mesh.place(np.stack(starts), layout)  # (B, H, W, 3) over the devices
    return problem, (params, mesh.place(stacked, layout)), x0, contents, colors


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


def scale_problem(job: Job, hw: HW) -> Problem:
    """The Problem of the scale at (H, W) = hw: the objective, whose content and TV weights
    keep the final balance: they are sums over positions, the Gatys-normalised style loss
    is not, so a coarse scale weights them by the pixel ratio instead of being 4x more
    stylized at half the size; evaluated as the plan says (whole, or its strips); its style
    term over the scale's octaves (Job.octaves)."""
    ob, plan = job.objective, job.plan
    ratio = (job.hws[-1][0] * job.hws[-1][1]) / (hw[0] * hw[1])
    ob = dataclasses.replace(ob, content_weight=ob.content_weight * ratio, tv_weight=ob.tv_weight * ratio)
    loss, levels = Loss(ob, plan.ops, plan.loss_terms), job.octaves(hw)
    fun = loss if levels == 1 else octaves.WithOctaves(loss, levels, job.cfg.octave_weight)
    return Problem(fun, TERMS, *im.PIXEL_BOX, plan.evaluate(ob))


def scale_targets(job: Job, content_rgb, styles, hw: HW, memo: Optional[Dict] = None) -> Any:
    """One image's targets at a scale: P^l of its content, and each style's A^l, blended or
    in regions (as the plan computes them: whole or in strips); with octaves (Job.octaves),
    (targets, (T_1, ..., T_{K-1})): each of the reduced photo and styles, blended alike. `memo`: a dict that keeps
    each style's targets for the next image of the same size (a batch: one style's
    targets computed once, not once per photo)."""
    ob = job.objective
    c, xs = im.preprocess(content_rgb), [im.preprocess(s) for s in styles]
    content = job.plan.content_targets(job.params, c, ob)  # P^l, once for every style
    each = [Targets(content, _style_targets(job, s, c.shape[:2], memo)) for s in xs]
    if job.masks is not None:
        return region_targets(each, job.blend, im.resize(job.masks, *hw, clip=False).clip(0, 1), ob)
    targets, levels = blend_targets(each, job.blend, ob), job.octaves(hw)
    if levels == 1:
        return targets
    hws = [octaves.reduced_hw(hw, k) for k in range(1, levels)]
    p_k = [job.plan.content_targets(job.params, c_k, ob) for c_k in octaves.pyramid(c, levels)]  # P^l_k
    a_k = [octaves.pyramid(s, levels) for s in xs]  # each style's R^k a
    return targets, tuple(
        blend_targets(
            [Targets(p_k[k], _style_targets(job, np.asarray(a[k]), hws[k], memo)) for a in a_k], job.blend, ob
        )
        for k in range(levels - 1)
    )


def _style_targets(job: Job, style_x: np.ndarray, hw: HW, memo: Optional[Dict]):
    """A^l of one preprocessed style image for an output of `hw`, from `memo` when the
    same pixels were seen at the same sizes (keyed on their digest: a style recoloured
    for each photo is another image)."""
    key = (hashlib.sha256(style_x.tobytes()).hexdigest(), style_x.shape, hw, job.objective, job.plan)
    if memo is not None and key in memo:
        return memo[key]
    a = job.plan.style_targets(job.params, style_x, hw, job.objective)
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
    512 px stage then started at a loss of 1.04e11 instead of 6.7e10, docs/guide/command_line.md). Otherwise:
    up(x)."""
    height, width = content_rgb.shape[:2]
    if not residual:
        return im.resize(x_rgb, height, width)
    change = im.resize(x_rgb - coarse_content, height, width, clip=False)  # (h, w, 3) -> (H, W, 3)
    return np.clip(content_rgb + change, 0, 255)
