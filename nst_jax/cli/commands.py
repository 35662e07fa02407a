"""The commands besides stylize: `batch`, `layers`, `weights`, `bench` (and `bench
optimizers`, `bench batch`, `bench balance`, `bench gpu`), `compare`, `score`.

Each parses its own arguments (flags.py; those that are Config fields generated from it)
and hands over to its module: batch.py, weights.py, bench/, reference/compare.py, score.py.

Over 300 lines: one parser per command, each about a screen, read side by side; split
in two files, the commands' flags would be looked for in two places.
"""

import signal
import sys
import typing
from pathlib import Path

from ..errors import NstError
from ..io import files
from ..io.image_files import DEMO_CONTENT, DEMO_STYLE
from ..io.signals import Stopped
from .flags import (
    Parser,
    add_config_options,
    batch_size,
    config_options,
    floats,
    ints,
    names,
    paths,
)


def run_weights(argv: typing.List[str]) -> int:
    from ..io import lookup as lk
    from ..io import weights as wt

    p = Parser(
        prog="python -m nst_jax weights",
        description="Show where VGG weights are "
        "looked for and what is found; fetch, convert or inspect a file.",
    )
    p.add_argument(
        "--fetch", choices=tuple(lk.URLS), help="download Keras' file to the user cache (checksum-verified)"
    )
    p.add_argument("--convert", metavar="H5", help="convert a Keras .h5 to our .npz (-o)")
    p.add_argument("-o", "--output", help="where --convert writes (default: beside the cache)")
    p.add_argument("--inspect", metavar="FILE", help="validate a .h5/.npz and list its layers")
    p.add_argument("--model", choices=tuple(lk.URLS), help="expected model")
    a = p.parse_args(argv)
    if a.fetch:
        print(f"saved {lk.download(a.fetch)}")
    elif a.convert:
        src = files.check_input(a.convert, "weights file")
        out = Path(a.output or wt.cache_dir() / (src.stem + ".npz"))
        if out.suffix != ".npz":
            raise NstError(f"--output {files.show(out)} should end in .npz; name it e.g. {out.stem}.npz")
        if a.output is None:
            out.parent.mkdir(parents=True, exist_ok=True)  # (the cache folder)
        files.check_outputs([("--output", out, None)], [("weights file", src)])
        model, params = wt.read_keras_h5(src, a.model)
        files.write_kept([("the converted weights", out, wt.npz_writer(model, params, wt.file_hash(src)))])
        print(f"{files.show(src)} ({model.upper()}) -> {files.show(out)}")
    elif a.inspect:
        print(wt.describe(a.inspect))
    else:
        print("Weights are looked for in this order (first found wins):")
        print("  1. --weights PATH")
        for k, (what, path) in enumerate(lk.search_path(a.model), 2):
            print(f"  {k}. {what:18s} {path}  [{'found' if path.is_file() else 'absent'}]")
        print(f"  then: download {' or '.join(lk.URLS[m] for m in ([a.model] if a.model else ['vgg19']))}")
        print(f"  (other models: --model {' / '.join(lk.URLS)})")
        print(f"Converted .npz caches live in {wt.cache_dir()}")
        found = lk.find_weights(None, a.model)
        print(f"Would use: {found or 'a download'}")
    return 0


def _inputs(a, images: bool = True) -> typing.List[typing.Tuple[str, typing.Any]]:
    """What a command's outputs must not overwrite: its content and style images (unless
    images=False: the caller lists its own) and the weights file it will read, found as the
    run finds it."""
    from ..io import lookup as lk

    found = [(what, getattr(a, what.split()[0], None)) for what in ("content image", "style image") if images]
    return found + [("weights file", lk.find_weights(getattr(a, "weights", None), getattr(a, "model", None)))]


