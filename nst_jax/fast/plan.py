"""The plan: every `auto` of a run settled once, before it starts.

`plan(config, model, pixels, devices)` looks at the devices and the run and decides how
the paper's computation is carried out; nothing else in nst_jax asks which device it
runs on. Each decision comes with its reason, printed with `--verbose` and recorded in
the log:

  conv       (VGG only; other backbones run their convolutions as written: direct.)
             "auto": Winograd's F(4x4, 3x3) (winograd.py) on CPU for images of
             winograd.MIN_PIXELS or more, for the convolutions with winograd.MIN_CHANNELS
             inputs or more (1.3-1.6x faster per evaluation there, ~5 s longer to
             compile); direct on GPUs and TPUs, whose libraries pick their own
             algorithms, and in bfloat16.
  loop       "auto": "host" on CPU (one compiled call per evaluation: XLA:CPU runs
             convolutions inside a while loop ~3x slower, loop.py), "device" elsewhere;
             optax's L-BFGS always "device" (its line search evaluates inside).
  max pool   always the written-out gradient (pool.py): the same values and gradient,
             ~7x faster backward on CPU.
  remat      as asked (remat.py).
  tile       "auto": the whole image at once when the memory estimate fits (fastest);
             otherwise strips (tiles.py: the same loss and gradient), the fewest whose
             estimate fits in TILE_FILL of the available memory; then the host loop.
  pairs      L-BFGS's memory (--lbfgs-memory), unless given: LBFGS_MEMORY pairs, fewer
             when 2 m image-sized vectors would pass PAIRS_BUDGET bytes (at least
             MIN_PAIRS): at 4096x3072 an (s, y) pair is 302 MB.
  scheduler  XLA:CPU's memory-ordered scheduler (xla.py) is reported, not chosen: it is
             read from XLA_FLAGS when JAX starts, before any plan can be made.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax

from ..config import Config
from ..errors import NstError
from ..paper import losses
from ..paper.backbones import deepest, get
from ..paper.vgg import Ops
from . import pool, remat, tiles, winograd, xla

LBFGS_MEMORY = 100  # pairs by default: PyTorch's history; fewer lose to it (docs/guide/optimizers.md)
PAIRS_BUDGET = 3 * 2**30  # bytes the default pairs may take: 10 pairs at 4096x3072
MIN_PAIRS = 5
TILE_FILL = 0.75  # of the available memory, what a tiled run's estimate may take


@dataclass(frozen=True)
class Plan:
    """How a run is computed: every `auto` of its Config settled."""

    platform: str  # of the devices: "cpu", "gpu" or "tpu"
    devices: int  # how many there are
    conv: str  # "direct" or "winograd": what --conv became
    winograd: Tuple[str, ...]  # the convolutions computed by Winograd's method
    loop: str  # "host" or "device" (loop.py)
    remat: bool  # each VGG block and its losses as one jax.checkpoint (remat.py)
    memory_scheduler: bool  # XLA:CPU orders programs for memory (xla.py)
    tile_rows: int = 0  # rows of each strip of a tiled evaluation (tiles.py); 0: whole
    lbfgs_memory: int = LBFGS_MEMORY  # (s, y) pairs of L-BFGS
    reasons: Tuple[str, ...] = ()  # one line per decision

    @property
    def ops(self) -> Ops:
        """vgg.Ops: the fast max pools (VGG's 2x2, ResNet50's 3x3), and WinogradConv for the
        chosen convolutions."""
        convs = tuple((n, winograd.WinogradConv) for n in self.winograd)
        return Ops(pool.max_pool_2x2, convs, pool.max_pool_3x3_s2)

    def prepare(self, params: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
        """params as the ops need them: the Winograd layers' kernels transformed."""
        return winograd.prepare(params, self.winograd)

    @property
    def loss_terms(self) -> Callable:
        """losses.loss_terms, or its rematerialised twin: (params, targets, x, objective, ops)."""
        return remat.loss_terms if self.remat else losses.loss_terms

    # how the run computes what the paper defines: whole, or in strips (tiles.py), the
    # same values; the run asks these and never hears of strips

    def content_targets(self, params, content_x, ob: losses.Objective) -> losses.Features:
        """P^l of the (preprocessed) content at the output's size."""
        if self.tile_rows:
            return tiles.content_targets(params, content_x, ob, self.ops, self.tile_rows)
        return losses.content_targets(params, content_x, ob, self.ops)

    def style_targets(
        self, params, style_x, out_hw: Tuple[int, int], ob: losses.Objective
    ) -> losses.Features:
        """A^l of one (preprocessed) style image for an output of out_hw (H, W)."""
        if self.tile_rows:
            return tiles.style_targets(params, style_x, out_hw, ob, self.ops, self.tile_rows)
        return losses.style_targets(params, style_x, out_hw, ob, self.ops)

    def evaluate(self, ob: losses.Objective) -> Optional[Callable]:
        """The loss and gradient as the optimiser's Problem.evaluate: (x, aux) -> ((total,
        terms), grad) in strips, called from Python; None: the loop compiles fun's own."""
        return tiles.value_and_grad(ob, self.ops, self.tile_rows) if self.tile_rows else None

    def describe(self) -> str:
        return "plan: " + "; ".join(self.reasons)

    def to_dict(self) -> Dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def plan(
    cfg: Config, model: str, pixels: int, devices: Optional[Sequence] = None, guided: bool = False
) -> Plan:
    """The plan of a run of `cfg` with `model` whose largest image optimised has `pixels`
    (H * W), on `devices` (default: jax.devices()); `guided`: with style masks. A tile
    of "auto" is settled by `with_tiles`, once the memory estimate can be made."""
    devices = list(devices if devices is not None else jax.devices())
    platform = devices[0].platform
    conv, why_conv = _conv(cfg, platform, pixels)
    if get(model).family != "vgg":
        conv, why_conv = "direct", f"{model}: Winograd is written for VGG's convolutions"
    layers = winograd.choose(model, deepest(model, cfg.objective(model).layers)) if conv == "winograd" else ()
    rows = 0
    if cfg.tile not in ("auto", "off"):
        why_not = tiles.supported(cfg.objective(model), guided, cfg.optimizer)
        if why_not:
            raise NstError(f"--tile cannot evaluate this run in strips: {why_not}; drop --tile")
        step = tiles.align(cfg.objective(model))
        rows = -(-int(cfg.tile) // step) * step
    loop, why_loop = _loop(cfg, platform, rows)
    pairs = cfg.lbfgs_memory or max(MIN_PAIRS, min(LBFGS_MEMORY, PAIRS_BUDGET // (2 * 4 * 3 * pixels)))
    why_pairs = "asked for" if cfg.lbfgs_memory else f"default, at most {PAIRS_BUDGET / 2**30:g} GiB"
    scheduler = platform == "cpu" and xla.memory_scheduler_on()
    reasons = (
        f"{len(devices)} {platform} device(s)",
        f"conv {conv} ({why_conv})" + (f": {', '.join(layers)}" if layers else ""),
        f"loop {loop} ({why_loop})",
        "max pool with the written-out gradient" if get(model).family == "vgg" else "max pool as written",
        f"remat {'on' if cfg.remat else 'off'}",
        f"XLA:CPU memory-ordered scheduler {'on' if scheduler else 'off'}",
        f"tile {f'{rows} rows (asked for)' if rows else cfg.tile}",
        f"L-BFGS memory {pairs} pairs ({why_pairs})",
    )
    return Plan(
        platform, len(devices), conv, layers, loop, cfg.remat, scheduler, rows, pairs, reasons=reasons
    )


def with_tiles(
    p: Plan, cfg: Config, model: str, height: int, memory: Callable[[int], int], available: int, guided: bool
) -> Plan:
    """`tile auto` settled: strips when the whole image's estimate (memory(0), bytes)
    passes `available`, the fewest whose estimate memory(rows) fits in TILE_FILL of it.
    Unchanged when it fits whole, when strips were asked for or refused, or when no
    number of strips fits (the memory check then refuses, with advice)."""
    if cfg.tile != "auto":
        return p
    if memory(0) <= available:
        return _retile(p, 0, "tile off (auto: the whole image fits)")
    why_not = tiles.supported(cfg.objective(model), guided, cfg.optimizer)
    if why_not:
        return _retile(p, 0, f"tile off (auto: the whole image does not fit, but {why_not})")
    step = tiles.align(cfg.objective(model))
    for n in range(2, height // step + 1):
        rows = -(-height // (n * step)) * step
        if memory(rows) <= TILE_FILL * available:
            return _retile(p, rows, f"tile {rows} rows (auto: the whole image does not fit; {n} strips do)")
    return _retile(p, 0, "tile off (auto: not even the thinnest strips fit)")


def _retile(p: Plan, rows: int, why: Optional[str]) -> Plan:
    reasons = tuple(why if r.startswith("tile ") and why else r for r in p.reasons)
    if rows and p.loop != "host":
        reasons = tuple(
            "loop host (a tiled evaluation runs from Python)" if r.startswith("loop ") else r for r in reasons
        )
    return dataclasses.replace(p, tile_rows=rows, loop="host" if rows else p.loop, reasons=reasons)


def _conv(cfg: Config, platform: str, pixels: int) -> Tuple[str, str]:
    if cfg.conv != "auto":
        return cfg.conv, "asked for"
    if platform != "cpu":
        return "direct", f"auto on {platform}: its libraries choose the algorithm"
    if cfg.precision == "bf16":
        return "direct", "auto in bfloat16: Winograd needs float32"
    if pixels < winograd.MIN_PIXELS:
        return "direct", f"auto on cpu below {winograd.MIN_PIXELS} px: compiles longer than it saves"
    return "winograd", "auto on cpu: 1.3-1.6x faster per evaluation"


def _loop(cfg: Config, platform: str, rows: int = 0) -> Tuple[str, str]:
    if cfg.optimizer == "optax-lbfgs":
        return "device", "optax-lbfgs evaluates inside its own line search"
    if rows:
        return "host", "a tiled evaluation runs from Python"
    if cfg.loop != "auto":
        return cfg.loop, "asked for"
    if platform == "cpu":
        return "host", "auto on cpu: XLA:CPU runs convolutions in loops ~3x slower"
    return "device", f"auto on {platform}"
