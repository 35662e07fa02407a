"""Style transfer end to end: two images in, one stylized image and its loss history out.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks"
(CVPR 2016), Sec. 2.3: start from an image (the content photo by default), compute the
targets once (content features P^l, style Grams A^l), then minimise
alpha L_content + beta L_style + t L_tv over the pixels.

The loop runs in jitted chunks of steps (see optim.py): Python only wakes between
chunks to update the progress bar, save intermediate images and check for Ctrl-C.
The first Ctrl-C finishes the current chunk and returns the image so far; a second one
aborts at once.
"""

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import image as im
from . import lbfgs as lb
from . import color, optim, weights as wt
from .errors import NstError
from .losses import Objective, blend_targets, loss_terms, make_targets
from .monitor import Monitor, write_log
from .vgg import activation_elements, conv_layers, resolve_layer

OPTIMIZERS = ("lbfgs", "adam", "optax-lbfgs", "scipy-lbfgsb")
INITS = ("content", "noise", "style")


@dataclass(frozen=True)
class Config:
    """Every option of a run; the command line maps one flag to each field."""
    size: int = 256  # longest side of the output in pixels (aspect ratio kept)
    style_size: Optional[int] = None  # longest side of the style image(s); None: same as size
    style_scale: Optional[float] = None  # or: style's longest side = style_scale * size
    style_blend: Optional[Tuple[float, ...]] = None  # one weight per style image; None: equal
    iters: int = 200  # optimisation steps (Adam at lr 5: within ~20% of its 200-step loss by 100)
    optimizer: str = "lbfgs"  # one of OPTIMIZERS
    lr: float = 5.0  # Adam's step size, in pixel units (0..255)
    lbfgs_memory: int = 10  # (s, y) pairs kept by the L-BFGS optimisers (SciPy's default)
    line_search: str = "wolfe"  # our L-BFGS's line search: "wolfe" or "armijo"
    max_evals: int = 0  # stop after this many loss-and-gradient evaluations (0: no limit)
    content_weight: float = 1.0  # alpha, Eq. 7
    style_weight: float = 3e2  # beta, Eq. 7 (chosen by a sweep with L-BFGS, README)
    tv_weight: float = 0.0  # weight of total variation on the 0..255 image (Gatys: none)
    content_layers: Tuple[str, ...] = ("relu4_2",)  # Gatys et al. 2016, Sec. 3
    content_layer_weights: Optional[Tuple[float, ...]] = None  # None: 1 each
    style_layers: Tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: Optional[Tuple[float, ...]] = None  # w_l; None: equal, summing to 1
    pooling: str = "max"  # "max" (as trained) or "avg" (Gatys' choice)
    model: Optional[str] = None  # "vgg16" | "vgg19"; None: whatever the weights file holds
    weights: Optional[str] = None  # weights file; None: the lookup of weights.find_weights
    init: str = "content"  # "content" | "noise" | "style" | path of an image
    preserve_colors: Optional[str] = None  # None | "luminance" | "histogram" (color.py)
    seed: int = 0  # seeds the noise init: same seed, same result
    save_every: int = 0  # write an intermediate image every N iterations (0: never)
    chunk: int = 10  # iterations between Python's looks (progress, saves, Ctrl-C)
    loop: str = "auto"  # "device": a chunk is one compiled loop; "host": one compiled call
    #                     per step; "auto": host on CPU (3x faster there, see optim.py)

    def validate(self) -> "Config":
        for name in ("size", "iters", "save_every", "seed", "max_evals"):
            if getattr(self, name) < 0:
                raise NstError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.style_size is not None and self.style_size < 1:
            raise NstError(f"--style-size must be positive, got {self.style_size}")
        if self.style_scale is not None:
            if not (math.isfinite(self.style_scale) and self.style_scale > 0):
                raise NstError(f"--style-scale must be a positive number, got {self.style_scale}")
            if self.style_size is not None:
                raise NstError("give --style-size or --style-scale, not both")
        if self.chunk < 1:
            raise NstError(f"chunk must be >= 1, got {self.chunk}")
        for name in ("lr", "content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise NstError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v}")
        if self.optimizer not in OPTIMIZERS:
            raise NstError(f"unknown optimizer {self.optimizer!r}; use one of: {', '.join(OPTIMIZERS)}")
        if self.lbfgs_memory < 1:
            raise NstError(f"--lbfgs-memory must be >= 1, got {self.lbfgs_memory}")
        if self.line_search not in ("wolfe", "armijo"):
            raise NstError(f"unknown line search {self.line_search!r}; use wolfe or armijo")
        if self.loop not in ("auto", "host", "device"):
            raise NstError(f"unknown loop {self.loop!r}; use auto, host or device")
        if self.preserve_colors not in (None,) + color.MODES:
            raise NstError(f"unknown --preserve-colors {self.preserve_colors!r}; use "
                           f"{' or '.join(color.MODES)}")
        if self.pooling not in ("max", "avg"):
            raise NstError(f"unknown pooling {self.pooling!r}; use max or avg")
        for layers, ws, flag in ((self.content_layers, self.content_layer_weights, "content"),
                                 (self.style_layers, self.style_layer_weights, "style")):
            if ws is not None and len(ws) != len(layers):
                raise NstError(f"--{flag}-layer-weights has {len(ws)} values for "
                               f"{len(layers)} {flag} layers; give one weight per layer")
            if ws is not None and not all(math.isfinite(w) and w >= 0 for w in ws):
                raise NstError(f"--{flag}-layer-weights must be finite numbers >= 0")
        if self.style_blend is not None and not (
                all(math.isfinite(b) and b >= 0 for b in self.style_blend) and sum(self.style_blend) > 0):
            raise NstError(f"--style-blend weights must be finite, >= 0 and not all 0, got "
                           f"{','.join(map(str, self.style_blend))}")
        if not self.content_layers and not self.style_layers:
            raise NstError("no content or style layers given")
        return self

    def objective(self, model: str) -> Objective:
        content = [resolve_layer(model, n) for n in self.content_layers]
        style = [resolve_layer(model, n) for n in self.style_layers]
        cw = self.content_layer_weights or (1.0,) * len(content)
        sw = self.style_layer_weights or (1.0 / max(len(style), 1),) * len(style)
        return Objective(model, self.pooling, tuple(zip(content, map(float, cw))),
                         tuple(zip(style, map(float, sw))), float(self.content_weight),
                         float(self.style_weight), float(self.tv_weight))


