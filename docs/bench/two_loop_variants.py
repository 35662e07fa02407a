"""The two-loop recursion (N&W Alg. 7.4; optimizers/lbfgs.py `two_loop`) written other
ways, timed at image sizes with 100 pairs: as written (a fori_loop over the ring buffer),
unrolled by 4, over the history flattened to (m, n), with the dot product as a sum of
products, and the floor a compact form (Byrd, Nocedal & Schnabel 1994) would have: its
matrix-vector products S^T g, Y^T g and S a + Y b alone. Each variant's largest
difference from the loop as written, relative to its largest element, beside its time.

    python docs/bench/two_loop_variants.py [LONGEST_SIDE ...]   # default 192 256 512
"""

import sys
import time
from functools import partial

import jax
import jax.numpy as jnp

from nst_jax.optimizers.lbfgs import two_loop


def timed(f, *a, k=20):
    jax.block_until_ready(f(*a))
    t = time.perf_counter()
    for _ in range(k):
        o = f(*a)
    jax.block_until_ready(o)
    return (time.perf_counter() - t) / k * 1e3


def variant(g, s, y, rho, head, pairs, gamma, unroll=1, dot=jnp.vdot):
    """lbfgs.two_loop without the preconditioner, with `unroll` and `dot` to choose."""
    m = s.shape[0]

    def newest_first(j, carry):
        q, alpha = carry
        i = (head - 1 - j) % m
        a = jnp.where(j < pairs, rho[i] * dot(s[i], q), 0.0)
        return q - a * y[i], alpha.at[i].set(a)

    q, alpha = jax.lax.fori_loop(0, m, newest_first, (g, jnp.zeros(m, g.dtype)), unroll=unroll)

    def oldest_first(j, r):
        i = (head - pairs + j) % m
        beta = rho[i] * dot(y[i], r)
        return jnp.where(j < pairs, r + s[i] * (alpha[i] - beta), r)

    return jax.lax.fori_loop(0, m, oldest_first, gamma * q, unroll=unroll)


def flat(g, s, y, *rest):
    m, n = s.shape[0], g.size
    return variant(g.reshape(n), s.reshape(m, n), y.reshape(m, n), *rest).reshape(g.shape)


def gemv_floor(g, s, y, *rest):
    m = s.shape[0]
    S, Y, v = s.reshape(m, -1), y.reshape(m, -1), g.reshape(-1)
    a, b = S @ v, Y @ v  # S^T g, Y^T g: (m, n) (n,) -> (m,)
    return (a @ S + b @ Y).reshape(g.shape)  # S a + Y b: one more pass over both


VARIANTS = {
    "as written": two_loop,
    "unrolled by 4": partial(variant, unroll=4),
    "flattened": flat,
    "sum of products": partial(variant, dot=lambda a, b: jnp.sum(a * b)),
    "compact form's products (floor)": gemv_floor,
}

print("| image | " + " | ".join(VARIANTS) + " |")
print("|" + " --- |" * (len(VARIANTS) + 1))
for side in [int(v) for v in sys.argv[1:]] or [192, 256, 512]:
    H, W, m = side * 3 // 4, side, 100
    k = jax.random.split(jax.random.key(0), 3)
    s = jax.random.normal(k[0], (m, H, W, 3))
    y = s + 0.1 * jax.random.normal(k[1], (m, H, W, 3))
    g = jax.random.normal(k[2], (H, W, 3))
    args = (g, s, y, 1 / jnp.einsum("ihwc,ihwc->i", s, y), jnp.int32(37), jnp.int32(m), jnp.float32(0.5))
    ref = jax.jit(two_loop)(*args)
    cells = []
    for name, f in VARIANTS.items():
        jf = jax.jit(f)
        if "floor" in name:
            cells.append(f"{timed(jf, *args):.1f} ms")
            continue
        err = float(jnp.max(jnp.abs(jf(*args) - ref)) / jnp.max(jnp.abs(ref)))
        cells.append(f"{timed(jf, *args):.1f} ms ({err:.0e})")
    print(f"| {W}x{H}x3 | " + " | ".join(cells) + " |", flush=True)
