"""How much memory a run needs, how much there is, and how much was used.

A loss-and-gradient evaluation keeps every VGG activation up to the deepest layer of the
objective for the backward pass (the ReLU outputs, which are also the next
convolution's inputs), then holds a gradient or two of the largest layer while going
back. The estimate below is checked against peaks measured in a fresh process
(tests/test_memory.py) and in the README's tables.
"""

import os
import resource
from typing import Tuple

from .losses import Objective
from .vgg import WINOGRAD_MIN_CHANNELS, activation_elements, conv_layers, conv_shapes

FLOAT = 4  # bytes
VGG_PARAMS = 20_100_000  # floats in VGG19's convolutions (VGG16: 14.7 M)
RUNTIME = 300e6  # Python, JAX, XLA's code and buffers at rest (measured: ~0.3 GB)


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable on Linux)."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def peak_rss() -> int:
    """The largest resident set this process has had, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def estimate_memory(objective: Objective, hw: Tuple[int, int], style_hw: Tuple[int, int],
                    lbfgs_memory: int = 10, winograd: bool = False) -> int:
    """Rough peak bytes of a run: the weights, the activations kept for the backward pass,
    about two more of the largest layer's size while going back, the optimiser's
    image-sized buffers ((s, y) pairs for L-BFGS) and the runtime; XLA:CPU ordering each
    program for memory (xla.py). Measured against it (VGG19, one gradient,
    tests/test_memory.py): 512 px 0.85 GiB peak for 0.92 estimated, 1024 px 1.96 for
    2.15; 2048x1536 with L-BFGS and Winograd, 7.0 GB peak for 7.9 GiB (8.5 GB) estimated.
    `remat` is not counted (README, Performance). With `winograd`: the kernel transforms
    (U and U', 36/9 of a kernel each) twice over (computed on the host, then held by
    XLA: measured ~0.75 GiB for VGG19's), and one layer's Winograd-domain input and
    product (2.25x its block-3 input each)."""
    deepest = max(objective.layers, key=conv_layers(objective.model).index)
    acts = max(activation_elements(objective.model, *hw, deepest),
               activation_elements(objective.model, *style_hw, deepest))
    layer = hw[0] * hw[1] * 64  # the largest single activation (block 1)
    image = hw[0] * hw[1] * 3 * (2 * lbfgs_memory + 6)
    extra = 0
    if winograd:
        order = conv_layers(objective.model)
        shapes = [k for name, (k, _) in conv_shapes(objective.model).items()
                  if k[2] >= WINOGRAD_MIN_CHANNELS
                  and order.index("relu" + name[4:]) <= order.index(deepest)]
        extra = 2 * sum(2 * 36 * k[2] * k[3] for k in shapes)  # (U, U'), (36, C, K) each
        extra += 2 * 2.25 * (hw[0] // 4) * (hw[1] // 4) * 256 if shapes else 0
    return int(FLOAT * (acts + 2 * layer + image + 3 * VGG_PARAMS + extra) + RUNTIME)
