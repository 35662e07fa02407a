"""Benchmarks, measured on this machine at the time of the run (never pass/fail tests).

speed.py         `python -m nst_jax bench`: one evaluation, JAX against PyTorch
convergence.py   `python -m nst_jax bench optimizers`: the loss per optimiser
sizes.py         `python -m nst_jax.bench.sizes`: runs at several sizes, timed and scored
batch.py         `python -m nst_jax bench batch`: images per second per batch size
balance.py       `python -m nst_jax bench balance`: style against content per backbone
gpu.py           `python -m nst_jax bench gpu`: docs/guide/performance.md's GPU table (evaluations, loops, a run)

May import: everything but cli.
"""

from .convergence import RUNS, check_plot, loss_at, main_optimizers, optimizers, plot, table
from .speed import FRAMEWORKS, conv_flops, eval_flops, forward_flops, main_speed, speed, speed_table, time_one

__all__ = [
    "FRAMEWORKS",
    "RUNS",
    "check_plot",
    "conv_flops",
    "eval_flops",
    "forward_flops",
    "loss_at",
    "main_optimizers",
    "main_speed",
    "optimizers",
    "plot",
    "speed",
    "speed_table",
    "table",
    "time_one",
]
