"""One frame of a film through the run layer: its inputs at the output's size, its loss
with the temporal term, its start, its run (Ruder et al. 2016, Sec. 3; video.py's module
docstring has the steps).

The temporal term is one more piece on the loss (`WithTemporal`, equal for every frame:
the first frame's c is 0), so one compiled program serves every frame of a film, and
every pass of passes.py's batches.
"""

import dataclasses
from typing import Any, Callable, NamedTuple, Tuple

import numpy as np

from ..paper import image as im
from ..paper import temporal
from ..paper.losses import TERMS
from ..run import loop
from ..run.monitor import Monitor
from ..run.scales import scale_images, scale_problem, scale_targets, start_image
from ..run.stylize import output_image
from . import flows


@dataclasses.dataclass(frozen=True)
class WithTemporal:
    """fun(x, (aux, (w, c))) = loss(x, aux) + weight L_temporal(x, w, c): a frame's loss
    with Ruder et al.'s term (a value: equal for every frame, compiled once)."""

    loss: Callable
    weight: float

    def __call__(self, x, aux):
        inner, (warped, c) = aux
        total, terms = self.loss(x, inner)
        t = temporal.temporal_loss(x, warped, c)  # (preprocessed x and w: the same differences)
        total = total + self.weight * t
        return total, dict(terms, total=total, temporal=t)


class Temporal(NamedTuple):
    """How the frames after the first are made (one film: one of these)."""

    weight: float  # lambda of the temporal loss
    steps: Any  # Steps of each frame after the first (--frame-iters)
    flow: str  # "jax" or "dis" (flows.FLOWS)
    frames: Tuple[int, ...]  # the earlier frames j a frame is held to: (1,), or LONG_TERM


def scaled(job, image):
    """(the frame's job, scale_images' (content, its colours, styles) at the output's size)."""
    f_job = job._replace(content=image.astype(np.float32))
    return f_job, scale_images(f_job, job.settings.sides[-1], job.hws[-1])


def run_frame(job, inputs, history, memo, tm: Temporal, flag, board=None):
    """One frame (`inputs`: scaled()'s; `history`: the earlier frames as (optimised,
    stylized), none for the first): (its 8-bit RGB image, record), or (None, {}) when a
    signal stopped it. `board`: what a page shows (run/board.py), or None."""
    hw = job.hws[-1]
    c_img, _, styles = inputs
    targets = scale_targets(job, c_img, styles, hw, memo)
    problem, aux = scale_problem(job, hw), (job.params, targets)  # type: Any, Any
    if not history:  # (the first frame: the same problem with c = 0, its temporal term 0,
        x0 = start_image(job, c_img, styles[0], hw)  # so one program serves every frame)
        warped = np.broadcast_to(np.asarray(x0, np.float32), (len(tm.frames), *hw, 3))
        c_long, c, steps = np.zeros((len(tm.frames), *hw), np.float32), None, job.settings.steps(0)
    else:
        warped, c_long, c = flows.references(history, c_img, tm.frames, tm.flow)
        x0 = c[..., None] * warped[0] + (1 - c[..., None]) * c_img  # disoccluded: from the photo
        steps = tm.steps
    problem = problem._replace(fun=WithTemporal(problem.fun, tm.weight), terms=TERMS + ("temporal",))
    aux = (aux, (im.preprocess(warped), c_long))
    if board is not None:
        board.start(None, [[hw[1], hw[0], steps.iters]])  # (the caller titled it)
    with Monitor(steps, None, None, False, lambda x: im.deprocess(np.asarray(x)), flag, board=board) as m:
        out = loop.run(problem, aux, im.preprocess(x0), job.settings.optimizer, steps, job.plan.loop, m)
    if out.stop == "interrupted":
        return None, {}
    image = output_image(job, im.deprocess(np.asarray(out.x)))  # (H, W, 3) uint8
    rec = dict(
        iterations=int(out.iterations), evaluations=int(out.evaluations), stop=out.stop, terms=m.history[-1]
    )
    if c is not None:
        rec["flicker"] = float(temporal.warping_error(image.astype(np.float32), warped[0], c))
        rec["consistent"] = float(np.mean(c))  # the share of pixels the flow is trusted at
    return image, rec
