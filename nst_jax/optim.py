"""Optimisers for the image, each run in jitted chunks of steps (no Python per step).

An optimiser here is a pair of pure functions, in the style of optax:

    state = init(x0)                                # x0: (H, W, 3) preprocessed image
    state, chunk = run(aux, state, n)               # up to n steps, one compiled call

`aux` is the pytree the loss needs besides the image (VGG params and targets): passed as
an argument, not closed over, so XLA does not embed 100 MB of constants. `n` is a traced
integer, so one compilation serves chunks of any length up to `max_chunk`.

Every optimiser's state has the fields `x`, `iteration`, `evaluations` and `nonfinite`,
and every chunk reports, for each step, the loss terms of the image *before* that step:
the log's record for iteration k describes the image after k steps, which took
`evaluations` loss-and-gradient evaluations to produce (Adam: one per step).

Non-finite values: a step whose loss or gradient is NaN/inf stops the chunk, sets
`nonfinite`, and leaves `x` at the last image whose loss was finite.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .image import IMAGENET_MEAN_BGR

TERMS = ("total", "content", "style", "tv")  # columns of ChunkLog.terms
PIXEL_LOW = -IMAGENET_MEAN_BGR  # 0 in preprocessed (BGR minus mean) space, per channel
PIXEL_HIGH = 255.0 - IMAGENET_MEAN_BGR  # 255 likewise


class ChunkLog(NamedTuple):
    terms: jnp.ndarray  # (max_chunk, 4) float32: TERMS of the image before each step
    evaluations: jnp.ndarray  # (max_chunk,) int32: evaluations spent before that image
    steps: jnp.ndarray  # () int32: how many rows are valid


class AdamState(NamedTuple):
    x: jnp.ndarray  # (H, W, 3) float32: the current image, preprocessed
    previous_x: jnp.ndarray  # (H, W, 3) float32: the image one step back
    opt_state: optax.OptState  # Adam's moments and step count
    iteration: jnp.ndarray  # () int32: steps taken
    evaluations: jnp.ndarray  # () int32: loss-and-gradient evaluations so far
    nonfinite: jnp.ndarray  # () bool: a NaN/inf loss or gradient was met


def clip_pixels(x):
    """Project onto valid images: every pixel in 0..255 (in preprocessed space)."""
    return jnp.clip(x, PIXEL_LOW, PIXEL_HIGH)


def adam(loss_fn: Callable, learning_rate: float, max_chunk: int = 10):
    """Adam (Kingma & Ba 2015) on the pixels, projected onto 0..255 after each step.

    loss_fn(x, aux) -> (total, {term: value}); returns (init, run) as described above.
    """
    tx = optax.adam(learning_rate)
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

    def init(x0):
        x0 = jnp.array(x0, jnp.float32)
        # distinct buffers throughout: the state is donated to each chunk
        return AdamState(x0, jnp.array(x0, copy=True), tx.init(x0), jnp.zeros((), jnp.int32),
                         jnp.zeros((), jnp.int32), jnp.zeros((), bool))

    def run(aux, state: AdamState, n):
        log = ChunkLog(jnp.zeros((max_chunk, len(TERMS)), jnp.float32),
                       jnp.zeros((max_chunk,), jnp.int32), jnp.zeros((), jnp.int32))

        def step(carry):
            s, log = carry
            (total, terms), g = value_and_grad(s.x, aux)
            loss_ok = jnp.isfinite(total)
            grad_ok = jnp.all(jnp.isfinite(g))
            updates, opt_state = tx.update(g, s.opt_state, s.x)
            x_new = clip_pixels(optax.apply_updates(s.x, updates))
            ok = loss_ok & grad_ok
            row = jnp.stack([terms[t] for t in TERMS]).astype(jnp.float32)
            i = log.steps
            log = ChunkLog(log.terms.at[i].set(row), log.evaluations.at[i].set(s.evaluations),
                           i + loss_ok.astype(jnp.int32))  # a non-finite row is not kept
            # ok: take the step. Finite loss, bad gradient: stay. Bad loss: step back.
            x = jnp.where(ok, x_new, jnp.where(loss_ok, s.x, s.previous_x))
            s = AdamState(
                x=x, previous_x=jnp.where(ok, s.x, s.previous_x),
                opt_state=jax.tree.map(lambda a, b: jnp.where(ok, a, b), opt_state, s.opt_state),
                iteration=jnp.where(ok, s.iteration + 1,
                                    jnp.where(loss_ok, s.iteration, jnp.maximum(s.iteration - 1, 0))),
                evaluations=s.evaluations + 1, nonfinite=~ok)
            return s, log

        def more(carry):
            s, log = carry
            return (log.steps < n) & ~s.nonfinite

        return jax.lax.while_loop(more, step, (state, log))

    return init, run
