"""`python -m nst_jax bench [optimizers|batch|balance|gpu]`: the benchmarks (bench/), their flags checked here.

One function per benchmark; `main` picks it by the first argument (none: `speed`)."""

import typing

from ..errors import NstError
from .flags import (
    Parser,
    add_config_options,
    add_demo_pair,
    add_outputs,
    check_outputs,
    demo_pair,
    floats,
    inputs_of,
    ints,
    names,
)


def main(argv: typing.List[str]) -> int:
    others = dict(optimizers=optimizers, batch=batch, balance=balance, gpu=gpu)
    if argv and argv[0] in others:
        return others[argv[0]](argv[1:])
    from .. import bench
    from ..paper.backbones import NAMES as CHANNELS

    p = Parser(
        prog="python -m nst_jax bench",
        description="Seconds per loss-and-gradient "
        "evaluation of the same objective in nst_jax and in the PyTorch reference "
        "of `compare`, GFLOP/s, fraction of a matmul peak and peak memory, each run "
        "in its own process. `bench optimizers --help`: loss per optimiser against "
        "evaluations and seconds; `bench gpu --help`: docs/guide/performance.md's GPU table.",
    )
    p.add_argument("what", nargs="?", choices=("speed",), default="speed")
    p.add_argument(
        "--size", type=ints, default=(256, 512, 1024), help="longest side(s) of the image, comma-separated"
    )
    p.add_argument("--model", type=names, default=("vgg16", "vgg19"), help="comma-separated")
    p.add_argument(
        "--framework",
        type=names,
        default=bench.FRAMEWORKS,
        help="comma-separated: jax, jax-direct, torch (the reference, NCHW), "
        "torch-cl (the same in channels_last)",
    )
    p.add_argument("--repeats", type=int, default=3, help="timed evaluations after a warm-up")
    p.add_argument(
        "--style-loss",
        type=names,
        default=("gram",),
        help="comma-separated: gram, w2, sliced, meanstd (PyTorch rows: gram only)",
    )
    add_config_options(p, ("remat", "precision", "conv"))  # the `jax` row's (jax-direct: direct)
    add_outputs(p, json="every measurement as JSON")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    from ..paper.distances import STYLE_LOSSES

    checks = [
        ("--model", set(CHANNELS)),
        ("--framework", set(bench.FRAMEWORKS)),
        ("--style-loss", set(STYLE_LOSSES)),
    ]
    for name, ok in checks:
        bad = set(getattr(a, name[2:].replace("-", "_"))) - ok
        if bad:
            raise NstError(f"unknown {name} {', '.join(sorted(bad))}; use one of {', '.join(sorted(ok))}")
    if not a.size or min(a.size) < 32:
        raise NstError("--size must be one or more sizes >= 32 px; e.g. --size 256,512")
    if a.repeats < 1:
        raise NstError(f"--repeats must be >= 1, got {a.repeats}; e.g. --repeats 3")
    check_outputs(a)
    a.models, a.sizes, a.frameworks = a.model, a.size, a.framework
    return bench.main_speed(a)


