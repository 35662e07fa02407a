"""Everything a run knows before its first iteration, checked before any work starts.

`prepare` turns stylize's arguments into a `Job`: the options validated, every output
path checked (and never an input), the images and masks loaded, the sizes of every
scale, the weights found and loaded (normalised if asked), the plan (fast/plan.py) and
the memory estimate, refused with advice when it exceeds what is available. A bad input
is a one-line NstError here, before the weights are loaded or anything is compiled.
"""

import dataclasses
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..config import INITS, Config
from ..errors import NstError
from ..fast import Plan, plan, tiles
from ..fast.memory import available_memory, estimate_memory
from ..fast.plan import with_tiles
from ..io import files, image_files, lookup
from ..io.image_files import reference_set
from ..paper import image as im
from ..paper.backbones import get
from ..paper.losses import Objective
from ..paper.normalize import normalize_weights
from ..paper.octaves import reduced_hw
from .monitor import intermediate_path, intermediates
from .settings import Settings, resolve

HW = Tuple[int, int]
Images = Union[
    image_files.ImageLike, Sequence[image_files.ImageLike]
]  # one image, or a list or tuple of them


class Job(NamedTuple):
    cfg: Config  # the options as given, validated
    output: Optional[Path]  # the image to write, checked writable
    log: Optional[Path]  # the JSON log to write, checked writable
    content: np.ndarray  # (H0, W0, 3) RGB 0..255, as loaded
    alpha: Optional[np.ndarray]  # (H0, W0) the content's alpha channel, or None
    styles: List[np.ndarray]  # [(h, w, 3) RGB 0..255] as loaded
    masks: Optional[np.ndarray]  # (H0, W0, R) in 0..1, one per style, or None (blend)
    mask_names: Optional[List[str]]  # for the log
    blend: Tuple[float, ...]  # one weight per style (summing to 1 when blended)
    hws: List[HW]  # the output's (h, w) at each scale; the last is the output's
    settings: Settings  # what was settled from cfg once the network was known (settings.py)
    weights: Path  # the file the params came from
    params: Any  # the network's params as the plan's ops need them (on the device)
    objective: Objective  # at the output's size
    plan: Plan

    @property
    def model(self) -> str:
        """The backbone: "vgg19" | "vgg16" | "resnet50" (backbones.py)."""
        return self.settings.model

    def describe(self) -> str:
        """--verbose's lines: how each `auto` of the plan was settled, and the scales."""
        levels = [self.octaves(hw) for hw in self.hws]
        return f"{self.plan.describe()}\n{_describe_scales(self.settings, self.hws, levels)}"

    def octaves(self, hw: HW, strips: Optional[bool] = None) -> int:
        """K, the objective's octaves at the scale of (H, W) = hw (paper/octaves.py): the
        config's rule, fewer where a copy of the output or of a style would be smaller than
        the network's smallest input; 1 with region masks or a strip-wise evaluation (they
        take the whole image's terms; `strips`: whether it is, if not the plan's)."""
        if self.masks is not None or (bool(self.plan.tile_rows) if strips is None else strips):
            return 1
        k, low = self.cfg.octave_count(max(hw)), get(self.model).min_side
        sides = [hw, *self.style_hws(max(hw))]
        while k > 1 and min(min(reduced_hw(s, k - 1)) for s in sides) < low:
            k -= 1
        return k

    def plan_ops(self) -> Tuple[Any, Any]:
        """(ops, loss_terms) of the plan, which the params are prepared for."""
        return self.plan.ops, self.plan.loss_terms

    def style_hws(self, side: int) -> List[HW]:
        """Each style image's (h, w) when the output's longest side is `side`."""
        cfg = self.cfg
        s_side = cfg.style_size or (round(cfg.style_scale * side) if cfg.style_scale else side)
        return [im.fit_size(s.shape[0], s.shape[1], s_side) for s in self.styles]

    @property
    def estimated_memory(self) -> int:
        """Bytes the run is estimated to need at its peak (fast/memory.py)."""
        return self.memory_if()

    def memory_if(
        self,
        style_hw: Optional[HW] = None,
        pairs: Optional[int] = None,
        winograd=None,
        batch: int = 1,
        rows: Optional[int] = None,
    ) -> int:
        """The estimate, or what it would be with the largest style at `style_hw`, `pairs`
        L-BFGS pairs, the convolutions in `winograd` (the advice of a refusal), `batch`
        images on the device at once (batch.py) or strips of `rows` rows (0: whole)."""
        largest = max(self.style_hws(self.settings.sides[-1]), key=lambda s: s[0] * s[1])
        lbfgs = self.cfg.optimizer != "adam"  # Adam keeps no (s, y) pairs
        rows = self.plan.tile_rows if rows is None else rows
        h, w = self.hws[-1]
        strip = None if not rows or rows >= h else (min(rows + 2 * tiles.halo(self.objective), h), w)
        return estimate_memory(
            self.objective,
            self.hws[-1],
            style_hw or largest,
            (self.plan.lbfgs_memory if pairs is None else pairs) if lbfgs else 0,
            self.plan.winograd if winograd is None else winograd,
            batch,
            strip,
            self.octaves((h, w), strips=strip is not None),
        )


