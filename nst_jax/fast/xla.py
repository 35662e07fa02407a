"""XLA's options: the CPU scheduler that orders a program for memory.

XLA:CPU orders each compiled program with one of two schedulers
(`xla_cpu_enable_concurrency_optimized_scheduler`): by default a breadth-first one, for
concurrency, which keeps the buffers of independent operations alive at once; or a
depth-first one, for memory. Measured on this project's 2-core machine (docs/guide/performance.md,
"Memory, remat and precision"), the depth-first one needs far less and is no slower:

    VGG19 L-BFGS run, 2048x1536 px, 3 evaluations    11.3-11.6 GB -> 7.0 GB peak resident
    `bench --model vgg19`, 512 px, per evaluation     1.20 s -> 1.06 s, 1.90 -> 1.68 GiB

XLA reads this option only from the XLA_FLAGS environment variable when its CPU backend
starts (as a per-compilation option it is accepted and ignored: measured, the same peak),
so `use_memory_scheduler` adds it to XLA_FLAGS. Importing nst_jax changes nothing; the
command line (`python -m nst_jax`, `nst-jax`) calls it first thing, and a library user
calls it once, before JAX's first computation:

    import nst_jax
    nst_jax.fast.use_memory_scheduler()   # then any nst_jax or JAX work

It changes nothing when
  - the XLA_FLAGS you set already name the option (yours wins: `...=true` restores XLA's
    default),
  - JAX's backend is already running (flags are read once, at its start),
  - this jaxlib does not know the option (XLA would abort on an unknown flag; we look for
    its name in jaxlib's libraries first).
It affects CPU compilation only; GPU and TPU backends ignore it.
"""

import glob
import mmap
import os
from typing import Mapping, MutableMapping

OPTION = "xla_cpu_enable_concurrency_optimized_scheduler"


def _jaxlib_knows(option: str) -> bool:
    """Whether the option's name is in one of jaxlib's shared libraries (their flag table)."""
    try:
        import jaxlib  # importing jaxlib does not start a backend
    except ImportError:
        return False
    needle = option.encode()
    for path in glob.glob(os.path.join(os.path.dirname(jaxlib.__file__), "**", "*.so"), recursive=True):
        try:
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                if m.find(needle) >= 0:
                    return True
        except (OSError, ValueError):  # unreadable, or empty (mmap of 0 bytes)
            continue
    return False


def memory_scheduler_on(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether XLA_FLAGS turn the memory-ordered scheduler on (what the plan reports)."""
    return f"--{OPTION}=false" in environ.get("XLA_FLAGS", "").split()


def use_memory_scheduler(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Append --OPTION=false to XLA_FLAGS unless it is named there already or unknown to
    this jaxlib. Returns whether XLA_FLAGS was changed."""
    flags = environ.get("XLA_FLAGS", "")
    if OPTION in flags or not _jaxlib_knows(OPTION):
        return False
    environ["XLA_FLAGS"] = f"{flags} --{OPTION}=false".strip()
    return True
