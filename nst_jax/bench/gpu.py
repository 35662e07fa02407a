"""`python -m nst_jax bench gpu`: the GPU table of docs/guide/performance.md, in one command (under 8 minutes
on an H100 or H200).

VGG19 (a VGG19 file if one is found, else He-normal random weights: speed does not
depend on the values) on the bundled photo and painting (nst_jax/data), so that it runs
from a clean clone. Three measurements, each cell in a fresh process (its compile time
and peak memory its own: the allocator's peak on an accelerator, the resident set on CPU):

  - one loss-and-gradient evaluation at each size and precision (float32, tf32, bf16):
    bench/speed.py's cells (`speed`, framework jax), median of `repeats`;
  - the run loop driven from the host (one compiled call per step) against the one on
    the device (chunks of steps as one compiled while_loop): `loop_iters` L-BFGS
    iterations at `run_size` px through `stylize(loop=...)`, compilation apart;
  - a whole run end to end: `stylize`, `iters` (500) L-BFGS iterations at `run_size`
    (512) px, one scale, as the command line runs it: wall seconds of the call,
    compilation, seconds per iteration, the final loss and peak memory.

`quick` is CPU-sized (the test and CI run it). Measurements of the device at the time
of the run, never pass/fail tests.
"""

import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

MODEL = "vgg19"
PRECISIONS = ("float32", "tf32", "bf16")
LOOPS = (("host", "host-driven loop"), ("device", "on-device loop"))
# the command's defaults (full: docs/guide/performance.md's table; quick: CPU-sized, for the tests and CI)
FULL: Dict[str, Any] = dict(size=(512, 1024, 2048), repeats=3, loop_iters=20, iters=500, run_size=512)
QUICK: Dict[str, Any] = dict(size=(48,), repeats=2, loop_iters=3, iters=5, run_size=48)
CELL_TIMEOUT = 600  # s: a cell that hangs is reported as an error, the rest still run


def weights_file(folder: Path) -> Tuple[str, str]:
    """(path, source) of the weights every cell uses: a VGG19 file if one is found, else
    He-normal random ones (drawn by NumPy, here: no JAX computation in this process, which
    on a GPU would take the memory the cells measure) written into `folder`."""
    import numpy as np

    from ..io import lookup as lk
    from ..io import weights as wt
    from ..paper.vgg import layers

    path = lk.find_weights(None, MODEL)
    if path is not None and wt.load_stored(path)[0] == MODEL:
        return str(path), path.name
    rng, stored, c_in = np.random.default_rng(0), {}, 3
    for layer in layers(MODEL):
        scale = np.float32((2.0 / (9 * c_in)) ** 0.5)
        kernel = rng.standard_normal((3, 3, c_in, layer.channels), np.float32) * scale
        stored[layer.conv] = dict(kernel=kernel, bias=rng.standard_normal(layer.channels, np.float32) * 0.1)
        c_in = layer.channels
    wt.save_npz(folder / f"{MODEL}_random.npz", MODEL, stored, "0" * 64)
    return str(folder / f"{MODEL}_random.npz"), "random (He-normal)"


@contextlib.contextmanager
def _weights_env(path: str) -> Iterator[None]:
    """$NST_JAX_WEIGHTS set to `path` meanwhile: where bench/speed.py's cells find theirs."""
    old = os.environ.get("NST_JAX_WEIGHTS")
    os.environ["NST_JAX_WEIGHTS"] = path
    try:
        yield
    finally:
        if old is None:
            del os.environ["NST_JAX_WEIGHTS"]
        else:
            os.environ["NST_JAX_WEIGHTS"] = old


def time_run(loop: str, size: int, iters: int, weights: str) -> Dict[str, Any]:
    """One `stylize` run of L-BFGS in this process: its loop, seconds and memory."""
    import jax

    from ..fast.memory import peak_rss
    from ..io.image_files import DEMO_CONTENT, DEMO_STYLE
    from ..run.stylize import stylize

    options: Dict[str, Any] = dict(
        model=MODEL, weights=weights, size=size, iters=iters, num_scales=1, loop=loop
    )
    t = time.perf_counter()
    r = stylize(str(DEMO_CONTENT), str(DEMO_STYLE), progress=False, allow_download=False, **options)
    wall = time.perf_counter() - t
    info, dev = r.info, jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    iterations, evaluations = max(info["iterations"], 1), max(info["evaluations"], 1)
    return dict(
        loop=info["plan"].get("loop", loop),
        size=info["size"],
        iterations=info["iterations"],
        evaluations=info["evaluations"],
        seconds=info["seconds"],
        compile_seconds=info["compile_seconds"],
        wall_seconds=wall,
        seconds_per_iteration=info["seconds"] / iterations,
        seconds_per_evaluation=info["seconds"] / evaluations,
        final_loss=float(r.history[-1]["total"]),
        stop=info["stop"],
        peak_bytes=stats["peak_bytes_in_use"] if stats else peak_rss(),
        device=f"{dev.platform}: {getattr(dev, 'device_kind', '')}",
    )


