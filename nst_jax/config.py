"""The options of a run: one frozen dataclass, each field with its help text, checked up front.

Each field is declared once, with `option(default, help, choices=...)`; the command line
is built from these fields (cli/flags.py: one flag per field, `--style-weight` for
`style_weight`, with this help and these choices), and `stylize(content, style,
**options)` takes the same names. A Config is what the user gave, never rewritten:
`validate` turns every bad value into a one-line NstError before any work starts, and
`check_model` what depends on the network once it is known. What a run settles from
its options (the network, the scales, beta, the optimiser) is run/settings.py's, made
once. The rules those settle by are here, beside the options: `objective` resolves
layer names and weights into the static `losses.Objective` that jit specialises on;
`sizes` and `iterations` list the scales of a coarse-to-fine run and their iterations;
`beta` carries the network's default balance to any size.

Over 300 lines: every option with its help, its checks and the rules that settle its
defaults (the size-aware balance, the coarse-to-fine ladder) in one place.

May import: errors, paper. (The networks' defaults come from their modules.)
"""

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from .errors import NstError
from .paper import backbones, color, distances
from .paper.losses import Objective
from .paper.octaves import levels_for
from .paper.vgg import MIN_SIDE, POOLINGS, PRECISIONS

OPTIMIZERS = ("lbfgs", "adam", "optax-lbfgs", "scipy-lbfgsb")
LINE_SEARCHES = ("wolfe", "armijo")
PARAMS = ("pixels", "pyramid", "fourier")  # optimizers/spaces.py's SPACES
CONVS = ("auto", "direct", "winograd")
LOOPS = ("auto", "host", "device")
INITS = ("content", "noise", "style")
SIZE = 256  # the default longest side
STYLE_WEIGHT = backbones.get("vgg19").style_weights["gram"]  # VGG's default beta at 256 px
#   with the ImageNet weights as they are (each backbone has its own: paper/vgg.py, resnet.py)
NORMALIZED_STYLE_WEIGHT = 1e6  # with normalize_weights: its losses are ~1e9x smaller
#   (chosen by eye from 1e4, 1e5, 1e6 at 256 px, 100 L-BFGS iterations; tutorial chapter 8);
#   the other distances': NORMALIZED_STYLE_WEIGHTS (the same balance, `bench balance`)
NORMALIZED_STYLE_WEIGHTS = {"gram": NORMALIZED_STYLE_WEIGHT, "w2": 1.2e5, "sliced": 1.3e6, "meanstd": 9.6e5}
REFERENCE_SIDE = 256  # px: where the default balance is set; carried to any size by `beta`
FINER_ITERS = 4  # coarse to fine: each finer scale gets iters / FINER_ITERS (docs/guide: Image size)


# the command line's --help groups the fields under these titles, each from its first field
SECTIONS = {
    "size": "size and scales",
    "iters": "the optimiser",
    "content_weight": "the objective (Gatys et al. 2016, Eq. 7)",
    "model": "the network",
    "init": "the image",
    "precision": "speed (nst_jax/fast): the same result, computed another way",
}


def defaults(what: Any) -> str:
    """Each network's default of `what` (a function of its Backbone), for the help texts:
    read from the network's own module, networks of equal defaults named together."""
    said: dict = {}
    for name in backbones.NAMES:
        said.setdefault(what(backbones.get(name)), []).append(name)
    return "; ".join(f"{', '.join(names)} {value}" for value, names in said.items())


