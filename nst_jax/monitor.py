"""What happens between iterations of a run: history records, the progress bar,
intermediate images, Ctrl-C, and the JSON log written at the end.

The run loop (loop.py) reports to a `Monitor`, from its compiled chunks or from SciPy's
callbacks; nothing here touches the optimisation itself.
"""

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from . import image as im


def record(iteration: int, evaluations: int, seconds: float, terms: Mapping[str, Any]) -> Dict[str, float]:
    """A history entry: iteration k is the image after k steps; terms are unweighted."""
    return {
        "iteration": int(iteration),
        "evaluations": int(evaluations),
        "seconds": round(float(seconds), 4),
        **{k: float(v) for k, v in terms.items()},
    }


class _StopFlag:
    """First Ctrl-C sets the flag (finish the chunk, return); a second one aborts."""

    def __init__(self):
        self.set = False

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _intermediate_path(output: Path, iteration: int) -> Path:
    return output.with_name(f"{output.stem}_{iteration:05d}{output.suffix}")


class Monitor:
    """What happens between iterations: history records, the progress bar, intermediate
    images and Ctrl-C. Both loops below report to it."""

    def __init__(self, cfg, output, alpha, progress: bool, to_rgb):
        self.cfg, self.output, self.alpha, self.progress = cfg, output, alpha, progress
        self.to_rgb = to_rgb  # preprocessed image -> RGB 0..255 (colour preservation applied)
        self.history: List[Dict[str, float]] = []
        self.compile_seconds = 0.0
        self.start: Optional[float] = None  # perf_counter() when started() was called

    def __enter__(self):
        from tqdm import tqdm

        self.flag = _StopFlag().__enter__()
        self.bar = tqdm(total=self.cfg.iters, disable=not self.progress, unit="it", dynamic_ncols=True)
        return self

    def __exit__(self, *exc):
        self.bar.close()
        self.flag.__exit__(*exc)

    def started(self, compile_seconds: float = 0.0) -> None:
        self.compile_seconds, self.start = compile_seconds, time.perf_counter()

    def compiled(self, seconds: float) -> None:
        """A compilation of `seconds` during the run: counted as compilation, not run time."""
        assert self.start is not None, "call started() first"
        self.compile_seconds, self.start = self.compile_seconds + seconds, self.start + seconds

    def elapsed(self) -> float:
        assert self.start is not None, "call started() first"
        return time.perf_counter() - self.start

    def add(
        self,
        iteration: int,
        evaluations: int,
        seconds: float,
        terms: Mapping[str, Any],
        replace: bool = False,
    ) -> None:
        """A row of the image after `iteration` steps, unless it has one (`replace`: the
        new row replaces it: the loss of the average returned instead of the iterate's)."""
        if replace and self.history and self.history[-1]["iteration"] == int(iteration):
            self.history.pop()
        if not self.history or self.history[-1]["iteration"] != int(iteration):
            self.history.append(record(iteration, evaluations, seconds, terms))
            self.bar.set_postfix(loss=f"{float(terms['total']):.4g}", evals=int(evaluations), refresh=False)

    def reached(self, iteration: int, x: Any) -> bool:
        """Called with the image after `iteration` steps; True when Ctrl-C asks to stop."""
        self.bar.update(iteration - self.bar.n)
        if self.cfg.save_every and self.output is not None and iteration % self.cfg.save_every == 0:
            im.save_image(_intermediate_path(self.output, iteration), im.to_uint8(self.to_rgb(x), self.alpha))
        return self.flag.set


def write_log(path: im.StrPath, info: Dict[str, Any], history: List[Dict[str, float]]) -> None:
    body = {
        "config": info["config"],
        "summary": {k: v for k, v in info.items() if k != "config"},
        "history": history,
    }
    im.atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(body, indent=1)))
