"""`python -m nst_jax serve`: the studio, a local page to start runs and compare results (web/studio.py)."""

import typing

from .flags import Parser


def main(argv: typing.List[str]) -> int:
    p = Parser(
        prog="python -m nst_jax serve",
        description="A local studio page: choose a content and styles (upload, or the bundled examples), "
        "the main options, start runs (queued, one at a time), watch them, compare and download the "
        "results. Runs, uploads, results, logs and scores are kept in --folder. Needs the web extra.",
    )
    p.add_argument(
        "--port",
        default="8080",
        metavar="[HOST:]PORT",
        help="where to serve (0: any free port); a HOST such as 0.0.0.0 serves other machines, "
        "with a token in the URL (default: 127.0.0.1:8080)",
    )
    p.add_argument(
        "--folder", default="nst_jax_studio", help="where uploads and runs are kept (made if missing)"
    )
    p.add_argument("--weights", default=None, help="the weights file (default: found as a run finds it)")
    p.add_argument("--open", action="store_true", help="open the page in the system's browser")
    a = p.parse_args(argv)
    from ..web.studio import serve

    return serve(a.folder, a.port, a.weights, a.open)