def run_bench(argv: typing.List[str]) -> int:
    others = dict(
        optimizers=run_bench_optimizers, batch=run_bench_batch, balance=run_bench_balance, gpu=run_bench_gpu
    )
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
        "evaluations and seconds; `bench gpu --help`: the README's GPU table.",
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
    p.add_argument("--json", default=None, help="write every measurement as JSON")
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
    files.check_outputs([("--json", a.json, None)], [])
    a.models, a.sizes, a.frameworks = a.model, a.size, a.framework
    return bench.main_speed(a)


def run_bench_optimizers(argv: typing.List[str]) -> int:
    from .. import bench

    p = Parser(
        prog="python -m nst_jax bench optimizers",
        description="The loss each optimiser reaches for the same budget of evaluations and seconds.",
    )
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
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
    p.add_argument("--json", default=None, help="write every run's history as JSON")
    p.add_argument("--plot", default=None, help="write loss curves as PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    a.runs = _runs(a.runs, bench.RUNS)
    if a.evals < 1:
        raise NstError(f"--evals must be >= 1, got {a.evals}; e.g. --evals 100")
    _, plot = files.check_outputs([("--json", a.json, None), ("--plot", a.plot, None)], _inputs(a))
    if plot:
        bench.check_plot(plot)
    return bench.main_optimizers(a)


def _runs(value: str, known: typing.Sequence[str]) -> typing.Tuple[str, ...]:
    runs = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [r for r in runs if r not in known]
    if unknown or not runs:
        raise NstError(f"unknown --runs {','.join(unknown) or repr(value)}; use some of: {','.join(known)}")
    return runs


def run_bench_batch(argv: typing.List[str]) -> int:
    from ..bench.batch import main_batch

    p = Parser(
        prog="python -m nst_jax bench batch",
        description="Images per second for each batch size against the same images one by one, in one run.",
    )
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=ints, default=(1, 2, 4, 8), help="batch sizes, comma-separated")
    p.add_argument("--iters", type=int, default=10, help="iterations of every image")
    add_config_options(p, ("optimizer", "style_weight", "model", "weights"))
    p.add_argument("--json", default=None, help="write the rows as JSON")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if not a.batch or min(a.batch) < 1 or a.iters < 1:
        raise NstError("--batch sizes and --iters must be >= 1; e.g. --batch 1,2,4 --iters 10")
    files.check_outputs([("--json", a.json, None)], _inputs(a))
    return main_batch(a)


def run_bench_balance(argv: typing.List[str]) -> int:
    from ..bench.balance import main_balance
    from ..paper.backbones import NAMES

    p = Parser(
        prog="python -m nst_jax bench balance",
        description="Each backbone's style term beside its content term under each style normalisation "
        "(what sets resnet50's defaults; README, Backbones).",
    )
    p.add_argument("--model", type=names, default=("vgg16", "vgg19", "resnet50"), help="comma-separated")
    p.add_argument("--size", type=int, default=256, help="longest side, px")
    p.add_argument("--json", default=None, help="write the rows as JSON")
    a = p.parse_args(argv)
    if set(a.model) - set(NAMES) or a.size < 32:
        raise NstError(
            f"--model takes {', '.join(NAMES)} and --size at least 32 px; e.g. --model vgg16,resnet50"
        )
    files.check_outputs([("--json", a.json, None)], [])
    return main_balance(a)


