"""fast/plan.py: how each `auto` is settled, on CPU and on (described) other devices."""

from typing import NamedTuple

import pytest

from nst_jax.config import Config
from nst_jax.fast import plan
from nst_jax.fast.winograd import MIN_PIXELS


class Device(NamedTuple):  # what the plan reads of a device
    platform: str


CPU, GPU = [Device("cpu")] * 2, [Device("gpu")]
BIG, SMALL = 256 * 192, 64 * 48


def settle(devices, pixels=BIG, **options):
    return plan(Config(model="vgg19", **options).validate(), "vgg19", pixels, devices)


def test_auto_on_cpu_is_winograd_for_large_images_and_the_host_loop():
    p = settle(CPU)
    assert p.platform == "cpu" and p.devices == 2
    assert p.conv == "winograd" and p.winograd[0] == "conv3_2" and p.winograd[-1] == "conv5_1"
    assert p.loop == "host"
    assert settle(CPU, pixels=MIN_PIXELS - 1).conv == "direct"  # compile time not won back
    assert settle(CPU, precision="bf16").conv == "direct"
    assert settle(CPU, optimizer="optax-lbfgs").loop == "device"  # its search evaluates inside


def test_auto_elsewhere_is_direct_and_the_device_loop():
    p = settle(GPU)
    assert (p.conv, p.winograd, p.loop, p.memory_scheduler) == ("direct", (), "device", False)


@pytest.mark.parametrize("devices", [CPU, GPU], ids=["cpu", "gpu"])
def test_what_is_asked_for_is_kept(devices):
    p = settle(devices, pixels=SMALL, conv="winograd", loop="host", remat=True)
    assert (p.conv, p.loop, p.remat) == ("winograd", "host", True)
    assert settle(devices, conv="direct", loop="device").winograd == ()


def test_winograd_layers_stop_at_the_deepest_layer_asked_for():
    p = settle(CPU, content_layers=("relu3_3",), style_layers=("relu1_1",))
    assert p.winograd == ("conv3_2", "conv3_3")


def test_the_plan_says_why_and_is_recorded():
    p = settle(CPU)
    text = p.describe()
    assert "conv winograd (auto on cpu" in text and "loop host (auto on cpu" in text
    assert "memory-ordered scheduler" in text
    d = p.to_dict()
    assert d["conv"] == "winograd" and d["winograd"][0] == "conv3_2" and d["loop"] == "host"
    assert isinstance(d["reasons"], list) and len(d["reasons"]) == len(p.reasons)
    # the ops: the fast max pool everywhere, WinogradConv for exactly the chosen layers
    assert [n for n, _ in p.ops.convs] == list(p.winograd)
