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

from . import image as im
from . import lookup
from .config import INITS, Config
from .errors import NstError
from .fast import Plan, plan
from .fast.memory import available_memory, estimate_memory
from .losses import Objective
from .normalize import normalize_weights
from .vgg import resolve_layer

HW = Tuple[int, int]
Images = Union[im.ImageLike, Sequence[im.ImageLike]]  # one image, or a list or tuple of them


class Job(NamedTuple):
    cfg: Config  # validated, defaults settled
    output: Optional[Path]  # the image to write, checked writable
    log: Optional[Path]  # the JSON log to write, checked writable
    content: np.ndarray  # (H0, W0, 3) RGB 0..255, as loaded
    alpha: Optional[np.ndarray]  # (H0, W0) the content's alpha channel, or None
    styles: List[np.ndarray]  # [(h, w, 3) RGB 0..255] as loaded
    masks: Optional[np.ndarray]  # (H0, W0, R) in 0..1, one per style, or None (blend)
    mask_names: Optional[List[str]]  # for the log
    blend: Tuple[float, ...]  # one weight per style (summing to 1 when blended)
    hws: List[HW]  # the output's (h, w) at each scale; the last is the output's
    model: str  # "vgg16" | "vgg19"
    weights: Path  # the file the params came from
    params: Any  # VGG's params as the plan's ops need them (on the device)
    objective: Objective  # at the output's size
    plan: Plan

    def style_hws(self, side: int) -> List[HW]:
        """Each style image's (h, w) when the output's longest side is `side`."""
        cfg = self.cfg
        s_side = cfg.style_size or (round(cfg.style_scale * side) if cfg.style_scale else side)
        return [im.fit_size(s.shape[0], s.shape[1], s_side) for s in self.styles]

    @property
    def estimated_memory(self) -> int:
        """Bytes the run is estimated to need at its peak (fast/memory.py)."""
        style_hw = max(self.style_hws(max(self.cfg.sizes())), key=lambda s: s[0] * s[1])
        return estimate_memory(
            self.objective, self.hws[-1], style_hw, self.cfg.lbfgs_memory, self.plan.winograd
        )


def prepare(
    content: im.ImageLike,
    style: Images,
    output: Optional[im.StrPath],
    log: Optional[im.StrPath],
    style_masks: Optional[Images],
    options: Dict[str, Any],
    allow_download: bool,
    progress: bool,
    verbose: bool,
) -> Job:
    """Check and load everything; see the module docstring."""
    cfg, styles, masks, blend = _check_options(style, style_masks, options)
    inputs = [content, *styles, *(masks or [])] + ([cfg.init] if cfg.init not in INITS else [])
    output, log = _check_outputs(output, log, inputs)
    content_rgb, alpha = im.load_image(content)
    if alpha is not None and output is not None and output.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        raise NstError(
            f"the content image has an alpha channel that {output.suffix} cannot store; write a .png"
        )
    styles_rgb = [im.load_image(s)[0] for s in styles]
    masks_rgb = (
        None if masks is None else np.stack([im.load_mask(m, content_rgb.shape[:2]) for m in masks], axis=-1)
    )  # (H0, W0, R) in 0..1
    h0, w0 = content_rgb.shape[:2]
    hws = [im.fit_size(h0, w0, side) for side in cfg.sizes()]
    names = None if masks is None else [str(m) if isinstance(m, (str, Path)) else "<array>" for m in masks]
    for n in cfg.content_layers + cfg.style_layers:  # quick errors, before the weights load
        resolve_layer(cfg.model or "vgg19", n)

    model, params, path = lookup.resolve(cfg.weights, cfg.model, allow_download, progress)
    if cfg.normalize_weights:  # mean activation 1 per filter over normalize.py's reference set
        params, _ = normalize_weights(params, model, cfg.pooling)
    the_plan = plan(cfg, model, max(h * w for h, w in hws))  # (the images optimised)
    job = Job(
        cfg=cfg,
        output=output,
        log=log,
        content=content_rgb,
        alpha=alpha,
        styles=styles_rgb,
        masks=masks_rgb,
        mask_names=names,
        blend=blend,
        hws=hws,
        model=model,
        weights=path,
        params=params,
        objective=cfg.objective(model),
        plan=the_plan,
    )
    _check_memory(job, progress)
    if verbose:
        print(the_plan.describe(), file=sys.stderr, flush=True)
    return job._replace(params=jax.tree.map(jnp.asarray, the_plan.prepare(params)))


def _check_options(style, style_masks, options):
    unknown = set(options) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise NstError(f"unknown option(s) {', '.join(sorted(unknown))}; see nst_jax.Config")
    cfg = Config(**options).validate()
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NstError("no style image given")
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
    if masks is None:  # blended: weights summing to 1, so beta keeps its meaning
        blend = tuple(b / sum(blend) for b in blend)
    if cfg.init not in INITS and not Path(cfg.init).exists():
        raise NstError(f"--init {cfg.init!r} is neither content, noise, style nor an existing image")
    return cfg, styles, masks, tuple(blend)


def _check_outputs(
    output: Optional[im.StrPath], log: Optional[im.StrPath], inputs: Sequence[im.ImageLike]
) -> Tuple[Optional[Path], Optional[Path]]:
    if output is not None:
        output = im.check_output_path(output, inputs)
    if log is not None:
        log = Path(log)
        if log.suffix.lower() != ".json":
            raise NstError(f"log file {log} should end in .json")
        im.check_output_path(log.with_suffix(".png"), inputs)  # folder exists and is writable
    return output, log


def _check_memory(job: Job, progress: bool) -> None:
    """Refuse a run whose estimated peak does not fit in the available memory."""
    hw, need, have = job.hws[-1], job.estimated_memory, available_memory()
    if need > have:
        raise NstError(
            f"a {hw[1]}x{hw[0]} run needs about {need / 2**30:.1f} GiB but "
            f"{have / 2**30:.1f} GiB is available; lower --size"
            + ("" if job.cfg.remat else " or add --remat")
        )
    if progress:
        print(
            f"{job.model} {hw[1]}x{hw[0]}: estimated peak memory {need / 2**30:.1f} GiB "
            f"({have / 2**30:.1f} GiB available)",
            file=sys.stderr,
            flush=True,
        )
