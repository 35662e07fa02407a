"""video/flows.py: both flows against a known shift, the choice of flow, and the long-term
weights of Ruder et al. Eq. 9."""

import builtins

import numpy as np
import pytest
from PIL import Image

from nst_jax.errors import NstError
from nst_jax.video import flows


def texture(h=96, w=128):
    """A smooth random texture: every pixel has a gradient, so the flow is determined."""
    small = np.random.default_rng(0).uniform(0, 255, (h // 4, w // 4, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), np.float32)


@pytest.mark.parametrize("name", ["jax", "dis"])
@pytest.mark.parametrize("shift", [(2.5, -1.5), (-4.0, 2.0)])
def test_both_flows_find_a_known_shift(name, shift):
    """Measured: 0.12/0.012 px (ours), 0.03/0.003 px (DIS) mean endpoint error; bound 0.3 px,
    a tenth of the smaller shift's length (a flow off by that much would warp visibly)."""
    first, second = flows.shifted_pair(texture(), shift)
    assert flows.endpoint_error(flows.FLOWS[name](first, second), shift, margin=10) < 0.3


def test_auto_takes_dis_with_opencv_and_ours_without(monkeypatch):
    assert flows.choose("auto") == "dis" and flows.choose("jax") == "jax"
    with pytest.raises(NstError, match="--flow 'farneback' is not one of auto, jax, dis"):
        flows.choose("farneback")
    real = builtins.__import__
    blocked = lambda name, *a, **k: (
        (_ for _ in ()).throw(ImportError(name)) if name == "cv2" else real(name, *a, **k)
    )
    monkeypatch.setattr(builtins, "__import__", blocked)
    assert flows.choose("auto") == "jax"
    with pytest.raises(NstError, match=r'--flow dis needs OpenCV; pip install "nst_jax\[video\]"'):
        flows.choose("dis")


def test_long_term_weights_hold_each_pixel_to_the_nearest_frame_that_sees_it(monkeypatch):
    """Frame i-1 cannot see the left band (its flow points out of the frame there), i-2 and
    i-4 see everything: Eq. 9 gives the band to i-2 alone and nothing to i-4."""
    h, w = 24, 32
    history = [(np.full((h, w, 3), float(k)), np.full((h, w, 3), 10.0 * k)) for k in range(4)]

    def flow(a, b):  # (no motion, but frame i-1's flow leaves the frame in columns 0-5)
        f = np.zeros((h, w, 2), np.float32)
        if b is history[-1][0] or a is history[-1][0]:
            f[:, :6, 0] = -10.0
        return f

    monkeypatch.setitem(flows.FLOWS, "fake", flow)
    warped, c_long, c = flows.references(history, np.zeros((h, w, 3)), flows.LONG_TERM, "fake")
    assert warped.shape == (3, h, w, 3) and c_long.shape == (3, h, w)
    np.testing.assert_array_equal(c, c_long[0])  # (j = 1: nothing nearer)
    assert c[:, :6].max() == 0 and c[:, 10:].min() == 1  # (column 6-9: a motion boundary)
    np.testing.assert_array_equal(c_long[1], 1 - c)  # i-2 where i-1 cannot see
    assert c_long[2].max() == 0  # i-4: everything seen nearer
    np.testing.assert_allclose(warped[1], 20.0)  # (i-2's stylized frame, not moved)
    # two frames of history: i-4 does not exist yet (c = 0), i-2 does
    warped, c_long, _ = flows.references(history[-2:], np.zeros((h, w, 3)), flows.LONG_TERM, "fake")
    assert c_long[1].max() == 1 and c_long[2].max() == 0
