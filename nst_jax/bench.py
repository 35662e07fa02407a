"""Benchmarks, measured on this machine at the time of the run (never pass/fail tests).

`python -m nst_jax bench` (speed): the seconds of one loss-and-gradient evaluation of the
same objective (same weights, image, size, layers) in nst_jax and in the independent
PyTorch reference of compare.py, side by side. Each (framework, model, size) runs in its
own process, so its peak memory (the process's maximum resident set on CPU, the
allocator's peak on GPU) is its own and no thread pool competes with another. Reported:
the median of `repeats` evaluations after one warm-up (JAX's compile time apart),
achieved GFLOP/s with the FLOPs counted analytically (`eval_flops`), that as a fraction
of a float32 matrix-multiply peak measured on the same device in the same run, and peak
memory.

`python -m nst_jax bench optimizers`: loss against evaluations and seconds. Runs the
same style transfer (same weights, images, size, objective, initial image) with
each optimiser for the same budget of loss-and-gradient evaluations, line-search ones
included, and reports the loss each reached after N evaluations and after T seconds.
Adam is run at several learning rates and the best is kept ("Adam, tuned"). Timings are
measurements of this machine at the time of the run; nothing here is a pass/fail test.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .memory import peak_rss
from .stylize import stylize
from .vgg import BLOCK_WIDTHS, conv_layers

DEMO = Path(__file__).resolve().parent / "data"
# jax: nst_jax as it runs (--conv auto: Winograd convolutions from 256 channels on CPU);
# jax-direct: every convolution direct (exact float32); torch-cl: channels_last layout
FRAMEWORKS = ("jax", "jax-direct", "torch", "torch-cl")


def conv_flops(model: str, height: int, width: int, deepest: str) -> int:
    """FLOPs (multiply and add: 2 each) of the 3x3 convolutions up to `deepest`, forward."""
    total, h, w, c_in = 0, height, width, 3
    for k, name in enumerate(conv_layers(model)):
        if k > 0 and name.endswith("_1"):
            h, w = h // 2, w // 2  # the pooling before each block
        c_out = BLOCK_WIDTHS[int(name[4]) - 1]
        total += 2 * 9 * c_in * c_out * h * w  # each output: a 3x3xC_in dot product
        c_in = c_out
        if name == deepest:
            return total
    return total


def eval_flops(model: str, height: int, width: int, style_layers, deepest: str) -> int:
    """One loss-and-gradient evaluation: the forward convolutions, their backward pass to
    the input (the same FLOPs again: each is a convolution with the transposed kernel; no
    weight gradients are needed), and per style layer the Gram matrix F^T F (2 M N^2) and
    its backward dL/dF = 4 F (G - A) / ... (2 M N^2). Pooling, ReLU and losses: < 1%."""
    grams = 0
    for name in style_layers:
        b = int(name[4])
        m = (height >> (b - 1)) * (width >> (b - 1))  # positions M_l
        grams += 2 * (2 * m * BLOCK_WIDTHS[b - 1] ** 2)
    return 2 * conv_flops(model, height, width, deepest) + grams


def _median(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _inputs(model: str, size: int):
    """(params, model source, content, style) at `size`: the real weights when a file for
    `model` is found, else random ones (speed does not depend on the values)."""
    from . import image as im, weights as wt
    from .vgg import init_params
    path, source = wt.find_weights(None, model), "random (He-normal)"
    params = None
    if path is not None:
        file_model, params = wt.load_weights(path, None)
        params, source = (params, Path(path).name) if file_model == model else (None, source)
    if params is None:
        params = {k: {n: np.asarray(v) for n, v in layer.items()}
                  for k, layer in init_params(model).items()}
    c, s = (im.load_image(DEMO / f)[0] for f in ("chelsea.jpg", "starry_night.jpg"))
    c = im.resize(c, *im.fit_size(*c.shape[:2], size))
    s = im.resize(s, *im.fit_size(*s.shape[:2], size))
    return params, source, im.preprocess(c), im.preprocess(s)


def time_one(framework: str, model: str, size: int, repeats: int = 3, remat: bool = False,
             precision: str = "float32", conv: str = "auto") -> Dict:
    """One cell of the table, in this process (`speed` runs each in a fresh one)."""
    from .stylize import Config
    params, source, content, style = _inputs(model, size)
    cfg = Config(model=model, remat=remat, precision=precision, conv=conv)
    objective = cfg.objective(model)
    out = {"framework": framework, "model": model, "size": list(content.shape[1::-1]),
           "weights": source, "flops": eval_flops(model, *content.shape[:2],
                                                  [n for n, _ in objective.style_layers],
                                                  max(objective.layers, key=conv_layers(model).index))}
    if framework.startswith("jax"):
        import jax
        import jax.numpy as jnp
        from .losses import loss_terms, make_targets
        from .vgg import with_winograd
        t = time.perf_counter()
        p = with_winograd(jax.tree.map(jnp.asarray, params), model,
                          "direct" if framework == "jax-direct" else cfg.conv, precision,
                          objective.layers, pixels=content.shape[0] * content.shape[1])
        out["prepare_seconds"] = time.perf_counter() - t  # the Winograd kernel transforms
        out["winograd_layers"] = sorted(p.get("winograd", {}))
        targets = make_targets(p, objective, content, style)
        x = jnp.asarray(content)
        t = time.perf_counter()
        value_and_grad = jax.jit(jax.value_and_grad(
            lambda x, p, tg: loss_terms(p, tg, x, objective)["total"])).lower(x, p, targets).compile()
        out["compile_seconds"] = time.perf_counter() - t
        out["seconds"] = _median(lambda: jax.block_until_ready(value_and_grad(x, p, targets)), repeats)
        a = jnp.ones((4096, 4096) if jax.default_backend() != "cpu" else (2048, 2048), jnp.float32)
        mm = jax.jit(lambda a: jnp.matmul(a, a, precision=jax.lax.Precision.HIGHEST))
        out["matmul_gflops"] = 2 * a.shape[0] ** 3 / _median(lambda: mm(a).block_until_ready(), 5) / 1e9
        dev = jax.devices()[0]
        out["device"] = f"{dev.platform}: {getattr(dev, 'device_kind', '')}"
        stats = dev.memory_stats() if dev.platform != "cpu" else None
        out["peak_bytes"] = stats["peak_bytes_in_use"] if stats else peak_rss()
    else:
        import torch
        from . import compare as cp
        from .vgg import features
        assert (cp.CONTENT,) + cp.STYLE == objective.layers  # the same objective
        f_c = features(params, content, [cp.CONTENT], model)
        f_s = features(params, style, cp.STYLE, model)
        from .losses import gram
        targets = {"content": np.asarray(f_c[cp.CONTENT]),
                   "style": {k: np.asarray(gram(v)) for k, v in f_s.items()}}
        cuda = torch.cuda.is_available()
        dev = torch.device("cuda" if cuda else "cpu")
        fmt = torch.channels_last if framework == "torch-cl" else torch.contiguous_format
        w, tg = cp.torch_inputs({k: (v["kernel"], v["bias"]) for k, v in params.items()},
                                targets, torch.float32)
        w = {k: (kern.to(dev).contiguous(memory_format=fmt), b.to(dev)) for k, (kern, b) in w.items()}
        tg = {"content": tg["content"].to(dev), "style": {k: v.to(dev) for k, v in tg["style"].items()}}
        x = torch.tensor(np.asarray(content)).permute(2, 0, 1)[None].to(dev).contiguous(memory_format=fmt)

        def evaluate():
            xi = x.detach().requires_grad_(True)
            _, _, terms = cp.torch_terms(w, xi, tg, model, "max")
            sum(terms.values()).backward()
            if cuda:
                torch.cuda.synchronize()
        out["seconds"] = _median(evaluate, repeats)
        a = torch.ones(4096 if cuda else 2048, 4096 if cuda else 2048, device=dev)
        out["matmul_gflops"] = 2 * a.shape[0] ** 3 / _median(
            lambda: (a @ a, torch.cuda.synchronize() if cuda else None), 5) / 1e9
        out["device"] = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
        out["peak_bytes"] = torch.cuda.max_memory_allocated() if cuda else peak_rss()
    out["gflops"] = out["flops"] / out["seconds"] / 1e9
    return out


def speed(models=("vgg19",), sizes=(512,), frameworks=FRAMEWORKS, repeats: int = 3,
          remat: bool = False, precision: str = "float32", progress: bool = True,
          conv: str = "auto") -> List[Dict]:
    """Every (model, size, framework) in a fresh process: [time_one's dict, ...]."""
    rows = []
    for model in models:
        for size in sizes:
            for fw in frameworks:
                cmd = [sys.executable, "-m", "nst_jax.bench", fw, model, str(size), str(repeats),
                       "remat" if remat else "-", precision, conv]
                if progress:
                    print(f"-- {fw} {model} {size} px", flush=True)
                r = subprocess.run(cmd, capture_output=True, text=True,
                                   env=dict(os.environ, KERAS_BACKEND="torch"))
                if r.returncode != 0:
                    tail = (r.stderr.strip().splitlines() or ["?"])[-1]
                    if "No module named 'torch'" in r.stderr:
                        tail = "PyTorch is not installed (pip install 'nst_jax[compare]')"
                    rows.append({"framework": fw, "model": model, "size": [size, size],
                                 "error": tail})
                    continue
                rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return rows


def speed_table(rows: List[Dict]) -> str:
    """Markdown: one line per run, with JAX's time relative to the faster PyTorch layout."""
    lines = ["| model | size | framework | s / eval | vs PyTorch | GFLOP/s | of matmul peak "
             "| compile s | peak memory | weights |", "|" + " --- |" * 10]
    peak = max([r.get("matmul_gflops", 0) for r in rows] or [0])  # the device's best
    for r in rows:
        size = f"{r['size'][0]}x{r['size'][1]}"
        if "error" in r:
            lines.append(f"| {r['model']} | {size} | {r['framework']} | error: {r['error']} |" + " |" * 6)
            continue
        torch_s = [o["seconds"] for o in rows if o["model"] == r["model"] and o["size"] == r["size"]
                   and o["framework"].startswith("torch") and "seconds" in o]
        vs = f"{r['seconds'] / min(torch_s):.2f}x" if torch_s else "n/a"
        comp = f"{r['compile_seconds']:.1f}" if "compile_seconds" in r else "-"
        lines.append(f"| {r['model']} | {size} | {r['framework']} | {r['seconds']:.3f} | {vs} "
                     f"| {r['gflops']:.0f} | {r['gflops'] / peak:.0%} | {comp} "
                     f"| {r['peak_bytes'] / 2**30:.2f} GiB | {r['weights']} |")
    devices = sorted({r["device"] for r in rows if "device" in r})
    lines.append(f"\nDevice: {'; '.join(devices)}. Matmul peak (float32, best framework): "
                 f"{peak:.0f} GFLOP/s.")
    return "\n".join(lines)


def main_speed(a) -> int:
    from .image import atomic_write
    rows = speed(a.models, a.sizes, a.frameworks, a.repeats, a.remat, a.precision, not a.quiet,
                 a.conv)
    print(speed_table(rows))
    if a.json:
        atomic_write(a.json, lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1)))
    return 1 if any("error" in r and r["framework"].startswith("jax") for r in rows) else 0

