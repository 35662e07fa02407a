"""The objective with rematerialisation: each VGG block and its losses as one checkpoint.

`loss_terms` computes exactly losses.loss_terms (the same operations), but with each
VGG block, the losses of its layers and the pooling after it as one `jax.checkpoint`:
the backward pass keeps only each block's pooled input (x, then 1/4, 1/16, ... of the
first block's size) and recomputes one block at a time, instead of keeping every
activation of the network (a block's features feed its losses inside the checkpoint,
so none has to be kept for the Gram matrices' backward). Whether the peak falls is the
compiler's schedule: on XLA:CPU it did not (docs/guide/performance.md, "Memory, remat and precision").
"""

from typing import Any, Dict

import jax
import jax.numpy as jnp

from ..paper.losses import Objective, Targets, combine, tv_loss, weighted_terms
from ..paper.vgg import Block, Ops, block_params, check_request, last_block, pool


def loss_terms(
    params: Any, targets: Targets, x: jax.Array, objective: Objective, ops: Ops = Ops()
) -> Dict[str, jnp.ndarray]:
    """losses.loss_terms, block by block under jax.checkpoint."""
    ob = objective
    names = check_request(ob.model, ob.pooling, ob.precision, ob.layers)
    last = last_block(ob.model, names)

    def block(p, h, targets, b):  # block b's input -> (the next block's input, its terms)
        h, f = Block(ob.model, b, ob.pooling, names, ob.precision, ops, pool_first=False).apply(
            {"params": p}, h
        )
        c, s = weighted_terms({k: v[0].astype(x.dtype) for k, v in f.items()}, targets, ob, x.dtype)
        return (pool(ob.pooling, ops)(h) if b < last else h), c, s

    h, content, style = x[None], jnp.zeros((), x.dtype), jnp.zeros((), x.dtype)
    for b in range(1, last + 1):  # (1, H, W, 3) -> (1, H/2, W/2, 64) -> ...
        h, c, s = jax.checkpoint(block, static_argnums=3)(block_params(params, b), h, targets, b)
        content, style = content + c, style + s
    return combine(content, style, tv_loss(x), ob)
