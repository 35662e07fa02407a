"""`python -m nst_jax video FRAMES STYLE [-o OUTPUT]`: a film, frame after frame, coherent in time (video/video.py)."""

import sys
import typing

from ..config import Config
from ..io import files
from ..io.signals import Stopped
from .flags import Parser, add_config_options, add_web, config_options, paths

SKIPPED = ("scales", "num_scales", "save_every")  # one image's options a frame does not take


def parser() -> Parser:
    p = Parser(
        prog="python -m nst_jax video",
        description="Stylize the frames of a film (a folder of images, an animated GIF or, with the video "
        "extra, a video file) one after "
        "another: each frame starts from the previous result warped by the optical flow and is held "
        "to it where the flow is reliable (Ruder et al. 2016), so the strokes do not flicker. "
        "OUTPUT: a folder of PNG frames, a .gif or a video file (.mp4 .webm .mkv .avi .mov; the sound is "
        "dropped); rerun the same command to finish an interrupted film.",
    )
    p.add_argument(
        "frames_in", metavar="FRAMES", help="a folder of frames (sorted by name), a GIF or a video file"
    )
    p.add_argument("style", type=paths, help="style image(s), comma-separated")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="folder of PNG frames, a .gif or a video file (default: FRAMES_stylized, FRAMES' kind)",
    )
    _film_flags(p)
    p.add_argument("--no-download", action="store_true", help="never download weights")
    p.add_argument("--quiet", action="store_true", help="no line per frame")
    p.add_argument("--verbose", action="store_true", help="print the plan")
    add_web(p)
    add_config_options(p, [f for f in Config.__dataclass_fields__ if f not in SKIPPED])
    return p


def _film_flags(p: Parser) -> None:
    """The options of a film, beside the single image's."""
    from ..video import flows
    from ..video.video import TEMPORAL_WEIGHT

    p.add_argument("--start", type=int, default=0, help="the first frame to stylize, from 0")
    p.add_argument("--frames", type=int, default=None, help="how many frames (default: all from --start)")
    p.add_argument(
        "--frame-iters",
        type=int,
        default=None,
        help="iterations of each frame after the first (default --iters/2)",
    )
    p.add_argument(
        "--temporal-weight",
        type=float,
        default=None,
        help=f"lambda of the temporal loss (Ruder et al. Eq. 7); default {TEMPORAL_WEIGHT:g} at 256 px, "
        "times (size/256)^2 as beta (docs/guide/video.md)",
    )
    p.add_argument(
        "--compare-independent",
        action="store_true",
        help="also stylize each frame alone (written to OUTDIR/alone/) and report its flicker beside "
        "ours (twice the time)",
    )
    p.add_argument(
        "--flow",
        choices=flows.NAMES,
        default="auto",
        help="the optical flow: OpenCV's DIS (the video extra) or ours in JAX; auto: DIS if installed",
    )
    p.add_argument(
        "--long-term",
        action="store_true",
        help="hold each frame to frames t-1, t-2 and t-4 too (Ruder et al. Sec. 3.2): what was "
        "hidden for a frame or two comes back as it was (3x the flows)",
    )
    p.add_argument(
        "--passes",
        type=int,
        default=1,
        help="passes over the film: the first frame after frame, each later one refines every frame at "
        "once (one batch), held to both neighbours of the pass before (Ruder et al. 2018's multi-pass)",
    )
    p.add_argument(
        "--fps", type=float, default=None, help="the output film's frames a second (default: the input's)"
    )


def main(argv: typing.List[str]) -> int:
    from ..video.video import stylize_video
    from ..web.preview import preview

    a = parser().parse_args(argv)
    style = a.style[0] if len(a.style) == 1 else a.style
    try:
        with preview(a.web, a.open, kind="video") as board:
            r = stylize_video(
                a.frames_in, style, a.output, not a.quiet, not a.no_download, a.verbose, a.start, a.frames,
                a.frame_iters, a.temporal_weight, a.compare_independent, a.fps, a.flow,
                a.long_term, a.passes, board, **config_options(a),
            )  # fmt: skip
    except Stopped as e:  # (a second signal: at once; the frames finished are on disk)
        print(f"interrupted by {e.name}: the frames finished are kept; rerun to finish", file=sys.stderr)
        return e.status
    i = r.info
    flicker = "" if i["flicker"] is None else f", flicker {i['flicker']:.2f}"
    if i.get("independent_flicker") is not None:
        flicker += f", style term {i['style']:.4g} (frames stylized alone: flicker "
        flicker += f"{i['independent_flicker']:.2f}, style term {i['independent_style']:.4g})"
    print(f"{len(r.frames)} frame(s) -> {files.show(i['output'])}{flicker}")
    if i["signal"]:
        import signal

        print(
            f"interrupted by {i['signal']}: {len(r.frames)} frame(s) kept; rerun to finish", file=sys.stderr
        )
        return 128 + int(getattr(signal, i["signal"]))
    return 0
