"""The command line: a thin layer over `stylize.stylize` and the other commands.

    python -m nst_jax [CONTENT STYLE] [options]     stylize (no images: the bundled demo)
    python -m nst_jax weights [...]                 where weights are looked for; fetch,
                                                    convert and inspect files
    python -m nst_jax bench [optimizers] [...]      JAX against PyTorch; optimisers
    python -m nst_jax compare [...]                 features and gradients against PyTorch, Keras
    python -m nst_jax score OUTPUT CONTENT STYLE    the size-free score of a result (score.py)

The stylize options are generated from `Config` (config.py, flags.py): one flag per
field, whose help, choices and default are the field's; only what is not a Config field
(images, output paths) is written here, and the other commands in commands.py. Errors a user can cause are printed as one
line, `error: ...`, with exit status 2; a run stopped by a non-finite loss writes the
last finite image and exits with status 1.
"""

import argparse
import math
import signal
import sys
import time
import typing
import warnings
from pathlib import Path

from .. import __version__
from ..errors import NstError, one_line
from ..io import files
from ..io.image_files import DEMO_CONTENT, DEMO_STYLE
from ..io.signals import Stopped
from .commands import COMMANDS
from .flags import Parser, add_config_options, config_options, paths








def main(argv: typing.Optional[typing.Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    started = time.perf_counter()
    try:
        if argv and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        return run_stylize(argv)
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
