"""`python -m nst_jax bench batch`: images per second for each batch size, against the
same images one by one, in one run on this machine.

N distinct images of one size (the content shifted by a few pixels each, so that every
image is its own problem) are stylized with `stylize_batch` at each batch size B, and
once more one at a time (batch size 1: one compilation, then each image its own run).
Each run's seconds are its optimisation's, compilation apart (the manifest's items:
their batch's seconds); the estimate is what fast/memory.py says one device needs for
B images. Measurements of this machine at the time of the run, not pass/fail tests.
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from ..batches.batch import stylize_batch
from ..io import image_files
from ..io.files import json_writer, write_kept
from ..paper import image as im


def _images(content: str, n: int, folder: Path) -> List[Path]:
    """n copies of the content, each shifted 7 px further (distinct images, one size)."""
    rgb = image_files.load_image(content)[0]
    paths = []
    for k in range(n):
        paths.append(folder / f"image{k:02d}.png")
        image_files.save_image(paths[-1], im.to_uint8(np.roll(rgb, 7 * k, axis=1)))
    return paths


def _seconds(out: Path) -> Dict[str, Any]:
    """Per item, its batch's (optimisation, compilation) seconds, from the manifest."""
    items = json.loads((out / "manifest.json").read_text())["items"]
    return {n: (e["seconds"], e["compile_seconds"]) for n, e in items.items() if e["state"] == "done"}


def bench_batch(
    content: str, style: str, batches: List[int], options: Dict[str, Any], quiet=False
) -> List[Dict]:
    """One row per batch size: seconds per batch, images per second batched and one by one."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = _images(content, max(batches), Path(tmp))
        one = stylize_batch(paths, [style], Path(tmp) / "one", batch_size=1, progress=False, **options)
        alone = _seconds(one.manifest.parent)
        for b in batches:
            r = stylize_batch(
                paths[:b], [style], Path(tmp) / f"b{b}", batch_size=b, progress=False, **options
            )
            together = _seconds(r.manifest.parent)
            seconds, compile_seconds = next(iter(together.values()))  # (one batch: the same for all)
            one_by_one = sum(alone[n][0] for n in together)
            per_device = r.info["per_device"]
            rows.append(
                dict(
                    batch=b,
                    devices=r.info["devices"],
                    size=next(iter(per_device)),
                    seconds=round(seconds, 3),
                    compile_seconds=round(compile_seconds, 1),
                    images_per_second=round(b / seconds, 4),
                    one_by_one_images_per_second=round(b / one_by_one, 4),
                    speedup=round(one_by_one / seconds, 3),
                    estimated_bytes=next(iter(r.info["estimated_bytes"].values())),
                )
            )
            if not quiet:
                print(table(rows[-1:], header=len(rows) == 1), file=sys.stderr, flush=True)
    return rows


def table(rows: List[Dict], header: bool = True) -> str:
    lines = (
        [
            "| batch | size | s per batch | images/s | one by one | speed-up | est. GiB/device |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        if header
        else []
    )
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['size']} | {r['seconds']:.2f} | {r['images_per_second']:.3f} | "
            f"{r['one_by_one_images_per_second']:.3f} | {r['speedup']:.2f}x | {r['estimated_bytes'] / 2**30:.2f} |"
        )
    return "\n".join(lines)


def main_batch(a) -> int:
    options = dict(size=a.size, iters=a.iters, model=a.model, weights=a.weights, optimizer=a.optimizer)
    if a.style_weight is not None:
        options["style_weight"] = a.style_weight
    rows = bench_batch(a.content, a.style, sorted(set(a.batch)), options, a.quiet)
    print(table(rows))
    if a.json:
        write_kept([("the measurements", Path(a.json), json_writer(rows))])  # (kept if the disk is full)
    return 0
