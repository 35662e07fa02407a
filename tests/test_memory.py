"""memory.py: the peak-memory estimate against peaks measured in a fresh process."""

import json
import subprocess
import sys

import pytest

from nst_jax.memory import estimate_memory
from nst_jax.stylize import Config

MEASURE = """
import json, sys, jax, jax.numpy as jnp, numpy as np
from nst_jax.losses import loss_terms, make_targets
from nst_jax.memory import peak_rss
from nst_jax.stylize import Config
from nst_jax.vgg import init_params, with_winograd
size, remat, conv = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
ob = Config(remat=remat).objective("vgg19")
params = with_winograd(init_params("vgg19"), "vgg19", conv, layers=ob.layers)
x = jnp.asarray(np.random.default_rng(0).normal(0, 50, (size, size, 3)), jnp.float32)
targets = make_targets(params, ob, x, x)
before = peak_rss()
g = jax.jit(jax.grad(lambda x, p, t: loss_terms(p, t, x, ob)["total"]))
jax.block_until_ready(g(x, params, targets))
print(json.dumps({"before": before, "peak": peak_rss()}))
"""


def measured_peak(size, remat, conv="direct"):
    out = subprocess.run([sys.executable, "-c", MEASURE, str(size), str(int(remat)), conv],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_estimate_grows_with_size():
    ob = Config().objective("vgg19")
    small, big = estimate_memory(ob, (256, 256), (256, 256)), estimate_memory(ob, (1024, 1024), (256, 256))
    assert 0 < small < big and big < 8 * 2**30


@pytest.mark.parametrize("conv", ["direct", "winograd"])
def test_estimate_is_within_a_factor_of_the_measured_peak(conv):
    size = 1024  # large enough that activations, not the runtime, make the peak
    m = measured_peak(size, False, conv)
    est = estimate_memory(Config().objective("vgg19"), (size, size), (size, size), 0,
                          winograd=conv == "winograd")
    # the estimate guards against running out of memory: it may overshoot, but by less
    # than 1.6x, and must not undershoot by more than 25% (measured alone, XLA's memory
    # scheduler on as nst_jax sets it: direct 1.96 GiB peak, 2.15 estimated; Winograd 2.76
    # and 3.17; 2048x1536 with L-BFGS: 7.0 GB peak, 8.5 GB estimated)
    assert 0.75 * m["peak"] < est < 1.6 * m["peak"], (est, m)
