"""`python -m nst_jax compare`: our features, losses and gradients against PyTorch and Keras (reference/compare.py)."""

import typing
from pathlib import Path

from ..errors import NstError
from .flags import (
    Parser,
    add_config_options,
    add_demo_pair,
    add_outputs,
    check_outputs,
    demo_pair,
    inputs_of,
    names,
    write_json,
)


def main(argv: typing.List[str]) -> int:
    from ..io import lookup as lk
    from ..paper.distances import STYLE_LOSSES
    from ..reference import compare as cp

    p = Parser(
        prog="python -m nst_jax compare",
        description="Our VGG features, losses and "
        "gradients against an independent PyTorch reference and Keras' own VGG, plus a "
        "float64 finite-difference check. Exit status 1 if a figure is over its tolerance.",
    )
    add_demo_pair(p)
    add_config_options(p, ("model", "weights", "pooling"))
    p.add_argument("--size", type=int, default=128, help="longest side of the image, px")
    p.add_argument(
        "--framework", type=names, default=("torch", "keras"), help="comma-separated: torch, keras"
    )
    p.add_argument(
        "--style-loss",
        choices=STYLE_LOSSES,
        default="gram",
        help="the style terms compared: gram (Eq. 4), or distances.py's w2, sliced, meanstd "
        "against the same formulas in PyTorch (reference/torch_distances.py)",
    )
    add_outputs(p, json="the whole report as JSON")
    a = p.parse_args(argv)
    demo_pair(a)
    if set(a.framework) - {"torch", "keras"}:
        raise NstError(f"unknown framework in {','.join(a.framework)}; use torch and/or keras")
    check_outputs(a, inputs_of(a))
    path = lk.find_weights(a.weights, a.model)
    if path is None:
        raise NstError("no weights found; pass --weights FILE.h5 (see python -m nst_jax weights)")
    if Path(path).suffix == ".npz":
        raise NstError("compare reads the Keras .h5 file itself; pass --weights FILE.h5")
    report = cp.compare(
        a.content,
        a.style,
        path,
        model=a.model,
        size=a.size,
        pooling=a.pooling,
        frameworks=a.framework,
        style_loss=a.style_loss,
    )
    print(cp.table(report))
    over = cp.within(report)
    print("all figures within tolerance" if not over else f"over tolerance: {', '.join(over)}")
    write_json(a, "the report", report)
    return 1 if over else 0
