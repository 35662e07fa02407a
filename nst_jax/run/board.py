"""A run's board: what a run shows while it runs, for a watcher in another thread to read
at its own pace (the browser preview, web/preview.py; `--web`).

The run writes: `planned`, `scale`, `row`, `show`, `items`, `end`, each a few assignments
under a lock. Nothing is converted or encoded on the run's side: `show` keeps a copy of
the optimised array (a device copy, queued; the next chunk may donate the original) and
the function that makes it an image; the watcher converts it when, and only if, it asks
(`picture`). So a run with nobody watching does no more work than one without a board,
and a slow watcher slows only itself.

A watcher may ask the run to stop (`ask_stop`): the monitor turns that into what Ctrl-C
does, between two chunks (the chunk finishes, the result so far is written).
"""

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ..paper import image as im


def scales_of(job) -> List[List[int]]:
    """[[width, height, iterations], ...] of a run's scales (run/inputs.py's Job)."""
    return [[w, h, n] for (h, w), n in zip(job.hws, job.settings.iterations)]


class Board:
    """The shared state of one command's runs: an image, a batch or a film."""

    def __init__(self, kind: str = "image"):
        self._lock = threading.Lock()
        self._listeners: List[Callable[[], None]] = []  # called after each change (any thread)
        self.version = 0  # counts the changes a watcher is told of
        self.stop_asked = False  # a watcher asked the run to stop
        self.url: Optional[str] = None  # where it is shown (web/preview.py sets it)
        self._started = time.time()
        self._state: Dict[str, Any] = {
            "kind": kind,  # "image", "batch" or "video"
            "status": "starting",  # starting, running, stopping, then done, interrupted, failed (or cancelled)
            "message": "",  # the end's one line (what was written, or the error)
            "plan": "",  # --verbose's lines: how each `auto` was settled
            "title": "",  # what runs now: a batch's image and style, a film's frame
            "scales": [],  # [[width, height, iterations], ...] of the current image's scales
            "scale": 0,  # the scale running
            "iteration": 0,  # the last iteration shown, at that scale
            "picture": 0,  # counts the images shown: the watcher fetches a new one when it grows
            "items": [],  # a batch's or film's entries: [{"name", "status"}, ...]
        }
        self._epoch = 0  # counts resets of the rows (a batch's next image, a film's next frame)
        self._rows: List[Dict[str, float]] = []  # the current image's history rows, with "scale"
        self._shown: Optional[Tuple[int, Any, Callable]] = None  # (picture, x, to_rgb)
        self._converted: Tuple[int, Optional[np.ndarray]] = (0, None)  # the last conversion
        self._thumbs: Dict[int, Tuple[int, Any]] = {}  # entry -> (number, its image or its file)
        self._where: Dict[str, int] = {}  # an entry's name -> its index in items

    def listen(self, callback: Callable[[], None]) -> None:
        """`callback()` after every change (from the run's thread: it must not block)."""
        self._listeners.append(callback)

    def _changed(self, **state: Any) -> None:
        with self._lock:
            self._state.update(state)
            self.version += 1
        for callback in self._listeners:
            callback()

    # the run's side

    def planned(self, plan: str) -> None:
        self._changed(plan=plan)

    def start(self, title: Optional[str], scales: List[List[int]]) -> None:
        """A new image (a batch's next, a film's next frame), its title (None: the one set
        by `titled`) and its scales [[width, height, iterations], ...]: its rows start afresh."""
        with self._lock:
            self._rows, self._epoch = [], self._epoch + 1
            title = self._state["title"] if title is None else title
        self._changed(title=title, scales=scales, scale=0, iteration=0, status="running")

    def titled(self, title: str) -> None:
        self._changed(title=title)

    def scale(self, k: int) -> None:
        self._changed(scale=k, iteration=0, status="stopping" if self.stop_asked else "running")

    def row(self, record: Dict[str, float]) -> None:
        """A history row of the image shown (no notification: `show` follows each chunk)."""
        with self._lock:
            self._rows.append(dict(record, scale=self._state["scale"]))

    def show(self, iteration: int, x: Any, to_rgb: Callable[[np.ndarray], np.ndarray]) -> None:
        """The image after `iteration` steps: x as optimised, to_rgb(x) -> RGB 0..255."""
        with self._lock:
            picture = self._state["picture"] + 1
            self._shown = (picture, x.copy(), to_rgb)  # (a queued copy; x may be donated next)
        self._changed(iteration=int(iteration), picture=picture)

    def items(self, names: List[str], statuses: List[str]) -> None:
        """A batch's or film's entries: each name and status (done, failed, running, pending)."""
        with self._lock:
            self._where = {n: i for i, n in enumerate(names)}
        self._changed(items=[{"name": n, "status": s, "thumb": 0} for n, s in zip(names, statuses)])

    def item(self, name: str, status: str, image: Any = None) -> None:
        """Entry `name`'s new status, and what it wrote (an array, or the file's path),
        shown small."""
        with self._lock:  # (changed in place, found by name: a film's or batch's length no matter)
            index = self._where.get(name)
            if index is None:
                return
            entry = self._state["items"][index]
            entry["status"] = status
            if image is not None:
                entry["thumb"] = self.version + 1
                self._thumbs[index] = (self.version + 1, image)
        self._changed()

    def end(self, status: str, message: str, image: Optional[np.ndarray] = None) -> None:
        """The end: "done", "interrupted" or "failed", its line, and the image written."""
        state: Dict[str, Any] = dict(status=status, message=message)
        if image is not None:
            with self._lock:
                state["picture"] = self._state["picture"] + 1
                self._shown = (state["picture"], image[..., :3], lambda rgb: rgb.astype(np.float32))
        self._changed(**state)

    # the watcher's side

    def ask_stop(self) -> None:
        self.stop_asked = True
        if self._state["status"] in ("starting", "running"):
            self._changed(status="stopping")
        else:
            self._changed()

    @property
    def pictures(self) -> int:
        """How many images were shown (the number of the latest)."""
        return self._state["picture"]

    @property
    def ended(self) -> bool:
        return self._state["status"] in ("done", "interrupted", "failed", "cancelled")

    def snapshot(self, since: int = 0, epoch: int = -1) -> Dict[str, Any]:
        """The state, and the rows after the first `since` of the watcher's `epoch` (all of
        them, with "reset", when the rows started afresh since)."""
        with self._lock:
            reset = epoch != self._epoch
            rows = self._rows if reset else self._rows[since:]
            return dict(
                self._state,
                items=[dict(it) for it in self._state["items"]],  # (a copy: the run changes them in place)
                version=self.version,
                epoch=self._epoch,
                reset=reset,
                rows=list(rows),
                elapsed=round(time.time() - self._started, 2),
                stop_asked=self.stop_asked,
            )

    def thumbnail(self, index: int, side: int = 160) -> Tuple[int, Optional[np.ndarray]]:
        """(its number, entry `index`'s image at most `side` px long, (h, w, 3) uint8)."""
        with self._lock:
            number, image = self._thumbs.get(index, (0, None))
        if image is None:
            return 0, None
        if not isinstance(image, np.ndarray):  # (a file written: read here, in the watcher's thread)
            with Image.open(image) as f:
                image = np.asarray(f.convert("RGB"))
        h, w = image.shape[:2]
        scale = min(1.0, side / max(h, w))
        small = im.resize(
            image[..., :3].astype(np.float32), max(1, round(h * scale)), max(1, round(w * scale))
        )
        return number, im.to_uint8(small)

    def picture(self) -> Tuple[int, Optional[np.ndarray]]:
        """(its number, the latest image as (H, W, 3) uint8), or (0, None) before the first;
        converted here, in the watcher's thread, once per image."""
        with self._lock:
            shown, converted = self._shown, self._converted
        if shown is None:
            return 0, None
        number, x, to_rgb = shown
        if converted[0] != number:
            converted = (number, im.to_uint8(to_rgb(x))[..., :3])
            with self._lock:
                if self._converted[0] < number:
                    self._converted = converted
        return converted
