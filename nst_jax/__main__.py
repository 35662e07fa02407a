"""`python -m nst_jax` and the `nst-jax` script: the command line, in a process of its own.

Signals are handled from the first line on (signals.py): Ctrl-C or SIGTERM while JAX is
still being imported waits for the imports, then ends in one line and exit status 130 or
143, not a traceback; the package's `__init__` imports nothing heavy before this runs.
"""

import sys


def use_memory_scheduler_first() -> None:
    """XLA:CPU's memory-ordered scheduler, switched on before JAX starts (fast/xla.py)."""
    from .fast.xla import use_memory_scheduler

    use_memory_scheduler()


def entry() -> int:
    try:
        from .io import signals

        signals.defer()  # SIGINT and SIGTERM wait for the imports
        use_memory_scheduler_first()
        from .cli.app import main

        signals.arm()  # from here on they raise signals.Stopped
        return main()
    except KeyboardInterrupt as e:  # during the imports, before main() handles it
        name, status = getattr(e, "name", "SIGINT"), getattr(e, "status", 130)
        print(f"interrupted by {name} while starting; nothing written", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(entry())
