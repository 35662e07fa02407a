"""`python -m nst_jax layers`: every layer name a network takes, with its shape; the defaults marked."""

import typing

from ..errors import NstError
from .flags import (
    Parser,
)


def main(argv: typing.List[str]) -> int:
    from ..paper.backbones import NAMES, get

    p = Parser(
        prog="python -m nst_jax layers",
        description="Every layer name a model takes (for --content-layers and --style-layers), "
        "in order, with its shape for a square image; the defaults marked.",
    )
    p.add_argument("--model", choices=NAMES, default=NAMES[0])
    p.add_argument("--size", type=int, default=256, help="the image's side, px")
    a = p.parse_args(argv)
    bb = get(a.model)
    if a.size < bb.min_side:
        raise NstError(f"--size must be at least {bb.min_side} px for {a.model}, got {a.size}; raise --size")
    shapes = bb.feature_shapes((a.size, a.size))
    for n in bb.layers:
        h, w, c = shapes[n]
        marks = [what for what, ns in (("content", bb.content_layers), ("style", bb.style_layers)) if n in ns]
        print(f"{n:24s} {w}x{h}x{c}" + (f"  (default {', '.join(marks)})" if marks else ""))
    return 0