def prepare(
    content: image_files.ImageLike,
    style: Images,
    output: Optional[image_files.StrPath],
    log: Optional[image_files.StrPath],
    style_masks: Optional[Images],
    options: Dict[str, Any],
    allow_download: bool,
    progress: bool,
    verbose: bool,
    template: bool = False,
) -> Job:
    """Check and load everything; see the module docstring. `template`: a batch's job for
    a stand-in image, whose sizes and memory batch.py checks per image and per group."""
    cfg, styles, masks, blend = _check_options(style, style_masks, options)
    output, log = _check_outputs(cfg, output, log, content, styles, masks)
    content_rgb, alpha = image_files.load_image(content)
    if alpha is not None and output is not None:  # the format must hold it too
        files.check_output(output, "output", mode="RGBA")
    styles_rgb = [image_files.load_image(s)[0] for s in styles]
    masks_rgb = (
        None
        if masks is None
        else np.stack([image_files.load_mask(m, content_rgb.shape[:2]) for m in masks], axis=-1)
    )  # (H0, W0, R) in 0..1
    h0, w0 = content_rgb.shape[:2]
    hws = [im.fit_size(h0, w0, side) for side in cfg.sizes()]
    names = None if masks is None else [str(m) if isinstance(m, (str, Path)) else "<array>" for m in masks]
    model, params, path = lookup.resolve(cfg.weights, cfg.model, allow_download, progress)
    cfg.check_model(model)  # (the model the weights file named: its layers, its smallest side)
    if not template:
        check_sides(cfg, model, hws)
    if cfg.normalize_weights:  # mean activation 1 per filter over normalize.py's reference set
        params, _ = normalize_weights(params, model, cfg.pooling, reference_set())
    pixels = max(h * w for h, w in hws)  # (of the images optimised)
    the_plan = plan(cfg, model, pixels, guided=masks is not None)
    settings = resolve(cfg, model, the_plan.lbfgs_memory)
    job = Job(
        cfg, output, log, content_rgb, alpha, styles_rgb, masks_rgb, names, blend, hws, settings, path, params,
        objective=cfg.objective(model), plan=the_plan,
    )  # fmt: skip
    need = lambda rows: job.memory_if(rows=rows)  # (bytes, in strips of `rows`; 0: whole)
    job = job._replace(
        plan=with_tiles(the_plan, cfg, model, hws[-1][0], need, available_memory(), masks is not None)
    )
    if not template:
        _check_memory(job, progress)
    if verbose:
        print(job.describe(), file=sys.stderr, flush=True)
    return job._replace(params=jax.tree.map(jnp.asarray, the_plan.prepare(params)))


def _check_options(style, style_masks, options):
    unknown = set(options) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise NstError(f"unknown option(s) {', '.join(sorted(unknown))}; see nst_jax.Config")
    cfg = Config(**options).validate()
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NstError(
            "no style image given (STYLE, or style= from Python, is an empty list); give one or more style images"
        )
    blend = cfg.style_blend or (1.0,) * len(styles)
    if len(blend) != len(styles):
        raise NstError(
            f"--style-blend has {len(blend)} weights for {len(styles)} style "
            "images; give one weight per style image"
        )
    masks = (
        None
        if style_masks is None
        else (list(style_masks) if isinstance(style_masks, (list, tuple)) else [style_masks])
    )
    if masks is not None and len(masks) != len(styles):
        raise NstError(
            f"{len(masks)} style mask(s) for {len(styles)} style image(s); give one mask per style"
        )
    if masks is not None and (cfg.octaves or 1) > 1:
        raise NstError("--octaves works on whole images, not --style-mask regions; drop one of them")
    if masks is None:  # blended: weights summing to 1, so beta keeps its meaning
        blend = tuple(b / sum(blend) for b in blend)
    if cfg.init not in INITS:
        files.check_input(cfg.init, "--init image")  # else: neither content, noise nor style
    return cfg, styles, masks, tuple(blend)


