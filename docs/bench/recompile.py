"""Compiled work kept or thrown away: a second stylize() call in the same process, and a
batch of 8 photos x 1 style.

    NST_JAX_WEIGHTS=<vgg16 .h5> NST_JAX_IMAGES=<images folder> python docs/bench/recompile.py

Prints one JSON object: for each stylize() call (256 px, the same options) its wall
seconds and the seconds JAX spent compiling; for the batch (8 crops of one photo, one
style, all 256x192: one group) its wall seconds, compile seconds and how many times a
style's targets were computed. Compile seconds are what JAX itself reports
(jax.monitoring's trace, lowering and backend-compile durations), so the same measure
applies to any version of the code: run it from two checkouts (PYTHONPATH=<checkout>)
side by side. The targets are counted as calls of whichever function computes them
(make_targets before issue 31, style_targets after).
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20, help="iterations of each run")
    ap.add_argument("--photos", type=int, default=8)
    args = ap.parse_args()
    import jax
    from jax import monitoring

    import nst_jax

    st = importlib.import_module("nst_jax.stylize")  # (nst_jax.stylize is the function)

    spent = {"compile": 0.0}

    def listen(event: str, seconds: float, **_kw) -> None:
        if event in COMPILE_EVENTS:
            spent["compile"] += seconds

    monitoring.register_event_duration_secs_listener(listen)
    counted = {"targets": 0}
    for name in ("make_targets", "style_targets"):  # before / after issue 31
        if hasattr(st, name):
            f = getattr(st, name)

            def counting(*a, _f=f, **k):
                counted["targets"] += 1
                return _f(*a, **k)

            setattr(st, name, counting)
    images = Path(os.environ["NST_JAX_IMAGES"])
    photo, style = images / "tubingen.jpg", images / "starry_night.jpg"
    opts = dict(size=args.size, iters=args.iters, progress=False)
    out: dict = {"code": str(Path(nst_jax.__file__).parent), "jax": jax.__version__, "calls": []}
    for _ in range(2):
        spent["compile"], t = 0.0, time.perf_counter()
        r = nst_jax.stylize(photo, style, **opts)
        out["calls"].append(
            dict(
                wall=round(time.perf_counter() - t, 2),
                compile=round(spent["compile"], 2),
                reported_compile=round(r.info["compile_seconds"], 2),
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        whole = np.asarray(Image.open(photo).convert("RGB"))  # 768x1024
        for k in range(args.photos):  # 8 crops of 600x800: one size, one group
            y, x = 20 * k, 25 * k
            Image.fromarray(whole[y : y + 600, x : x + 800]).save(folder / f"p{k}.png")
        counted["targets"], spent["compile"], t = 0, 0.0, time.perf_counter()
        res = nst_jax.stylize_batch([folder], [style], Path(tmp) / "out", batch_size=args.photos, **opts)
        out["batch"] = dict(
            photos=args.photos,
            done=len(res.done),
            wall=round(time.perf_counter() - t, 2),
            compile=round(spent["compile"], 2),
            targets=counted["targets"],
        )
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