class Result(NamedTuple):
    image: np.ndarray  # (H, W, 3) uint8 RGB, or (H, W, 4) RGBA when the content had alpha
    history: List[Dict[str, float]]  # one record per iteration, see monitor.record
    info: Dict[str, Any]  # stop reason, model, weights path, timings, config


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable on Linux)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def estimate_memory(objective: Objective, hw: Tuple[int, int], style_hw: Tuple[int, int]) -> int:
    """Rough peak bytes of a run: weights, plus the activations of one forward-and-backward
    pass (kept for the backward pass, then their gradients: ~4 floats each), plus XLA's
    working buffers. Measured at 256 px (VGG16): 862 MB peak, 718 MB estimated (README)."""
    deepest = max(objective.layers, key=conv_layers(objective.model).index)
    acts = max(activation_elements(objective.model, *hw, deepest),
               activation_elements(objective.model, *style_hw, deepest))
    return int(4 * (4 * acts) + 3 * 4 * 20_100_000 + 300e6)


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
            allow_download: bool = True, **options) -> Result:
    """Stylize `content` (path, PIL image or array) with `style` (one image, or a list
    blended by the `style_blend` weights); see Config for options.

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
    blend = tuple(b / sum(blend) for b in blend)  # weights summing to 1: beta keeps its meaning
    inputs = [content, *styles] + ([cfg.init] if cfg.init not in INITS else [])
    if output is not None:
        output = im.check_output_path(output, inputs)
    if log is not None:
        log = Path(log)
        if log.suffix.lower() != ".json":
            raise NstError(f"log file {log} should end in .json")
        im.check_output_path(log.with_suffix(".png"), inputs)  # folder exists and is writable

    content_rgb, alpha = im.load_image(content)
    style_rgbs = [im.load_image(s)[0] for s in styles]
    hw = im.fit_size(*content_rgb.shape[:2], cfg.size)
    style_side = cfg.style_size or (round(cfg.style_scale * cfg.size) if cfg.style_scale else cfg.size)
    style_hws = [im.fit_size(*s.shape[:2], style_side) for s in style_rgbs]
    style_hw = max(style_hws, key=lambda h_w: h_w[0] * h_w[1])  # the largest, for memory
    if alpha is not None and output is not None and output.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        raise NstError(f"the content image has an alpha channel that {output.suffix} cannot "
                       "store; write a .png")
    # Resolve names early, with the model named by --model or the default, for quick errors.
    for n in cfg.content_layers + cfg.style_layers:
        resolve_layer(cfg.model or "vgg19", n)

    model, params, weights_path = wt.resolve(cfg.weights, cfg.model, allow_download, progress)
    objective = cfg.objective(model)
    need, have = estimate_memory(objective, hw, style_hw), available_memory()
    if need > have:
        raise NstError(f"a {hw[1]}x{hw[0]} run needs about {need / 2**30:.1f} GiB but "
                       f"{have / 2**30:.1f} GiB is available; lower --size")

    content_rgb = im.resize(content_rgb, *hw)
    style_rgbs = [im.resize(s, *s_hw) for s, s_hw in zip(style_rgbs, style_hws)]
    content_colors = content_rgb  # what luminance-only transfer puts back at the end
    if cfg.preserve_colors == "histogram":  # the styles recoloured to the content's colours
        style_rgbs = [color.match_colors(s, content_rgb) for s in style_rgbs]
    elif cfg.preserve_colors == "luminance":  # all as gray images, style luminance matched
        style_rgbs = [color.luminance_inputs(content_rgb, s)[1] for s in style_rgbs]
        content_rgb = color.luminance_inputs(content_rgb, content_rgb)[0]
    x0 = im.preprocess(_init_image(cfg, content_rgb, style_rgbs[0], hw))
    params = jax.tree.map(jnp.asarray, params)
    targets = blend_targets([make_targets(params, objective, im.preprocess(content_rgb),
                                          im.preprocess(s)) for s in style_rgbs], blend)

    def loss_fn(x, aux):
        terms = loss_terms(aux[0], aux[1], x, objective)
        return terms["total"], terms

    aux = (params, targets)
    alpha = _resize_alpha(alpha, hw)

    def to_rgb(x):  # the optimised (preprocessed) image -> RGB 0..255 as the user sees it
        rgb = im.deprocess(np.asarray(x))
        return color.recombine(rgb, content_colors) if cfg.preserve_colors == "luminance" else rgb
    monitor = Monitor(cfg, output, alpha, progress, to_rgb)
    with monitor:
        if cfg.optimizer == "scipy-lbfgsb":
            x, iterations, evaluations, stop = _run_scipy(loss_fn, aux, x0, cfg, monitor)
        else:
            x, iterations, evaluations, stop = _run_chunks(loss_fn, aux, x0, cfg, monitor)
    history = monitor.history
    image = im.to_uint8(to_rgb(x), alpha)
    info = {"stop": stop, "model": model, "weights": str(weights_path),
            "seconds": monitor.elapsed(), "compile_seconds": monitor.compile_seconds,
            "iterations": iterations, "evaluations": evaluations,
            "size": [hw[1], hw[0]], "style_size": [style_hws[0][1], style_hws[0][0]],
            "style_sizes": [[w, h] for h, w in style_hws], "style_blend": list(blend),
            "config": dict(dataclasses.asdict(cfg), model=model, weights=str(weights_path))}
    if stop == "nonfinite":
        warnings.warn(f"the loss became non-finite at iteration {iterations + 1}; "
                      f"kept the last finite image (iteration {iterations})")
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
    state = jax.jit(opt.init)(x0, aux)
    run_chunk = opt.compile(aux, state)
    current = jax.jit(opt.current).lower(aux, state).compile()
    monitor.started(time.perf_counter() - t)
    seconds, stop = 0.0, "iterations"
    # Adam evaluates image k during step k: its last image's loss is one more evaluation
    limit = min(cfg.iters, cfg.max_evals - 1) if cfg.optimizer == "adam" and cfg.max_evals else cfg.iters
    while int(state.iteration) < limit:
        it = int(state.iteration)
        n = min(cfg.chunk, limit - it)
        if cfg.save_every:
            n = min(n, cfg.save_every - it % cfg.save_every)
        state, chunk = run_chunk(aux, state, n)
        steps, elapsed = int(chunk.steps), monitor.elapsed()
        rows, evals = np.asarray(chunk.terms[:steps]), np.asarray(chunk.evaluations[:steps])
        for j in range(steps):  # time within a chunk is apportioned evenly
            monitor.add(it + j, evals[j], seconds + (elapsed - seconds) * j / steps,
                        dict(zip(optim.TERMS, rows[j])))
        seconds = elapsed
        if int(state.stop) != lb.RUNNING:
            stop = lb.STOP_REASONS[int(state.stop)]
            break
        if monitor.reached(int(state.iteration), state.x):
            stop = "interrupted"
            break
    terms, evaluations = current(aux, state)
    monitor.add(state.iteration, evaluations, monitor.elapsed(), {k: float(v) for k, v in terms.items()})
    return np.asarray(state.x), int(state.iteration), int(evaluations), stop


def _run_scipy(loss_fn, aux, x0, cfg: Config, monitor: Monitor):
    """SciPy's L-BFGS-B, driven from Python (see optim.scipy_lbfgsb)."""
    t = time.perf_counter()
    driver = optim.scipy_lbfgsb(loss_fn, aux, x0)  # compiles the value-and-gradient
    monitor.started(time.perf_counter() - t)
    x, iterations, evaluations, stop = driver(
        cfg.iters, cfg.lbfgs_memory, cfg.max_evals,
        on_row=lambda it, ev, terms: monitor.add(it, ev, monitor.elapsed(), terms),
        on_iterate=monitor.reached)
    return x, iterations, evaluations, ("interrupted" if monitor.flag.set else stop)


def _resize_alpha(alpha, hw):
    return None if alpha is None else im.resize(alpha[..., None], *hw)[..., 0]
