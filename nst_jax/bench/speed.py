"""`python -m nst_jax bench`: one loss-and-gradient evaluation, JAX against PyTorch.

The seconds of one evaluation of the same objective (same weights, image, size, layers)
in nst_jax and in the independent PyTorch reference (reference/torch_vgg.py), side by
side. Each (framework, model, size) runs in its own process (`python -m
nst_jax.bench.speed ...`), so its peak memory (the process's maximum resident set on CPU,
the allocator's peak on GPU) is its own and no thread pool competes with another.
Reported: the median of `repeats` evaluations after one warm-up (JAX's compile time
apart), achieved GFLOP/s with the FLOPs counted from the model's shapes (`eval_flops`),
that as a fraction of a float32 matrix-multiply peak measured on the same device in the
same run, and peak memory. Measurements of this machine at the time of the run; nothing
here is a pass/fail test.

Over 300 lines: one cell of the table in JAX and in PyTorch, the runner that gives each
its own process, and the table.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from ..fast.memory import peak_rss
from ..paper.backbones import deepest, get
from ..paper.vgg import feature_shapes, layers
from ..reference.measure import median_seconds

# jax: nst_jax as it runs (its plan: Winograd convolutions from 256 channels on CPU);
# jax-direct: every convolution direct (exact float32); torch-cl: channels_last layout
FRAMEWORKS = ("jax", "jax-direct", "torch", "torch-cl")


def conv_flops(model: str, height: int, width: int, deepest: str) -> int:
    """FLOPs (multiply and add: 2 each) of the 3x3 convolutions up to `deepest`, forward:
    each output of each layer a 3x3xC_in dot product (shapes: vgg.feature_shapes)."""
    shapes, total, c_in = feature_shapes(model, (height, width)), 0, 3
    for layer in layers(model):
        h, w, c_out = shapes[layer.name]
        total += 2 * 9 * c_in * c_out * h * w
        c_in = c_out
        if layer.name == deepest:
            break
    return total


def forward_flops(model: str, height: int, width: int, last: str) -> int:
    """FLOPs of a forward pass to `last`: VGG's convolutions counted as above; any other
    network's whole forward pass as XLA counts it (cost analysis of the lowered program)."""
    import jax
    import jax.numpy as jnp

    if get(model).family == "vgg":
        return conv_flops(model, height, width, last)
    bb = get(model)
    params = jax.tree.map(jnp.asarray, bb.prepare(bb.init_params(0)))
    x = jax.ShapeDtypeStruct((height, width, 3), jnp.float32)
    cost: Any = jax.jit(lambda p, x: bb.features(p, x, [last])).lower(params, x).cost_analysis()
    return int((cost[0] if isinstance(cost, list) else cost)["flops"])


def eval_flops(
    model: str, height: int, width: int, style_layers: Sequence[str], deepest: str, style_loss: str = "gram"
) -> int:
    """One loss-and-gradient evaluation: the forward convolutions, their backward pass to
    the input (the same FLOPs again: each is a convolution with the transposed kernel; no
    weight gradients are needed), and per style layer the Gram matrix F^T F (2 M N^2) and
    its backward dL/dF = 4 F (G - A) / ... (2 M N^2). Pooling, ReLU and losses: < 1%.
    The same 2 M N^2 products for w2 (the covariance) and sliced (the projections on
    K = N directions); their eigen-decompositions and sorts are not counted; meanstd's
    statistics are O(M N): not counted."""
    shapes = get(model).feature_shapes((height, width))
    grams = sum(2 * (2 * shapes[n][0] * shapes[n][1] * shapes[n][2] ** 2) for n in style_layers)
    grams = 0 if style_loss == "meanstd" else grams
    return 2 * forward_flops(model, height, width, deepest) + grams


