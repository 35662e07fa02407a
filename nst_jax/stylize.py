"""Style transfer end to end: two images in, one stylized image and its loss history out.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks"
(CVPR 2016), Sec. 2.3: start from an image (the content photo by default), compute the
targets once (content features P^l, style Grams A^l), then minimise
alpha L_content + beta L_style + t L_tv over the pixels.

The loop runs in jitted chunks of steps (see optim.py): Python only wakes between
chunks to update the progress bar, save intermediate images and check for Ctrl-C.
The first Ctrl-C finishes the current chunk and returns the image so far; a second one
aborts at once.

Coarse to fine (`scales` / `num_scales`; Gatys et al. 2017, "Controlling Perceptual
Factors in Neural Style Transfer", Sec. 5): optimise at a small size, where an
evaluation is cheap and the large structures settle, then upsample the result as the
next scale's starting image (`_upsample`); targets are recomputed at each size, and a
coarse scale's content and TV weights are scaled by the pixel ratio so that it aims at
the final content/style balance. The history is one list, seconds and evaluations
counted from the start.

Regions (`style_masks`): one grayscale mask per style, white where that style applies;
the style loss becomes the guided Gram loss of losses.py (Gatys et al. 2017, Sec. 4.1).
`normalize_weights` rescales VGG as Gatys did (normalize.py); `ema` returns an
exponential moving average of the iterates instead of the last one (optim.EmaState).
"""

import dataclasses
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import image as im
from . import lbfgs as lb
from . import color, optim, weights as wt
from .normalize import normalize_weights
from .errors import NstError
from .config import INITS, Config
from .losses import blend_targets, loss_terms, make_targets, region_targets
from .memory import available_memory, estimate_memory
from .monitor import Monitor, write_log
from .vgg import resolve_layer, with_winograd