def run_bench_gpu(argv: typing.List[str]) -> int:
    from ..bench.gpu import FULL, QUICK, main_gpu

    show = lambda d: [(k, ",".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in d.items()]
    p = Parser(
        prog="python -m nst_jax bench gpu",
        description="The README's GPU table: seconds per VGG19 evaluation at each size in float32, tf32 "
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
    p.add_argument("--json", default=None, help="write every measurement as JSON")
    p.add_argument("--markdown", default=None, help="write the header line and tables as markdown")
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
    files.check_outputs([("--json", a.json, None), ("--markdown", a.markdown, None)], [])
    return main_gpu(a)


def run_compare(argv: typing.List[str]) -> int:
    from ..io import lookup as lk
    from ..paper.distances import STYLE_LOSSES
    from ..reference import compare as cp

    p = Parser(
        prog="python -m nst_jax compare",
        description="Our VGG features, losses and "
        "gradients against an independent PyTorch reference and Keras' own VGG, plus a "
        "float64 finite-difference check. Exit status 1 if a figure is over its tolerance.",
    )
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
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
    p.add_argument("--json", default=None, help="write the whole report as JSON")
    a = p.parse_args(argv)
    if set(a.framework) - {"torch", "keras"}:
        raise NstError(f"unknown framework in {','.join(a.framework)}; use torch and/or keras")
    files.check_outputs([("--json", a.json, None)], _inputs(a))
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
    if a.json:
        files.write_kept([("the report", Path(a.json), files.json_writer(report))])
    return 1 if over else 0


def run_score(argv: typing.List[str]) -> int:
    from ..config import Config
    from ..io import image_files
    from ..io import lookup as lk
    from ..paper.vgg import MIN_SIDE
    from ..run.score import ANALYSIS_SIZE, describe, score

    p = Parser(
        prog="python -m nst_jax score",
        description="The content and style terms of OUTPUT against CONTENT and STYLE with "
        "all three resized to one analysis size (and at OUTPUT's own size): a score that "
        "compares results of different sizes, settings and tools (nst_jax/run/score.py).",
    )
    p.add_argument("output", help="the stylized image scored")
    p.add_argument("content", help="the content photo it was made from")
    p.add_argument(
        "style", help="the style image, or several separated by commas (scored against their blend)"
    )
    p.add_argument(
        "--analysis-size", type=int, default=ANALYSIS_SIZE, help="longest side, px, all are scored at"
    )
    add_config_options(p, ("model", "weights", "pooling", "content_layers", "style_layers"))
    p.add_argument("--json", default=None, help="write both scores as JSON")
    a = p.parse_args(argv)
    if a.analysis_size < MIN_SIDE:
        raise NstError(f"--analysis-size must be at least {MIN_SIDE} px, got {a.analysis_size}; e.g. 256")
    styles = [a.style] if files.exists(a.style) else list(names(a.style))
    scored = [("scored image", a.output), ("content image", a.content), *[("style image", s) for s in styles]]
    files.check_outputs([("--json", a.json, None)], scored + _inputs(a, images=False))
    images = [image_files.load_image(path)[0] for path in (a.output, a.content, *styles)]
    (h, w), (ph, pw) = images[0].shape[:2], images[1].shape[:2]
    if abs(h * pw - w * ph) > pw + ph:  # (more than a pixel of rounding per side: another aspect)
        raise NstError(
            f"the scored image is {w}x{h} px and the content photo {pw}x{ph} px, another aspect ratio "
            f"(the photo would be stretched to it); score {files.show(a.output)} against the photo it was made from, cropped alike"
        )
    options = dict(model=a.model, weights=a.weights, pooling=a.pooling)
    cfg = Config(**options, content_layers=a.content_layers, style_layers=a.style_layers).validate()
    model, params, _ = lk.resolve(cfg.weights, cfg.model, progress=False)
    ob = cfg.objective(model)
    at, own = (score(params, ob, images[0], images[1], images[2:], size=s) for s in (a.analysis_size, None))
    print(f"{files.show(a.output)}: {describe(at)} (analysis size); {describe(own)} (its own size)")
    if a.json:
        scores = {"model": model, "analysis": at, "own_size": own}
        files.write_kept([("the scores", Path(a.json), files.json_writer(scores))])
    return 0


def run_batch(argv: typing.List[str]) -> int:
    p = Parser(
        prog="python -m nst_jax batch",
        description="Stylize every CONTENT image with every STYLE image, OUTDIR/<content>__<style>.png, "
        "in batches through one vmapped optimiser sharded over every device (and every process with "
        "--coordinator, or under Slurm). OUTDIR/manifest.json records each image: rerun the same "
        "command to finish an interrupted batch. Exit status 1 if an image failed.",
    )
    p.add_argument("content", nargs="+", help="content images: files, folders (their images) or globs")
    p.add_argument("--style", required=True, type=paths, help="style image(s), comma-separated")
    p.add_argument("-o", "--output", required=True, help="the folder of the outputs (made if missing)")
    p.add_argument(
        "--batch-size",
        type=batch_size,
        default="auto",
        help="images optimised together, over all devices; auto: as many per device as the "
        "memory estimate fits, up to 32 (and at most the images of one size)",
    )
    _process_flags(p)
    p.add_argument("--no-download", action="store_true", help="never download weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="print the plan")
    add_config_options(p)
    a = p.parse_args(argv)
    _connect(a)
    from ..batches.batch import stylize_batch

    options = {k: v for k, v in config_options(a).items() if k != "size" or v is not None}
    try:
        r = stylize_batch(
            a.content, a.style, a.output, a.batch_size, not a.quiet, not a.no_download, a.verbose, **options
        )
    except Stopped as e:  # (a second signal: at once; what was finished is on disk and recorded)
        manifest = Path(a.output) / "manifest.json"
        if not manifest.is_file():
            raise  # (nothing written)
        print(
            f"interrupted by {e.name}: the images finished are kept, {files.show(manifest)} says which; "
            "rerun to finish",
            file=sys.stderr,
        )
        return e.status
    return _report(r)


def _report(r) -> int:
    """A batch's end: its summary (process 0), its errors, its exit status."""
    if r.info["processes"] == 1 or r.info["process"] == 0:
        print(
            f"{len(r.done)} of {r.info['items']} images done ({r.info['run']} this run, "
            f"{r.info['seconds']:.1f} s, {r.info['devices']} device(s)), {len(r.failed)} failed, "
            f"{len(r.pending)} pending -> {files.show(r.manifest)}"
        )
        for name, why in r.failed.items():
            print(f"error: {name}: {why}", file=sys.stderr)
        for why in r.info["kept"]:  # (the manifest, kept elsewhere: the disk is full)
            print(f"error: {why}", file=sys.stderr)
        if r.info["stopped"]:  # (a write failed: the batch stopped after the batch it was in)
            print(
                f"error: a write failed, so the batch stopped with {len(r.pending)} image(s) pending; "
                "free some space, then rerun to finish",
                file=sys.stderr,
            )
    if r.info["signal"]:
        print(
            f"interrupted by {r.info['signal']}: {len(r.pending)} image(s) pending; rerun to finish",
            file=sys.stderr,
        )
        return 128 + int(getattr(signal, r.info["signal"]))
    return 1 if r.failed or r.info["stopped"] else 0


def _process_flags(p: Parser) -> None:
    p.add_argument(
        "--coordinator", default=None, help="HOST:PORT of process 0, to run over several processes"
    )
    p.add_argument("--num-processes", type=int, default=None, help="with --coordinator: how many")
    p.add_argument("--process-id", type=int, default=None, help="with --coordinator: this one's, 0..N-1")
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=None,
        help="with --coordinator: seconds to wait for every process to come (default 60)",
    )


def _connect(a) -> None:
    """The multi-process flags checked (before anything is created), then every process met."""
    if (a.coordinator is None) != (a.num_processes is None) or (a.num_processes is None) != (
        a.process_id is None
    ):
        raise NstError("--coordinator, --num-processes and --process-id go together; give all three or none")
    if a.connect_timeout is not None and not 0 < a.connect_timeout < float("inf"):
        raise NstError(
            f"--connect-timeout must be a positive number of seconds, got {a.connect_timeout}; e.g. 60"
        )
    from ..fast import processes

    timeout = a.connect_timeout or processes.CONNECT_TIMEOUT  # (connect checks the coordinator first)
    processes.connect(a.coordinator, a.num_processes, a.process_id, timeout, say=not a.quiet)


def run_layers(argv: typing.List[str]) -> int:
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


COMMANDS = {
    "batch": run_batch,
    "layers": run_layers,
    "weights": run_weights,
    "bench": run_bench,
    "compare": run_compare,
    "score": run_score,
}
