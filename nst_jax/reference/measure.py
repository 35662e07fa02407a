"""What the comparisons measure: how far two arrays are apart, and how long a call takes."""

import statistics
import time
from typing import Callable, Dict

import numpy as np
import numpy.typing as npt


def diff(a: npt.ArrayLike, b: npt.ArrayLike) -> Dict[str, float]:
    """Largest absolute and relative difference, relative L2 error and cosine of a vs b."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    scale = max(np.abs(b).max(), 1e-30)
    return {
        "max_abs": float(np.abs(a - b).max()),
        "max_rel": float(np.abs(a - b).max() / scale),
        "rel_l2": float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)),
        "cosine": float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)),
    }


def median_seconds(fn: Callable, repeats: int = 3) -> float:
    """The median time of `repeats` calls of fn after one warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
