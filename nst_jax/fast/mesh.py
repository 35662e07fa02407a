"""Many images over many devices and machines: the mesh, the batch's sharding, each
process's share.

A batch of B independent images (batch.py) is one array with a leading batch axis. It is
laid over every device of every process with a one-axis `Mesh` and
`NamedSharding(mesh, P("batch"))`: device d holds images [d B/D, (d+1) B/D); the VGG
weights are replicated, P(). jit then runs one program over the global batch (GSPMD),
with no communication in the loss at all: only the small things Python reads between
chunks (rows, iterations, stops) are gathered, P() again. One device is the same code
with a mesh of one.

Several processes (joined by fast/processes.py: `jax.distributed.initialize`, given a
coordinator or detected from the environment, e.g. under Slurm) form one global mesh over all their
devices. Process p's devices come as one block of the mesh (jax.devices() is ordered by
process), so process p reads, and writes, only the images of its block: `place` builds
the global array from each process's own rows (`jax.make_array_from_process_local_data`)
and `local_rows` reads them back.
"""

from typing import Any, NamedTuple, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..errors import NstError
from .memory import available_memory

AXIS = "batch"
# `--batch-size auto` puts at most this many images on a device: on 2 CPU cores the gain
# of a larger batch flattens (docs/guide/batches.md: 1.19x the one-by-one rate at 4, 1.26x at 8), while
# a batch interrupted redoes all its images; pass --batch-size for more (on a GPU).
AUTO_LIMIT = 32


class Batch(NamedTuple):
    """A batch of independent images through one optimiser (batch.py, fast/mesh.py): every
    piece vmapped over a leading axis, that axis sharded over the devices."""

    aux_axes: Any  # vmap's in_axes for aux: (None, 0): the params shared, the targets per image
    sharding: Any  # of every per-image array: the batch axis over the mesh's devices
    replicated: Any  # of what Python reads (rows, iterations, stops): a copy on every device


def layout() -> Batch:
    """The batch over every device of every process: params shared, targets per image."""
    mesh = Mesh(np.array(jax.devices()), (AXIS,))
    return Batch(
        aux_axes=(None, 0),
        sharding=NamedSharding(mesh, PartitionSpec(AXIS)),
        replicated=NamedSharding(mesh, PartitionSpec()),
    )


def share(batch_size: int) -> int:
    """This process's share of a global batch of `batch_size` images, padded up so that
    every device holds the same number (the padding is never written)."""
    devices, local = jax.device_count(), jax.local_device_count()
    per_device = -(-batch_size // devices)  # ceil
    return per_device * local


def place(local: Any, batch: Batch) -> Any:
    """A pytree of this process's rows (each leaf (b, ...), b = share(B)) as global arrays
    of all processes' rows, (B, ...), sharded over the batch axis."""
    n = jax.process_count()

    def one(a):
        a = np.asarray(a)
        return jax.make_array_from_process_local_data(batch.sharding, a, (a.shape[0] * n, *a.shape[1:]))

    return jax.tree.map(one, local)


def replicate(tree: Any, batch: Batch) -> Any:
    """A pytree every process holds the same values of (the weights) on every device."""
    return jax.tree.map(
        lambda a: jax.make_array_from_process_local_data(batch.replicated, np.asarray(a)), tree
    )


def local_rows(a: jax.Array) -> np.ndarray:
    """This process's rows of a batch-sharded global array, in order: (b, ...)."""
    shards = sorted(a.addressable_shards, key=lambda s: s.index[0].start or 0)
    seen, rows = set(), []
    for s in shards:  # (a replicated axis would repeat rows: keep each start once)
        if (s.index[0].start or 0) not in seen:
            seen.add(s.index[0].start or 0)
            rows.append(np.asarray(s.data))
    return np.concatenate(rows)


def device_memory() -> int:
    """Bytes one device may use: an accelerator's own limit, or on CPU the available
    memory shared by this process's (simulated) devices."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return available_memory() // jax.local_device_count()


def any_process(flag: bool) -> bool:
    """Whether `flag` is set in any process (one stop for all: a process that stopped
    alone would leave the others waiting in the next collective)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.array(flag))))


def barrier(name: str) -> None:
    """Wait until every process is here."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def per_device(template: Any, hw: Tuple[int, int], batch_size: Any, n: int) -> int:
    """Images per device for a group of n at (H, W): as asked, or the most the memory
    estimate (of the Job `template` at hw) fits, at most AUTO_LIMIT, never more than the
    group needs; refused if one image does not fit. (Fewer of the group left to run: the
    min of this and theirs, the estimate growing with the batch.)"""
    have, devices = device_memory(), jax.device_count()
    need = lambda b: batch_memory(template, hw, b)  # noqa: E731
    if batch_size != "auto":
        b = min(-(-int(batch_size) // devices), -(-n // devices))  # (no padding past the group)
        if need(b) > have:
            raise NstError(
                f"a batch of {b} {hw[1]}x{hw[0]} images per device needs about {need(b) / 2**30:.1f} GiB "
                f"but {have / 2**30:.1f} GiB is available; lower --batch-size or --size"
            )
        return b
    b, cap = 1, min(AUTO_LIMIT, -(-n // devices))
    if need(1) > have:
        raise NstError(
            f"one {hw[1]}x{hw[0]} image needs about {need(1) / 2**30:.1f} GiB but "
            f"{have / 2**30:.1f} GiB is available per device; lower --size"
        )
    while b < cap and need(b + 1) <= have:
        b += 1
    return b


def batch_memory(template: Any, hw: Tuple[int, int], b: int) -> int:
    """Bytes estimated for b images per device at (H, W) (the Job `template`'s estimate)."""
    return template._replace(hws=template.hws[:-1] + [hw]).memory_if(batch=b)
