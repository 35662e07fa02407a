"""`python -m nst_jax` and the `nst-jax` script: the command line, in a process of its own."""

import sys


def use_memory_scheduler_first() -> None:
    """XLA:CPU's memory-ordered scheduler, switched on before JAX starts (fast/xla.py)."""
    from .fast.xla import use_memory_scheduler

    use_memory_scheduler()


def entry() -> int:
    use_memory_scheduler_first()
    from .cli import main

    return main()


if __name__ == "__main__":
    sys.exit(entry())
