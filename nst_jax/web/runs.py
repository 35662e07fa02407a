"""The studio's runs: uploads checked and kept, runs queued one at a time on this
process's devices, each with its board, its result, its log and its score, all under
one folder:

    DIR/uploads/<32 hex>/NAME.png    each upload decoded through the file checks, re-encoded
                                     (NAME: the file's own, letters, digits, . _ - only)
    DIR/runs/<id>/run.json           what was asked, its state, its summary and score
    DIR/runs/<id>/output.png         the image (atomic), log.json: the run's JSON log

Every name under DIR is made here (random or counted); a request names an upload or a
run by its id, which must match ID, so no request reaches outside DIR. The runs outlive
the pages that started them: a page closed and opened again finds them here, and a
restarted studio lists the ones on disk (those it was running: interrupted).
"""

import json
import queue
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..config import Config
from ..errors import NstError
from ..io import files, image_files
from ..paper import image as im
from ..run.board import Board

ID = re.compile(r"^[0-9a-f]{32}$|^\d{8}-\d{6}-[0-9a-f]{6}$")  # an upload's id | a run's id
UPLOAD_BYTES = 25 * 2**20  # the largest upload accepted
CONTENTS = ("chelsea.jpg", "astronaut.jpg", "coffee.jpg", "rocket.jpg")  # the bundled examples
STYLES = ("starry_night.jpg", "shipwreck.jpg", "the_scream.jpg")
OPTIONS = {  # what a page may set, and how its text is read (anything else is refused)
    "size": int,
    "iters": int,
    "style_loss": str,
    "preserve_colors": str,
    "model": str,
    "optimizer": str,
    "tv_weight": float,
}
ENDED = ("done", "failed", "interrupted", "cancelled")


def image_source(folder: Path, ref: str) -> Path:
    """The file a page's reference names: 'example:NAME' (bundled) or an upload's id."""
    if ref.startswith("example:") and ref[8:] in CONTENTS + STYLES:
        return image_files.DATA / ref[8:]
    kept = sorted((folder / "uploads" / ref).glob("*.png")) if ID.match(ref) else []
    if kept:
        return kept[0]
    raise NstError(f"no image {ref!r} here; upload it, or choose one of the examples")


def keep_upload(folder: Path, data: bytes, name: str = "") -> Dict[str, Any]:
    """An upload, checked as a file is (not an image, a decompression bomb, 16-bit, alpha:
    load_image's checks), kept as PNG in a folder of a random name, under its own name
    (`name`, reduced to safe characters): {id, name, width, height}."""
    if len(data) > UPLOAD_BYTES:
        raise NstError(
            f"the file is {len(data) / 2**20:.0f} MiB; upload an image under {UPLOAD_BYTES // 2**20} MiB"
        )
    key = secrets.token_hex(16)
    mine = folder / "uploads" / key
    mine.mkdir(parents=True)
    raw = mine / ".upload"  # (never served: not a .png)
    raw.write_bytes(data)
    try:
        rgb, _ = image_files.load_image(raw)  # (the alpha channel is dropped: a studio run is RGB)
    except NstError as e:  # (told without this machine's paths)
        raw.unlink()
        mine.rmdir()
        e.args = (str(e).replace(str(raw), "the upload").replace(files.show(raw), "the upload"),)
        raise
    raw.unlink()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._")[:60] or "upload"
    image_files.save_image(mine / f"{stem}.png", im.to_uint8(rgb))
    return {"id": key, "name": f"{stem}.png", "width": rgb.shape[1], "height": rgb.shape[0]}


def read_options(asked: Dict[str, Any], style_factor: Any, model: str) -> Dict[str, Any]:
    """A page's options, checked as Config checks the command line's; the style weight
    is `style_factor` times the model's default at this size and loss (`model`: the
    weights' own, unless the page chose another)."""
    unknown = set(asked) - set(OPTIONS)
    if unknown:
        raise NstError(f"unknown option(s) {sorted(unknown)}; use only {sorted(OPTIONS)}")
    try:
        options = {k: OPTIONS[k](v) for k, v in asked.items() if v not in (None, "")}
        factor = float(style_factor)
    except (TypeError, ValueError) as e:
        raise NstError(
            f"an option is not a number ({e}); give numbers for size, iters and the style weight"
        ) from None
    if not 0.001 <= factor <= 1000:
        raise NstError(f"the style weight factor must be in 0.001..1000, got {factor}; e.g. 1 (the default)")
    size, iters = options.get("size", 256), options.get("iters", 200)
    if not 16 <= size <= 4096 or not 1 <= iters <= 10_000:
        raise NstError(f"size {size} and iters {iters} must be in 16..4096 and 1..10000; lower them")
    cfg = Config(**options).validate()  # (its checks: choices, ranges)
    return dict(options, style_weight=factor * cfg.beta(cfg.model or model))


