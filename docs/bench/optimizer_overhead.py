"""Seconds per evaluation spent by the optimiser itself (no network): ours (m pairs, the
host loop's compiled ask and tell, state donated) and torch.optim.LBFGS (history 100, no
line search), on the image-sized quadratic f(x) = 1/2 sum w x^2 + 1e-3 sum x^4, after the
memory is full. Ours is also split: `ask` alone, `tell` alone, and the two-loop recursion
(lbfgs.two_loop, Alg. 7.4) alone, each a compiled call timed on its own.

    python docs/bench/optimizer_overhead.py [LONGEST_SIDE ...]   # default 512 (512x384x3)
"""

import sys
import time


def _timed(f, *args, k=20):
    import jax

    jax.block_until_ready(f(*args))
    t = time.perf_counter()
    for _ in range(k):
        out = f(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t) / k


def ours(m, H, W):
    import jax
    import jax.numpy as jnp

    from nst_jax.optimizers import lbfgs as lb
    from nst_jax.optimizers import optim

    w = jnp.linspace(1, 100, H * W * 3).reshape(H, W, 3)
    prob = optim.Problem(
        lambda x, aux: (lambda t: (t, {"total": t}))(0.5 * jnp.sum(w * x * x) + 1e-3 * jnp.sum(x**4)),
        ("total",),
    )
    opt = optim.lbfgs(prob, m)
    st = jax.jit(opt.init)(jnp.ones((H, W, 3)))
    ask, tell = jax.jit(opt.ask), jax.jit(opt.tell, donate_argnums=0)
    vg = jax.jit(jax.value_and_grad(prob.fun, has_aux=True))
    x = ask(st)
    t_vg = _timed(vg, x, None)
    for _i in range(m + 5):
        st, _ = tell(st, vg(ask(st), None))
    jax.block_until_ready(st)
    k = 30
    t = time.perf_counter()
    for _i in range(k):
        st, _ = tell(st, vg(ask(st), None))
    jax.block_until_ready(st)
    whole = (time.perf_counter() - t) / k - t_vg
    recursion = jax.jit(lambda s: lb.two_loop(s.grad, s.s, s.y, s.rho, s.head, s.pairs, s.gamma))
    return whole, _timed(ask, st), _timed(recursion, st)


def torch_(m, H, W):
    import torch

    w = torch.linspace(1, 100, H * W * 3).reshape(1, 3, H, W)
    x = torch.ones(1, 3, H, W, requires_grad=True)
    opt = torch.optim.LBFGS(
        [x], lr=1, max_iter=m + 35, max_eval=m + 35, history_size=m, tolerance_grad=-1, tolerance_change=-1
    )
    stamps = []

    def f():
        opt.zero_grad()
        v = 0.5 * (w * x * x).sum() + 1e-3 * (x**4).sum()
        v.backward()
        stamps.append(time.perf_counter())
        return v

    t0 = time.perf_counter()
    for _ in range(20):
        opt.zero_grad()
        v = 0.5 * (w * x * x).sum() + 1e-3 * (x**4).sum()
        v.backward()
    t_f = (time.perf_counter() - t0) / 20
    opt.step(f)
    return (stamps[-1] - stamps[m + 4]) / (len(stamps) - 1 - (m + 4)) - t_f


print(
    "| image | ours, m=100 | of which ask | of which the two-loop recursion | ours, m=10 | torch, history 100 |"
)
print("| --- | --- | --- | --- | --- | --- |")
for side in [int(a) for a in sys.argv[1:]] or [512]:
    H, W = side * 3 // 4, side
    whole, ask_s, rec = ours(100, H, W)
    print(
        f"| {W}x{H}x3 | {whole * 1e3:.1f} ms | {ask_s * 1e3:.1f} ms | {rec * 1e3:.1f} ms "
        f"| {ours(10, H, W)[0] * 1e3:.1f} ms | {torch_(100, H, W) * 1e3:.1f} ms |",
        flush=True,
    )