def _inputs(model: str, size: int):
    """(params, model source, content, style) at `size`: the real weights when a file for
    `model` is found, else random ones (speed does not depend on the values)."""
    from ..io import image_files
    from ..io import lookup as lk
    from ..io import weights as wt
    from ..paper import image as im

    path, source = lk.find_weights(None, model), "random (He-normal)"
    params = None
    if path is not None:
        file_model, params = wt.load_weights(path, None)
        params, source = (params, Path(path).name) if file_model == model else (None, source)
    if params is None:
        bb = get(model)
        params = {
            k: {n: np.asarray(v) for n, v in d.items()} for k, d in bb.prepare(bb.init_params(0)).items()
        }
    c, s = (image_files.load_image(f)[0] for f in (image_files.DEMO_CONTENT, image_files.DEMO_STYLE))
    c = im.resize(c, *im.fit_size(c.shape[0], c.shape[1], size))
    s = im.resize(s, *im.fit_size(s.shape[0], s.shape[1], size))
    return params, source, im.preprocess(c), im.preprocess(s)


def time_one(
    framework: str,
    model: str,
    size: int,
    repeats: int = 3,
    remat: bool = False,
    precision: str = "float32",
    conv: str = "auto",
    style_loss: str = "gram",
) -> Dict:
    """One cell of the table, in this process (`speed` runs each in a fresh one)."""
    from ..config import Config

    params, source, content, style = _inputs(model, size)
    direct = "direct" if framework == "jax-direct" else conv
    cfg = Config(model=model, remat=remat, precision=precision, conv=direct, style_loss=style_loss).validate()
    objective = cfg.objective(model)
    h, w = content.shape[:2]
    out: Dict[str, Any] = {
        "framework": framework,
        "model": model,
        "style_loss": style_loss,
        "size": list(content.shape[1::-1]),
        "weights": source,
        "flops": eval_flops(
            model,
            h,
            w,
            [n for n, _ in objective.style_layers],
            deepest(model, objective.layers),
            style_loss,
        ),
    }
    timed = _time_jax if framework.startswith("jax") else _time_torch
    out.update(timed(framework, cfg, params, content, style, repeats))
    out["gflops"] = out["flops"] / out["seconds"] / 1e9
    return out


def _gflops(n: int, matmul) -> float:
    """A float32 matrix-multiply peak: GFLOP/s of an (n, n) @ (n, n) product, the median of 5."""
    return 2 * n**3 / median_seconds(matmul, 5) / 1e9


def _time_jax(framework, cfg, params, content, style, repeats) -> Dict:
    import time

    import jax
    import jax.numpy as jnp

    from ..fast import plan
    from ..paper.losses import make_targets

    model, objective = cfg.model, cfg.objective(cfg.model)
    out: Dict[str, Any] = {}
    the_plan = plan(cfg, model, content.shape[0] * content.shape[1])
    t = time.perf_counter()
    p = jax.tree.map(jnp.asarray, the_plan.prepare(params))
    out["prepare_seconds"] = time.perf_counter() - t  # the Winograd kernel transforms
    out["winograd_layers"] = list(the_plan.winograd)
    targets = make_targets(p, objective, content, style, the_plan.ops)
    x, loss_terms = jnp.asarray(content), the_plan.loss_terms
    t = time.perf_counter()
    value_and_grad = (
        jax.jit(jax.value_and_grad(lambda x, p, tg: loss_terms(p, tg, x, objective, the_plan.ops)["total"]))
        .lower(x, p, targets)
        .compile()
    )
    out["compile_seconds"] = time.perf_counter() - t
    out["seconds"] = median_seconds(lambda: jax.block_until_ready(value_and_grad(x, p, targets)), repeats)
    n = 4096 if jax.default_backend() != "cpu" else 2048
    a, mm = jnp.ones((n, n), jnp.float32), jax.jit(lambda a: jnp.matmul(a, a, precision="highest"))
    out["matmul_gflops"] = _gflops(n, lambda: mm(a).block_until_ready())
    dev = jax.devices()[0]
    out["device"] = f"{dev.platform}: {getattr(dev, 'device_kind', '')}"
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    out["peak_bytes"] = stats["peak_bytes_in_use"] if stats else peak_rss()
    return out


