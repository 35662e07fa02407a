"""nst_jax: neural style transfer (Gatys, Ecker & Bethge 2015/2016) in JAX and Flax.

    import nst_jax
    image, history, info = nst_jax.stylize("photo.jpg", "painting.jpg", size=256)

The paper, one concept a module: image (arrays, Caffe preprocessing), vgg (the network),
losses (the objective), lbfgs (the optimiser), color, normalize. The run: config (every
option), weights (Keras HDF5 -> params), inputs (checks and loading), optim (the
optimisers' pieces), loop (the one run loop), monitor, stylize, cli. The speed
machinery, the same computation done faster: fast/ (the plan, Winograd, the fast
max-pool gradient, remat, memory, XLA's options). The references it is checked against:
reference/ (PyTorch, Keras). Importing nst_jax changes no global state; on CPU, call
`nst_jax.fast.use_memory_scheduler()` before JAX's first computation for XLA's
memory-ordered scheduler, as the command line does (fast/xla.py).
"""

__version__ = "0.1.0"

from . import fast  # noqa: E402
from .config import Config  # noqa: E402
from .errors import NstError  # noqa: E402
from .stylize import Result, stylize  # noqa: E402

__all__ = ["Config", "NstError", "Result", "fast", "stylize", "__version__"]
