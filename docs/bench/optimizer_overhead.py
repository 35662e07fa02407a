"""Seconds per evaluation spent by the optimiser itself (no network): ours (m pairs, the
host loop's compiled ask/tell, state donated) and torch.optim.LBFGS (history 100, no line
search), on the image-sized quadratic f(x) = 1/2 sum w x^2 + 1e-3 sum x^4, after the
memory is full."""

import time

H, W = 384, 512


def ours(m):
    import jax
    import jax.numpy as jnp

    from nst_jax import optim

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
    e = vg(x, None)
    jax.block_until_ready(e)
    t_vg = time.perf_counter()
    for _ in range(20):
        e = vg(x, None)
    jax.block_until_ready(e)
    t_vg = (time.perf_counter() - t_vg) / 20
    for _i in range(m + 5):
        st, _ = tell(st, vg(ask(st), None))
    jax.block_until_ready(st)
    k = 30
    t = time.perf_counter()
    for _i in range(k):
        st, _ = tell(st, vg(ask(st), None))
    jax.block_until_ready(st)
    return (time.perf_counter() - t) / k - t_vg


def torch_(m):
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
    "ours m=100",
    f"{ours(100):.3f} s",
    "| ours m=10",
    f"{ours(10):.3f} s",
    "| torch history 100",
    f"{torch_(100):.3f} s",
    flush=True,
)
