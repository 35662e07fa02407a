"""nst_jax: neural style transfer (Gatys, Ecker & Bethge 2015/2016) in JAX and Flax.

    import nst_jax
    image, history, info = nst_jax.stylize("photo.jpg", "painting.jpg", size=256)
    nst_jax.stylize_batch(["photos/"], ["painting.jpg"], output_dir="out", size=256)
    nst_jax.stylize_video("film.gif", "painting.jpg", "film_stylized.gif", size=256)

The folders, lowest first; each may import only from those before it (its docstring says
which; tests/test_layout.py reads them and checks every import):

    errors.py    NstError, the one exception users see
    paper/       the paper: image arrays, VGG, ResNet50, losses, style distances, colour
    optimizers/  L-BFGS, Adam, optax's L-BFGS, SciPy's driver, as init/ask/tell pieces
    io/          files, image files, weights files and their lookup, signals
    config.py    every option of a run, with its help (the flags are made from it)
    fast/        the speed machinery: the plan, Winograd, pooling, remat, strips, memory, mesh
    run/         preparation, the loop, the monitor, `stylize`, `score`
    batches/     `stylize_batch` and its manifest
    video/       `stylize_video`: a film frame by frame, coherent in time (Ruder et al.)
    web/         the browser pages: `--web`'s live preview of a run
    reference/   PyTorch and Keras implementations nst_jax is checked against
    bench/       benchmarks (`python -m nst_jax bench ...`)
    cli/         the command line

Importing nst_jax changes no global state; on CPU, call
`nst_jax.fast.use_memory_scheduler()` before JAX's first computation for XLA's
memory-ordered scheduler, as the command line does (fast/xla.py).
"""

__version__ = "0.1.0"

import importlib
import typing

if typing.TYPE_CHECKING:  # for type checkers; at run time each is imported when first used
    from . import fast
    from .batches.batch import BatchResult, stylize_batch
    from .config import Config
    from .errors import NstError
    from .run.stylize import Result, stylize
    from .video.video import VideoResult, stylize_video

# name -> (module, attribute): imported on first use (PEP 562), so that `python -m nst_jax`
# handles Ctrl-C from its first line instead of after JAX's imports (__main__.py)
_LAZY = {
    "fast": (".fast", None),
    "Config": (".config", "Config"),
    "NstError": (".errors", "NstError"),
    "Result": (".run.stylize", "Result"),
    "stylize": (".run.stylize", "stylize"),
    "stylize_batch": (".batches.batch", "stylize_batch"),
    "BatchResult": (".batches.batch", "BatchResult"),
    "stylize_video": (".video.video", "stylize_video"),
    "VideoResult": (".video.video", "VideoResult"),
}


def __getattr__(name: str) -> typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nst_jax' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    m = importlib.import_module(module, __name__)
    return m if attribute is None else getattr(m, attribute)


__all__ = [
    "BatchResult",
    "Config",
    "NstError",
    "Result",
    "VideoResult",
    "fast",
    "stylize",
    "stylize_batch",
    "stylize_video",
    "__version__",
]
