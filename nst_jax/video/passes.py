"""Multi-pass video stylization, every frame of a pass in one batch (`--passes N`).

Ruder, Dosovitskiy & Brox (IJCV 2018, Sec. 4.3, the multi-pass algorithm): a film stylized
frame after frame carries its errors forward, and frame 1 never hears of frame 2. The
multi-pass algorithm goes over the film several times, alternately forwards and
backwards, each frame started from a blend of its own last result x_i and its neighbour's
warped into it (w, with the consistency c of that pair), and held to w by the temporal
term:

    x0_i = delta c w + (1 - delta c) x_i,   delta = 0.5        (their blend, delta-bar = 1 - delta)

In their version a pass is sequential: frame i's neighbour comes from the same pass. Here
it comes from the previous pass (Jacobi rather than Gauss-Seidel), so the frames of a pass
do not depend on each other and every pass is one batch: vmapped and sharded over the
devices by the batch machinery (fast/mesh.py; run/loop.py's one loop). Pass 0 stylizes
every frame from its photo (`--iters`, no temporal term: c = 0); pass p >= 1 holds frame i
to frame i-1 (p odd) or i+1 (p even) of pass p-1, `--frame-iters` iterations each.

Resumable by passes: after each pass every frame is written and the record says which pass
it was; a rerun continues with the next pass from the frames as written (8-bit), so it
gives the frames of an uninterrupted run.
"""

import time
from typing import Any, Dict

import jax
import numpy as np

from ..fast import mesh
from ..io import files, image_files
from ..paper import image as im
from ..paper import temporal
from ..paper.losses import TERMS
from ..run import loop
from ..run.monitor import Monitor
from ..run.scales import scale_problem, scale_targets
from ..run.stylize import output_image
from . import flows
from .frame import WithTemporal, scaled
from .record import RECORD

DELTA = 0.5  # Ruder et al.'s delta: how much of the neighbours' warped frames a pass starts from


def run_passes(job, src, paths, record: Dict, memo, tm, passes: int, watching, progress, folder) -> str:
    """Passes 2 .. `passes` of the film (pass 1: video.py's, frame after frame, written;
    `record`: the said options and the passes an earlier run finished, updated and written
    after each pass). Returns "interrupted" if a signal stopped a pass (its frames not
    written), else "iterations". `watching`: (the stop flag, the board or None)."""
    hw, n = job.hws[-1], len(src.images)
    frames = [scaled(job, image) for image in src.images]  # (frame's job, (content, colours, styles))
    contents = [inputs[0] for _, inputs in frames]  # (each frame at the output's size)
    targets = [scale_targets(f, s[0], s[2], hw, memo) for f, s in frames]  # the style's: once (memo)
    problem = scale_problem(job, hw)
    problem = problem._replace(fun=WithTemporal(problem.fun, tm.weight), terms=TERMS + ("temporal",))
    layout = mesh.layout()._replace(aux_axes=((None, 0), 0))  # params shared; targets, w, c per frame
    params = mesh.replicate(job.params, layout)
    size = mesh.per_device(job, hw, "auto", n) * jax.device_count()  # frames in one batch
    xs = [image_files.load_image(p)[0] for p in paths]  # (the last pass as written)
    for p in range(1 + len(record.get("pass_records", [])), passes):
        t = time.perf_counter()
        starts = [_start(contents, xs, i, tm.flow) for i in range(n)]
        outs, recs = [], []
        for first in range(0, n, size):  # (a film longer than a batch: several, one after another)
            group = list(range(first, min(first + size, n)))
            if watching[1] is not None:  # (the board shows the group's first frame)
                watching[1].titled(f"pass {p + 1} of {passes}: frames {first + 1}-{group[-1] + 1} at once")
            out = _batch(
                job, problem, params, layout, [(starts[i], targets[i]) for i in group], tm.steps, watching
            )
            if out is None:
                return "interrupted"
            for j, i in enumerate(group):
                outs.append(output_image(frames[i][0], out[0][j]))  # (H, W, 3) uint8
                recs.append(out[1][j])
        xs = [o.astype(np.float32) for o in outs]
        for i in range(1, n):  # flicker: each frame against the one before, warped into it
            warped, _, c1 = flows.references([(contents[i - 1], xs[i - 1])], contents[i], (1,), tm.flow)
            recs[i].update(
                flicker=float(temporal.warping_error(xs[i], warped[0], c1)), consistent=float(np.mean(c1))
            )
        seconds = round(time.perf_counter() - t, 3)
        for i, r in enumerate(recs):
            r.update(frame=src.names[i], file=paths[i].name, seconds=round(seconds / n, 3))
        files.write_kept(
            [("a frame", paths[i], image_files.image_writer(paths[i], outs[i])) for i in range(n)]
        )
        for i in range(n) if watching[1] is not None else ():
            watching[1].item(paths[i].name, "done", outs[i])
        flicker = float(np.mean([r["flicker"] for r in recs[1:]])) if n > 1 else None
        record["pass_records"] = record.get("pass_records", []) + [dict(seconds=seconds, flicker=flicker)]
        record["frames"] = recs
        files.write_kept([("the record", folder / RECORD, files.json_writer(record))])
        if progress:
            shown = "" if flicker is None else f", flicker {flicker:.1f}"
            print(f"pass {p + 1}/{passes}: {n} frames at once, {seconds:.1f} s{shown}", flush=True)
    return "iterations"


