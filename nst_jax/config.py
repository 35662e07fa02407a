"""The options of a run: one frozen dataclass, a comment per field, checked up front.

`python -m nst_jax --help` maps one flag to each field; `stylize(content, style, **options)`
takes the same names. `validate` turns every bad value into a one-line NstError before
any work starts; `objective` resolves layer names and weights into the static
`losses.Objective` that jit specialises on; `sizes` lists the scales of a coarse-to-fine run.
"""

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Tuple

from . import color
from .errors import NstError
from .losses import Objective
from .vgg import MIN_SIDE, PRECISIONS, resolve_layer, uses_winograd

OPTIMIZERS = ("lbfgs", "adam", "optax-lbfgs", "scipy-lbfgsb")
STYLE_WEIGHT = 3e2  # the default beta with the ImageNet weights as they are
NORMALIZED_STYLE_WEIGHT = 1e6  # with normalize_weights: its losses are ~1e9x smaller
#   (chosen by eye from 1e4, 1e5, 1e6 at 256 px, 100 L-BFGS iterations; tutorial chapter 8)
INITS = ("content", "noise", "style")


@dataclass(frozen=True)
class Config:
    """Every option of a run; the command line maps one flag to each field."""
    size: int = 256  # longest side of the output in pixels (aspect ratio kept)
    style_size: Optional[int] = None  # longest side of the style image(s); None: same as size
    style_scale: Optional[float] = None  # or: style's longest side = style_scale * size
    style_blend: Optional[Tuple[float, ...]] = None  # one weight per style image; None: equal
    scales: Optional[Tuple[int, ...]] = None  # coarse to fine: longest sides, increasing,
    #   the last == size; each scale starts from the previous result, upsampled
    num_scales: int = 1  # or: this many scales, each sqrt(2) x the previous, ending at size
    scale_iters: Optional[Tuple[int, ...]] = None  # iterations per scale; None: iters each
    iters: int = 200  # optimisation steps (Adam at lr 5: within ~20% of its 200-step loss by 100)
    optimizer: str = "lbfgs"  # one of OPTIMIZERS
    lr: float = 5.0  # Adam's step size, in pixel units (0..255)
    lbfgs_memory: int = 10  # (s, y) pairs kept by the L-BFGS optimisers (SciPy's default)
    line_search: str = "wolfe"  # our L-BFGS's line search: "wolfe" or "armijo"
    max_evals: int = 0  # stop after this many loss-and-gradient evaluations (0: no limit)
    content_weight: float = 1.0  # alpha, Eq. 7
    style_weight: Optional[float] = None  # beta, Eq. 7; None: STYLE_WEIGHT (raw weights,
    #   chosen by a sweep with L-BFGS, README) or NORMALIZED_STYLE_WEIGHT (normalize_weights)
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
    normalize_weights: bool = False  # rescale VGG so each filter's mean activation over
    #                                  bundled reference images is 1, as Gatys (normalize.py)
    ema: float = 0.0  # return an exponential moving average of the iterates with this
    #                   decay (e.g. 0.9); 0: the last iterate (optim.EmaState)
    seed: int = 0  # seeds the noise init: same seed, same result
    save_every: int = 0  # write an intermediate image every N iterations (0: never)
    chunk: int = 10  # iterations between Python's looks (progress, saves, Ctrl-C)
    remat: bool = False  # each VGG block and its losses as one jax.checkpoint (losses.py);
    #                      the same result; on XLA:CPU it did not lower the peak (README)
    precision: str = "float32"  # convolutions: "float32", "tf32" or "bf16" (vgg.PRECISIONS)
    conv: str = "auto"  # 3x3 convolutions: "direct", "winograd" (F(4x4,3x3) from 256 input
    #                     channels, winograd.py) or "auto" (Winograd on CPU, where it is faster)
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
        if self.scales is not None:
            if self.num_scales != 1:
                raise NstError("give --scales or --num-scales, not both")
            if not self.scales or list(self.scales) != sorted(set(self.scales)):
                raise NstError(f"--scales must be increasing sizes, got {self.scales}")
            if self.scales[-1] != self.size:
                raise NstError(f"the last of --scales ({self.scales[-1]}) is the output size "
                               f"but --size is {self.size}; make them equal")
        if self.num_scales < 1:
            raise NstError(f"--num-scales must be >= 1, got {self.num_scales}")
        if self.scale_iters is not None and (len(self.scale_iters) != len(self.sizes())
                                             or min(self.scale_iters) < 0):
            raise NstError(f"--scale-iters needs one count >= 0 per scale ({len(self.sizes())} "
                           f"scales), got {','.join(map(str, self.scale_iters))}")
        if not (math.isfinite(self.ema) and 0 <= self.ema < 1):
            raise NstError(f"--ema must be a decay in [0, 1), e.g. 0.9, got {self.ema}")
        if self.chunk < 1:
            raise NstError(f"chunk must be >= 1, got {self.chunk}")
        if self.style_weight is None:  # resolved, so that logs show the beta used
            return dataclasses.replace(self, style_weight=self.beta).validate()
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
        if self.precision not in PRECISIONS:
            raise NstError(f"unknown --precision {self.precision!r}; use one of: "
                           f"{', '.join(PRECISIONS)}")
        uses_winograd(self.conv, self.precision, "cpu")  # unknown --conv, or winograd + bf16
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

    @property
    def beta(self) -> float:
        """style_weight, or its default for these weights (raw or normalised)."""
        if self.style_weight is not None:
            return float(self.style_weight)
        return NORMALIZED_STYLE_WEIGHT if self.normalize_weights else STYLE_WEIGHT

    def sizes(self) -> Tuple[int, ...]:
        """The longest side at each scale: (size,) for a single-scale run."""
        if self.scales:
            return tuple(self.scales)
        n = self.num_scales  # sqrt(2) apart: each scale has twice the pixels of the last
        return tuple(dict.fromkeys(max(MIN_SIDE, round(self.size / 2 ** ((n - 1 - k) / 2)))
                                   for k in range(n)))

    def objective(self, model: str) -> Objective:
        content = [resolve_layer(model, n) for n in self.content_layers]
        style = [resolve_layer(model, n) for n in self.style_layers]
        cw = self.content_layer_weights or (1.0,) * len(content)
        sw = self.style_layer_weights or (1.0 / max(len(style), 1),) * len(style)
        return Objective(model, self.pooling, tuple(zip(content, map(float, cw))),
                         tuple(zip(style, map(float, sw))), float(self.content_weight),
                         self.beta, float(self.tv_weight), bool(self.remat),
                         self.precision)