def _torch_loss(cfg, params, content, style, dev, fmt):
    """The objective in the PyTorch reference of cfg's model: xi (1, 3, H, W) -> terms."""
    import torch

    from ..paper.losses import gram
    from ..reference.torch_distances import torch_targets

    model, bb = cfg.model, get(cfg.model)
    ob = cfg.objective(model)
    c_layer, s_layers = ob.content_layers[0][0], [n for n, _ in ob.style_layers]
    f_c, f_s = bb.features(params, content, [c_layer]), bb.features(params, style, s_layers)
    targets: Dict[str, Any] = {
        "content": np.asarray(f_c[c_layer]),
        "style": {k: np.asarray(gram(v)) for k, v in f_s.items()},
    }
    if bb.family == "vgg":
        from ..reference import torch_vgg as tv

        assert (tv.CONTENT,) + tv.STYLE == ob.layers  # the same objective
        w = tv.conv_weights({k: (v["kernel"], v["bias"]) for k, v in params.items()}, torch.float32)
        w = {k: (kern.to(dev).contiguous(memory_format=fmt), b.to(dev)) for k, (kern, b) in w.items()}
        tg = torch_targets(targets, device=dev)
        return lambda xi: tv.torch_terms(w, xi, tg, model, "max")[2]
    from ..reference import torch_resnet as tr

    # the prepared batch norms (a, b) as statistics: gamma a, beta b, mean 0, variance 1 - eps
    arrays: Dict[str, Any] = {
        k: (v["kernel"], v["bias"])
        if "kernel" in v
        else (v["scale"], v["shift"], np.zeros_like(v["scale"]), np.full_like(v["scale"], 1 - tr.EPS))
        for k, v in params.items()
    }
    w = {k: tuple(t.to(dev) for t in ts) for k, ts in tr.torch_weights(arrays, torch.float32).items()}
    w = {
        k: (ts[0].contiguous(memory_format=fmt), *ts[1:]) if k.endswith("_conv") else ts
        for k, ts in w.items()
    }
    tg = torch_targets(targets, device=dev)
    return lambda xi: tr.torch_terms(w, xi, tg, c_layer, s_layers)


def _time_torch(framework, cfg, params, content, style, repeats) -> Dict:
    import torch

    out: Dict[str, Any] = {}
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    fmt = torch.channels_last if framework == "torch-cl" else torch.contiguous_format
    loss = _torch_loss(cfg, params, content, style, dev, fmt)
    x = torch.tensor(np.asarray(content)).permute(2, 0, 1)[None].to(dev).contiguous(memory_format=fmt)

    def evaluate():
        xi = x.detach().requires_grad_(True)
        sum(loss(xi).values()).backward()
        if cuda:
            torch.cuda.synchronize()

    out["seconds"] = median_seconds(evaluate, repeats)
    n = 4096 if cuda else 2048
    a = torch.ones(n, n, device=dev)

    def matmul():  # the product, and with CUDA the wait for it
        a @ a
        if cuda:
            torch.cuda.synchronize()

    out["matmul_gflops"] = _gflops(n, matmul)
    out["device"] = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
    out["peak_bytes"] = torch.cuda.max_memory_allocated() if cuda else peak_rss()
    return out


