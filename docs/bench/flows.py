"""The README's flow table: ours (JAX Horn-Schunck) and OpenCV's DIS against known motions.

    NST_JAX_IMAGES=<images folder> python docs/bench/flows.py [--size 256]

tubingen.jpg resized to SIZE wide, moved by (2.5, -1.5) and (6, 3) px and zoomed 4% about
its centre (bilinear): the true flow is known at every pixel. Prints each flow's mean
endpoint error (pixels, 12 px from the border left out) and its seconds per frame pair
(the median of 5 after one warm-up call, which compiles ours).
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nst_jax.paper import temporal
from nst_jax.video import flows


def zoomed(image: np.ndarray, s: float):
    """(image, image zoomed s times about its centre, the true flow (H, W, 2))."""
    h, w = image.shape[:2]
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    true = np.stack([(s - 1) * (xs - cx), (s - 1) * (ys - cy)], -1).astype(np.float32)
    back = np.stack([(1 / s - 1) * (xs - cx), (1 / s - 1) * (ys - cy)], -1).astype(np.float32)
    return image, np.asarray(temporal.warp(image, back)), true  # second(q) = first(c + (q - c) / s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    photo = Image.open(Path(os.environ["NST_JAX_IMAGES"]) / "tubingen.jpg").convert("RGB")
    photo = photo.resize((args.size, round(args.size * photo.height / photo.width)), Image.LANCZOS)
    image = np.asarray(photo, np.float32)
    cases = {}
    for shift in ((2.5, -1.5), (6.0, 3.0)):
        first, second = flows.shifted_pair(image, shift)
        cases[f"shift {shift}"] = (first, second, np.broadcast_to(np.float32(shift), (*image.shape[:2], 2)))
    cases["zoom 4%"] = zoomed(image, 1.04)
    names = [n for n in ("jax", "dis") if n == "jax" or flows.choose("auto") == "dis"]
    print(f"| flow ({photo.width}x{photo.height}) | " + " | ".join(cases) + " | s / pair |")
    print("| --- " * (len(cases) + 2) + "|")
    for name in names:
        errors, seconds = [], []
        for first, second, true in cases.values():
            flow = flows.FLOWS[name](first, second)  # (the warm-up: ours compiles here)
            errors.append(float(np.mean(np.linalg.norm((flow - true)[12:-12, 12:-12], axis=-1))))
            for _ in range(5):
                t = time.perf_counter()
                flows.FLOWS[name](first, second)
                seconds.append(time.perf_counter() - t)
        print(f"| {name} | " + " | ".join(f"{e:.3f} px" for e in errors) + f" | {np.median(seconds):.3f} |")


if __name__ == "__main__":
    main()