def _batch(job, problem, params, layout, items, steps, watching):
    """One batch of frames (each (start, warped, c), targets), padded to the devices with
    copies of its last: (each frame's RGB result, each one's record), None if interrupted."""
    flag, board = watching
    padded = items + [items[-1]] * (-len(items) % jax.device_count())  # (copies, never written)
    x0 = mesh.place(np.stack([im.preprocess(start[0]) for start, _ in padded]), layout)
    stacked = jax.tree.map(lambda *t: np.stack([np.asarray(a) for a in t]), *[t for _, t in padded])
    w = np.stack([im.preprocess(start[1]) for start, _ in padded])  # (B, 2, H, W, 3)
    c = np.stack([start[2] for start, _ in padded])  # (B, 2, H, W)
    aux = ((params, mesh.place(stacked, layout)), mesh.place((w, c), layout))
    if board is not None:
        board.start(None, [[job.hws[-1][1], job.hws[-1][0], steps.iters]])
    to_rgb = lambda xs: im.deprocess(mesh.local_rows(xs)[0])  # (the batch's first frame is shown)
    with Monitor(steps, None, None, False, to_rgb, flag, items=len(padded), board=board) as m:
        out = loop.run(problem, aux, x0, job.settings.optimizer, steps, job.plan.loop, m, layout)
    if "interrupted" in list(out.stop):
        return None
    its, evals = np.asarray(out.iterations), np.asarray(out.evaluations)
    recs = [
        dict(iterations=int(its[j]), evaluations=int(evals[j]), stop=out.stop[j], terms=m.rows(j)[-1])
        for j in range(len(items))
    ]
    return im.deprocess(mesh.local_rows(out.x)), recs


def _start(contents, xs, i: int, flow: str) -> Any:
    """Frame i's (start, its neighbours' results warped into it (2, H, W, 3), their weights
    c (2, H, W)): the blend, from the neighbours' average where the flow is trusted."""
    warped = np.zeros((2, *xs[i].shape), np.float32)
    cs = np.zeros((2, *xs[i].shape[:2]), np.float32)
    for k, j in enumerate((i - 1, i + 1)):
        if 0 <= j < len(xs):  # (the film's ends have one neighbour)
            w, _, c = flows.references([(contents[j], xs[j])], contents[i], (1,), flow)
            warped[k], cs[k] = w[0], c
    total = np.sum(cs, 0)[..., None]  # (H, W, 1): how many neighbours are trusted at each pixel
    mean = np.sum(cs[..., None] * warped, 0) / np.maximum(total, 1)  # their average there
    c = np.minimum(total, 1)
    return DELTA * c * mean + (1 - DELTA * c) * xs[i], warped, cs  # the blend