def speed(
    models: Sequence[str] = ("vgg19",),
    sizes: Sequence[int] = (512,),
    frameworks: Sequence[str] = FRAMEWORKS,
    repeats: int = 3,
    remat: bool = False,
    precision: str = "float32",
    progress: bool = True,
    conv: str = "auto",
    style_losses: Sequence[str] = ("gram",),
) -> List[Dict]:
    """Every (model, size, framework, style loss) in a fresh process: [time_one's dict, ...].
    PyTorch's reference has the Gram loss only: torch rows for gram."""
    rows = []
    cells = [(f, s) for f in frameworks for s in style_losses if s == "gram" or f.startswith("jax")]
    for model in models:
        for size in sizes:
            for fw, loss in cells:
                cmd = [
                    sys.executable,
                    "-m",
                    "nst_jax.bench.speed",
                    fw,
                    model,
                    str(size),
                    str(repeats),
                    "remat" if remat else "-",
                    precision,
                    conv,
                    loss,
                ]
                if progress:
                    print(f"-- {fw} {model} {size} px {loss}", flush=True)
                r = subprocess.run(
                    cmd, capture_output=True, text=True, env=dict(os.environ, KERAS_BACKEND="torch")
                )
                if r.returncode != 0:
                    lines = r.stderr.strip().splitlines() or ["?"]
                    tail = next((e.split("Error: ", 1)[1] for e in lines[::-1] if "Error: " in e), lines[-1])
                    if "No module named 'torch'" in r.stderr:
                        tail = "PyTorch is not installed (pip install 'nst_jax[compare]')"
                    rows.append(
                        {
                            "framework": fw,
                            "model": model,
                            "style_loss": loss,
                            "size": [size, size],
                            "error": tail,
                        }
                    )
                    continue
                rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return rows


def speed_table(rows: List[Dict]) -> str:
    """Markdown: one line per run, with JAX's time relative to the faster PyTorch layout
    (the Gram loss's) and to the same framework's Gram loss."""
    lines = [
        "| model | size | framework | style loss | s / eval | vs PyTorch | vs gram | GFLOP/s "
        "| of matmul peak | compile s | peak memory | weights |",
        "|" + " --- |" * 12,
    ]
    peak = max([r.get("matmul_gflops", 0) for r in rows] or [0])  # the device's best
    for r in rows:
        size = f"{r['size'][0]}x{r['size'][1]}"
        if "error" in r:
            loss = r.get("style_loss", "gram")
            lines.append(
                f"| {r['model']} | {size} | {r['framework']} | {loss} | error: {r['error']} |" + " |" * 7
            )
            continue
        same = lambda o, r=r: o["model"] == r["model"] and o["size"] == r["size"] and "seconds" in o
        gram = [
            o["seconds"]
            for o in rows
            if same(o) and o["framework"] == r["framework"] and o.get("style_loss", "gram") == "gram"
        ]
        vs_gram = f"{r['seconds'] / gram[0]:.2f}x" if gram else "n/a"
        torch_s = [
            o["seconds"]
            for o in rows
            if o["model"] == r["model"]
            and o["size"] == r["size"]
            and o["framework"].startswith("torch")
            and "seconds" in o
        ]
        vs = f"{r['seconds'] / min(torch_s):.2f}x" if torch_s else "n/a"
        comp = f"{r['compile_seconds']:.1f}" if "compile_seconds" in r else "-"
        lines.append(
            f"| {r['model']} | {size} | {r['framework']} | {r.get('style_loss', 'gram')} | {r['seconds']:.3f} "
            f"| {vs} | {vs_gram} "
            f"| {r['gflops']:.0f} | {r['gflops'] / peak:.0%} | {comp} "
            f"| {r['peak_bytes'] / 2**30:.2f} GiB | {r['weights']} |"
        )
    devices = sorted({r["device"] for r in rows if "device" in r})
    lines.append(
        f"\nDevice: {'; '.join(devices)}. Matmul peak (float32, best framework): {peak:.0f} GFLOP/s."
    )
    return "\n".join(lines)


def main_speed(a: argparse.Namespace) -> int:
    from ..io import files

    rows = speed(
        a.models, a.sizes, a.frameworks, a.repeats, a.remat, a.precision, not a.quiet, a.conv, a.style_loss
    )
    print(speed_table(rows))
    if a.json:
        files.write_kept([("the measurements", Path(a.json), files.json_writer(rows))])
    return 1 if any("error" in r and r["framework"].startswith("jax") for r in rows) else 0


if __name__ == "__main__":  # one cell of `speed`, in its own process: prints one JSON line
    from ..fast import use_memory_scheduler

    use_memory_scheduler()  # as the command line runs: before JAX's first computation
    fw, model, size, repeats, remat, precision, conv, loss = sys.argv[1:9]
    print(json.dumps(time_one(fw, model, int(size), int(repeats), remat == "remat", precision, conv, loss)))
