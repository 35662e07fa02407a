"""The command line: a thin layer over `stylize.stylize` and the other commands.

    python -m nst_jax [CONTENT STYLE] [options]     stylize (no images: the bundled demo)
    python -m nst_jax weights [...]                 where weights are looked for; fetch,
                                                    convert and inspect files
    python -m nst_jax bench [optimizers] [...]      JAX against PyTorch; optimisers
    python -m nst_jax compare [...]                 features and gradients against PyTorch, Keras

The stylize options are generated from `Config` (config.py): one flag per field, whose
help, choices and default are the field's; only what is not a Config field (images,
output paths, subcommands) is written here. Errors a user can cause are printed as one
line, `error: ...`, with exit status 2; a run stopped by a non-finite loss writes the
last finite image and exits with status 1.
"""

import argparse
import dataclasses
import sys
import time
import typing
import warnings
from pathlib import Path

from . import __version__
from .config import SECTIONS, Config
from .errors import NstError

DATA = Path(__file__).resolve().parent / "data"
DEMO_CONTENT, DEMO_STYLE = DATA / "chelsea.jpg", DATA / "starry_night.jpg"


def _numbers(kind, what):
    def parse(text):  # '1,2.5' -> (1.0, 2.5)
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
    return parse


_floats, _ints = _numbers(float, "numbers"), _numbers(int, "integers")


def _names(text):
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _paths(text):  # a,b.png -> [a, b.png], unless the whole text names a file
    return [text] if Path(text).exists() else list(_names(text))


# a Config field's type -> how its flag parses text (Optional[X] parses as X)
PARSERS = {int: int, float: float, str: str, typing.Tuple[int, ...]: _ints,
           typing.Tuple[float, ...]: _floats, typing.Tuple[str, ...]: _names}


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        super().__init__(formatter_class=_Help, **kwargs)

    def error(self, message: str) -> typing.NoReturn:  # one line via main(), not usage-then-exit
        raise NstError(f"{message} (see {self.prog} --help)")


class _Help(argparse.HelpFormatter):
    """Adds '(default: X)' to an option's help, unless it has no default (None, off) or
    its help says what the default is already."""
    def _get_help_string(self, action):
        text, default = action.help or "", action.default
        if not action.option_strings or "default" in text or default in (None, False, argparse.SUPPRESS):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def flag(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def add_config_options(p: argparse.ArgumentParser,
                       only: typing.Optional[typing.Sequence[str]] = None) -> None:
    """One flag per Config field (or per field named in `only`), with the field's help,
    choices, type and default, grouped under config.SECTIONS."""
    hints, group = typing.get_type_hints(Config), typing.cast(typing.Any, p)  # p, then its groups
    for f in dataclasses.fields(Config):
        if only is not None and f.name not in only:
            continue
        if f.name in SECTIONS and only is None:
            group = p.add_argument_group(SECTIONS[f.name])
        kind = hints[f.name]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind) \
            if typing.get_origin(kind) is typing.Union else kind
        help_text = f.metadata["help"].replace("%", "%%")
        if kind is bool:
            group.add_argument(flag(f), action="store_true", help=help_text)
            continue
        listed = typing.get_origin(kind) is tuple  # comma-separated values
        group.add_argument(flag(f), type=PARSERS[kind], default=f.default, help=help_text,
                       choices=f.metadata["choices"], metavar="A,B,..." if listed else None)


def stylize_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m nst_jax", description="Neural style transfer (Gatys et al.) in "
                "JAX. With no images, stylizes the bundled demo (a cat, The Starry Night). "
                "Subcommands: `weights`, `bench`, `compare` (python -m nst_jax weights --help).")
    p.add_argument("content", nargs="?", help="content image (photo)")
    p.add_argument("style", nargs="?", help="style image (painting), or several separated "
                   "by commas (see --style-blend)")
    p.add_argument("-o", "--output", default="stylized.png", help="output image (.png, .jpg, ...)")
    p.add_argument("--style-mask", type=_paths, default=None,
                   help="one grayscale mask per STYLE image, comma-separated, the content's "
                   "shape: white where that style applies (guided Grams, Gatys et al. 2017)")
    p.add_argument("--log", default=None, help="write the config, plan and loss history as JSON")
    p.add_argument("--no-download", action="store_true", help="never download weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--verbose", action="store_true", help="print the plan: how each `auto` "
                   "was settled (convolutions, loop, scheduler) and why")
    p.add_argument("--version", action="version", version=f"nst_jax {__version__}")
    add_config_options(p)
    return p


