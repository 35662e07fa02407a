"""What happens between iterations of a run: history records, the progress bar (a
batch's one bar over all its images: `BatchMonitor`), intermediate images, Ctrl-C, the
board a watcher reads (board.py, `--web`), and the JSON log written at the end.

The run loop (loop.py) reports to a `Monitor`, from its compiled chunks or from SciPy's
callbacks; nothing here touches the optimisation itself.
"""

import glob
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from ..io import files, image_files, signals
from ..paper import image as im


def record(iteration: int, evaluations: int, seconds: float, terms: Mapping[str, Any]) -> Dict[str, float]:
    """A history entry: iteration k is the image after k steps; terms are unweighted."""
    return {
        "iteration": int(iteration),
        "evaluations": int(evaluations),
        "seconds": round(float(seconds), 4),
        **{k: float(v) for k, v in terms.items()},
    }


def intermediate_path(output: Path, iteration: int) -> Path:
    """The image saved after `iteration` steps beside `output`: out.png -> out_00010.png."""
    return output.with_name(f"{output.stem}_{iteration:05d}{output.suffix}")


def intermediates(output: Path, every: int, iters: int) -> List[Path]:
    """The intermediate images of a run (every `every` of `iters` iterations) that are
    on disk already: the ones that could be something else (inputs.py checks)."""
    folder = output.parent if str(output.parent) else Path(".")
    found = []
    for p in folder.glob(f"{glob.escape(output.stem)}_*{glob.escape(output.suffix)}"):
        number = p.name[len(output.stem) + 1 : len(p.name) - len(output.suffix)]
        if number.isdecimal() and 0 < int(number) <= iters and int(number) % every == 0:
            if p == intermediate_path(output, int(number)):
                found.append(p)
    return sorted(found)


class Monitor:
    """What happens between iterations: history records, the progress bar, intermediate
    images and Ctrl-C. Both loops below report to it."""

    def __init__(
        self,
        steps,  # settings.Steps: the iterations of this scale, when to save
        output,
        alpha,
        progress: bool,
        to_rgb,
        flag: Optional[signals.StopFlag] = None,
        items: int = 1,
        bar: Any = None,
        board: Any = None,
    ):
        self.steps, self.output, self.alpha, self.progress = steps, output, alpha, progress
        self.given = flag  # the caller's stop flag (stylize: one for all scales), else our own
        self.given_bar = bar  # the caller's progress bar (a batch's: one for all), else our own
        self.to_rgb = to_rgb  # preprocessed image -> RGB 0..255 (colour preservation applied)
        self.board = board  # board.Board: what a watcher (--web) sees, and its Stop; or None
        self.histories: List[List[Dict[str, float]]] = [[] for _ in range(items)]  # one per image
        self.compile_seconds = 0.0
        self.start: Optional[float] = None  # perf_counter() when started() was called

    @property
    def history(self) -> List[Dict[str, float]]:
        """The rows of a single image's run (of a batch's first image)."""
        return self.histories[0]

    def rows(self, item: int) -> List[Dict[str, float]]:
        return self.histories[item]

    def __enter__(self):
        from tqdm import tqdm

        self.flag = self.given or signals.StopFlag().__enter__()
        self.bar = self.given_bar or tqdm(
            total=self.steps.iters, disable=not self.progress, unit="it", dynamic_ncols=True
        )
        return self

    def __exit__(self, *exc):
        if self.given_bar is None:
            self.bar.close()
        if self.given is None:
            self.flag.__exit__(*exc)

    def stopping(self) -> bool:
        """True when Ctrl-C or SIGTERM asked the run to stop (between two scales too)."""
        return self.flag.set

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
        item: int = 0,
    ) -> None:
        """A row of the image after `iteration` steps, unless it has one (`replace`: the
        new row replaces it: the loss of the average returned instead of the iterate's);
        `item`: which image of a batch."""
        history = self.histories[item]
        if replace and history and history[-1]["iteration"] == int(iteration):
            history.pop()
        if not history or history[-1]["iteration"] != int(iteration):
            history.append(record(iteration, evaluations, seconds, terms))
            if item == 0:
                if self.board is not None:
                    self.board.row(history[-1])
                self.bar.set_postfix(
                    loss=f"{float(terms['total']):.4g}", evals=int(evaluations), refresh=False
                )

    def reached(self, iteration: int, x: Any) -> bool:
        """Called with the image after `iteration` steps; True when Ctrl-C (or the board's
        Stop) asks to stop."""
        self.bar.update(iteration - self.bar.n)
        self.tell_board(iteration, x)
        if self.steps.save_every and self.output is not None and iteration % self.steps.save_every == 0:
            path = intermediate_path(self.output, iteration)
            try:  # (atomic: a kill leaves the last one whole)
                image_files.save_image(path, im.to_uint8(self.to_rgb(x), self.alpha))
            except OSError as e:  # a full disk: the run goes on, its result matters more
                print(
                    f"warning: could not write {files.show(path)} ({e.strerror}); going on", file=sys.stderr
                )
        return self.flag.set

    def tell_board(self, iteration: int, x: Any) -> None:
        """The image after `iteration` steps to the board; its Stop, if asked, to the flag."""
        if self.board is not None:
            self.board.show(iteration, x, self.to_rgb)
            if self.board.stop_asked:
                self.flag.ask()


def log_writer(info: Dict[str, Any], history: List[Dict[str, float]]) -> Callable[[str], Any]:
    """write(tmp_path) of the JSON log: the config, the summary and the history."""
    body = {
        "config": info["config"],
        "summary": {k: v for k, v in info.items() if k != "config"},
        "history": history,
    }
    return files.json_writer(body)


def batch_bar(total: int, show: bool):
    """A batch's one bar, over all its images (`total` image-iterations)."""
    from tqdm import tqdm

    return tqdm(total=total, disable=not show, unit="it", dynamic_ncols=True)


class BatchMonitor(Monitor):
    """A batch's monitor at one scale: the rows of every image of the (global) batch, and
    the command's one bar, counted in image-iterations."""

    def __init__(self, steps, flag: signals.StopFlag, bar, items: int, real: int, to_rgb=None, board=None):
        super().__init__(steps, None, None, False, to_rgb, flag, items, bar, board)
        from ..fast.mesh import any_process

        self.any_process = any_process
        self.real, self.seen = real, 0

    def __exit__(self, *exc):
        if not self.flag.set:  # (images that stopped early: their share of the bar too)
            self.bar.update(self.real * (self.steps.iters - self.seen))
        super().__exit__(*exc)

    def reached(self, iteration: int, x: Any) -> bool:
        self.bar.update(self.real * (iteration - self.seen))
        self.seen = iteration
        self.tell_board(iteration, x)
        return self.stopping()

    def tell_board(self, iteration: int, x: Any) -> None:
        """The board is given this process's first shard only: copying the global array
        would be a computation every process must join, and only process 0 has a board."""
        if self.board is not None:
            first = min(x.addressable_shards, key=lambda s: s.index[0].start or 0)
            super().tell_board(iteration, first.data)  # (b, H, W, 3) on one device

    def stopping(self) -> bool:
        return self.any_process(self.flag.set)  # (the same answer in every process)
