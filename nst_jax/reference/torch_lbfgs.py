"""PyTorch's L-BFGS on nst_jax's objective: the optimiser the classic implementations use.

jcjohnson/neural-style (Lua torch's optim.lbfgs) and its PyTorch ports (neural-style-pt,
the PyTorch tutorial) optimise the image with L-BFGS of 100 correction pairs, no line
search and step 1: `torch.optim.LBFGS([x], lr=1, history_size=100, line_search_fn=None)`,
every evaluation a new iterate; the first step is min(1, 1/||g||_1) along -g, every later
one x + d with d = -H g (torch/optim/lbfgs.py). `bench optimizers` runs it as its
"pytorch-lbfgs" row, on the same objective as nst_jax's runs: the same images, sizes,
weights and targets (computed by nst_jax, handed over), the network and losses of
torch_vgg.py, the total alpha L_content + beta sum_l w_l E_l + t L_tv of the same
Objective. VGG backbones (torch_vgg.py's layers).
"""

import time
from typing import Any, Dict, List

import numpy as np

from ..io.image_files import ImageLike
from ..paper.image import preprocess
from ..paper.losses import make_targets
from ..run.inputs import Images, prepare
from ..run.scales import scale_images
from . import torch_vgg as tv


def run(content: ImageLike, style: Images, *, evals: int, history: int = 100, **options: Any) -> Dict:
    """PyTorch's L-BFGS (history `history`, lr 1, no line search) for `evals` evaluations
    from the content photo; {"history": one record per evaluation, "seconds", ...} as
    bench optimizers' runs."""
    import torch

    options = dict(options, conv="direct", num_scales=1, scales=None)  # raw kernels, one scale
    job = prepare(content, style, None, None, None, options, False, False, False)
    ob = job.objective
    if job.model not in ("vgg16", "vgg19") or (tv.CONTENT,) + tv.STYLE != ob.layers:
        raise ValueError("the PyTorch L-BFGS reference runs VGG with its default layers")
    side, hw = job.settings.sides[-1], job.hws[-1]
    content_rgb, _, styles = scale_images(job, side, hw)
    x0 = preprocess(content_rgb)
    t = make_targets(job.params, ob, x0, preprocess(styles[0]), job.plan.ops)
    weights = {k: (np.asarray(v["kernel"]), np.asarray(v["bias"])) for k, v in job.params.items()}
    targets = {
        "content": np.asarray(t.content[tv.CONTENT]),
        "style": {k: np.asarray(v) for k, v in t.style.items()},
    }
    w, tg = tv.torch_inputs(weights, targets, torch.float32)
    c_weight = dict(ob.content_layers)[tv.CONTENT]
    x = torch.tensor(np.ascontiguousarray(x0)).permute(2, 0, 1)[None].contiguous().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x],
        lr=1,
        max_iter=evals,
        max_eval=evals,
        history_size=history,
        line_search_fn=None,
        tolerance_grad=-1,
        tolerance_change=-1,  # (as neural-style-pt: run the whole budget)
    )
    records: List[Dict[str, float]] = []
    start = time.perf_counter()

    def closure():  # one loss-and-gradient evaluation at the current iterate
        opt.zero_grad()
        terms = tv.torch_terms(w, x, tg, job.model, ob.pooling)[2]
        content_l = c_weight * terms["content"]
        style_l = sum(wl * terms[f"style {n}"] for n, wl in ob.style_layers)
        total = ob.content_weight * content_l + ob.style_weight * style_l + ob.tv_weight * terms["tv"]
        total.backward()
        records.append(
            dict(
                iteration=len(records),
                evaluations=len(records) + 1,
                seconds=time.perf_counter() - start,
                total=float(total),
                content=float(content_l),
                style=float(style_l),
                tv=float(terms["tv"]),
            )
        )
        return total

    opt.step(closure)
    seconds = time.perf_counter() - start
    return {"history": records, "evaluations": len(records), "seconds": seconds, "compile_seconds": 0.0}
