"""`python -m nst_jax.bench.sizes`: the same look at any size? Runs, scores and times.

For each CONTENT:STYLE pair, runs the command line at each size with its defaults (and,
with --old, the single-scale literal-beta run that was the default before issue 17, at
`--old-iters` iterations; with --also, any other flags at a size), each in its own process, and reads each run's log: seconds
(compilation included) and the size-free score at 256 px (score.py). Prints a Markdown
table, the style and content terms relative to the pair's 256 px run. Measurements of
this machine at the time of the run; nothing here is a pass/fail test.

    python -m nst_jax.bench.sizes tubingen.jpg:starry_night.jpg ... --weights W.h5 \\
        --sizes 256,512,1024 --old 512 --out runs/ --also "512 one octave=--octaves 1"
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from ..io.files import atomic_write, json_writer


def run_one(content: str, style: str, out: Path, size: int, extra: List[str], weights: str) -> Dict:
    log = out.with_suffix(".json")
    argv = [sys.executable, "-m", "nst_jax", content, style, "--size", str(size), "--quiet"]
    argv += ["--weights", weights, "-o", str(out), "--log", str(log), *extra]
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        return {"error": p.stderr.strip()[-300:], "size": size}
    summary = json.loads(log.read_text())["summary"]
    return {
        "size": size,
        "scales": summary["scales"],
        "iterations": summary["iterations"],
        "seconds": summary["seconds"] + summary["compile_seconds"],
        "wall_seconds": wall,
        "score": summary["score"],
        "options": extra,
    }


def table(rows: List[Dict]) -> str:
    lines = [
        "| pair | run | scales | iterations | seconds (whole command) | content @256 | style @256 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ref = next(x for x in rows if x["pair"] == r["pair"] and x["run"] == "256")
        if "error" in r:
            lines.append(f"| {r['pair']} | {r['run']} | error: {r['error']} | | | | |")
            continue
        c, s = r["score"]["content"], r["score"]["style"]
        rc, rs = c / ref["score"]["content"], s / ref["score"]["style"]
        scales = "→".join(str(max(w, h)) for w, h in r["scales"])
        lines.append(
            f"| {r['pair']} | {r['run']} | {scales} | {r['iterations']} | {r['wall_seconds']:.0f} "
            f"| {c:.3g} ({rc:.2f}x) | {s:.3g} ({rs:.2f}x) |"
        )
    return "\n".join(lines)


def figure(rows: List[Dict], out: Path, path: Path, width: int = 360) -> None:
    """The first pair's results side by side, each shown `width` px wide, labelled."""
    from PIL import Image, ImageDraw

    first = [r for r in rows if r["pair"] == rows[0]["pair"] and "error" not in r]
    tiles = []
    for r in first:
        img = Image.open(out / f"{r['pair']}_{r['run'].replace(' ', '_')}.png").convert("RGB")
        tiles.append(img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS))
    h = max(t.height for t in tiles)
    sheet = Image.new("RGB", (len(tiles) * (width + 4) + 4, h + 26), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (t, r) in enumerate(zip(tiles, first)):
        sheet.paste(t, (4 + k * (width + 4), 4))
        what = " before (beta 300, one scale)" if "before" in r["run"] else r["run"][len(str(r["size"])) :]
        label = f"{r['size']} px{what}, {r['wall_seconds']:.0f} s"
        draw.text((6 + k * (width + 4), h + 8), label, fill="black")
    atomic_write(path, lambda tmp: sheet.save(tmp, quality=90))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nst_jax.bench.sizes", description=__doc__.split("\n")[0])
    p.add_argument("pairs", nargs="+", help="CONTENT:STYLE image pairs")
    p.add_argument("--weights", default=os.environ.get("NST_JAX_WEIGHTS"), required=False)
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--old", default="512", help="sizes of the before-issue-17 default run ('' for none)")
    p.add_argument("--old-iters", type=int, default=300)
    p.add_argument(
        "--also",
        action="append",
        default=[],
        help="another run: 'SIZE LABEL=FLAGS', e.g. '512 one octave=--octaves 1' (repeatable)",
    )
    p.add_argument("--out", default="size_runs", help="folder for the images, logs and results.json")
    p.add_argument("--figure", default=None, help="write the first pair's results side by side (.jpg)")
    p.add_argument("--table-only", action="store_true", help="read results.json from --out, run nothing")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = json.loads((out / "results.json").read_text()) if a.table_only else []
    for pair in [] if a.table_only else a.pairs:
        content, style = pair.split(":")
        name = f"{Path(content).stem}+{Path(style).stem}"
        runs: List[Tuple[str, int, List[str]]] = [(s, int(s), []) for s in a.sizes.split(",")]
        old = ["--num-scales", "1", "--style-weight", "300", "--iters", str(a.old_iters)]
        runs += [(f"{s} before", int(s), old) for s in a.old.split(",") if s]
        for spec in a.also:  # 'SIZE LABEL=FLAGS'
            label, flags = spec.split("=", 1)
            runs.append((label.strip(), int(label.split()[0]), flags.split()))
        for label, size, extra in runs:
            r = run_one(content, style, out / f"{name}_{label.replace(' ', '_')}.png", size, extra, a.weights)
            rows.append(dict(r, pair=name, run=label))
            print(json.dumps(rows[-1]), flush=True)
            atomic_write(out / "results.json", json_writer(rows))
    print(table(rows))
    if a.figure:
        figure(rows, out, Path(a.figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
