"""nst_jax: neural style transfer (Gatys, Ecker & Bethge 2015/2016) in JAX and Flax.

    import nst_jax
    image, history, info = nst_jax.stylize("photo.jpg", "painting.jpg", size=256)

Modules, one concept each: image (arrays, Caffe preprocessing), vgg (the network),
weights (Keras HDF5 -> params), losses (the objective), optim (jitted optimisers),
stylize (the loop), cli (the command line), xla (the XLA:CPU scheduler option).
"""

__version__ = "0.1.0"

from .xla import use_memory_scheduler  # noqa: E402
use_memory_scheduler()  # XLA:CPU's memory-ordered scheduler, before JAX starts (xla.py)

from .errors import NstError  # noqa: E402
from .stylize import Config, Result, stylize  # noqa: E402

__all__ = ["Config", "NstError", "Result", "stylize", "__version__"]
