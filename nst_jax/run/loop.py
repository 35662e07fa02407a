"""The run loop: every optimiser, at every scale, one image or a batch, through the same loop.

    state = init(x0)
    while iterations are left and nothing stopped the run:
        state, rows = chunk(state, it + n)  # up to iteration it + n, compiled (programs.py)
        average, report, save, look for Ctrl-C
    the last row: the loss of the image returned

Python looks in between chunks only: the progress bar and history (monitor.py),
intermediate images every `save_every` iterations, Ctrl-C (the first finishes the chunk
and returns the image so far), and the average of the iterates (`ema`,
optimizers/average.py; one iteration a chunk). How a chunk runs (on the host or the
device, vmapped over a batch) is programs.py's; SciPy's L-BFGS-B owns its loop and
reports to the same monitor.
"""

import time
from typing import Any, NamedTuple, Optional

import jax.numpy as jnp
import numpy as np

from ..fast.mesh import Batch
from ..optimizers import lbfgs as lb
from ..optimizers import spaces
from ..optimizers.average import ema_init, ema_update, ema_value
from ..optimizers.optim import Problem, Spec
from .monitor import Monitor
from .programs import (
    Programs,
    ahead_of_time,
    compile_late,
    device_chunks,
    host_chunks,
    local,
    programs,
    scipy_programs,
)
from .settings import Steps


class Outcome(NamedTuple):
    x: Any  # the image returned (with ema: the average of the iterates); a batch: (B, H, W, 3)
    iterations: Any  # iterations taken (a batch: one count per image)
    evaluations: Any  # loss-and-gradient evaluations, line searches and the last row's included
    stop: Any  # "iterations", "interrupted" or one of lbfgs.STOP_REASONS (a batch: a list)


def run(
    problem: Problem,
    aux: Any,
    x0,
    spec: Spec,
    steps: Steps,
    loop: str,
    monitor: Monitor,
    batch: Optional[Batch] = None,
) -> Outcome:
    """Minimise problem.fun(x, aux) from x0 by the optimiser of `spec` for steps.iters
    iterations (`loop`: "host" or "device"), reporting to `monitor`. With `batch`, x0 is
    (B, H, W, 3) and each image is optimised on its own, exactly as alone: the outcome's
    counts and stops are per image. The optimiser moves in spec.space (optimizers/spaces.py):
    x0 goes in as its parameters, and every image that comes out (the monitor's, the
    outcome's) is mapped back."""
    sp = spaces.space(spec.space[0], np.shape(x0)[-3:-1], spec.space[1])
    shown_to: Any = monitor
    if not sp.plain:
        problem, x0, shown_to = spaces.problem_in(sp, problem), spaces.to_params(sp, x0), _Images(monitor, sp)
    out = (_run_scipy if spec.drives else _run)(problem, aux, x0, spec, steps, loop, shown_to, batch)
    if sp.plain:
        return out
    x = spaces.to_image(sp, out.x)
    return out._replace(x=np.asarray(x) if batch is None else x)


class _Images:
    """A monitor to which the loop shows parameters: it sees the images they make."""

    def __init__(self, monitor: Monitor, sp: spaces.Space):
        self._monitor, self._space = monitor, sp

    def reached(self, iteration, x) -> bool:
        return self._monitor.reached(iteration, spaces.to_image(self._space, x))

    def __getattr__(self, name):
        return getattr(self._monitor, name)


