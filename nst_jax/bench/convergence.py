"""`python -m nst_jax bench optimizers`: the loss each optimiser reaches, against
evaluations and seconds.

Runs the same style transfer (same weights, images, size, objective, initial image) with
each optimiser for the same budget of loss-and-gradient evaluations, line-search ones
included, and reports the loss each reached after N evaluations and after T seconds.
Adam is run at several learning rates and the best is kept ("Adam, tuned"). Timings are
measurements of this machine at the time of the run; nothing here is a pass/fail test.
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import NstError
from ..io.files import StrPath
from ..io.image_files import ImageLike
from ..run.inputs import Images
from ..run.stylize import stylize

OPTIMIZER_RUNS = (  # (--runs key, row name, stylize options)
    ("lbfgs", "lbfgs", {"optimizer": "lbfgs"}),
    ("armijo", "lbfgs (armijo)", {"optimizer": "lbfgs", "line_search": "armijo"}),
    ("optax-lbfgs", "optax-lbfgs", {"optimizer": "optax-lbfgs"}),
    ("scipy-lbfgsb", "scipy-lbfgsb", {"optimizer": "scipy-lbfgsb"}),
    ("lbfgs-pyramid", "lbfgs, pyramid", {"optimizer": "lbfgs", "param": "pyramid"}),
    ("lbfgs-fourier", "lbfgs, fourier", {"optimizer": "lbfgs", "param": "fourier"}),
    (
        "lbfgs-fourier-color",
        "lbfgs, fourier, colour",
        {"optimizer": "lbfgs", "param": "fourier", "decorrelate": True},
    ),
)
RUNS = tuple(k for k, _, _ in OPTIMIZER_RUNS) + ("adam", "pytorch-lbfgs")  # what --runs names


def loss_at(history: List[Dict], evaluations: Optional[int] = None, seconds: Optional[float] = None) -> float:
    """Lowest loss among the records reached within the budget (evaluations or seconds)."""
    ok = [
        h["total"]
        for h in history
        if (evaluations is None or h["evaluations"] <= evaluations)
        and (seconds is None or h["seconds"] <= seconds)
    ]
    return min(ok) if ok else float("nan")


def optimizers(
    content: ImageLike,
    style: Images,
    *,
    evals: int = 100,
    adam_lrs: Sequence[float] = (2, 5, 10, 20),
    progress: bool = True,
    runs: Sequence[str] = RUNS[:-1],
    **options: Any,
) -> Dict[str, Dict]:
    """{name: {"history": [...], "loss": loss after `evals` evaluations, ...}} per optimiser
    of `runs` (RUNS' keys); "pytorch-lbfgs" (VGG only): PyTorch's L-BFGS as the classic
    implementations run it (reference/torch_lbfgs.py: history 100, step 1, no line search)
    on the same objective."""
    adams = (
        [(f"adam lr={lr:g}", {"optimizer": "adam", "lr": lr}) for lr in adam_lrs] if "adam" in runs else []
    )
    todo = [(name, extra) for key, name, extra in OPTIMIZER_RUNS if key in runs] + adams
    results = {}
    if "pytorch-lbfgs" in runs:
        from ..reference import torch_lbfgs

        if progress:
            print("-- pytorch-lbfgs", flush=True)
        ref = torch_lbfgs.run(content, style, evals=evals, **options)
        results["pytorch-lbfgs"] = dict(ref, loss=loss_at(ref["history"], evals), stop="max_evals")
    for name, extra in todo:
        if progress:
            print(f"-- {name}", flush=True)
        r = stylize(
            content, style, progress=progress, **dict(options, iters=10 * evals, max_evals=evals, **extra)
        )
        results[name] = {
            "history": r.history,
            "loss": loss_at(r.history, evals),
            "evaluations": r.info["evaluations"],
            "seconds": r.info["seconds"],
            "compile_seconds": r.info["compile_seconds"],
            "stop": r.info["stop"],
        }
    tried = [k for k in results if k.startswith("adam")]
    if tried:
        best = min(tried, key=lambda k: results[k]["loss"])
        results["adam (tuned)"] = dict(results[best], best=best)
    return results


def reach(history: List[Dict], loss: float) -> Tuple[float, float]:
    """(evaluations, seconds) at which a run's loss first fell to `loss`, or (nan, nan)."""
    hit = [h for h in history if h["total"] <= loss]
    return (hit[0]["evaluations"], hit[0]["seconds"]) if hit else (float("nan"), float("nan"))


def table(results: Dict[str, Dict], evals: int) -> str:
    ref_name = "pytorch-lbfgs" if "pytorch-lbfgs" in results else "scipy-lbfgsb"
    ref = results.get(ref_name, {}).get("loss")
    checkpoints = sorted({e for e in (10, 25, 50, 100, 200, 300, 500) if e <= evals} | {evals})
    t_mid = min(r["seconds"] for r in results.values())  # every run got this far
    who = "PyTorch" if ref_name == "pytorch-lbfgs" else "SciPy"
    head = (
        "| optimiser | "
        + " | ".join(f"loss @ {e} evals" for e in checkpoints)
        + f" | loss @ {t_mid:.0f} s | s / eval | vs {who} @ {evals} |"
        + (f" evals to {who}'s | time to {who}'s |" if ref else "")
    )
    lines = [head, "|" + " --- |" * (len(checkpoints) + (6 if ref else 4))]
    ref_seconds = results.get(ref_name, {}).get("seconds")
    for name, r in results.items():
        per_eval = r["seconds"] / max(r["evaluations"], 1)
        vs = f"{100 * (r['loss'] / ref - 1):+.2f}%" if ref else "n/a"
        cells = [f"{loss_at(r['history'], e):.4g}" for e in checkpoints]
        reached = ""
        if (
            ref and ref_seconds
        ):  # evaluations and seconds to the reference's loss at `evals`, and that against its time
            n, t = reach(r["history"], ref)
            reached = (
                f" {n:.0f} | {t:.1f} s ({t / ref_seconds:.2f}x) |"
                if n == n
                else " not reached | not reached |"
            )
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {loss_at(r['history'], seconds=t_mid):.4g} | {per_eval:.3f} | {vs} |"
            + reached
        )
    return "\n".join(lines)


