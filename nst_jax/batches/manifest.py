"""A batch's items and their record on disk, OUTDIR/manifest.json: what was asked and
what became of each item, so that a long batch loses nothing.

The items: every content image (files, folders' images sorted, globs) with every style,
each one output, OUTDIR/<content-stem>__<style-stem>.png (`items`).

    {"config": {...}, "config_key": "3f9a...",          # the options every item ran with
     "items": {"photo__starry.png": {"state": "done",   # done | failed | pending
                "content": ..., "style": ..., "config_key": ..., "process": 0,
                "iterations": 200, "loss": 1.2e10, "log": "logs/photo__starry.json",
                "inputs": {"content": [size, mtime_ns], "style": [...]},
                "updated": 1764650000.1}, ...},
     "summary": {...}}                                  # process 0, at the end

Rerunning the same command skips the items that are done with the same config key, whose
image is still there and whose inputs are unchanged (each entry records its photo's and
style's size and modification time, `inputs`), and redoes the rest. One batch at a time
writes into a folder: process 0 holds OUTDIR/.batch.lock (`locked`: an flock the kernel
releases when its process ends, SIGKILL included, so a stale file is simply taken over).
With several processes, process p > 0 keeps its items in `.manifest-<p>.json` beside it;
every process reads them all when it starts (an entry's latest update wins), and process
0 folds them into manifest.json at the end. Every write is atomic (files.py); one that
fails (a full disk) keeps its file elsewhere and says where (`save`).
"""

import contextlib
import glob
import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from PIL import Image

from ..errors import NstError
from ..io import files

NAME = "manifest.json"
LOCK = ".batch.lock"


class Item(NamedTuple):
    name: str  # the output's file name in OUTDIR: <content-stem>__<style-stem>.png
    content: Path
    style: Path


def _images_in(folder: Path) -> List[Path]:
    readable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in readable and not p.name.startswith("."))


