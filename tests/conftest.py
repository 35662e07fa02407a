"""Shared fixtures: real weights and images, synthetic VGG19 files.

The real VGG16 weights and images are found through the environment, as .ci/run sets it:
$NST_JAX_WEIGHTS (the .h5 file) and $NST_JAX_IMAGES (the folder of photos and paintings);
unset, they default to ../shared beside the repository, where development machines keep
them. The package itself never looks there.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest
from keras_files import WRITERS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL_VGG16 = Path(
    os.environ.get("NST_JAX_WEIGHTS")
    or SHARED / "weights" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
IMAGES = Path(os.environ.get("NST_JAX_IMAGES") or SHARED / "images")


def _need(path: Path):
    if path.exists():
        return path
    msg = (
        f"{path} is missing (set NST_JAX_WEIGHTS to the real VGG16 .h5 and NST_JAX_IMAGES "
        "to the images folder; default: ../shared beside the repository)"
    )
    if os.environ.get("NST_JAX_REQUIRE_REAL_WEIGHTS") == "1":
        pytest.fail(msg + "; NST_JAX_REQUIRE_REAL_WEIGHTS=1 forbids skipping")
    pytest.skip(msg)


# What JAX did in this process: functions traced and programs compiled (jax.monitoring's
# events; a trace is counted whether or not a persistent cache then serves the compilation).
_DONE = {"/jax/core/compile/jaxpr_trace_duration": 0, "/jax/core/compile/backend_compile_duration": 0}


def _count(event: str, seconds: float, **kw) -> None:
    if event in _DONE:
        _DONE[event] += 1


jax.monitoring.register_event_duration_secs_listener(_count)


@pytest.fixture
def compilations():
    """compilations() -> (functions traced, programs compiled) in this process so far."""
    return lambda: tuple(_DONE.values())


@pytest.fixture(scope="session")
def real_vgg16():
    return _need(REAL_VGG16)


@pytest.fixture(scope="session")
def images():
    return _need(IMAGES)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own weights cache and no $NST_JAX_WEIGHTS from the caller."""
    monkeypatch.setenv("NST_JAX_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("NST_JAX_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def resnet50_files(tmp_path_factory):
    """ResNet50 weights written by Keras itself (keras.applications.ResNet50(weights=None),
    every variable random, batch-norm statistics too) in the three layouts, in a fresh
    process on the JAX backend: ({layout: path}, {keras layer: [arrays, in weight order]})."""
    folder = tmp_path_factory.mktemp("resnet50")
    script = Path(__file__).resolve().parent / "keras_files.py"
    env = dict(os.environ, KERAS_BACKEND="jax")
    subprocess.run(
        [sys.executable, str(script), "resnet50", str(folder)], env=env, check=True, capture_output=True
    )
    arrays: dict = {}
    with np.load(folder / "arrays.npz") as z:
        for key in sorted(z.files, key=lambda k: (k.split("/")[0], int(k.split("/")[1]))):
            arrays.setdefault(key.split("/")[0], []).append(z[key])
    return json.loads((folder / "paths.json").read_text()), arrays


@pytest.fixture(scope="session")
def vgg19_params():
    from nst_jax.paper.vgg import init_params

    return {k: {p: np.asarray(v) for p, v in d.items()} for k, d in init_params("vgg19", 1).items()}


@pytest.fixture(scope="session")
def vgg19_files(tmp_path_factory, vgg19_params):
    """{layout: path} of synthetic VGG19 files in every layout Keras writes."""
    folder = tmp_path_factory.mktemp("vgg19")
    files = {}
    for layout, write in WRITERS.items():
        files[layout] = folder / f"vgg19_{layout}.h5"
        write(files[layout], vgg19_params, "vgg19")
    return files


@pytest.fixture(scope="session")
def small_vgg16(tmp_path_factory):
    """A synthetic VGG16 file (Keras 1 layout) for fast end-to-end tests."""
    from nst_jax.paper.vgg import init_params

    params = {k: {p: np.asarray(v) * 0.5 for p, v in d.items()} for k, d in init_params("vgg16", 2).items()}
    path = tmp_path_factory.mktemp("vgg16") / "vgg16_synthetic.h5"
    WRITERS["keras1"](path, params, "vgg16")
    return path


@pytest.fixture
def photo(tmp_path):
    """A 40x32 RGB test photo with structure (gradients and a square)."""
    from PIL import Image

    y, x = np.mgrid[0:32, 0:40]
    a = np.stack([x * 6, y * 7, (x + y) * 3], axis=2).astype(np.uint8)
    a[8:20, 10:24] = [250, 30, 60]
    path = tmp_path / "photo.png"
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def painting(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    a = (rng.uniform(0, 255, (8, 8, 3))).astype(np.uint8)
    path = tmp_path / "painting.png"
    Image.fromarray(a).resize((48, 48), Image.NEAREST).save(path)
    return path


# The longest tests (each a fresh process, or three frameworks) go first, so that under
# `pytest -n 2` the two workers end together instead of one finishing a long test alone.
SLOW_FIRST = ("test_docs.py::test_the_site_builds_with_every_chapter_executed", "test_compare.py")


_CONFIG = []

# One XLA compilation cache for the whole run, shared by both workers and by every process
# a test starts (they inherit the environment): a program compiled once (the same HLO, from
# any test) is read back instead of compiled again. A new, empty folder per run, removed at
# its end, so that no run depends on another; NST_JAX_TEST_XLA_CACHE=off runs without it.
CACHE_ENV = {
    "JAX_COMPILATION_CACHE_DIR": None,  # (the folder)
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",  # every program, however quick
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}


def _share_compilations(config) -> None:
    if os.environ.get("NST_JAX_TEST_XLA_CACHE") == "off":
        return
    if not hasattr(config, "workerinput") and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        folder = tempfile.mkdtemp(prefix="nst_jax-xla-cache-")  # (the controller, or a run without xdist)
        config._nst_jax_xla_cache = folder  # removed by pytest_unconfigure
        os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    for key, value in CACHE_ENV.items():
        if value is not None:
            os.environ.setdefault(key, value)
    # (jax was imported above, before these were set: tell its config too)
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
    )
    jax.config.update(
        "jax_persistent_cache_min_entry_size_bytes",
        int(os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"]),
    )


def pytest_configure(config):
    _CONFIG.append(config)
    _share_compilations(config)


def pytest_unconfigure(config):
    folder = getattr(config, "_nst_jax_xla_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_runtest_logreport(report):
    """A failing test is named the moment it fails (not only in the summary at the end),
    on the terminal of the run (under xdist: the controller's, which gets every report)."""
    config = _CONFIG[0] if _CONFIG else None
    if config is None or hasattr(config, "workerinput") or not report.failed:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        what = "FAILED" if report.when == "call" else "ERROR"
        reporter.write("\n")  # (off the line of progress dots)
        reporter.write_line(f"{what} {report.nodeid} ({report.when}, {report.duration:.1f} s)", red=True)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not any(s in item.nodeid for s in SLOW_FIRST))  # stable sort
