"""xla.py: XLA:CPU's memory-ordered scheduler, set through XLA_FLAGS at import."""

import json
import os
import subprocess
import sys

from nst_jax import xla

PLAN = """
import json, os, jax, jax.numpy as jnp
import nst_jax  # adds the option to XLA_FLAGS unless they name it already
def branches(x):  # 16 independent branches, each making a 32 MiB temporary
    return sum(jnp.sin(x * k).sum() for k in range(16))
compiled = jax.jit(branches).lower(jnp.ones((2048, 4096), jnp.float32)).compile()
print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""),
                  "temp": compiled.memory_analysis().temp_size_in_bytes}))
"""


def test_the_option_is_appended_unless_named_already():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert xla.use_memory_scheduler(env)  # this jaxlib knows the option (tested below)
    assert env["XLA_FLAGS"] == ("--xla_force_host_platform_device_count=2 "
                                "--xla_cpu_enable_concurrency_optimized_scheduler=false")
    assert not xla.use_memory_scheduler(env)  # idempotent
    mine = {"XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=true"}
    assert not xla.use_memory_scheduler(mine) and mine["XLA_FLAGS"].endswith("=true")
    empty = {}
    assert xla.use_memory_scheduler(empty)
    assert empty["XLA_FLAGS"] == "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def test_an_option_unknown_to_jaxlib_is_never_set(monkeypatch):
    # XLA aborts the process on an unknown flag: a jaxlib without the option is left alone
    assert xla._jaxlib_knows(xla.OPTION)
    assert not xla._jaxlib_knows("xla_cpu_no_such_option_" + "x" * 8)
    monkeypatch.setattr(xla, "OPTION", "xla_cpu_no_such_option_" + "x" * 8)
    env = {}
    assert not xla.use_memory_scheduler(env) and "XLA_FLAGS" not in env


def _buffer_plan(flags):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags is not None:
        env["XLA_FLAGS"] = flags
    out = subprocess.run([sys.executable, "-c", PLAN], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_nst_jax_orders_programs_for_memory():
    # The option must reach XLA (as a per-compilation option it was silently ignored):
    # XLA's buffer plan for a program of independent branches is smaller with it than
    # with XLA's default, asked for explicitly. Measured: 32 MiB of temporaries (one
    # branch at a time) against 512 MiB (all 16 at once); the plan is deterministic, the
    # test asks for 4x.
    ours = _buffer_plan(None)
    default = _buffer_plan(f"--{xla.OPTION}=true")
    assert ours["flags"].endswith(f"--{xla.OPTION}=false")
    assert 4 * ours["temp"] < default["temp"], (ours, default)