def optimizers(argv: typing.List[str]) -> int:
    from .. import bench

    p = Parser(
        prog="python -m nst_jax bench optimizers",
        description="The loss each optimiser reaches for the same budget of evaluations and seconds.",
    )
    add_demo_pair(p)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--evals", type=int, default=100, help="evaluation budget of every run")
    p.add_argument(
        "--adam-lrs",
        type=floats,
        default=(2.0, 5.0, 10.0, 20.0),
        help="Adam learning rates tried; the best is reported as 'adam (tuned)'",
    )
    add_config_options(p, ("content_weight", "style_weight", "tv_weight", "lbfgs_memory", "model", "weights"))
    p.add_argument(
        "--runs",
        default=",".join(bench.RUNS),
        help=f"comma-separated, from {','.join(bench.RUNS)} (default: all; pytorch-lbfgs: PyTorch's "
        "L-BFGS as neural-style runs it, history 100, step 1, no line search)",
    )
    add_outputs(p, json="every run's history as JSON", plot="loss curves as PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    demo_pair(a)
    a.runs = _runs(a.runs, bench.RUNS)
    if a.evals < 1:
        raise NstError(f"--evals must be >= 1, got {a.evals}; e.g. --evals 100")
    _, plot = check_outputs(a, inputs_of(a))
    if plot:
        bench.check_plot(plot)
    return bench.main_optimizers(a)


def _runs(value: str, known: typing.Sequence[str]) -> typing.Tuple[str, ...]:
    runs = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [r for r in runs if r not in known]
    if unknown or not runs:
        raise NstError(f"unknown --runs {','.join(unknown) or repr(value)}; use some of: {','.join(known)}")
    return runs


def batch(argv: typing.List[str]) -> int:
    from ..bench.batch import main_batch

    p = Parser(
        prog="python -m nst_jax bench batch",
        description="Images per second for each batch size against the same images one by one, in one run.",
    )
    add_demo_pair(p)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=ints, default=(1, 2, 4, 8), help="batch sizes, comma-separated")
    p.add_argument("--iters", type=int, default=10, help="iterations of every image")
    add_config_options(p, ("optimizer", "style_weight", "model", "weights"))
    add_outputs(p, json="the rows as JSON")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    demo_pair(a)
    if not a.batch or min(a.batch) < 1 or a.iters < 1:
        raise NstError("--batch sizes and --iters must be >= 1; e.g. --batch 1,2,4 --iters 10")
    check_outputs(a, inputs_of(a))
    return main_batch(a)


def balance(argv: typing.List[str]) -> int:
    from ..bench.balance import main_balance
    from ..paper.backbones import NAMES

    p = Parser(
        prog="python -m nst_jax bench balance",
        description="Each backbone's style term beside its content term under each style normalisation "
        "(what sets resnet50's defaults; docs/guide/backbones.md).",
    )
    p.add_argument("--model", type=names, default=("vgg16", "vgg19", "resnet50"), help="comma-separated")
    p.add_argument("--size", type=int, default=256, help="longest side, px")
    add_outputs(p, json="the rows as JSON")
    a = p.parse_args(argv)
    if set(a.model) - set(NAMES) or a.size < 32:
        raise NstError(
            f"--model takes {', '.join(NAMES)} and --size at least 32 px; e.g. --model vgg16,resnet50"
        )
    check_outputs(a)
    return main_balance(a)


def gpu(argv: typing.List[str]) -> int:
    from ..bench.gpu import FULL, QUICK, main_gpu

    show = lambda d: [(k, ",".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in d.items()]
    p = Parser(
        prog="python -m nst_jax bench gpu",
        description="The GPU table of docs/guide/performance.md: seconds per VGG19 evaluation at each size in float32, tf32 "
        "and bf16; the host-driven loop against the on-device one; a 500-iteration L-BFGS run end to end; "
        "peak memory. Each cell in a fresh process; under 8 minutes on an H100/H200.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="CPU-sized, for tests and CI: "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in show(QUICK)),
    )
    p.add_argument(
        "--size",
        type=ints,
        default=None,
        help=f"longest sides, comma-separated (default {dict(show(FULL))['size']})",
    )
    p.add_argument("--repeats", type=int, default=None, help="timed evaluations after a warm-up (default 3)")
    p.add_argument("--loop-iters", type=int, default=None, help="iterations of each loop's run (default 20)")
    p.add_argument("--iters", type=int, default=None, help="iterations of the end-to-end run (default 500)")
    p.add_argument(
        "--run-size", type=int, default=None, help="px of the loop and end-to-end runs (default 512)"
    )
    add_outputs(p, json="every measurement as JSON", markdown="the header line and tables as markdown")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    for k, v in (QUICK if a.quick else FULL).items():
        setattr(a, k, v if getattr(a, k) is None else getattr(a, k))
    if not a.size or min(a.size) < 32 or a.run_size < 32:
        raise NstError(
            "--size and --run-size must be sizes >= 32 px; e.g. --size 512,1024,2048 --run-size 512"
        )
    if min(a.repeats, a.loop_iters, a.iters) < 1:
        raise NstError(
            "--repeats, --loop-iters and --iters must be >= 1; e.g. --repeats 3 --loop-iters 20 --iters 500"
        )
    check_outputs(a)
    return main_gpu(a)
