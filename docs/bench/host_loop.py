"""Where the host loop's time goes: each of its three compiled calls (ask, the
evaluation, tell; run/programs.py `host_chunks`), timed one by one inside a real run, per
evaluation. Real VGG16, the objective of `bench optimizers` (content 1, style 1000, TV 0,
one scale, one octave), L-BFGS with its default 100 pairs, after the first 10
evaluations.

    NST_JAX_WEIGHTS=vgg16.h5 python docs/bench/host_loop.py tubingen.jpg starry_night.jpg [SIZES]
"""

import sys
import time
import types
from collections import defaultdict

import jax

import nst_jax
from nst_jax.run import programs

TIMES = defaultdict(list)


class Timed:
    """A jitted function whose compiled form records the seconds of each call, finished."""

    def __init__(self, name, jitted):
        self.name, self.jitted = name, jitted

    def __call__(self, *args):
        return self.jitted(*args)

    def lower(self, *args):
        compiled = self.jitted.lower(*args).compile()

        def call(*a):
            t = time.perf_counter()
            out = jax.block_until_ready(compiled(*a))
            TIMES[self.name].append(time.perf_counter() - t)
            return out

        return types.SimpleNamespace(compile=lambda: call)


_chunks = programs.host_chunks


def host_chunks(p, problem, aux, state):
    named = dict(ask=p.ask, value_and_grad=p.value_and_grad, tell=p.tell)
    return _chunks(p._replace(**{k: Timed(k, f) for k, f in named.items()}), problem, aux, state)


def main(content, style, sizes, evals=40, skip=10):
    import nst_jax.run.loop as loop

    loop.host_chunks = host_chunks
    print("| image | evaluations | ask | evaluation | tell | the three |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        TIMES.clear()
        r = nst_jax.stylize(
            content, style, size=size, model="vgg16", content_weight=1, style_weight=1000, tv_weight=0,
            num_scales=1, octaves=1, iters=10 * evals, max_evals=evals, progress=False,
        )  # fmt: skip
        ms = {k: 1e3 * sum(v[skip:]) / len(v[skip:]) for k, v in TIMES.items()}
        w, h = r.image.shape[1], r.image.shape[0]
        print(
            f"| {w}x{h} | {r.info['evaluations']} | {ms['ask']:.1f} ms | {ms['value_and_grad']:.0f} ms "
            f"| {ms['tell']:.1f} ms | {sum(ms.values()):.0f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(s) for s in (sys.argv[3:] or ["192", "256", "512"])])
