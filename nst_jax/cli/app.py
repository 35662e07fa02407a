"""`python -m nst_jax`: which command runs, and how its end is told (messages, exit status).

    python -m nst_jax [CONTENT STYLE] [options]     stylize.py (no images: the bundled demo)
    python -m nst_jax batch CONTENT... --style S    batch.py: every photo with every style
    python -m nst_jax video FRAMES STYLE            video.py: a film, coherent in time
    python -m nst_jax layers [--model M]            layers.py: the layer names a network takes
    python -m nst_jax weights [...]                 weights.py: where weights are looked for;
                                                    fetch, convert and inspect files
    python -m nst_jax bench [optimizers|...] [...]  bench.py: the benchmarks
    python -m nst_jax compare [...]                 compare.py: against PyTorch and Keras
    python -m nst_jax score OUTPUT CONTENT STYLE    score.py: the size-free score of a result
    python -m nst_jax serve [--port N] [--folder D] serve.py: the studio page (web/studio.py)

Each command is a module of this folder with a `main(argv) -> exit status`; the flags
they share, and the options generated from `Config`, are flags.py. Errors a user can
cause are printed here as one line, `error: ...`, with exit status 2; Ctrl-C and SIGTERM
before a run's loop as one line with 130 or 143.
"""

import sys
import time
import typing

from ..errors import NstError, one_line
from ..io import files
from ..io.signals import Stopped
from . import batch, bench, compare, layers, score, serve, stylize, video, weights

COMMANDS = {
    "batch": batch.main,
    "video": video.main,
    "layers": layers.main,
    "weights": weights.main,
    "bench": bench.main,
    "compare": compare.main,
    "score": score.main,
    "serve": serve.main,
}


def main(argv: typing.Optional[typing.Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    started = time.perf_counter()
    try:
        if argv and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        return stylize.main(argv)
    except NstError as e:
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM before the loop, or a second one in it
        name, status = (e.name, e.status) if isinstance(e, Stopped) else ("SIGINT", 130)
        print(
            f"interrupted by {name} after {time.perf_counter() - started:.0f} s; nothing written",
            file=sys.stderr,
        )
        return status
    except MemoryError:  # (what sets the size differs by command)
        what = {"score": "--analysis-size", "batch": "--size or --batch-size"}.get(
            argv[0] if argv else "", "--size"
        )
        print(f"error: out of memory; lower {what}", file=sys.stderr)
        return 2
    except OSError as e:  # the last net: a file problem no check foresaw (each class has one)
        where = f" ({files.show(e.filename)})" if e.filename else ""
        print(
            f"error: {one_line(e.strerror or str(e))}{where}; check the path, its permissions and free space",
            file=sys.stderr,
        )
        return 2