def config_options(a: argparse.Namespace) -> dict:
    """The Config fields of parsed arguments, by name."""
    return {f.name: getattr(a, f.name) for f in dataclasses.fields(Config)}


def run_stylize(argv: typing.List[str]) -> int:
    a = stylize_parser().parse_args(argv)
    from .stylize import stylize
    if (a.content is None) != (a.style is None):
        raise NstError("give both CONTENT and STYLE images, or neither for the demo")
    content, style = (a.content, a.style) if a.content else (DEMO_CONTENT, DEMO_STYLE)
    if isinstance(style, str) and "," in style and not Path(style).exists():
        style = [s.strip() for s in style.split(",") if s.strip()]  # several styles
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the non-finite case is reported below
        r = stylize(content, style, output=a.output, log=a.log, progress=not a.quiet,
                    allow_download=not a.no_download, style_masks=a.style_mask,
                    verbose=a.verbose, **config_options(a))
    i, last = r.info, r.history[-1]
    per_it = i["seconds"] / max(i["iterations"], 1)
    print(f"{i['model']} {i['size'][0]}x{i['size'][1]}: {i['iterations']} iterations "
          f"({i['evaluations']} evaluations, {a.optimizer}) in "
          f"{i['seconds']:.1f} s ({per_it:.3f} s/it, +{i['compile_seconds']:.1f} s compile); "
          f"loss {last['total']:.4g} (content {last['content']:.4g}, style {last['style']:.4g}, "
          f"tv {last['tv']:.4g}) -> {a.output}")
    if i["stop"] == "interrupted":
        print(f"interrupted: wrote the image after {i['iterations']} iterations", file=sys.stderr)
        return 130
    if i["stop"] == "nonfinite":
        print(f"error: the loss became NaN or infinite after iteration {i['iterations']}; wrote "
              "the last finite image. Lower --lr or the loss weights", file=sys.stderr)
        return 1
    return 0


def run_weights(argv: typing.List[str]) -> int:
    from . import weights as wt
    p = _Parser(prog="python -m nst_jax weights", description="Show where VGG weights are "
                "looked for and what is found; fetch, convert or inspect a file.")
    p.add_argument("--fetch", choices=tuple(wt.URLS), help="download Keras' file to the "
                   "user cache (checksum-verified)")
    p.add_argument("--convert", metavar="H5", help="convert a Keras .h5 to our .npz (-o)")
    p.add_argument("-o", "--output", help="where --convert writes (default: beside the cache)")
    p.add_argument("--inspect", metavar="FILE", help="validate a .h5/.npz and list its layers")
    p.add_argument("--model", choices=tuple(wt.URLS), help="expected model")
    a = p.parse_args(argv)
    if a.fetch:
        print(f"saved {wt.download(a.fetch)}")
    elif a.convert:
        model, params = wt.read_keras_h5(a.convert, a.model)
        out = Path(a.output or wt.cache_dir() / (Path(a.convert).stem + ".npz"))
        if out.suffix != ".npz":
            raise NstError(f"--output {out} should end in .npz")
        out.parent.mkdir(parents=True, exist_ok=True)
        wt.save_npz(out, model, params, wt.file_hash(a.convert))
        print(f"{a.convert} ({model.upper()}) -> {out}")
    elif a.inspect:
        print(wt.describe(a.inspect))
    else:
        print("Weights are looked for in this order (first found wins):")
        print("  1. --weights PATH")
        for k, (what, path) in enumerate(wt.search_path(a.model), 2):
            print(f"  {k}. {what:18s} {path}  [{'found' if path.is_file() else 'absent'}]")
        print(f"  then: download {' or '.join(wt.URLS[m] for m in ([a.model] if a.model else ['vgg19']))}")
        print(f"Converted .npz caches live in {wt.cache_dir()}")
        found = wt.find_weights(None, a.model)
        print(f"Would use: {found or 'a download'}")
    return 0


