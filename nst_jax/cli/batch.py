"""`python -m nst_jax batch`: every photo with every style (batches/batch.py), over devices and processes."""

import signal
import sys
import typing
from pathlib import Path

from ..errors import NstError
from ..io import files
from ..io.signals import Stopped
from .flags import (
    Parser,
    add_config_options,
    add_web,
    batch_size,
    config_options,
    paths,
)


def main(argv: typing.List[str]) -> int:
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
    add_web(p)
    add_config_options(p)
    a = p.parse_args(argv)
    _connect(a)
    import jax

    from ..batches.batch import stylize_batch
    from ..web.preview import preview

    options = {k: v for k, v in config_options(a).items() if k != "size" or v is not None}
    first = jax.process_index() == 0  # (the page is process 0's: it sees the whole batch's entries)
    try:
        with preview(a.web if first else None, a.open and first, kind="batch") as board:
            r = stylize_batch(
                a.content, a.style, a.output, a.batch_size, not a.quiet, not a.no_download, a.verbose,
                board=board, **options,
            )  # fmt: skip
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
    from ..fast import processes  # (imports JAX: only once a batch is asked for)

    p.add_argument(
        "--coordinator", default=None, help="HOST:PORT of process 0, to run over several processes"
    )
    p.add_argument("--num-processes", type=int, default=None, help="with --coordinator: how many")
    p.add_argument("--process-id", type=int, default=None, help="with --coordinator: this one's, 0..N-1")
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=processes.CONNECT_TIMEOUT,
        help="with --coordinator: seconds to wait for every process to come (default %(default)g)",
    )


def _connect(a) -> None:
    """The multi-process flags checked (before anything is created), then every process met."""
    if (a.coordinator is None) != (a.num_processes is None) or (a.num_processes is None) != (
        a.process_id is None
    ):
        raise NstError("--coordinator, --num-processes and --process-id go together; give all three or none")
    if not 0 < a.connect_timeout < float("inf"):
        raise NstError(
            f"--connect-timeout must be a positive number of seconds, got {a.connect_timeout}; e.g. 60"
        )
    from ..fast import processes

    processes.connect(a.coordinator, a.num_processes, a.process_id, a.connect_timeout, say=not a.quiet)