def _child(args: Sequence[str]) -> Dict[str, Any]:
    """`python -m nst_jax.bench.gpu ARGS` in a fresh process: its JSON line, or {"error"}."""
    cmd = [sys.executable, "-m", "nst_jax.bench.gpu", *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=CELL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {CELL_TIMEOUT} s"}
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines() or ["?"]
        return {"error": next((e.split("Error: ", 1)[1] for e in lines[::-1] if "Error: " in e), lines[-1])}
    return json.loads(r.stdout.strip().splitlines()[-1])


Rows = List[Dict[str, Any]]


def gpu_report(
    sizes: Sequence[int] = FULL["size"],
    repeats: int = 3,
    loop_iters: int = 20,
    iters: int = 500,
    run_size: int = 512,
    progress: bool = True,
    quick: bool = False,
) -> Dict[str, Any]:
    """Every measurement of the report: {"device", "date", "jax", "evals", "runs", ...}."""
    import jax

    from .speed import speed

    evals: Rows
    runs: Rows
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else (lambda text: None)
    start, evals, runs = time.perf_counter(), [], []  # (rows: time_one's and time_run's dicts)
    with tempfile.TemporaryDirectory() as tmp:
        weights, source = weights_file(Path(tmp))
        with _weights_env(weights):  # (the same file, found by each of speed's cells)
            for size in sizes:
                for p in PRECISIONS:
                    evals += [
                        dict(r, precision=p)
                        for r in speed((MODEL,), (size,), ("jax",), repeats, precision=p, progress=progress)
                    ]
                    if len(evals) == 1 and evals[0].get("device", "").startswith("cpu") and not quick:
                        print(
                            "note: this report is meant for an accelerator; on CPU it runs, slowly",
                            flush=True,
                        )
        cells = [(what, loop, loop_iters) for loop, what in LOOPS]
        cells.append((f"{iters} L-BFGS iterations end to end", "auto", iters))
        for what, loop, n in cells:
            say(f"-- {what}: {n} iterations at {run_size} px, loop {loop}")
            runs.append(dict(_child(["run", loop, str(run_size), str(n), weights]), run=what))
    platform, _, device = next((r["device"] for r in evals + runs if "device" in r), "?: ?").partition(": ")
    return dict(
        device=device or platform,
        platform=platform,
        date=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        jax=jax.__version__,
        mode="quick" if quick else "full",
        source=source,
        seconds=time.perf_counter() - start,
        evals=evals,
        runs=runs,
    )


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def header(report: Dict[str, Any]) -> str:
    """The line above the tables: the device, the date, JAX, the weights, the time it took."""
    return (
        f"GPU report ({report['mode']}): {report['device']} ({report['platform']}), {report['date']}, "
        f"jax {report['jax']}; {MODEL.upper()}, {report['source']} weights, chelsea.jpg + "
        f"starry_night.jpg; {report['seconds']:.0f} s in all."
    )


def eval_table(rows: List[Dict[str, Any]]) -> str:
    """Markdown: seconds per evaluation, one line per size and precision."""
    lines = [
        "| size | precision | s / eval | vs float32 | GFLOP/s | compile s | peak memory |",
        "|" + " --- |" * 7,
    ]
    for r in rows:
        size = f"{r['size'][0]}x{r['size'][1]}"
        if "error" in r:
            lines.append(f"| {size} | {r['precision']} | error: {r['error']} |" + " |" * 4)
            continue
        base = [o for o in rows if o["size"] == r["size"] and o["precision"] == "float32" and "seconds" in o]
        vs = f"{r['seconds'] / base[0]['seconds']:.2f}x" if base else "n/a"
        lines.append(
            f"| {size} | {r['precision']} | {r['seconds']:.4f} | {vs} | {r['gflops']:.0f} "
            f"| {r['compile_seconds']:.1f} | {_gib(r['peak_bytes'])} |"
        )
    return "\n".join(lines)


def run_table(rows: List[Dict[str, Any]]) -> str:
    """Markdown: the two loops and the end-to-end run, one line each."""
    lines = [
        "| run | loop | size | iterations | evaluations | s / iteration | s / eval | compile s "
        "| wall s | final loss | stop | peak memory |",
        "|" + " --- |" * 12,
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['run']} | error: {r['error']} |" + " |" * 10)
            continue
        lines.append(
            f"| {r['run']} | {r['loop']} | {r['size'][0]}x{r['size'][1]} | {r['iterations']} "
            f"| {r['evaluations']} | {r['seconds_per_iteration']:.4f} | {r['seconds_per_evaluation']:.4f} "
            f"| {r['compile_seconds']:.1f} | {r['wall_seconds']:.1f} | {r['final_loss']:.4e} | {r['stop']} "
            f"| {_gib(r['peak_bytes'])} |"
        )
    return "\n".join(lines)


def markdown(report: Dict[str, Any]) -> str:
    """The header line and both tables, as docs/guide/performance.md's GPU section holds them."""
    parts = [header(report)]
    if report["evals"]:
        parts.append(eval_table(report["evals"]))
    if report["runs"]:
        parts.append(run_table(report["runs"]))
    return "\n\n".join(parts) + "\n"


def failed(report: Dict[str, Any]) -> bool:
    return any("error" in r for r in report["evals"] + report["runs"])


def main_gpu(a: Any) -> int:
    """The command: measure, print the tables, write --json and --markdown; 1 if a cell failed."""
    from ..io import files

    report = gpu_report(a.size, a.repeats, a.loop_iters, a.iters, a.run_size, not a.quiet, a.quick)
    text = markdown(report)
    print(text, end="")
    writes: List[files.Write] = []
    if a.json:
        writes.append(("the measurements", Path(a.json), files.json_writer(report)))
    if a.markdown:
        writes.append(("the tables", Path(a.markdown), lambda tmp: Path(tmp).write_text(text)))
    files.write_kept(writes)
    return 1 if failed(report) else 0


if __name__ == "__main__":  # one run, in its own process (`_child`): prints one JSON line
    from ..fast import use_memory_scheduler

    use_memory_scheduler()  # as the command line runs: before JAX's first computation
    loop, size, iters, weights = sys.argv[2:6]  # (after "run")
    print(json.dumps(time_run(loop, int(size), int(iters), weights)))
