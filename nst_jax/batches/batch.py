"""Many images in one command: every (content, style) pair through one vmapped optimiser.

    items = every content x every style            -> OUTDIR/<content>__<style>.png
    skip what the manifest has done with the same options and inputs (manifest.py);
    say which finished images will be redone; one batch per folder (.batch.lock)
    group the rest by output (H, W); batches of --batch-size (auto: what fits a device)
    for each batch, this process's share of it (fast/mesh.py):
        run_scales(jobs, ..., layout)             (run/scales.py, as one image runs: each
                                                   image's targets and start, then the one
                                                   loop, vmapped over the batch)
    each image, its log and the manifest written  (atomically, as each batch ends)

Why this is free: the loss is a pure function of the pixels and every optimiser's state
a NamedTuple of fixed-shape arrays, so `jax.vmap` makes one optimiser B independent ones,
each image its own L-BFGS history and line search (tutorial chapter 6, "vmap").

An image that cannot be read fails alone (its error in the manifest; the command exits 1).
Ctrl-C or SIGTERM stops after the current chunk, a write that fails (a full disk: the file
kept elsewhere, `files.land`) after the current batch: the rest is recorded as pending.

Over 300 lines: the batch from its items to its manifest, in the order it happens: every
refusal before any work, the groups, the batches, each image's end; what a page shows of
it is shown.py.
"""

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import jax
import numpy as np

from ..errors import NstError
from ..fast import mesh
from ..io import files, image_files, signals
from ..paper import image as im
from ..run.inputs import HW, Job, check_sides, prepare
from ..run.monitor import batch_bar
from ..run.scales import run_scales
from ..run.stylize import output_image
from .manifest import Item, Manifest, batch_items, locked, stamp
from .shown import Shown


class BatchResult(NamedTuple):
    done: List[str]  # the images written (names in the output folder), this run and before
    failed: Dict[str, str]  # name -> its one-line error
    pending: List[str]  # not run: interrupted (Ctrl-C, SIGTERM)
    manifest: Path  # OUTDIR/manifest.json
    info: Dict[str, Any]  # seconds, images, batch size, devices, processes, signal, stopped, kept


def stylize_batch(
    contents: Sequence[image_files.StrPath],
    styles: Sequence[image_files.StrPath],
    output_dir: image_files.StrPath,
    batch_size: Any = "auto",
    progress: bool = True,
    allow_download: bool = True,
    verbose: bool = False,
    board: Any = None,
    **options: Any,
) -> BatchResult:
    """Stylize every content image (files, folders, globs) with every style image into
    `output_dir`, `batch_size` images at a time (an int, or "auto": the most the memory
    estimate fits on each device); see Config for options and the module docstring.
    With several processes, call fast.processes.connect first (the command line does).
    `board` (run/board.py): the batch shown as it runs: its first image, every entry."""
    started = time.perf_counter()
    template, out, todo_all, sized, fits = _prepare(
        contents, styles, output_dir, options, batch_size, allow_download, verbose
    )
    with locked(out, [it.name for it in todo_all], jax.process_index() == 0) as owner:
        if mesh.any_process(owner is not None):  # (every process refuses alike)
            raise NstError(
                f"another batch ({owner or 'process 0 says'}) is writing into {files.show(out)}; "
                "wait for it to end, or give another -o"
            )
        (out / "logs").mkdir(exist_ok=True)
        return _stylize(template, out, todo_all, sized, fits, progress, started, board)