def plot(results: Dict[str, Dict], path: StrPath) -> None:
    """Loss curves against evaluations and seconds, written atomically to `path` (its
    extension names the format: .png, .svg, .pdf, ...)."""
    from ..io.files import atomic_write

    atomic_write(path, lambda tmp: _draw(results, tmp))


def _draw(results: Dict[str, Dict], path: StrPath) -> None:
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
    plt.close(fig)


def check_plot(path: Path) -> None:
    """--plot needs matplotlib and a format it writes (.png, .svg, .pdf, ...)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NstError("--plot needs matplotlib; pip install matplotlib, or leave out --plot") from None
    kinds = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if path.suffix.lower().lstrip(".") not in kinds:
        raise NstError(
            f"matplotlib cannot write {path.suffix or 'files without an extension'}; "
            f"name the plot .png (or {', '.join('.' + k for k in sorted(kinds))})"
        )


def main_optimizers(a: argparse.Namespace) -> int:
    from ..io import files

    options = dict(
        size=a.size,
        model=a.model,
        weights=a.weights,
        content_weight=a.content_weight,
        style_weight=a.style_weight,
        tv_weight=a.tv_weight,
        lbfgs_memory=a.lbfgs_memory,
        num_scales=1,  # (every run at the one size: coarse to fine is not an optimiser)
        octaves=1,  # (the image's own terms, the objective PyTorch's run minimises, at any size)
    )
    runs = a.runs
    if "pytorch-lbfgs" in runs and options["model"] == "resnet50":
        raise NstError(
            "the pytorch-lbfgs run is PyTorch's VGG; leave pytorch-lbfgs out of --runs for resnet50"
        )
    if "pytorch-lbfgs" in runs:
        try:
            import torch  # noqa: F401
        except ImportError:
            raise NstError(
                "the pytorch-lbfgs run needs torch; pip install 'nst_jax[compare]', or leave it out of --runs"
            ) from None
    results = optimizers(
        a.content, a.style, evals=a.evals, adam_lrs=a.adam_lrs, progress=not a.quiet, runs=runs, **options
    )
    print(table(results, a.evals))
    writes: List[files.Write] = []
    if a.json:
        body = {"options": options, "evals": a.evals, "results": results}
        writes.append(("the JSON", Path(a.json), files.json_writer(body)))
    if a.plot:  # (matplotlib reads the format off the extension, which the temporary file keeps)
        writes.append(("the plot", Path(a.plot), lambda tmp: _draw(results, tmp)))
    files.write_kept(writes)
    return 0