class Run:
    """One studio run: what was asked and what became of it (run.json)."""

    def __init__(self, folder: Path, record: Dict[str, Any]):
        self.folder, self.record = folder, record  # record: id, content, styles, options, state, ...
        self.board = Board("image")
        self.cancelled = False

    @property
    def id(self) -> str:
        return self.record["id"]

    def save(self) -> None:
        files.write_kept([("the run's record", self.folder / "run.json", files.json_writer(self.record))])

    def view(self) -> Dict[str, Any]:
        """What the gallery shows of it."""
        return dict(self.record, picture=self.board.pictures)


class Studio:
    """The runs under `folder`, and the worker that runs them one at a time."""

    def __init__(self, folder: Path, weights: Optional[str] = None):
        """Refuses (NstError) when no weights are found: a run could not start."""
        from ..io import lookup

        self.folder, self.weights = folder, weights
        self.model = lookup.resolve(weights, None, allow_download=False, progress=False)[0]
        (folder / "runs").mkdir(parents=True, exist_ok=True)
        self.runs: Dict[str, Run] = {}
        self.lock = threading.Lock()
        self.queue: "queue.Queue[Optional[Run]]" = queue.Queue()
        for path in sorted((folder / "runs").glob("*/run.json")):  # (an earlier studio's)
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if record.get("state") not in ENDED:  # (it was running when that studio ended)
                record["state"], record["error"] = "interrupted", "the studio stopped before it ended"
            if ID.match(str(record.get("id", ""))):
                self.runs[record["id"]] = Run(path.parent, record)
        self.worker = threading.Thread(target=self._work, daemon=True, name="nst_jax-studio")
        self.worker.start()

    def add(self, content: str, styles: List[str], options: Dict[str, Any], style_factor: Any = 1.0) -> Run:
        """A run queued: its images and options checked now (a bad one is refused here)."""
        if not styles:
            raise NstError("no STYLE image chosen; choose or upload at least one style image")
        paths = [image_source(self.folder, r) for r in [content, *styles]]
        settled = read_options(options, style_factor, self.model)
        key = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        record = dict(
            id=key, content=content, styles=styles, names=[p.name for p in paths], options=settled,
            style_factor=float(style_factor), state="queued", created=time.time(),
        )  # fmt: skip
        run = Run(self.folder / "runs" / key, record)
        run.folder.mkdir()
        run.save()
        with self.lock:
            self.runs[key] = run
        self.queue.put(run)
        return run

    def get(self, key: str) -> Run:
        run = self.runs.get(key) if ID.match(key) else None
        if run is None:
            raise NstError(f"no run {key!r}; see the gallery for the runs there are")
        return run

    def listing(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [r.view() for r in sorted(self.runs.values(), key=lambda r: r.record.get("created", 0))]

    def stop(self, key: str) -> None:
        """A queued run is cancelled; a running one stops as after Ctrl-C (its image kept)."""
        run = self.get(key)
        run.cancelled = True
        run.board.ask_stop()
        if run.record["state"] == "queued":
            run.record["state"] = "cancelled"
            run.board.end("cancelled", "cancelled before it started")
            run.save()

    def close(self, wait: float = 120.0) -> None:
        """The running run stopped (as Ctrl-C stops one: its image written), the queued
        ones cancelled."""
        for run in list(self.runs.values()):
            if run.record["state"] in ("queued", "running"):
                self.stop(run.id)
        self.queue.put(None)
        self.worker.join(wait)

    def _work(self) -> None:
        while (run := self.queue.get()) is not None:
            if not run.cancelled:
                self._run(run)

    def _run(self, run: Run) -> None:
        from ..run.stylize import stylize

        rec = run.record
        rec["state"], rec["started"] = "running", time.time()
        run.save()
        try:
            paths = [image_source(self.folder, r) for r in [rec["content"], *rec["styles"]]]
            options = dict(rec["options"], weights=self.weights)
            r = stylize(
                paths[0], paths[1:], run.folder / "output.png", run.folder / "log.json", progress=False,
                allow_download=False, board=run.board, **options,
            )  # fmt: skip
            i = r.info
            rec["state"] = "interrupted" if i["signal"] else "failed" if i["stop"] == "nonfinite" else "done"
            rec["summary"] = {k: i[k] for k in ("iterations", "evaluations", "seconds", "size", "model")}
            rec["score"] = i.get("score")
            rec["loss"] = r.history[-1]["total"] if r.history else None
        except NstError as e:
            rec["state"], rec["error"] = "failed", str(e)
            run.board.end("failed", str(e))
        except Exception as e:  # (a bug: told on the page, the studio goes on)
            rec["state"], rec["error"] = "failed", f"{type(e).__name__}: {e}"
            run.board.end("failed", rec["error"])
        rec["ended"] = time.time()
        run.save()
