"""bench/gpu.py: `bench gpu --quick` on CPU writes the whole report, every row and column.

Timings are printed, never asserted: this checks that the report measures every cell
(each size in each precision, both loops, the end-to-end run) and writes what it says.
No GPU needed: the quick mode is the one CI runs."""

import json
import math

import pytest

from nst_jax.bench import gpu
from nst_jax.cli import app as cli


def _positive(*values):
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)


@pytest.mark.slow
def test_bench_gpu_quick_writes_every_cell(tmp_path, capsys):
    out, md = tmp_path / "gpu.json", tmp_path / "gpu.md"
    assert cli.main(["bench", "gpu", "--quick", "--json", str(out), "--markdown", str(md), "--quiet"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["mode"] == "quick" and report["platform"] == "cpu" and report["device"]
    assert report["date"][:2] == "20" and report["jax"] and report["seconds"] > 0
    # every size in every precision, one evaluation each, in its own process
    sizes = gpu.QUICK["size"]
    cells = [(r["size"][0], r["precision"]) for r in report["evals"]]
    assert sorted(cells) == sorted((s, p) for s in sizes for p in gpu.PRECISIONS), report["evals"]
    for r in report["evals"]:
        assert "error" not in r, r
        assert _positive(r["seconds"], r["compile_seconds"], r["gflops"], r["peak_bytes"])
        assert r["framework"] == "jax" and r["model"] == "vgg19" and r["weights"] == "vgg19_random.npz"
    # the host-driven loop, the on-device loop, the end-to-end run
    runs = report["runs"]
    n = gpu.QUICK["iters"]
    assert [r["run"] for r in runs] == [
        "host-driven loop",
        "on-device loop",
        f"{n} L-BFGS iterations end to end",
    ]
    assert [r["loop"] for r in runs[:2]] == ["host", "device"]
    for r, iters in zip(runs, (gpu.QUICK["loop_iters"], gpu.QUICK["loop_iters"], n)):
        assert "error" not in r, r
        assert 1 <= r["iterations"] <= iters and r["evaluations"] >= r["iterations"]
        assert r["size"][0] == gpu.QUICK["run_size"]
        numbers = ("seconds_per_iteration", "seconds_per_evaluation", "compile_seconds", "wall_seconds")
        assert _positive(*(r[k] for k in numbers), r["final_loss"], r["peak_bytes"])
        assert r["wall_seconds"] > r["seconds"]  # (the call: preparation and compilation too)
    # the markdown: what was printed, the header naming device, date and JAX, both tables
    text = md.read_text()
    assert text == printed
    assert text.startswith(f"GPU report (quick): {report['device']} (cpu), {report['date']}, jax ")
    for r in report["evals"]:
        assert f"| {r['size'][0]}x{r['size'][1]} | {r['precision']} | " in text
    for r in runs:
        assert f"| {r['run']} | {r['loop']} | " in text
    assert "| s / eval | vs float32 |" in text and "| s / iteration |" in text and "| final loss |" in text


def test_bench_gpu_errors_are_one_line(tmp_path, capsys):
    for argv, message in (
        (["--size", "8"], "--size and --run-size must be sizes >= 32 px"),
        (["--quick", "--run-size", "16"], "--size and --run-size must be sizes >= 32 px"),
        (["--iters", "0"], "--repeats, --loop-iters and --iters must be >= 1"),
        (["--repeats", "0"], "--repeats, --loop-iters and --iters must be >= 1"),
        (["--json", str(tmp_path / "no" / "gpu.json")], "does not exist"),
        (["--json", str(tmp_path / "a"), "--markdown", str(tmp_path / "a")], "give them different paths"),
        (["--size", "big"], "--size"),
    ):
        assert cli.main(["bench", "gpu", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_tables_show_errors_in_place():
    # a cell that failed is a row saying so, the other cells still shown
    evals = [
        dict(
            size=[48, 32], precision="float32", seconds=0.5, gflops=1.0, compile_seconds=1.0, peak_bytes=2**30
        ),
        dict(size=[48, 32], precision="bf16", error="out of memory"),
    ]
    table = gpu.eval_table(evals)
    assert (
        "| 48x32 | float32 | 0.5000 | 1.00x |" in table and "| 48x32 | bf16 | error: out of memory |" in table
    )
    assert "| on-device loop | error: boom |" in gpu.run_table([dict(run="on-device loop", error="boom")])
    assert gpu.failed(dict(evals=evals, runs=[]))