OPTIMIZER_RUNS = (("lbfgs", {"optimizer": "lbfgs"}),
                  ("lbfgs (armijo)", {"optimizer": "lbfgs", "line_search": "armijo"}),
                  ("optax-lbfgs", {"optimizer": "optax-lbfgs"}),
                  ("scipy-lbfgsb", {"optimizer": "scipy-lbfgsb"}))


def loss_at(history: List[Dict], evaluations: Optional[int] = None,
            seconds: Optional[float] = None) -> float:
    """Lowest loss among the records reached within the budget (evaluations or seconds)."""
    ok = [h["total"] for h in history
          if (evaluations is None or h["evaluations"] <= evaluations)
          and (seconds is None or h["seconds"] <= seconds)]
    return min(ok) if ok else float("nan")


def optimizers(content, style, *, evals: int = 100, adam_lrs: Sequence[float] = (2, 5, 10, 20),
               progress: bool = True, **options) -> Dict[str, Dict]:
    """{name: {"history": [...], "loss": loss after `evals` evaluations, ...}} per optimiser."""
    runs = list(OPTIMIZER_RUNS) + [(f"adam lr={lr:g}", {"optimizer": "adam", "lr": lr})
                                   for lr in adam_lrs]
    results = {}
    for name, extra in runs:
        if progress:
            print(f"-- {name}", flush=True)
        r = stylize(content, style, progress=progress,
                       **dict(options, iters=10 * evals, max_evals=evals, **extra))
        results[name] = {"history": r.history, "loss": loss_at(r.history, evals),
                         "evaluations": r.info["evaluations"], "seconds": r.info["seconds"],
                         "compile_seconds": r.info["compile_seconds"], "stop": r.info["stop"]}
    adams = [k for k in results if k.startswith("adam")]
    if adams:
        best = min(adams, key=lambda k: results[k]["loss"])
        results["adam (tuned)"] = dict(results[best], best=best)
    return results


