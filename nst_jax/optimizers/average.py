"""Iterate averaging: the image returned is an exponential moving average of the iterates.

Polyak & Juditsky (1992) average the iterates of a stochastic method; an exponential
moving average (Adam's bias correction, Kingma & Ba 2015, Sec. 3, for the weights) keeps
the recent ones. It wraps any optimiser from the outside: the loop (run/loop.py) updates
it after every iteration and returns its value instead of the last iterate.

    a_t = d a_{t-1} + (1 - d) x_t,   w_t = d w_{t-1} + (1 - d),   x_avg = a_t / w_t
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


class EmaState(NamedTuple):
    average: jnp.ndarray  # (H, W, 3): sum_k (1 - d) d^(t-k) x_k over the iterates so far
    weight: jnp.ndarray  # () 1 - d^t: the total weight in `average` (0 before any iterate)


def ema_init(x0: ArrayLike) -> EmaState:
    """An empty average; `ema_value` gives x0 until the first iterate arrives."""
    return EmaState(jnp.zeros_like(jnp.asarray(x0, jnp.float32)), jnp.zeros((), jnp.float32))


@jax.jit
def ema_update(s: EmaState, x: ArrayLike, decay: float) -> EmaState:
    """One more iterate: a_t = d a_{t-1} + (1 - d) x_t, w_t = d w_{t-1} + (1 - d)."""
    return EmaState(decay * s.average + (1 - decay) * x, decay * s.weight + (1 - decay))


def ema_value(s: EmaState, x0: ArrayLike) -> jax.Array:
    """The debiased average a_t / w_t (Adam's bias correction: the weights of x_1..x_t sum
    to 1), or x0 before any iterate."""
    return jnp.where(s.weight > 0, s.average / jnp.maximum(s.weight, 1e-30), x0)
