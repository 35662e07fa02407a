"""The speed machinery: the same computation as the paper modules, done faster.

Nothing here changes what is computed, only how: each piece is checked against the plain
definition it replaces (tests/fast/, and tests/batches/test_batch.py for the mesh).

    plan.py      the plan: every `auto` of a run settled once (conv, loop, scheduler)
    winograd.py  Winograd's F(4x4, 3x3) convolution, and the module holding its transforms
    pool.py      2x2 max pooling with a written-out (fast) gradient
    remat.py     the objective with each VGG block under jax.checkpoint
    tiles.py     the exact loss and gradient of a large image, strip by strip
    memory.py    the peak-memory estimate; available and used memory
    xla.py       XLA:CPU's memory-ordered scheduler (`use_memory_scheduler`)
    mesh.py      a batch over devices and processes: the mesh, its shardings, each share
    processes.py joining the processes of a multi-process batch (jax.distributed)

A faster way to compute the same thing goes here, chosen by the plan. May import: errors,
config, paper.
"""

from .plan import Plan, plan
from .xla import use_memory_scheduler

__all__ = ["Plan", "plan", "use_memory_scheduler"]
