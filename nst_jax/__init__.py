"""nst_jax: neural style transfer (Gatys, Ecker & Bethge 2015/2016) in JAX and Flax.

    import nst_jax
    image, history, info = nst_jax.stylize("photo.jpg", "painting.jpg", size=256)
    nst_jax.stylize_batch(["photos/"], ["painting.jpg"], output_dir="out", size=256)

The paper, one concept a module: image (arrays, Caffe preprocessing), vgg (the network),
losses (the objective), lbfgs (the optimiser), color, normalize. The run: config (every
option), weights (Keras HDF5 -> params), inputs (checks and loading), optim (the
optimisers' pieces), loop (the one run loop), monitor, stylize, batch and manifest (many
images through one vmapped optimiser), cli. The speed
machinery, the same computation done faster: fast/ (the plan, Winograd, the fast
max-pool gradient, remat, memory, XLA's options, the mesh of devices and processes). The references it is checked against:
reference/ (PyTorch, Keras). Importing nst_jax changes no global state; on CPU, call
`nst_jax.fast.use_memory_scheduler()` before JAX's first computation for XLA's
memory-ordered scheduler, as the command line does (fast/xla.py).
"""

__version__ = "0.1.0"

import importlib
import sys
import types
import typing

if typing.TYPE_CHECKING:  # for type checkers; at run time each is imported when first used
    from . import fast
    from .batch import BatchResult, stylize_batch
    from .config import Config
    from .errors import NstError
    from .stylize import Result, stylize

# name -> (module, attribute): imported on first use (PEP 562), so that `python -m nst_jax`
# handles Ctrl-C from its first line instead of after JAX's imports (__main__.py)
_LAZY = {
    "fast": (".fast", None),
    "Config": (".config", "Config"),
    "NstError": (".errors", "NstError"),
    "Result": (".stylize", "Result"),
    "stylize_batch": (".batch", "stylize_batch"),
    "BatchResult": (".batch", "BatchResult"),
}


def __getattr__(name: str) -> typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'nst_jax' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    m = importlib.import_module(module, __name__)
    return m if attribute is None else getattr(m, attribute)


class _Package(types.ModuleType):
    """`nst_jax.stylize` is the function, also once its module (stylize.py) is imported:
    the import system then sets the package's attribute of that name to the module, which
    this property ignores (an eager `from .stylize import stylize` did the same)."""

    @property
    def stylize(self) -> typing.Callable[..., typing.Any]:
        return importlib.import_module(".stylize", __name__).stylize

    @stylize.setter
    def stylize(self, module: types.ModuleType) -> None:
        pass


sys.modules[__name__].__class__ = _Package

__all__ = ["BatchResult", "Config", "NstError", "Result", "fast", "stylize", "stylize_batch", "__version__"]