def _check_outputs(cfg: Config, output, log, content, styles, masks) -> Tuple[Optional[Path], Optional[Path]]:
    """Every file the run will write (the image, its intermediate images, the log) can be
    written and is none of its inputs (content, styles, masks, init, weights)."""
    outputs: List[Tuple[str, Path]] = []
    if output is not None:
        output = files.check_output(output, "output")
        outputs.append(("output", output))
        if cfg.save_every:
            iters = cfg.iterations()[-1]  # (saved at the last scale)
            last = iters - iters % cfg.save_every
            if last:  # the longest name is checked; those on disk already are compared
                files.check_output(intermediate_path(output, last), "intermediate image")
            outputs += [("intermediate image", p) for p in intermediates(output, cfg.save_every, iters)]
    if log is not None:
        if Path(log).suffix.lower() != ".json":
            raise NstError(f"log file {files.show(log)} should end in .json; name it e.g. run.json")
        log = files.check_output(log, "log")
        outputs.append(("log", log))
    weights = lookup.find_weights(cfg.weights, cfg.model)  # (None: a download, to the cache)
    ins = [("content image", content), *[("style image", s) for s in styles]]
    ins += [("style mask", m) for m in masks or []] + [("weights file", weights)] * (weights is not None)
    files.check_apart(outputs, ins + ([("--init image", cfg.init)] if cfg.init not in INITS else []))
    return output, log


def _describe_scales(settings: Settings, hws: List[HW], octaves: List[int]) -> str:
    """'scales: 256x192 (200 iterations) -> 362x272 (50) -> 512x384 (50, 2 octaves);
    style weight 1200'."""
    steps = [
        f"{w}x{h} ({n}{' iterations' if k == 0 else ''}{f', {o} octaves' if o > 1 else ''})"
        for k, ((h, w), n, o) in enumerate(zip(hws, settings.iterations, octaves))
    ]
    return f"scales: {' -> '.join(steps)}; style weight {settings.style_weight:g}"


def check_sides(cfg: Config, model: str, hws: List[HW]) -> None:
    """Every scale at least the model's smallest input; the advice names the option that
    made the small one: --size, --scales, or --num-scales (given or automatic)."""
    low = get(model).min_side
    if min(min(hw) for hw in hws) < low:
        (h, w), n = min(hws, key=min), len(hws)
        if cfg.scales:
            raise NstError(
                f"{model} needs {low} px per side but a scale is {w}x{h}; raise the first of --scales"
            )
        if n > 1:
            raise NstError(
                f"{model} needs {low} px per side but the first of {n} scales is {w}x{h}; "
                f"give fewer --num-scales (e.g. --num-scales {n - 1}) or raise --size"
            )
        raise NstError(f"{model} needs {low} px per side but the output is {w}x{h}; raise --size")


def _memory_advice(job: Job, need: int) -> str:
    """What lowers the estimate: the output's size, and any of the style's size, the
    L-BFGS pairs or Winograd's transforms that saves a tenth of it (remat is not in the
    estimate, so it is not advised)."""
    cfg, ways = job.cfg, ["--size"]
    if job.memory_if(style_hw=job.hws[-1]) < 0.9 * need:  # the styles larger than the output
        ways.append("--style-scale" if cfg.style_scale else "--style-size")
    if job.memory_if(pairs=1) < 0.9 * need:
        ways.append("--lbfgs-memory")
    passes = []
    if cfg.tile == "off" and not tiles.supported(job.objective, job.masks is not None, cfg.optimizer):
        passes.append("--tile auto (strips)")
    if job.memory_if(winograd=()) < 0.9 * need:
        passes.append("--conv direct")
    return " or ".join(ways) + (f", or pass {' or '.join(passes)}" if passes else "")


def _check_memory(job: Job, progress: bool) -> None:
    """Refuse a run whose estimated peak does not fit in the available memory."""
    hw, need, have = job.hws[-1], job.estimated_memory, available_memory()
    if need > have:
        raise NstError(
            f"a {hw[1]}x{hw[0]} run needs about {need / 2**30:.1f} GiB but "
            f"{have / 2**30:.1f} GiB is available; lower {_memory_advice(job, need)}"
        )
    if progress:
        print(
            f"{job.model} {hw[1]}x{hw[0]}: estimated peak memory {need / 2**30:.1f} GiB "
            f"({have / 2**30:.1f} GiB available)",
            file=sys.stderr,
            flush=True,
        )