def _run(problem: Problem, aux: Any, x0, spec: Spec, steps: Steps, loop: str, monitor, batch) -> Outcome:
    p = programs(problem, spec, steps.chunk, loop, batch)
    t = time.perf_counter()
    state = ahead_of_time(p.init, x0)(x0)
    # (no iterations, as when scoring an image: only the last row's forward pass is needed)
    chunks = host_chunks if loop == "host" else device_chunks
    chunk = chunks(p, problem, aux, state) if steps.iters else None
    look = ahead_of_time(p.look, state)
    monitor.started(time.perf_counter() - t)
    ema = ema_init(x0) if steps.ema else None  # averaged after every iteration (single images)
    shown = lambda x: x if ema is None else ema_value(ema, x0)  # the image a user gets
    seconds, interrupted = 0.0, False
    its, stops = local(look(state))
    while np.any((its < steps.iters) & (stops == lb.RUNNING)):
        it = int(np.min(its[stops == lb.RUNNING]))  # the image furthest behind
        n = 1 if ema is not None else min(steps.chunk, steps.iters - it)
        if steps.save_every:
            n = min(n, steps.save_every - it % steps.save_every)
        assert chunk is not None  # (compiled when there are iterations)
        state, rows, (its, stops) = chunk(state, it + n)  # each image up to iteration it + n
        if ema is not None and int(its) > it:
            ema = ema_update(ema, state.x, steps.ema)
        elapsed = monitor.elapsed()
        for item, item_rows in enumerate(rows):  # time within a chunk is apportioned evenly
            for j, (i, e, terms) in enumerate(item_rows):
                at = seconds + (elapsed - seconds) * j / len(item_rows)
                monitor.add(i, e, at, dict(zip(problem.terms, terms)), item=item)
        seconds = elapsed
        running = stops == lb.RUNNING
        if np.any(running) and monitor.reached(int(np.min(its[running])), shown(state.x)):
            interrupted = True
            break
    reasons = [
        lb.STOP_REASONS[s] if s != lb.RUNNING else ("interrupted" if interrupted else "iterations")
        for s in np.ravel(stops)
    ]
    return _last_row(p, problem, aux, state, ema, x0, monitor, reasons, batch)


def _last_row(p: Programs, problem, aux, state, ema, x0, monitor, reasons, batch) -> Outcome:
    """The history's last row: the loss of the image returned (the average with ema,
    one more evaluation), unless a row of it is there already."""
    its, evs = local(ahead_of_time(p.info, state)(state))
    if ema is not None:
        return _average(p.average, problem, aux, ema, x0, int(its), int(evs), reasons[0], monitor)
    its, evs = np.ravel(its), np.ravel(evs).copy()
    missing = [
        b for b in range(len(its)) if not monitor.rows(b) or monitor.rows(b)[-1]["iteration"] != its[b]
    ]
    if missing:
        rows = local(compile_late(monitor, p.last, state, aux)(state, aux))
        for b in missing:
            evs[b] = np.ravel(rows.evaluations)[b]
            terms = np.asarray(rows.terms).reshape(len(its), -1)[b]
            monitor.add(its[b], evs[b], monitor.elapsed(), dict(zip(problem.terms, terms)), item=b)
    if batch is None:
        return Outcome(np.asarray(state.x), int(its[0]), int(evs[0]), reasons[0])
    return Outcome(state.x, its, evs, reasons)  # (x sharded: batch.py takes this process's images)


def _run_scipy(problem: Problem, aux, x0, spec: Spec, steps: Steps, loop, monitor, batch) -> Outcome:
    """SciPy's L-BFGS-B (optim.scipy_lbfgsb, spec.make), a driver: it owns its loop and
    reports to the monitor; spec.args are its (memory_size, max_evals)."""
    t = time.perf_counter()
    value_and_grad, fun = scipy_programs(problem)
    drive = spec.make(problem, aux, np.asarray(x0), value_and_grad)  # compiles the value-and-gradient
    monitor.started(time.perf_counter() - t)
    ema = [ema_init(x0)] if steps.ema else None

    def on_iterate(iteration, x):
        if ema is None:
            return monitor.reached(iteration, x)
        ema[0] = ema_update(ema[0], jnp.asarray(x, jnp.float32), steps.ema)
        return monitor.reached(iteration, ema_value(ema[0], x0))

    x, iterations, evaluations, stop = drive(
        steps.iters,
        *spec.args,
        on_row=lambda it, ev, terms: monitor.add(it, ev, monitor.elapsed(), terms),
        on_iterate=on_iterate,
    )
    stop = "interrupted" if monitor.flag.set else stop
    if ema is None:
        return Outcome(x, iterations, evaluations, stop)
    return _average(fun, problem, aux, ema[0], x0, iterations, evaluations, stop, monitor)


def _average(fun, problem, aux, ema, x0, iteration, evaluations, stop, monitor) -> Outcome:
    """With ema, the image returned is the average: its loss (one more evaluation, `fun`:
    problem.fun jitted) replaces the last iterate's row."""
    x = ema_value(ema, x0)
    terms = compile_late(monitor, fun, x, aux)(x, aux)[1]
    monitor.add(
        iteration, evaluations + 1, monitor.elapsed(), {k: float(v) for k, v in terms.items()}, replace=True
    )
    return Outcome(np.asarray(x), iteration, evaluations + 1, stop)
