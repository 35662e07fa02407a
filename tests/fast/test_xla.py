"""fast/xla.py: XLA:CPU's memory-ordered scheduler, set through XLA_FLAGS by the command
line's entry point, never by importing nst_jax."""

import json
import os
import subprocess
import sys

import pytest

from nst_jax.fast import xla

PLAN = """
import json, os, sys, jax, jax.numpy as jnp
if sys.argv[1] == "entry":  # what `python -m nst_jax` and `nst-jax` run before JAX starts
    from nst_jax.__main__ import use_memory_scheduler_first
    use_memory_scheduler_first()
else:
    import nst_jax  # a library user's import: no global changed
def branches(x):  # 16 independent branches, each making a 32 MiB temporary
    return sum(jnp.sin(x * k).sum() for k in range(16))
compiled = jax.jit(branches).lower(jnp.ones((2048, 4096), jnp.float32)).compile()
print(json.dumps({"flags": os.environ.get("XLA_FLAGS"),
                  "temp": compiled.memory_analysis().temp_size_in_bytes}))
"""


def test_the_option_is_appended_unless_named_already():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert xla.use_memory_scheduler(env)  # this jaxlib knows the option (tested below)
    assert env["XLA_FLAGS"] == (
        "--xla_force_host_platform_device_count=2 --xla_cpu_enable_concurrency_optimized_scheduler=false"
    )
    assert xla.memory_scheduler_on(env)
    assert not xla.use_memory_scheduler(env)  # idempotent
    mine = {"XLA_FLAGS": "--xla_cpu_enable_concurrency_optimized_scheduler=true"}
    assert not xla.use_memory_scheduler(mine) and mine["XLA_FLAGS"].endswith("=true")
    assert not xla.memory_scheduler_on(mine)
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


def _buffer_plan(how, flags=None):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags is not None:
        env["XLA_FLAGS"] = flags
    out = subprocess.run(
        [sys.executable, "-c", PLAN, how], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_nst_jax_changes_no_flag():
    out = subprocess.run(
        [sys.executable, "-c", "import os, nst_jax; print(os.environ.get('XLA_FLAGS'))"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"},
    )
    assert out.stdout.strip() == "None"
    assert _buffer_plan("import")["flags"] is None


def test_the_entry_point_orders_programs_for_memory():
    # The option must reach XLA (as a per-compilation option it was silently ignored):
    # XLA's buffer plan for a program of independent branches is smaller with it than
    # with XLA's default, asked for explicitly. Measured: 32 MiB of temporaries (one
    # branch at a time) against 512 MiB (all 16 at once); the plan is deterministic, the
    # test asks for 4x.
    ours = _buffer_plan("entry")
    default = _buffer_plan("import", f"--{xla.OPTION}=true")
    assert ours["flags"].endswith(f"--{xla.OPTION}=false")
    assert 4 * ours["temp"] < default["temp"], (ours, default)


@pytest.mark.slow
def test_the_command_line_runs_with_it(tmp_path, small_vgg16, photo, painting):
    # `python -m nst_jax` itself: its plan reports the scheduler on, which it reads from
    # XLA_FLAGS (fast/plan.py), and the log records it
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_jax",
            str(photo),
            str(painting),
            "--weights",
            str(small_vgg16),
            "--size",
            "32",
            "--iters",
            "1",
            "--quiet",
            "--verbose",
            "-o",
            str(tmp_path / "o.png"),
            "--log",
            str(tmp_path / "l.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    assert "XLA:CPU memory-ordered scheduler on" in p.stderr
    assert json.loads((tmp_path / "l.json").read_text())["summary"]["plan"]["memory_scheduler"]
