"""Synthetic photos for the batch tests: distinct, structured, any size, written as PNG."""

from pathlib import Path

import numpy as np
from PIL import Image


def photos(folder: Path, n: int, wh=(40, 32), seed=0, prefix="p"):
    """n distinct structured test photos of size wh in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : wh[1], 0 : wh[0]]
    paths = []
    for k in range(n):
        a = np.stack([x * (3 + k), y * (5 + 2 * k), (x + y) * 2], axis=2) % 256
        a = (0.7 * a + 0.3 * rng.uniform(0, 255, a.shape)).astype(np.uint8)
        paths.append(folder / f"{prefix}{k}.png")
        Image.fromarray(a).save(paths[-1])
    return paths