class Result(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8 RGB, or (H, W, 4) RGBA when the content had alpha
    history: List[Dict[str, float]]  # one record per iteration, see monitor.record
    info: Dict[str, Any]  # stop reason, model, weights path, timings, config


def _init_image(cfg: Config, content_rgb, style_rgb, hw) -> np.ndarray:
    if cfg.init == "content":
        return content_rgb
    if cfg.init == "noise":  # uniform white noise over 0..255
        return np.random.default_rng(cfg.seed).uniform(0, 255, (*hw, 3)).astype(np.float32)
    if cfg.init == "style":
        return im.resize(style_rgb, *hw)
    if not Path(cfg.init).exists():
        raise NstError(f"--init {cfg.init!r} is neither content, noise, style nor an existing image")
    return im.resize(im.load_image(cfg.init)[0], *hw)


def stylize(content, style, output=None, log=None, progress: bool = True,
            allow_download: bool = True, style_masks=None, **options) -> Result:
    """Stylize `content` (path, PIL image or array) with `style` (one image, or a list
    blended by the `style_blend` weights); see Config for options.

    `style_masks`: one grayscale image per style (path, PIL image or array, the content's
    shape), white where that style applies: each style in its region instead of a blend;
    `style_blend` then gives each region's strength (default 1 each, not normalised).

    Returns Result(image, history, info). With `output`, writes the image there
    (atomically) and, with save_every, intermediate images beside it; with `log`, writes
    the JSON log. A non-finite loss stops the run and keeps the last finite image
    (info['stop'] == 'nonfinite'); Ctrl-C stops it after the current chunk ('interrupted').
    """
    unknown = set(options) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise NstError(f"unknown option(s) {', '.join(sorted(unknown))}; see nst_jax.Config")
    cfg = Config(**options).validate()
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NstError("no style image given")
    blend = cfg.style_blend or (1.0,) * len(styles)
    if len(blend) != len(styles):
        raise NstError(f"--style-blend has {len(blend)} weights for {len(styles)} style "
                       "images; give one weight per style image")
    masks = None if style_masks is None else (
        list(style_masks) if isinstance(style_masks, (list, tuple)) else [style_masks])
    if masks is not None and len(masks) != len(styles):
        raise NstError(f"{len(masks)} style mask(s) for {len(styles)} style image(s); give "
                       "one mask per style")
    if masks is None:  # blended: weights summing to 1, so beta keeps its meaning
        blend = tuple(b / sum(blend) for b in blend)
    inputs = [content, *styles, *(masks or [])] + ([cfg.init] if cfg.init not in INITS else [])
    if output is not None:
        output = im.check_output_path(output, inputs)
    if log is not None:
        log = Path(log)
        if log.suffix.lower() != ".json":
            raise NstError(f"log file {log} should end in .json")
        im.check_output_path(log.with_suffix(".png"), inputs)  # folder exists and is writable

    content_full, alpha_full = im.load_image(content)
    styles_full = [im.load_image(s)[0] for s in styles]
    masks_full = None if masks is None else np.stack(
        [im.load_mask(m, content_full.shape[:2]) for m in masks], axis=-1)  # (H0, W0, R) in 0..1
    sizes = cfg.sizes()
    hw = im.fit_size(*content_full.shape[:2], sizes[-1])
    hws = [im.fit_size(*content_full.shape[:2], side) for side in sizes]

    def style_hws(side):  # each style image's (h, w) when the output's longest side is `side`
        s_side = cfg.style_size or (round(cfg.style_scale * side) if cfg.style_scale else side)
        return [im.fit_size(*s.shape[:2], s_side) for s in styles_full]
    final_style_hws = style_hws(sizes[-1])
    if alpha_full is not None and output is not None and output.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        raise NstError(f"the content image has an alpha channel that {output.suffix} cannot "
                       "store; write a .png")
    # Resolve names early, with the model named by --model or the default, for quick errors.
    for n in cfg.content_layers + cfg.style_layers:
        resolve_layer(cfg.model or "vgg19", n)

    model, params, weights_path = wt.resolve(cfg.weights, cfg.model, allow_download, progress)
    objective = cfg.objective(model)
    if cfg.normalize_weights:  # mean activation 1 per filter over normalize.py's reference set
        params, _ = normalize_weights(params, model, cfg.pooling)
    params = with_winograd(params, model, cfg.conv, cfg.precision, objective.layers,
                           pixels=max(h * w for h, w in hws))  # the images optimised
    need = estimate_memory(objective, hw, max(final_style_hws, key=lambda h_w: h_w[0] * h_w[1]),
                           cfg.lbfgs_memory, "winograd" in params)
    have = available_memory()
    if need > have:
        raise NstError(f"a {hw[1]}x{hw[0]} run needs about {need / 2**30:.1f} GiB but "
                       f"{have / 2**30:.1f} GiB is available; lower --size"
                       + ("" if cfg.remat else " or add --remat"))
    if progress:
        print(f"{model} {hw[1]}x{hw[0]}: estimated peak memory {need / 2**30:.1f} GiB "
              f"({have / 2**30:.1f} GiB available)", file=sys.stderr, flush=True)
    params = jax.tree.map(jnp.asarray, params)

    iters = cfg.scale_iters or (cfg.iters,) * len(sizes)
    history, stop = [], "iterations"
    x_rgb = previous_content = None  # the last scale's result and its content image
    totals = dict(seconds=0.0, compile=0.0, evaluations=0, iterations=0)
    for k, (side, s_hw) in enumerate(zip(sizes, hws)):
        last = k == len(sizes) - 1
        content_rgb = im.resize(content_full, *s_hw)
        style_rgbs = [im.resize(s, *h_w) for s, h_w in zip(styles_full, style_hws(side))]
        content_colors = content_rgb  # what luminance-only transfer puts back at the end
        if cfg.preserve_colors == "histogram":  # the styles recoloured to the content's colours
            style_rgbs = [color.match_colors(s, content_rgb) for s in style_rgbs]
        elif cfg.preserve_colors == "luminance":  # all as gray images, style luminance matched
            style_rgbs = [color.luminance_inputs(content_rgb, s)[1] for s in style_rgbs]
            content_rgb = color.luminance_inputs(content_rgb, content_rgb)[0]
        start = _init_image(cfg, content_rgb, style_rgbs[0], s_hw) if x_rgb is None else \
            _upsample(x_rgb, previous_content, content_rgb, cfg.init == "content")
        previous_content = content_rgb
        # Content and TV losses are sums over positions, the Gatys-normalised style loss is
        # not: weighted by the pixel ratio, a coarse scale keeps the final content/style
        # balance instead of a 4x more stylized one at half the size
        ratio = (hw[0] * hw[1]) / (s_hw[0] * s_hw[1])
        scale_objective = dataclasses.replace(objective, content_weight=objective.content_weight * ratio,
                                              tv_weight=objective.tv_weight * ratio)
        each = [make_targets(params, objective, im.preprocess(content_rgb), im.preprocess(s))
                for s in style_rgbs]
        targets = blend_targets(each, blend) if masks_full is None else region_targets(
            each, blend, im.resize(masks_full, *s_hw, clip=False).clip(0, 1), objective)

        def to_rgb(x, colors=content_colors):  # optimised image -> RGB 0..255, as shown
            rgb = im.deprocess(np.asarray(x))
            return color.recombine(rgb, colors) if cfg.preserve_colors == "luminance" else rgb
        def loss_fn(x, aux, objective=scale_objective):  # (image, (params, targets)) -> (total, terms)
            terms = loss_terms(aux[0], aux[1], x, objective)
            return terms["total"], terms
        scale_cfg = dataclasses.replace(cfg, iters=iters[k], size=side)
        monitor = Monitor(scale_cfg, output if last else None, _resize_alpha(alpha_full, s_hw),
                          progress, to_rgb)
        with monitor:
            run = _run_scipy if cfg.optimizer == "scipy-lbfgsb" else _run_chunks
            x, iterations, evaluations, stop = run(loss_fn, (params, targets),
                                                   im.preprocess(start), scale_cfg, monitor)
        x_rgb = im.deprocess(x)  # (gray in luminance mode: recombined at the very end)
        for h in monitor.history:  # one history, seconds and evaluations counted from the start
            history.append(dict(h, scale=k, seconds=round(h["seconds"] + totals["seconds"], 4),
                                evaluations=h["evaluations"] + totals["evaluations"]))
        totals = dict(seconds=totals["seconds"] + monitor.elapsed(),
                      compile=totals["compile"] + monitor.compile_seconds,
                      evaluations=totals["evaluations"] + evaluations,
                      iterations=totals["iterations"] + iterations)
        if stop in ("nonfinite", "interrupted"):
            break  # (at a coarse scale: the result so far, upsampled to the output's size)
    if x.shape[:2] != hw:  # stopped at a coarse scale
        x, content_colors = im.preprocess(im.resize(x_rgb, *hw)), im.resize(content_colors, *hw)
    image = im.to_uint8(to_rgb(x, content_colors), _resize_alpha(alpha_full, hw))
    info = {"stop": stop, "model": model, "weights": str(weights_path),
            "seconds": totals["seconds"], "compile_seconds": totals["compile"],
            "iterations": totals["iterations"], "evaluations": totals["evaluations"],
            "size": [hw[1], hw[0]], "style_size": [final_style_hws[0][1], final_style_hws[0][0]],
            "style_sizes": [[w, h] for h, w in final_style_hws], "style_blend": list(blend),
            "scales": [[w, h] for h, w in hws], "estimated_memory": need,
            "style_masks": None if masks is None else [
                str(m) if isinstance(m, (str, Path)) else "<array>" for m in masks],
            "config": dict(dataclasses.asdict(cfg), model=model, weights=str(weights_path))}
    if stop == "nonfinite":
        warnings.warn(f"the loss became non-finite at iteration {totals['iterations'] + 1}; "
                      f"kept the last finite image (iteration {totals['iterations']})")
    if output is not None:
        im.save_image(output, image)
    if log is not None:
        write_log(log, info, history)
    return Result(image, history, info)


def make_optimizer(loss_fn, cfg: Config) -> optim.Optimizer:
    if cfg.optimizer == "adam":
        return optim.adam(loss_fn, cfg.lr, cfg.chunk, cfg.loop)
    if cfg.optimizer == "lbfgs":
        return optim.lbfgs(loss_fn, cfg.lbfgs_memory, cfg.chunk, cfg.line_search, cfg.max_evals,
                           cfg.loop)
    return optim.optax_lbfgs(loss_fn, cfg.lbfgs_memory, cfg.chunk, cfg.max_evals)


def _run_chunks(loss_fn, aux, x0, cfg: Config, monitor: Monitor):
    """The jitted optimisers: one compiled call per chunk of iterations."""
    opt = make_optimizer(loss_fn, cfg)
    t = time.perf_counter()
    state = opt.init(x0, aux)  # (compiled inside; the first evaluation)
    run_chunk = opt.compile(aux, state)
    current = jax.jit(opt.current).lower(aux, state).compile()
    monitor.started(time.perf_counter() - t)
    seconds, stop = 0.0, "iterations"
    ema = optim.ema_init(x0) if cfg.ema else None  # averaged after every iteration
    shown = lambda x: x if ema is None else optim.ema_value(ema, x0)  # the image a user gets
    # Adam evaluates image k during step k: its last image's loss is one more evaluation
    limit = min(cfg.iters, cfg.max_evals - 1) if cfg.optimizer == "adam" and cfg.max_evals else cfg.iters
    while int(state.iteration) < limit:
        it = int(state.iteration)
        n = 1 if ema is not None else min(cfg.chunk, limit - it)
        if cfg.save_every:
            n = min(n, cfg.save_every - it % cfg.save_every)
        state, chunk = run_chunk(aux, state, n)
        if ema is not None and int(state.iteration) > it:
            ema = optim.ema_update(ema, state.x, cfg.ema)
        steps, elapsed = int(chunk.steps), monitor.elapsed()
        rows, evals = np.asarray(chunk.terms[:steps]), np.asarray(chunk.evaluations[:steps])
        for j in range(steps):  # time within a chunk is apportioned evenly
            monitor.add(it + j, evals[j], seconds + (elapsed - seconds) * j / steps,
                        dict(zip(optim.TERMS, rows[j])))
        seconds = elapsed
        if int(state.stop) != lb.RUNNING:
            stop = lb.STOP_REASONS[int(state.stop)]
            break
        if monitor.reached(int(state.iteration), shown(state.x)):
            stop = "interrupted"
            break
    if ema is None:
        terms, evaluations = current(aux, state)
    else:  # the last row is the loss of the image returned, the average: one more evaluation
        terms, evaluations = jax.jit(loss_fn)(shown(state.x), aux)[1], state.evaluations + 1
    monitor.add(state.iteration, evaluations, monitor.elapsed(), {k: float(v) for k, v in terms.items()})
    return np.asarray(shown(state.x)), int(state.iteration), int(evaluations), stop


def _run_scipy(loss_fn, aux, x0, cfg: Config, monitor: Monitor):
    """SciPy's L-BFGS-B, driven from Python (see optim.scipy_lbfgsb)."""
    t = time.perf_counter()
    driver = optim.scipy_lbfgsb(loss_fn, aux, x0)  # compiles the value-and-gradient
    monitor.started(time.perf_counter() - t)
    ema = [optim.ema_init(x0)] if cfg.ema else None

    def on_iterate(iteration, x):
        if ema is None:
            return monitor.reached(iteration, x)
        ema[0] = optim.ema_update(ema[0], jnp.asarray(x, jnp.float32), cfg.ema)
        return monitor.reached(iteration, optim.ema_value(ema[0], x0))
    x, iterations, evaluations, stop = driver(
        cfg.iters, cfg.lbfgs_memory, cfg.max_evals,
        on_row=lambda it, ev, terms: monitor.add(it, ev, monitor.elapsed(), terms),
        on_iterate=on_iterate)
    if ema is not None:  # the last row is the loss of the image returned: the average
        x, evaluations = np.asarray(optim.ema_value(ema[0], x0)), evaluations + 1
        terms = jax.jit(loss_fn)(jnp.asarray(x), aux)[1]
        monitor.add(iterations, evaluations, monitor.elapsed(), {k: float(v) for k, v in terms.items()})
    return x, iterations, evaluations, ("interrupted" if monitor.flag.set else stop)


def _upsample(x_rgb, coarse_content, content_rgb, residual: bool) -> np.ndarray:
    """The next scale's starting image. From a content init, the content at the new size
    plus the upsampled change the coarse scales made, x' = p' + up(x - p): the photo's fine
    detail, which no coarse image holds, is kept (plain upsampling blurs it away: the
    512 px stage then started at a loss of 1.04e11 instead of 6.7e10, README). Otherwise:
    up(x)."""
    hw = content_rgb.shape[:2]
    if not residual:
        return im.resize(x_rgb, *hw)
    change = im.resize(x_rgb - coarse_content, *hw, clip=False)  # (h, w, 3) -> (H, W, 3)
    return np.clip(content_rgb + change, 0, 255)


def _resize_alpha(alpha, hw):
    return None if alpha is None else im.resize(alpha[..., None], *hw)[..., 0]
