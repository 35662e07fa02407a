"""`python -m nst_jax [CONTENT STYLE] [options]`: one image (run/stylize.py); its options generated from Config."""

import argparse
import math
import signal
import sys
import typing
import warnings
from pathlib import Path

from .. import __version__
from ..io import files
from .flags import Parser, add_config_options, add_demo_pair, add_web, config_options, demo_pair, paths


def stylize_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m nst_jax",
        description="Neural style transfer (Gatys et al.) in "
        "JAX. With no images, stylizes the bundled demo (a cat, The Starry Night). "
        "Subcommands: `batch`, `video`, `serve`, `layers`, `weights`, `bench`, `compare`, `score` "
        "(python -m nst_jax score --help).",
    )
    add_demo_pair(
        p, "content image (photo)", "style image (painting), or several separated by commas (--style-blend)"
    )
    p.add_argument("-o", "--output", default="stylized.png", help="output image (.png, .jpg, ...)")
    p.add_argument(
        "--style-mask",
        type=paths,
        default=None,
        help="one grayscale mask per STYLE image, comma-separated, the content's "
        "shape: white where that style applies (guided Grams, Gatys et al. 2017)",
    )
    p.add_argument("--log", default=None, help="write the config, plan and loss history as JSON")
    p.add_argument("--no-download", action="store_true", help="never download weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="print the plan: how each `auto` was settled (convolutions, loop, scheduler) and why",
    )
    add_web(p)
    p.add_argument("--version", action="version", version=f"nst_jax {__version__}")
    add_config_options(p)
    return p


def main(argv: typing.List[str]) -> int:
    a = stylize_parser().parse_args(argv)
    from ..run.stylize import stylize
    from ..web.preview import preview

    content, given = demo_pair(a)
    style: typing.Union[str, typing.List[str]] = given
    if "," in given and not files.exists(given):
        style = [s.strip() for s in given.split(",") if s.strip()]  # several styles
    with warnings.catch_warnings(), preview(a.web, a.open) as board:
        warnings.simplefilter("ignore")  # the non-finite case is reported below
        r = stylize(
            content,
            style,
            output=a.output,
            log=a.log,
            progress=not a.quiet,
            allow_download=not a.no_download,
            style_masks=a.style_mask,
            verbose=a.verbose,
            board=board,
            **config_options(a),
        )
    i, last = r.info, r.history[-1]
    per_it = i["seconds"] / max(i["iterations"], 1)
    print(
        f"{i['model']} {i['size'][0]}x{i['size'][1]}: {i['iterations']} iterations "
        f"({i['evaluations']} evaluations, {a.optimizer}) in "
        f"{i['seconds']:.1f} s ({per_it:.3f} s/it, +{i['compile_seconds']:.1f} s compile); "
        f"loss {last['total']:.4g} (content {last['content']:.4g}, style {last['style']:.4g}, "
        f"tv {last['tv']:.4g}) -> "
        + (files.show(a.output) if str(Path(a.output)) in i["wrote"] else "no image written")
    )
    wrote = " and ".join(files.show(w) for w in i["wrote"]) or "nothing"
    if i["stop"] == "nonfinite":
        print(f"error: {_nonfinite(r.history, i['iterations'], wrote)}", file=sys.stderr)
        return 1
    if i["signal"]:  # interrupted in the loop, or during the final writes
        print(
            f"interrupted by {i['signal']}: wrote {wrote} after {i['iterations']} iterations", file=sys.stderr
        )
        return 128 + int(getattr(signal, i["signal"]))
    return 0


def _nonfinite(history, iterations: int, wrote: str) -> str:
    """What a run stopped by a NaN or infinite loss tells: which image was kept, if any."""
    if any(math.isfinite(h["total"]) for h in history):
        return (
            f"the loss became NaN or infinite after iteration {iterations}; wrote the last "
            f"finite image ({wrote}): lower --lr or the loss weights"
        )
    terms = ", ".join(f"{k} {history[0][k]:.3g}" for k in ("content", "style", "tv"))
    return (
        f"the loss of the starting image is already NaN or infinite ({terms}); wrote "
        f"{'no image' if wrote == 'nothing' else 'no image, only ' + wrote}: lower "
        "--style-weight, --content-weight or --tv-weight"
    )