def run_bench(argv: typing.List[str]) -> int:
    if argv and argv[0] == "optimizers":
        return run_bench_optimizers(argv[1:])
    from . import bench
    from .vgg import CHANNELS
    p = _Parser(prog="python -m nst_jax bench", description="Seconds per loss-and-gradient "
                "evaluation of the same objective in nst_jax and in the PyTorch reference "
                "of `compare`, GFLOP/s, fraction of a matmul peak and peak memory, each run "
                "in its own process. `bench optimizers --help`: loss per optimiser against "
                "evaluations and seconds.")
    p.add_argument("what", nargs="?", choices=("speed",), default="speed")
    p.add_argument("--size", type=_ints, default=(256, 512, 1024),
                   help="longest side(s) of the image, comma-separated")
    p.add_argument("--model", type=_names, default=("vgg16", "vgg19"), help="comma-separated")
    p.add_argument("--framework", type=_names, default=bench.FRAMEWORKS,
                   help="comma-separated: jax, jax-direct, torch (the reference, NCHW), "
                   "torch-cl (the same in channels_last)")
    p.add_argument("--repeats", type=int, default=3, help="timed evaluations after a warm-up")
    add_config_options(p, ("remat", "precision", "conv"))  # the `jax` row's (jax-direct: direct)
    p.add_argument("--json", default=None, help="write every measurement as JSON")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    for name, ok in (("--model", set(CHANNELS)), ("--framework", set(bench.FRAMEWORKS))):
        bad = set(getattr(a, name[2:])) - ok
        if bad:
            raise NstError(f"unknown {name} {', '.join(sorted(bad))}; use {', '.join(sorted(ok))}")
    if not a.size or min(a.size) < 32:
        raise NstError("--size must be one or more sizes >= 32 px")
    if a.repeats < 1:
        raise NstError(f"--repeats must be >= 1, got {a.repeats}")
    a.models, a.sizes, a.frameworks = a.model, a.size, a.framework
    return bench.main_speed(a)


def run_bench_optimizers(argv: typing.List[str]) -> int:
    from . import bench
    p = _Parser(prog="python -m nst_jax bench optimizers", description="The loss each "
                "optimiser reaches for the same budget of evaluations and seconds.")
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--evals", type=int, default=100, help="evaluation budget of every run")
    p.add_argument("--adam-lrs", type=_floats, default=(2.0, 5.0, 10.0, 20.0),
                   help="Adam learning rates tried; the best is reported as 'adam (tuned)'")
    add_config_options(p, ("content_weight", "style_weight", "tv_weight", "lbfgs_memory",
                           "model", "weights"))
    p.add_argument("--json", default=None, help="write every run's history as JSON")
    p.add_argument("--plot", default=None, help="write loss curves as PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.evals < 1:
        raise NstError(f"--evals must be >= 1, got {a.evals}")
    return bench.main_optimizers(a)


def run_compare(argv: typing.List[str]) -> int:
    import json

    from . import weights as wt
    from .image import atomic_write
    from .reference import compare as cp
    p = _Parser(prog="python -m nst_jax compare", description="Our VGG features, losses and "
                "gradients against an independent PyTorch reference and Keras' own VGG, plus a "
                "float64 finite-difference check. Exit status 1 if a figure is over its tolerance.")
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
    add_config_options(p, ("model", "weights", "pooling"))
    p.add_argument("--size", type=int, default=128, help="longest side of the image, px")
    p.add_argument("--framework", type=_names, default=("torch", "keras"),
                   help="comma-separated: torch, keras")
    p.add_argument("--json", default=None, help="write the whole report as JSON")
    a = p.parse_args(argv)
    if set(a.framework) - {"torch", "keras"}:
        raise NstError(f"unknown framework in {','.join(a.framework)}; use torch and/or keras")
    path = wt.find_weights(a.weights, a.model)
    if path is None:
        raise NstError("no weights found; pass --weights FILE.h5")
    if Path(path).suffix == ".npz":
        raise NstError("compare reads the Keras .h5 file itself; pass --weights FILE.h5")
    report = cp.compare(a.content, a.style, path, model=a.model, size=a.size, pooling=a.pooling,
                        frameworks=a.framework)
    print(cp.table(report))
    over = cp.within(report)
    print("all figures within tolerance" if not over else f"over tolerance: {', '.join(over)}")
    if a.json:
        atomic_write(a.json, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1)))
    return 1 if over else 0


COMMANDS = {"weights": run_weights, "bench": run_bench, "compare": run_compare}


def main(argv: typing.Optional[typing.Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    started = time.perf_counter()
    try:
        if argv and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        return run_stylize(argv)
    except NstError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - started:.0f} s; nothing written",
              file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; lower --size", file=sys.stderr)
        return 2