def _stylize(
    template: Job, out: Path, todo_all: List[Item], sized, fits, progress, started, board
) -> BatchResult:
    config = dict(template.settings.to_dict(), weights=str(template.weights))
    manifest = Manifest(out, config, jax.process_index()).load()
    todo = [it for it in todo_all if not manifest.finished(it)]
    shown = Shown(board, template, manifest, todo_all)
    if jax.process_index() == 0 and (note := manifest.replacing(todo)):
        print(note, file=sys.stderr)  # (before any work: Ctrl-C now keeps them)
    groups: Dict[HW, List[Item]] = {}  # the items to run by output (H, W), in the order first met
    for it in todo:  # (every process read the same headers: the same groups)
        if isinstance(sized[it.name], str):  # (its header unreadable, or too small for the model)
            manifest.set(
                it.name, "failed", content=str(it.content), style=str(it.style), error=sized[it.name]
            )
        else:
            groups.setdefault(sized[it.name], []).append(it)
    devices = jax.device_count()  # (those left to run of a size: no padding past them)
    per_device = {
        hw: _per_device(template, hw, min(fits[hw], -(-len(g) // devices)), progress)
        for hw, g in groups.items()
    }
    layout = mesh.layout()
    memo: Dict = {}  # each style's targets at each size, computed once for every photo
    params = mesh.replicate(template.params, layout)
    ran: set = set()  # the items of the batches run: every process knows them
    full: List[str] = []  # writes that failed (a full disk), each kept: stop after this batch
    total = sum(len(g) for g in groups.values()) * sum(template.settings.iterations)  # image-iterations
    with signals.StopFlag() as flag, batch_bar(total, progress and jax.process_index() == 0) as bar:
        for g, (hw, group) in enumerate(groups.items()):
            size = per_device[hw][0] * jax.device_count()
            for first in range(0, len(group), size):
                if mesh.any_process(flag.set or bool(full)):
                    break
                bar.set_description(
                    f"{len(ran)}/{len(todo)} images, group {g + 1}/{len(groups)} {hw[1]}x{hw[0]}"
                )
                chunk = group[first : first + size]
                ran |= {it.name for it in chunk}
                slots = _share(chunk, size)
                watching = (flag, bar, shown)
                full += _run_batch(template, params, slots, hw, len(chunk), layout, watching, manifest, memo)
                full += filter(None, [manifest.save()])  # (on disk: the old one, true to the disk)
        if jax.process_index() == 0:  # (the batches never started; owners record the rest)
            for it in todo:
                if it.name not in ran and manifest.state(it.name) != "failed":
                    manifest.set(it.name, "pending", content=str(it.content), style=str(it.style))
        lost = manifest.save() if jax.process_index() > 0 else None  # (process 0's: folded)
        mesh.barrier("nst_jax batch: every process's manifest written")
        info = dict(_summary(todo_all, len(todo), started, per_device, flag), stopped=bool(full))
        if jax.process_index() == 0:
            lost = manifest.fold(info)
        info["kept"] = [lost] if lost else []  # (the manifest kept elsewhere: named)
    mesh.barrier("nst_jax batch: manifest folded")
    done, failed, pending = manifest.load().outcome([it.name for it in todo_all])
    shown.end(done, failed, pending, info["signal"])
    return BatchResult(done, failed, pending, out / "manifest.json", info)


def _prepare(
    contents, styles, output_dir, options, batch_size, allow_download, verbose
) -> Tuple[Job, Path, List[Item], Dict[str, Any], Dict[HW, int]]:
    """The options checked, the output folder made, the items listed and checked apart
    from their inputs, each photo's header read (its output's (H, W), or why it fails),
    the weights loaded and the plan made for the largest output (once for every item, as
    a run of that image alone plans it), and each size's images per device (mesh.py: the
    memory estimate): every refusal before anything is made."""
    asked = {n: options.get(n) for n in ("ema", "save_every", "style_blend", "tile")}
    refused = [f"--{n.replace('_', '-')}" for n, v in asked.items() if v and v not in ("auto", "off")]
    if refused:  # (one run's average, its intermediate images, a blend, strips: no batch axis)
        raise NstError(
            f"{refused[0]} belongs to one image's run; leave it out of a batch, or run that image alone"
        )
    if options.get("optimizer") == "scipy-lbfgsb":
        raise NstError("SciPy's L-BFGS-B drives one image from Python; use --optimizer lbfgs in a batch")
    if not str(output_dir).strip():  # ("" would be the current folder)
        raise NstError("the output folder (-o) is an empty name; give a folder, e.g. -o stylized")
    if (out := Path(output_dir)).exists() and not out.is_dir():
        raise NstError(f"{files.show(out)} is a file; give a folder for the batch's images (-o OUTDIR)")
    with files.tentative_folder(out):  # (made for the checks; removed again if one refuses)
        found = batch_items(contents, styles, out)  # (less the batch's own outputs)
        files.check_output(out / "manifest.json", "manifest")
        outputs = [("output", files.check_output(out / it.name, "output")) for it in found]
        inputs = [("content image", it.content) for it in found] + [("style image", it.style) for it in found]
        files.check_apart(outputs, inputs)
        for style in dict.fromkeys(it.style for it in found):  # (a missing one would fail every image)
            files.check_input(style, "style image")
            image_files.peek_size(style)
        headers = {it.name: _header(it.content) for it in found}
        # the most square photo has the largest output (its longest side is --size): a gray
        # image of its aspect stands in for it (the options, weights and plan need no pixels)
        readable = [hw for hw in headers.values() if not isinstance(hw, str)] or [(64, 64)]
        h, w = max(readable, key=lambda hw: min(hw) / max(hw))
        s = 512 / max(h, w)
        gray = np.full((max(1, round(h * s)), max(1, round(w * s)), 3), 128.0, np.float32)
        job = prepare(gray, gray, None, None, None, options, allow_download, False, verbose, template=True)
        sized = {name: _sized(hw, job) for name, hw in headers.items()}
        counts = Counter(hw for hw in sized.values() if not isinstance(hw, str))  # images of each size
        fits = {hw: mesh.per_device(job, hw, batch_size, n) for hw, n in counts.items()}
    return job, out, found, sized, fits


def _per_device(template: Job, hw: HW, b: int, progress: bool) -> Tuple[int, int]:
    """(b, the bytes estimated for b images per device at hw), said on process 0."""
    need, have, devices = mesh.batch_memory(template, hw, b), mesh.device_memory(), jax.device_count()
    if progress and jax.process_index() == 0:
        print(
            f"{hw[1]}x{hw[0]}: {b} image(s) per device x {devices} device(s), estimated "
            f"{need / 2**30:.1f} GiB per device ({have / 2**30:.1f} GiB available)",
            file=sys.stderr,
            flush=True,
        )
    return b, need


def _header(path) -> Any:
    """A photo's (H, W) read from its header, or why it cannot be read."""
    try:
        return image_files.peek_size(path)
    except NstError as e:
        return str(e)


def _sized(hw: Any, template: Job) -> Any:
    """A photo's output (H, W) from its header's, or why it fails (unreadable, or too
    small for the model at a scale)."""
    if isinstance(hw, str):
        return hw
    try:
        hws = [im.fit_size(hw[0], hw[1], side) for side in template.settings.sides]
        check_sides(template.cfg, template.model, hws)
    except NstError as e:
        return str(e)
    return hws[-1]


def _share(chunk: List[Item], size: int) -> List[Optional[Item]]:
    """This process's slots of a global batch of `size` (None: padding, never written)."""
    slots = [*chunk, *[None] * (size - len(chunk))]
    per = mesh.share(size)
    return slots[jax.process_index() * per : (jax.process_index() + 1) * per]


def _load(slot: Optional[Item], template: Job, manifest: Manifest) -> Optional[Job]:
    """The job of one slot (None: padding, or an image that failed to load: recorded)."""
    if slot is None:
        return None
    try:
        content, alpha = image_files.load_image(slot.content)
        style = image_files.load_image(slot.style)[0]
        h, w = content.shape[:2]
        hws = [im.fit_size(h, w, side) for side in template.settings.sides]
    except NstError as e:
        manifest.set(slot.name, "failed", content=str(slot.content), style=str(slot.style), error=str(e))
        return None
    output = manifest.folder / slot.name
    return template._replace(content=content, alpha=alpha, styles=[style], hws=hws, output=output)


def _filler(template: Job, hw: HW) -> Job:
    """What a padding slot computes when this process has no image of its own to copy: gray."""
    gray = np.full((*hw, 3), 128.0, np.float32)
    return template._replace(
        content=gray, alpha=None, styles=[gray], hws=[im.fit_size(*hw, s) for s in template.settings.sides]
    )


def _run_batch(template, params, slots, hw, real, layout, watching, manifest, memo) -> List[str]:
    """One batch of (H, W) = hw through every scale (scales.py, as one image runs): this
    process's `slots` (None: padding) of `real` images; each image written (with its log)
    and recorded as it ends. Returns the writes that failed, each kept elsewhere.
    `watching`: (the stop flag, the one bar, shown.Shown)."""
    loaded = [_load(s, template, manifest) for s in slots]
    filler = next((j for j in loaded if j is not None), None) or _filler(template, hw)
    jobs = [j or filler for j in loaded]
    flag, bar, shown = watching
    names = [s.name for s, j in zip(slots, loaded) if s and j]
    watch = shown.batch(names, jobs[0], real, flag, bar, len(jobs) * jax.process_count())
    r = run_scales(jobs, params, watch, layout, memo)
    took = (r.seconds, r.compile_seconds)
    ends = zip(slots, loaded, r.xs, r.histories, r.stops)
    return [p for s, j, x, h, stop in ends if s and j for p in _record(j, s, x, h, stop, took, manifest)]


def _record(job: Job, slot: Item, x, history, stop: str, seconds, manifest: Manifest) -> List[str]:
    """One image's end: written with its log (done), failed, or pending (interrupted).
    A write that fails keeps its file elsewhere (returned, and named in the entry)."""
    where = dict(content=str(slot.content), style=str(slot.style), inputs=stamp(slot))
    if stop == "interrupted":
        manifest.set(slot.name, "pending", **where)
        return []
    if stop == "nonfinite":
        why = "the loss became NaN or infinite; lower --style-weight, --content-weight or --tv-weight"
        manifest.set(slot.name, "failed", **where, error=why)
        return []
    image = output_image(job, im.resize(x, *job.hws[-1]))
    log = manifest.folder / "logs" / (Path(slot.name).stem + ".json")
    last = history[-1]
    summary = dict(where, stop=stop, iterations=last["iteration"], evaluations=last["evaluations"])
    # the batch's optimisation and compilation seconds, every scale (shared by its images)
    summary.update(seconds=round(seconds[0], 3), compile_seconds=round(seconds[1], 3))
    assert job.output is not None  # (a loaded slot's)
    lost = files.land("the image", job.output, image_files.image_writer(job.output, image))
    if lost:  # (the entry says where the image is; a rerun makes it again)
        manifest.set(slot.name, "failed", **where, error=f"{lost}; free some space, then rerun")
        return [f"{lost}; free some space, then rerun"]
    lost = files.land("its log", log, files.json_writer(dict(summary=summary, history=history)))
    kept = dict(log=str(log.relative_to(manifest.folder))) if not lost else dict(log=None, log_error=lost)
    manifest.set(slot.name, "done", **summary, loss=last["total"], **kept)
    return [f"{lost}; free some space"] if lost else []


def _summary(found: List[Item], run: int, started: float, per_device, flag) -> Dict[str, Any]:
    return dict(
        items=len(found),
        run=run,
        seconds=round(time.perf_counter() - started, 3),
        devices=jax.device_count(),
        processes=jax.process_count(),
        process=jax.process_index(),
        per_device={f"{w}x{h}": b for (h, w), (b, _) in per_device.items()},
        estimated_bytes={f"{w}x{h}": need for (h, w), (_, need) in per_device.items()},
        signal=flag.name,
    )
