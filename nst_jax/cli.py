"""The command line: a thin layer over `stylize.stylize` and `weights`.

    python -m nst_jax [CONTENT STYLE] [options]     stylize (no images: the bundled demo)
    python -m nst_jax weights [...]                 where weights are looked for; fetch,
                                                    convert and inspect files

Errors a user can cause are printed as one line, `error: ...`, with exit status 2; a run
stopped by a non-finite loss writes the last finite image and exits with status 1.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

from . import __version__
from .errors import NstError
from .config import NORMALIZED_STYLE_WEIGHT, OPTIMIZERS, STYLE_WEIGHT, Config

DATA = Path(__file__).resolve().parent / "data"
DEMO_CONTENT, DEMO_STYLE = DATA / "chelsea.jpg", DATA / "starry_night.jpg"
SUBCOMMANDS = ("weights", "bench", "compare")


def _floats(text):
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _names(text):
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _paths(text):  # a,b.png -> [a, b.png], unless the whole text names a file
    return [text] if Path(text).exists() else list(_names(text))


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line via main(), not argparse's usage-then-exit
        raise NstError(f"{message} (see {self.prog} --help)")


def stylize_parser() -> argparse.ArgumentParser:
    d = Config()
    p = _Parser(prog="python -m nst_jax", description="Neural style transfer (Gatys et al.) in "
                "JAX. With no images, stylizes the bundled demo (a cat, The Starry Night). "
                "Subcommands: `weights`, `bench`, `compare` (python -m nst_jax weights --help).",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("content", nargs="?", help="content image (photo)")
    p.add_argument("style", nargs="?", help="style image (painting), or several separated "
                   "by commas (see --style-blend)")
    p.add_argument("-o", "--output", default="stylized.png", help="output image (.png, .jpg, ...)")
    p.add_argument("--size", type=int, default=None,
                   help=f"longest side of the output, px (default: {d.size}, or the last of --scales)")
    p.add_argument("--scales", type=_ints, default=None, help="coarse to fine: optimise at "
                   "each of these longest sides in turn (e.g. 256,384,512), each starting from "
                   "the last result upsampled; the output has the last")
    p.add_argument("--num-scales", type=int, default=d.num_scales, help="or: N scales, each "
                   "sqrt(2) times the last (twice the pixels), ending at --size")
    p.add_argument("--scale-iters", type=_ints, default=None,
                   help="iterations at each scale, comma-separated (default: --iters each)")
    p.add_argument("--style-blend", type=_floats, default=None,
                   help="with several comma-separated STYLE images: one weight each "
                   "(normalised to sum to 1; default: equal); with --style-mask: each "
                   "region's strength (default 1 each)")
    p.add_argument("--style-mask", type=_paths, default=None,
                   help="one grayscale mask per STYLE image, comma-separated, the content's "
                   "shape: white where that style applies (guided Grams, Gatys et al. 2017)")
    p.add_argument("--style-scale", type=float, default=None,
                   help="the style image's longest side relative to the output's (0.5: half "
                   "of --size, smaller strokes); instead of --style-size")
    p.add_argument("--style-size", type=int, default=None,
                   help="longest side of the style image, px (default: --size)")
    p.add_argument("--iters", type=int, default=d.iters, help="optimisation steps")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam step size, in 0..255 pixel units")
    p.add_argument("--lbfgs-memory", type=int, default=d.lbfgs_memory,
                   help="(s, y) pairs kept by lbfgs, optax-lbfgs and scipy-lbfgsb")
    p.add_argument("--line-search", choices=("wolfe", "armijo"), default=d.line_search,
                   help="line search of --optimizer lbfgs")
    p.add_argument("--max-evals", type=int, default=d.max_evals,
                   help="stop after N loss-and-gradient evaluations (0: no limit)")
    p.add_argument("--loop", choices=("auto", "host", "device"), default=d.loop,
                   help="device: chunks of steps as one compiled loop; host: one compiled "
                   "call per step (3x faster on CPU); auto: host on CPU, device elsewhere")
    p.add_argument("--content-weight", type=float, default=d.content_weight, help="alpha (Eq. 7)")
    p.add_argument("--style-weight", type=float, default=None, help="beta (Eq. 7); default "
                   f"{STYLE_WEIGHT:g}, or {NORMALIZED_STYLE_WEIGHT:g} with --normalize-weights")
    p.add_argument("--tv-weight", type=float, default=d.tv_weight, help="total variation weight")
    p.add_argument("--content-layers", type=_names, default=d.content_layers,
                   help="comma-separated, e.g. relu4_2 (conv4_2 and block4_conv2 also work)")
    p.add_argument("--content-layer-weights", type=_floats, default=None,
                   help="one weight per content layer (default: 1 each)")
    p.add_argument("--style-layers", type=_names, default=d.style_layers, help="comma-separated")
    p.add_argument("--style-layer-weights", type=_floats, default=None,
                   help="one weight w_l per style layer (default: equal, summing to 1)")
    p.add_argument("--pooling", choices=("max", "avg"), default=d.pooling)
    p.add_argument("--model", choices=("vgg19", "vgg16"), default=None,
                   help="default: the model the weights file holds")
    p.add_argument("--weights", default=None, help="Keras *_notop.h5 or converted .npz "
                   "(default: $NST_JAX_WEIGHTS, weights/, the user cache, then a download)")
    p.add_argument("--init", default=d.init, help="content, noise, style or an image path")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the noise init")
    p.add_argument("--preserve-colors", choices=("luminance", "histogram"), default=None,
                   help="keep the content's colours: transfer luminance only, or recolour "
                   "the style to the content's colour statistics first (Gatys et al. 2017)")
    p.add_argument("--normalize-weights", action="store_true", help="rescale VGG so that "
                   "each filter's mean activation over 7 bundled reference images is 1, as "
                   "Gatys et al. (the losses change scale: see README for weights)")
    p.add_argument("--ema", type=float, default=d.ema, help="output an exponential moving "
                   "average of the iterates with this decay, e.g. 0.9 (0: the last iterate)")
    p.add_argument("--remat", action="store_true", help="recompute VGG activations block by "
                   "block in the backward pass (jax.checkpoint); same result; on CPU it did "
                   "not lower the peak memory (README, Performance)")
    p.add_argument("--precision", choices=("float32", "tf32", "bf16"), default=d.precision,
                   help="convolution arithmetic: exact float32, the device's fast float32 "
                   "(TF32 on recent NVIDIA GPUs; float32 on CPU) or bfloat16")
    p.add_argument("--conv", choices=("auto", "direct", "winograd"), default=d.conv,
                   help="3x3 convolutions from 256 input channels by Winograd's F(4x4,3x3) "
                   "(4x fewer products, ~1e-5 relative rounding error) or direct (exact "
                   "float32); auto: Winograd on CPU, where it is faster (README, Performance)")
    p.add_argument("--save-every", type=int, default=d.save_every,
                   help="write OUTPUT_<iteration> every N iterations (0: never)")
    p.add_argument("--log", default=None, help="write the config and loss history as JSON")
    p.add_argument("--no-download", action="store_true", help="never download weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--version", action="version", version=f"nst_jax {__version__}")
    return p


def run_stylize(argv) -> int:
    a = stylize_parser().parse_args(argv)
    from .stylize import stylize
    if (a.content is None) != (a.style is None):
        raise NstError("give both CONTENT and STYLE images, or neither for the demo")
    content, style = (a.content, a.style) if a.content else (DEMO_CONTENT, DEMO_STYLE)
    if isinstance(style, str) and "," in style and not Path(style).exists():
        style = [s.strip() for s in style.split(",") if s.strip()]  # several styles
    size = a.size if a.size is not None else (a.scales[-1] if a.scales else Config().size)
    options = dict(size=size, scales=a.scales, num_scales=a.num_scales, scale_iters=a.scale_iters,
                   style_size=a.style_size, iters=a.iters, optimizer=a.optimizer,
                   lr=a.lr, lbfgs_memory=a.lbfgs_memory, line_search=a.line_search,
                   max_evals=a.max_evals, loop=a.loop, content_weight=a.content_weight, style_weight=a.style_weight,
                   tv_weight=a.tv_weight, content_layers=a.content_layers,
                   content_layer_weights=a.content_layer_weights, style_layers=a.style_layers,
                   style_layer_weights=a.style_layer_weights, pooling=a.pooling, model=a.model,
                   weights=a.weights, init=a.init, seed=a.seed, save_every=a.save_every,
                   preserve_colors=a.preserve_colors, style_blend=a.style_blend,
                   style_scale=a.style_scale, remat=a.remat, precision=a.precision, conv=a.conv,
                   normalize_weights=a.normalize_weights, ema=a.ema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the non-finite case is reported below
        r = stylize(content, style, output=a.output, log=a.log, progress=not a.quiet,
                    allow_download=not a.no_download, style_masks=a.style_mask, **options)
    i = r.info
    last = r.history[-1]
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


def run_weights(argv) -> int:
    from . import weights as wt
    p = _Parser(prog="python -m nst_jax weights", description="Show where VGG weights are "
                "looked for and what is found; fetch, convert or inspect a file.")
    p.add_argument("--fetch", choices=("vgg19", "vgg16"), help="download Keras' file to the "
                   "user cache (checksum-verified)")
    p.add_argument("--convert", metavar="H5", help="convert a Keras .h5 to our .npz (-o)")
    p.add_argument("-o", "--output", help="where --convert writes (default: beside the cache)")
    p.add_argument("--inspect", metavar="FILE", help="validate a .h5/.npz and list its layers")
    p.add_argument("--model", choices=("vgg19", "vgg16"), help="expected model")
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


def run_bench(argv) -> int:
    if argv and argv[0] == "optimizers":
        return run_bench_optimizers(argv[1:])
    from . import bench
    from .vgg import PRECISIONS
    p = _Parser(prog="python -m nst_jax bench", description="Seconds per loss-and-gradient "
                "evaluation of the same objective in nst_jax and in the PyTorch reference "
                "of `compare`, GFLOP/s, fraction of a matmul peak and peak memory, each run "
                "in its own process. `bench optimizers --help`: loss per optimiser against "
                "evaluations and seconds.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("what", nargs="?", choices=("speed",), default="speed")
    p.add_argument("--size", type=_ints, default=(256, 512, 1024),
                   help="longest side(s) of the image, comma-separated")
    p.add_argument("--model", type=_names, default=("vgg16", "vgg19"), help="comma-separated")
    p.add_argument("--framework", type=_names, default=bench.FRAMEWORKS,
                   help="comma-separated: jax, torch (the reference, NCHW), torch-cl "
                   "(the same in channels_last)")
    p.add_argument("--repeats", type=int, default=3, help="timed evaluations after a warm-up")
    p.add_argument("--remat", action="store_true", help="JAX with --remat")
    p.add_argument("--precision", choices=tuple(PRECISIONS), default="float32",
                   help="JAX's convolution precision")
    p.add_argument("--conv", choices=("auto", "direct", "winograd"), default="auto",
                   help="the `jax` row's convolutions (`jax-direct` is always direct)")
    p.add_argument("--json", default=None, help="write every measurement as JSON")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    for name, ok in (("--model", {"vgg16", "vgg19"}), ("--framework", set(bench.FRAMEWORKS))):
        bad = set(getattr(a, name[2:])) - ok
        if bad:
            raise NstError(f"unknown {name} {', '.join(sorted(bad))}; use {', '.join(sorted(ok))}")
    if not a.size or min(a.size) < 32:
        raise NstError("--size must be one or more sizes >= 32 px")
    if a.repeats < 1:
        raise NstError(f"--repeats must be >= 1, got {a.repeats}")
    a.models, a.sizes, a.frameworks = a.model, a.size, a.framework
    return bench.main_speed(a)


def run_bench_optimizers(argv) -> int:
    from . import bench
    d = Config()
    p = _Parser(prog="python -m nst_jax bench optimizers", description="The loss each "
                "optimiser reaches for the same budget of evaluations and seconds.",
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--evals", type=int, default=100, help="evaluation budget of every run")
    p.add_argument("--adam-lrs", type=_floats, default=(2.0, 5.0, 10.0, 20.0),
                   help="Adam learning rates tried; the best is reported as 'adam (tuned)'")
    p.add_argument("--content-weight", type=float, default=d.content_weight)
    p.add_argument("--style-weight", type=float, default=STYLE_WEIGHT)
    p.add_argument("--tv-weight", type=float, default=d.tv_weight)
    p.add_argument("--lbfgs-memory", type=int, default=d.lbfgs_memory)
    p.add_argument("--model", choices=("vgg19", "vgg16"), default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--json", default=None, help="write every run's history as JSON")
    p.add_argument("--plot", default=None, help="write loss curves as PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.evals < 1:
        raise NstError(f"--evals must be >= 1, got {a.evals}")
    return bench.main_optimizers(a)


def run_compare(argv) -> int:
    import json
    from . import compare as cp
    from . import weights as wt
    from .image import atomic_write
    p = _Parser(prog="python -m nst_jax compare", description="Our VGG features, losses and "
                "gradients against an independent PyTorch reference and Keras' own VGG, "
                "plus a float64 finite-difference check. Exit status 1 if a figure is over "
                "its tolerance.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("content", nargs="?", default=str(DEMO_CONTENT))
    p.add_argument("style", nargs="?", default=str(DEMO_STYLE))
    p.add_argument("--model", choices=("vgg19", "vgg16"), default=None)
    p.add_argument("--weights", default=None, help="a Keras .h5 file (default: the usual lookup)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--pooling", choices=("max", "avg"), default="max")
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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    started = time.perf_counter()
    try:
        if argv and argv[0] == "weights":
            return run_weights(argv[1:])
        if argv and argv[0] == "bench":
            return run_bench(argv[1:])
        if argv and argv[0] == "compare":
            return run_compare(argv[1:])
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
