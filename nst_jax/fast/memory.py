"""How much memory a run needs, how much there is, and how much was used.

A loss-and-gradient evaluation keeps every activation up to the deepest layer of the
objective for the backward pass (VGG: the ReLU outputs, which are also the next
convolution's inputs; ResNet50: its ReLU outputs and residual sums), then holds a
gradient or two of the largest layer while going back. The estimate below is checked against peaks measured in a fresh process
(tests/fast/test_memory.py) and in docs/guide/performance.md's tables.
"""

import math
import os
import resource
from typing import Optional, Sequence, Tuple

from ..paper.backbones import deepest, get
from ..paper.losses import Objective
from ..paper.octaves import reduced_hw

FLOAT = 4  # bytes
RUNTIME = 300e6  # Python, JAX, XLA's code and buffers at rest (measured: ~0.3 GB)
# a batch holds more per image than one image does (the vmapped state held twice by the
# select that keeps an image still, the stacked targets and rows): measured peaks of
# 1.26, 1.57 and 2.03 GiB for 1, 4 and 8 images (VGG16, 256x170, L-BFGS, memory-ordered
# scheduler) against 1.12 + 0.073 GiB an image estimated without it
BATCH_FACTOR = 1.75


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def peak_rss() -> int:
    """The largest resident set this process has had, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def activation_elements(model: str, hw: Tuple[int, int], last: str) -> int:
    """Floats a forward pass to layer `last` keeps for one (H, W) image: the input and
    every activation up to `last` (their shapes read off the model: feature_shapes). ResNet50:
    the ReLU outputs (`_relu`, `_out`), the residual sums (`_add`) and pool1's; not its
    convolutions' and batch norms' outputs, folded into the next step (1024 px: 1.63 GiB
    measured, 1.84 estimated)."""
    bb = get(model)
    names, shapes = bb.layers, bb.feature_shapes(hw)
    skip = ("_conv", "_bn") if bb.family != "vgg" else ()
    kept = [n for n in names[: names.index(last) + 1] if not n.endswith(skip or ("\0",))]
    return hw[0] * hw[1] * 3 + sum(shapes[n][0] * shapes[n][1] * shapes[n][2] for n in kept)


def estimate_memory(
    objective: Objective,
    hw: Tuple[int, int],
    style_hw: Tuple[int, int],
    lbfgs_memory: int = 10,
    winograd: Sequence[str] = (),
    batch: int = 1,
    strip: Optional[Tuple[int, int]] = None,
    octaves: int = 1,
) -> int:
    """Rough peak bytes of a run: the weights, the activations kept for the backward pass,
    about two more of the largest layer's size while going back, the optimiser's
    image-sized buffers ((s, y) pairs for L-BFGS) and the runtime; XLA:CPU ordering each
    program for memory (xla.py). Measured against it (VGG19, one gradient,
    tests/fast/test_memory.py): 512 px 0.85 GiB peak for 0.92 estimated, 1024 px 1.96 for
    2.15; 2048x1536 with L-BFGS and Winograd, 7.0 GB peak for 7.9 GiB (8.5 GB) estimated.
    `remat` is not counted (docs/guide/performance.md). `winograd`: the convolutions computed
    by Winograd's method: their kernel transforms (U and U', 36/9 of a kernel each) twice
    over (computed on the host, then held by XLA: measured ~0.75 GiB for VGG19's), and
    one layer's Winograd-domain input and product (2.25x its block-3 input each).
    `batch`: images optimised together on the device (batch.py): their activations and
    buffers are BATCH_FACTOR x `batch` times one image's (estimated 1.56 and 2.09 GiB for
    1.57-1.66 and 2.03 measured there); the style's targets are computed one at a time.
    `strip`: (rows, width) of the largest strip of a tiled evaluation (tiles.py), halos
    included: the network's activations are a strip's (the style's too, in strips of the
    same rows), the image-sized buffers the whole image's, plus its gradient being summed
    and the content target. `octaves`: the objective's (paper/octaves.py): each reduced
    copy's activations too (at most a third more)."""
    last = deepest(objective.model, objective.layers)
    images = 1 if batch == 1 else BATCH_FACTOR * batch
    net_hw = strip or hw
    style_net = style_hw if strip is None else (min(style_hw[0], strip[0]), style_hw[1])
    mine = sum(activation_elements(objective.model, reduced_hw(net_hw, k), last) for k in range(octaves))
    acts = max(
        images * mine,
        activation_elements(objective.model, style_net, last),
    )
    sizes = get(objective.model).feature_shapes(net_hw).values()
    layer = images * max(h * w * c for h, w, c in sizes)  # the largest single activation
    image = images * hw[0] * hw[1] * 3 * (2 * lbfgs_memory + 6 + (3 if strip else 0))
    shapes = get(objective.model).param_shapes()
    weights = sum(math.prod(v) for p in shapes.values() for v in p.values())  # VGG19: 20.0 M
    extra = 0.0
    if winograd:  # (U, U'), (36, C, K) each, twice over; one layer's domain input and product
        extra = 2 * sum(2 * 36 * shapes[n]["kernel"][2] * shapes[n]["kernel"][3] for n in winograd)
        extra += 2 * 2.25 * (hw[0] // 4) * (hw[1] // 4) * 256
    return int(FLOAT * (acts + 2 * layer + image + 3 * weights + extra) + RUNTIME)