def collect(sources: Sequence[Any], what: str) -> List[Path]:
    """Files, folders (their images, sorted, not recursing) and globs, in the order given
    (one path alone is a list of one)."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    found: List[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found += _images_in(p)
        elif not p.exists() and glob.has_magic(str(src)):
            found += sorted(Path(m) for m in glob.glob(str(src)) if Path(m).is_file())
        else:
            found.append(p)  # (a file, or one that fails as its item: manifest names why)
    if not found:
        where = (
            ", ".join(map(files.show, sources)) if any(str(v).strip() for v in sources) else "an empty list"
        )
        raise NstError(f"no {what} images in {where}; give image files or folders")
    return found


def items(contents: List[Path], styles: List[Path], folder: Path, ext: str = ".png") -> List[Item]:
    """Every (content, style) pair, each its own output name (two the same: refused)."""
    made: Dict[str, Item] = {}
    for c in contents:
        for s in styles:
            item = Item(f"{c.stem}__{s.stem}{ext}", c, s)
            if item.name in made and made[item.name][1:] != item[1:]:
                other = made[item.name]  # (the two differ in their content, their style, or both)
                a, b = (other.content, c) if other.content != c else (other.style, s)
                raise NstError(
                    f"{files.show(a)} and {files.show(b)} would both write "
                    f"{files.show(folder / item.name)}; rename one of them"
                )
            made[item.name] = item
    return list(made.values())


def batch_items(contents: Any, styles: Any, folder: Path) -> List[Item]:
    """`items` of what `collect` finds, less the batch's own outputs among the contents:
    in `folder`, the images its manifests name and those the naming rule gives
    (<stem>__<style-stem>.png for one of the styles), so that a batch whose output folder
    is among its inputs can be run again without taking its results for photos."""
    style_paths = collect(styles, "style")
    manifests = [folder / NAME, *sorted(folder.glob(".manifest-*.json"))] if folder.is_dir() else []
    recorded = {name for path in manifests if path.is_file() for name in _entries(path)}
    rule = tuple(f"__{s.stem}.png" for s in style_paths)
    here = folder.resolve()
    own = lambda p: p.parent.resolve() == here and (p.name in recorded or p.name.endswith(rule))
    found = [p for p in collect(contents, "content") if not own(p)]
    if not found:
        sources = [contents] if isinstance(contents, (str, os.PathLike)) else list(contents)
        raise NstError(
            f"the only images in {', '.join(map(files.show, sources))} are this batch's own outputs; "
            "give the photos to stylize"
        )
    return items(found, style_paths, folder)


def config_key(config: Dict[str, Any]) -> str:
    """A short hash of the options that decide the images (the ones that only decide
    how fast they come, such as the chunk size, left out)."""
    decisive = {k: v for k, v in config.items() if k not in ("chunk", "loop")}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:16]


STATES = ("done", "failed", "pending")


def stamp(item: Item) -> Dict[str, Any]:
    """What says an item's inputs changed: each one's [size, mtime_ns] (None: unreadable)."""

    def of(path: Path) -> Optional[List[int]]:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns]

    return {"content": of(item.content), "style": of(item.style)}


@contextlib.contextmanager
def locked(folder: Path, names: Sequence[str] = (), hold: bool = True) -> Iterator[Optional[str]]:
    """Hold OUTDIR/.batch.lock for the block (`hold` False: another process of this job
    holds it), first removing what a killed run's atomic writes left of the outputs `names`,
    their logs and the manifests. Yields None, or, when another live batch holds it, its
    owner ("pid 12 on host"; the caller refuses, in every process alike). The file is
    removed at the end."""
    if not hold:
        yield None
        return
    import fcntl
    import socket

    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # (BlockingIOError: held by a live process)
            owner = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            yield owner
            return
        if _same_file(fd, path):  # (else the owner removed it meanwhile: take the new one)
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        files.remove_temporaries(folder, [NAME, *(p.name for p in folder.glob(".manifest-*.json")), *names])
        files.remove_temporaries(folder / "logs", [Path(n).stem + ".json" for n in names])
        yield None
    finally:
        path.unlink(missing_ok=True)  # (before the unlock: a waiting one then sees a fresh file)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _entries(path: Path) -> Dict[str, Dict[str, Any]]:
    """A manifest file's items, checked against the layout above by type, not only by key
    (an entry an object with a known state and a finite time `updated`): a damaged or
    foreign file is one line naming what is wrong, never a traceback later."""

    def bad(why: str) -> NstError:
        return NstError(
            f"{files.show(path)} is not a batch manifest ({why}); move it away to start the batch afresh"
        )

    try:
        body = json.loads(path.read_text())
    except (ValueError, OSError):  # (UnicodeDecodeError is a ValueError)
        raise bad("not readable JSON: damaged?") from None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, dict):
        raise bad(f"its items are {type(items).__name__ if items is not None else 'missing'}, not an object")
    for name, e in items.items():
        t = e.get("updated") if isinstance(e, dict) else None
        time_ok = isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
        if not (isinstance(e, dict) and e.get("state") in STATES and time_ok):
            raise bad(
                f"item {name!r} is not an object with a state ({', '.join(STATES)}) and a time 'updated'"
            )
    return items


class Manifest:
    """The items' states; `save` writes this process's file."""

    def __init__(self, folder: Path, config: Dict[str, Any], process: int = 0):
        self.folder, self.config, self.process = folder, config, process
        self.key = config_key(config)
        self.items: Dict[str, Dict[str, Any]] = {}
        self.touched: set = set()  # the entries this process set: the ones its file holds
        self.path = folder / (NAME if process == 0 else f".manifest-{process}.json")
        self.on_set: Optional[Callable[[str, str], None]] = None  # told (name, state) of each set

    def load(self) -> "Manifest":
        """Every entry on disk, from manifest.json and the other processes' files: the
        latest update of each item wins."""
        for path in [self.folder / NAME, *sorted(self.folder.glob(".manifest-*.json"))]:
            if not path.is_file():
                continue
            for name, entry in _entries(path).items():
                if name not in self.items or entry.get("updated", 0) >= self.items[name].get("updated", 0):
                    self.items[name] = entry
        return self

    def finished(self, item: Item) -> bool:
        """Done with the same options from the same inputs, and its image still there."""
        entry = self.items.get(item.name, {})
        return (
            entry.get("state") == "done"
            and entry.get("config_key") == self.key
            and entry.get("inputs", stamp(item)) == stamp(item)  # (older manifests: none recorded)
            and (self.folder / item.name).is_file()
        )

    def replacing(self, todo: List[Item]) -> Optional[str]:
        """The line saying which finished images running `todo` will replace, if any."""
        old = [it.name for it in todo if self.state(it.name) == "done" and (self.folder / it.name).is_file()]
        if not old:
            return None
        return (
            f"note: {len(old)} finished image(s) in {files.show(self.folder)} were made with other "
            f"options or from inputs changed since, and will be replaced as they are redone "
            f"({', '.join(old[:3])}{', ...' if len(old) > 3 else ''}); to keep them, stop now and give another -o"
        )

    def state(self, name: str) -> Optional[str]:
        return self.items.get(name, {}).get("state")

    def set(self, name: str, state: str, **fields: Any) -> None:
        self.items[name] = dict(
            fields, state=state, config_key=self.key, process=self.process, updated=time.time()
        )
        self.touched.add(name)
        if self.on_set is not None:
            self.on_set(name, state)

    def outcome(self, names: List[str]) -> Tuple[List[str], Dict[str, str], List[str]]:
        """(done, failed: {name: its error}, pending or never run) of these items."""
        state = {n: self.items.get(n, {}) for n in names}
        done = [n for n, e in state.items() if e.get("state") == "done"]
        failed = {n: e.get("error", "") for n, e in state.items() if e.get("state") == "failed"}
        return done, failed, [n for n in names if n not in done and n not in failed]

    def save(self, summary: Optional[Dict[str, Any]] = None) -> Optional[str]:
        """Write the entries (process p > 0: the ones it set) atomically. If that fails (a
        full disk), the old file stays and this one is kept elsewhere: the problem, in words."""
        items = (
            self.items if self.process == 0 else {k: v for k, v in self.items.items() if k in self.touched}
        )
        body = dict(config=self.config, config_key=self.key, items=dict(sorted(items.items())))
        if summary is not None:
            body["summary"] = summary
        lost = files.land("the manifest", self.path, files.json_writer(body))
        return f"{lost}; free some space, then move it into place" if lost else None

    def fold(self, summary: Dict[str, Any]) -> Optional[str]:
        """Process 0, at the end: every process's entries into manifest.json, theirs removed
        once that is written (else the problem, as `save`)."""
        others = sorted(self.folder.glob(".manifest-*.json"))
        self.load()
        lost = self.save(summary)
        for path in others if not lost else []:
            path.unlink(missing_ok=True)
        return lost