def option(default: Any, help: str, choices: Optional[Tuple[str, ...]] = None) -> Any:
    """A Config field with its help text (and allowed values): the command line's flag."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class Config:
    """Every option of a run; the command line has one flag per field (cli/flags.py)."""

    # -- size and scales
    size: Optional[int] = option(
        None,
        f"longest side of the output in pixels, aspect ratio kept (default: {SIZE}, or the last of --scales)",
    )
    scales: Optional[Tuple[int, ...]] = option(
        None,
        "coarse to fine: optimise at each of these longest sides in turn (e.g. "
        "256,384,512), each starting from the last result upsampled; the output has the last",
    )
    num_scales: Optional[int] = option(
        None,
        "or: N scales, each sqrt(2) times the last (twice the pixels), ending at --size; "
        "default: one per doubling of the pixels above 256 px (1 below 305 px, 3 at 512, 5 at 1024)",
    )
    scale_iters: Optional[Tuple[int, ...]] = option(
        None,
        f"iterations at each scale, comma-separated (default: --iters at the first, "
        f"--iters/{FINER_ITERS} at each finer one)",
    )
    style_size: Optional[int] = option(
        None, "longest side of the style image(s), px (default: the output's at each scale)"
    )
    style_scale: Optional[float] = option(
        None,
        "the style image's longest side relative to the output's (0.5: half of "
        "--size, smaller strokes); instead of --style-size",
    )
    octaves: Optional[int] = option(
        None,
        "K: the objective also on K-1 copies of the image, each half the last's size, against the "
        "photo and painting reduced alike (a Gaussian pyramid, nst_jax/paper/octaves.py); default: "
        "one per halving down to 256 px (1 below 512 px, 2 at 512, 3 at 1024); 1: the image alone",
    )
    octave_weight: float = option(
        1.0,
        "lambda: each reduced copy's weight in the objective relative to the image's own "
        "(weights 1 : lambda : lambda ..., normalised to sum to 1)",
    )
    # -- the optimiser
    iters: int = option(200, "optimisation steps (Adam at lr 5: within ~20% of its 200-step loss by 100)")
    optimizer: str = option(
        "lbfgs",
        "lbfgs: ours (nst_jax/optimizers/lbfgs.py); adam: optax's; optax-lbfgs: optax.lbfgs "
        "with its zoom line search; scipy-lbfgsb: SciPy's L-BFGS-B, pixels bounded to 0..255",
        OPTIMIZERS,
    )
    lr: float = option(5.0, "Adam's step size, in 0..255 pixel units")
    lbfgs_memory: Optional[int] = option(
        None,
        "(s, y) pairs kept by lbfgs, optax-lbfgs and scipy-lbfgsb; default 100 (PyTorch's L-BFGS history: "
        "fewer lose to it, docs/guide/optimizers.md), fewer where the pairs would pass 3 GiB (each 24 bytes a "
        "pixel: 42 at 2048x1536, 10 at 4096x3072)",
    )
    line_search: str = option(
        "wolfe",
        "line search of --optimizer lbfgs: strong Wolfe (Nocedal & Wright Alg. 3.5) or backtracking Armijo",
        LINE_SEARCHES,
    )
    param: str = option(
        "pixels",
        "the space the optimiser moves in (nst_jax/optimizers/spaces.py; the loss is the image's "
        "either way): pixels (Gatys et al.), pyramid (a Laplacian pyramid, Kolkin et al. 2019) or "
        "fourier (a 1/f-scaled cosine basis, Mordvintsev et al. 2018); docs/guide/optimizers.md",
        PARAMS,
    )
    decorrelate: bool = option(
        False, "move in a decorrelated colour basis (Mordvintsev et al. 2018), with any --param"
    )
    max_evals: int = option(0, "stop after N loss-and-gradient evaluations (0: no limit)")
    ema: float = option(
        0.0,
        "output an exponential moving average of the iterates with "
        "this decay, e.g. 0.9 (0: the last iterate)",
    )
    chunk: int = option(10, "iterations between Python's looks (progress, saves, Ctrl-C)")
    # -- the objective (Gatys et al. 2016, Eq. 7)
    content_weight: float = option(1.0, "alpha (Eq. 7)")
    style_weight: Optional[float] = option(
        None,
        "beta (Eq. 7), as given: Gatys' literal weight; default the model's at 256 px for the "
        f"--style-loss (gram: {defaults(lambda bb: format(bb.style_weights['gram'], 'g'))}; "
        f"{NORMALIZED_STYLE_WEIGHT:g} with --normalize-weights; docs/guide/backbones.md) times (size/256)^2 "
        "((256/size)^2 with --style-normalization none): the same balance at any size (docs/guide/command_line.md, Image size)",
    )
    tv_weight: float = option(0.0, "weight of total variation on the 0..255 image (Gatys: none)")
    content_layers: Optional[Tuple[str, ...]] = option(
        None,
        f"comma-separated (default: the model's: {defaults(lambda bb: ','.join(bb.content_layers))}; "
        "VGG's also as conv4_2 or Keras' block4_conv2)",
    )
    content_layer_weights: Optional[Tuple[float, ...]] = option(
        None, "one weight per content layer (default: 1 each)"
    )
    style_layers: Optional[Tuple[str, ...]] = option(
        None,
        f"comma-separated (default: the model's: {defaults(lambda bb: ','.join(bb.style_layers))})",
    )
    style_layer_weights: Optional[Tuple[float, ...]] = option(
        None, "one weight w_l per style layer (default: equal, summing to 1)"
    )
    style_normalization: Optional[str] = option(
        None,
        "the style loss's denominator: gatys 4 N^2 M^2 (Eq. 4), none (Lisciandrello et al.'s "
        "for ResNet50), neural-style N^4 M^2 (G/(N M), mean square); default: the model's "
        f"({defaults(lambda bb: bb.style_normalization)}: docs/guide/backbones.md)",
        backbones.STYLE_NORMALIZATIONS,
    )
    style_loss: str = option(
        "gram",
        "how style is compared per layer (nst_jax/paper/distances.py): gram (Gatys et al., Eq. 4), "
        "w2 (Wasserstein-2 between fitted Gaussians), sliced (sliced Wasserstein, Heitz et "
        "al. 2021), meanstd (channel means and deviations, Li et al. 2017); each has its "
        "own default --style-weight (docs/guide/objective.md, Style losses)",
        distances.STYLE_LOSSES,
    )
    style_blend: Optional[Tuple[float, ...]] = option(
        None,
        "with several comma-separated STYLE images: one weight each (normalised to "
        "sum to 1; default: equal); with --style-mask: each region's strength (default 1 each)",
    )
    # -- the network
    model: Optional[str] = option(
        None, "the network (backbones.py); default: the model the weights file holds", backbones.NAMES
    )
    weights: Optional[str] = option(
        None,
        "Keras *_notop.h5 or converted .npz (default: $NST_JAX_WEIGHTS, the "
        "repository's weights/, the user cache, then a download)",
    )
    pooling: str = option("max", "max (as trained) or avg (Gatys' choice)", POOLINGS)
    normalize_weights: bool = option(
        False,
        "rescale VGG so that each filter's mean activation over 7 bundled reference "
        "images is 1, as Gatys et al. (the losses change scale: see docs/guide/objective.md for weights)",
    )
    # -- the image
    init: str = option("content", "content, noise, style or an image path")
    seed: int = option(0, "seed of the noise init: same seed, same result")
    preserve_colors: Optional[str] = option(
        None,
        "keep the content's colours: transfer luminance only, or recolour the style "
        "to the content's colour statistics first (Gatys et al. 2017)",
        color.MODES,
    )
    save_every: int = option(0, "write OUTPUT_<iteration> every N iterations (0: never)")
    # -- speed (nst_jax/fast): the same result, computed another way
    precision: str = option(
        "float32",
        "convolution arithmetic: exact float32, the device's fast float32 (TF32 "
        "on recent NVIDIA GPUs; float32 on CPU) or bfloat16",
        tuple(PRECISIONS),
    )
    conv: str = option(
        "auto",
        "3x3 convolutions from 256 input channels by Winograd's F(4x4,3x3) (4x fewer "
        "products, ~1e-5 relative rounding error) or direct (exact float32); auto: Winograd "
        "on CPU from 150x150 px, where it is faster (docs/guide/performance.md)",
        CONVS,
    )
    loop: str = option(
        "auto",
        "device: chunks of steps as one compiled loop; host: one compiled call per "
        "evaluation (3x faster on CPU); auto: host on CPU, device elsewhere",
        LOOPS,
    )
    tile: str = option(
        "auto",
        "evaluate the loss and gradient in horizontal strips of N rows (exact: Grams summed "
        "over strips, fast/tiles.py), for images too large for memory whole; VGG with the "
        "gram loss and no masks; auto: strips only when the whole image's estimate does not fit; off",
    )
    remat: bool = option(
        False,
        "recompute VGG activations block by block in the backward pass "
        "(jax.checkpoint); same result; on CPU it did not lower the peak memory (docs/guide/performance.md)",
    )

    def validate(self) -> "Config":
        """This config, unchanged, or a one-line NstError for its first bad value: what can
        be checked before the network is known (`check_model` checks the rest, once)."""
        c = self
        for f in dataclasses.fields(c):  # (None is allowed where it is the default)
            value, choices = getattr(c, f.name), f.metadata["choices"]
            if choices and value not in choices and not (f.default is None and value is None):
                raise NstError(f"unknown --{_flag(f.name)} {value!r}; use one of: {', '.join(choices)}")
        c._check_counts()
        c._check_scales()
        c._check_weights()
        if c.conv == "winograd" and c.precision == "bf16":
            raise NstError(
                "--conv winograd needs float32 arithmetic; use --precision float32 or --conv direct"
            )
        if c.tile not in ("auto", "off") and not (c.tile.isdecimal() and int(c.tile) > 0):
            raise NstError(f"--tile takes auto, off or rows per strip, got {c.tile!r}; e.g. --tile 512")
        if c.content_layers == () and c.style_layers == ():
            raise NstError("no content or style layers given; name some, e.g. --style-layers conv1_1,conv2_1")
        if c.style_normalization is not None and c.style_loss != "gram":
            raise NstError(
                f"--style-normalization sets the Gram loss's denominator; drop it with --style-loss {c.style_loss}"
            )
        if c.model is not None:
            c.check_model(c.model)
        else:  # (the counts of weights given for layers given; check_model: for the defaults)
            c._check_layer_weights(None)
        for n in (c.content_layers or ()) + (c.style_layers or ()):  # before the weights load:
            if not any(_names(m, n) for m in backbones.NAMES):  # a name no network has
                backbones.get(backbones.NAMES[0]).resolve(n)  # (its one-line error)
        return c

    def check_model(self, model: str) -> None:
        """What depends on the network: its layer names and their weights, its smallest
        side, VGG's extras (run/inputs.py calls it once the weights file named the model)."""
        bb = backbones.get(model)
        self._check_layer_weights(model)
        for n in (self.content_layers or ()) + (self.style_layers or ()):
            bb.resolve(n)
        for what, side in [("--size", self.side), ("--style-size", self.style_size)]:
            if side is not None and side < bb.min_side:
                raise NstError(
                    f"{what} must be at least {bb.min_side} px for {bb.name}, got {side}; raise {what}"
                )
        if bb.family != "vgg":
            vgg_only = [("--normalize-weights", self.normalize_weights), ("--remat", self.remat)]
            vgg_only.append(("--conv winograd", self.conv == "winograd"))
            for flag, on in vgg_only:
                if on:
                    raise NstError(f"{flag} is written for VGG, not {bb.name}; drop {flag.split()[0]}")

    def _check_counts(self) -> None:
        lows = dict(
            iters=0, save_every=0, seed=0, max_evals=0, chunk=1, lbfgs_memory=1, num_scales=1, octaves=1
        )
        for name, low in lows.items():
            if getattr(self, name) is not None and getattr(self, name) < low:
                raise NstError(f"--{_flag(name)} must be >= {low}, got {getattr(self, name)}; give a count")
        sides = [("--scales", s) for s in self.scales or ()]
        for what, side in [("--size", self.size), ("--style-size", self.style_size), *sides]:
            if side is not None and side < MIN_SIDE:
                raise NstError(
                    f"{what} must be at least {MIN_SIDE} px (VGG's smallest input), got {side}; "
                    f"give a longest side in pixels, e.g. {what} 512"
                )
        if not (math.isfinite(self.octave_weight) and self.octave_weight >= 0):
            raise NstError(
                f"--octave-weight must be >= 0, got {self.octave_weight}; e.g. --octave-weight 0.5"
            )
        if not (math.isfinite(self.ema) and 0 <= self.ema < 1):
            raise NstError(f"--ema must be a decay in [0, 1), got {self.ema}; e.g. --ema 0.9")

    def _check_scales(self) -> None:
        if self.style_scale is not None:
            if not (math.isfinite(self.style_scale) and self.style_scale > 0):
                raise NstError(
                    f"--style-scale must be a positive number, got {self.style_scale}; e.g. --style-scale 0.5"
                )
            if self.style_size is not None:
                raise NstError("--style-size and --style-scale both set the style's size; give one of them")
        if self.scales is not None:
            if self.num_scales not in (None, 1):
                raise NstError("--scales and --num-scales both set the scales; give one of them")
            if not self.scales or list(self.scales) != sorted(set(self.scales)):
                raise NstError(
                    f"--scales must be increasing sizes, got {','.join(map(str, self.scales))}; "
                    "e.g. --scales 256,512"
                )
            if self.size is not None and self.scales[-1] != self.size:
                raise NstError(
                    f"the last of --scales ({self.scales[-1]}) is the output size "
                    f"but --size is {self.size}; make them equal"
                )
        if self.scale_iters is not None and (
            len(self.scale_iters) != len(self.sizes()) or min(self.scale_iters) < 0
        ):
            raise NstError(
                f"--scale-iters needs one count >= 0 per scale ({len(self.sizes())} "
                f"scales), got {','.join(map(str, self.scale_iters))}; e.g. --scale-iters "
                f"{','.join(['100'] * len(self.sizes()))}"
            )

    def _check_weights(self) -> None:
        for name in ("lr", "content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise NstError(f"--{_flag(name)} must be a finite number >= 0, got {v}; e.g. 1e-3 or 1e4")
        for ws, flag in ((self.content_layer_weights, "content"), (self.style_layer_weights, "style")):
            if ws is not None and not all(math.isfinite(w) and w >= 0 for w in ws):
                raise NstError(
                    f"--{flag}-layer-weights must be finite numbers >= 0; e.g. {','.join(['1'] * len(ws))}"
                )
        blend = self.style_blend
        if blend is not None and not (  # their sum too: they are normalised by it
            all(math.isfinite(b) and b >= 0 for b in blend) and 0 < sum(blend) < math.inf
        ):
            raise NstError(
                f"--style-blend weights must be >= 0 with a finite sum above 0, got "
                f"{','.join(map(str, blend))}; e.g. --style-blend 0.7,0.3"
            )

    def _check_layer_weights(self, model: Optional[str]) -> None:
        """One weight per layer: per layer as given, else (`model` known) per its default."""
        for kind in ("content", "style"):
            ws, layers = getattr(self, f"{kind}_layer_weights"), getattr(self, f"{kind}_layers")
            layers = self.layers(model, kind) if model is not None else layers
            if ws is not None and layers is not None and len(ws) != len(layers):
                raise NstError(
                    f"--{kind}-layer-weights has {len(ws)} values for "
                    f"{len(layers)} {kind} layers; give one weight per layer"
                )

    @property
    def side(self) -> int:
        """The output's longest side: --size, else the last of --scales, else SIZE."""
        return self.size if self.size is not None else (self.scales[-1] if self.scales else SIZE)

    def beta(self, model: str) -> float:
        """style_weight as given, or `model`'s default (VGG's raw or normalised), set at
        256 px and carried to the output's longest side s by

            beta(s) = beta_256 (s / 256)^2          (gatys, neural-style)
            beta(s) = beta_256 (s / 256)^-2         (none)

        At fixed weights the content term grows with the positions H*W (a sum over them,
        Eq. 1) and the style term does not (normalised by 1/M^2, Eq. 4): beta in
        proportion to the pixels keeps their balance, and the look, at any size. Without
        the 1/M^2 ("none") the style term grows with M^2, so beta goes as 1/M."""
        if self.style_weight is not None:
            return float(self.style_weight)
        side, bb, loss = self.side, backbones.get(model), self.style_loss
        gram_none = loss == "gram" and (self.style_normalization or bb.style_normalization) == "none"
        power = -2 if gram_none else 2  # (the other distances are averages, as Eq. 4)
        base = NORMALIZED_STYLE_WEIGHTS[loss] if self.normalize_weights else bb.style_weights[loss]
        return base * (side / REFERENCE_SIDE) ** power

    def sizes(self) -> Tuple[int, ...]:
        """The longest side at each scale: (size,) for a single-scale run."""
        if self.scales:
            return tuple(self.scales)
        size = self.side
        n = self.num_scales or 1 + max(0, round(2 * math.log2(max(size, 1) / REFERENCE_SIDE)))  # (auto)
        return tuple(dict.fromkeys(max(MIN_SIDE, round(size / 2 ** ((n - 1 - k) / 2))) for k in range(n)))

    def octave_count(self, side: int) -> int:
        """K, the objective's octaves at a scale of longest side `side` (paper/octaves.py):
        --octaves, else one per halving that stays at or above 256 px."""
        return levels_for(side, REFERENCE_SIDE, self.octaves or 0)

    def iterations(self) -> Tuple[int, ...]:
        """The iterations at each scale: scale_iters, or iters at the first (where the large
        structures settle) and iters / FINER_ITERS at each finer one (detail)."""
        n = len(self.sizes())
        finer = max(1, self.iters // FINER_ITERS) if self.iters else 0
        return self.scale_iters or (self.iters,) + (finer,) * (n - 1)

    def layers(self, model: str, kind: str) -> Tuple[str, ...]:
        """The content or style layers (`kind`): as given, else `model`'s own defaults."""
        bb, given = backbones.get(model), getattr(self, f"{kind}_layers")
        return tuple(given if given is not None else getattr(bb, f"{kind}_layers"))

    def objective(self, model: str) -> Objective:
        bb = backbones.get(model)
        content = [bb.resolve(n) for n in self.layers(model, "content")]
        style = [bb.resolve(n) for n in self.layers(model, "style")]
        cw = self.content_layer_weights or (1.0,) * len(content)
        sw = self.style_layer_weights or (1.0 / max(len(style), 1),) * len(style)
        return Objective(
            model,
            self.pooling,
            tuple(zip(content, map(float, cw))),
            tuple(zip(style, map(float, sw))),
            float(self.content_weight),
            self.beta(model),
            float(self.tv_weight),
            self.precision,
            self.style_normalization or bb.style_normalization,
            self.style_loss,
        )


def _names(model: str, layer: str) -> bool:
    try:
        return bool(backbones.get(model).resolve(layer))
    except NstError:
        return False


def _flag(name: str) -> str:
    return name.replace("_", "-")