def table(results: Dict[str, Dict], evals: int) -> str:
    ref = results.get("scipy-lbfgsb", {}).get("loss")
    checkpoints = [e for e in (10, 25, 50, 100, 200, 500) if e <= evals]
    t_mid = min(r["seconds"] for r in results.values())  # every run got this far
    head = ("| optimiser | " + " | ".join(f"loss @ {e} evals" for e in checkpoints)
            + f" | loss @ {t_mid:.0f} s | s / eval | vs SciPy @ {evals} |")
    lines = [head, "|" + " --- |" * (len(checkpoints) + 4)]
    for name, r in results.items():
        per_eval = r["seconds"] / max(r["evaluations"], 1)
        vs = f"{100 * (r['loss'] / ref - 1):+.1f}%" if ref else "n/a"
        cells = [f"{loss_at(r['history'], e):.4g}" for e in checkpoints]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {loss_at(r['history'], seconds=t_mid):.4g} | {per_eval:.3f} | {vs} |")
    return "\n".join(lines)


def plot(results: Dict[str, Dict], path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        if name == "adam (tuned)" or (name.startswith("adam") and name != results["adam (tuned)"]["best"]):
            continue
        h = r["history"]
        for ax, key in zip(axes, ("evaluations", "seconds")):
            ax.plot([x[key] for x in h], [x["total"] for x in h], label=name)
    for ax, key in zip(axes, ("evaluations (loss and gradient)", "seconds")):
        ax.set_xlabel(key)
        ax.set_ylabel("total loss")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main_optimizers(a) -> int:
    from .image import atomic_write
    from pathlib import Path
    options = dict(size=a.size, model=a.model, weights=a.weights, content_weight=a.content_weight,
                   style_weight=a.style_weight, tv_weight=a.tv_weight, lbfgs_memory=a.lbfgs_memory)
    results = optimizers(a.content, a.style, evals=a.evals, adam_lrs=a.adam_lrs,
                         progress=not a.quiet, **options)
    print(table(results, a.evals))
    if a.json:
        atomic_write(a.json, lambda tmp: Path(tmp).write_text(json.dumps(
            {"options": options, "evals": a.evals, "results": results}, indent=1)))
    if a.plot:
        try:
            plot(results, a.plot)
        except ImportError:
            print("(no plot: pip install matplotlib)")
    return 0


if __name__ == "__main__":  # one cell of `speed`, in its own process: prints one JSON line
    fw, model, size, repeats, remat, precision, conv = sys.argv[1:8]
    print(json.dumps(time_one(fw, model, int(size), int(repeats), remat == "remat", precision,
                              conv)))
