"""paper/image.py: the Caffe preprocessing and its inverse, fitting sizes, resizing."""

import numpy as np
import pytest

from nst_jax import NstError
from nst_jax.paper import image as im


def test_preprocess_is_caffe_convention_and_inverts():
    rgb = np.array([[[255.0, 0.0, 10.0]]], np.float32)  # (1, 1, 3) RGB
    x = im.preprocess(rgb)
    # BGR order, minus [103.939, 116.779, 123.68] (B, G, R)
    np.testing.assert_allclose(x[0, 0], [10 - 103.939, 0 - 116.779, 255 - 123.68], rtol=1e-6)
    np.testing.assert_allclose(im.deprocess(x), rgb, atol=1e-4)


def test_fit_size_keeps_aspect_and_refuses_tiny():
    assert im.fit_size(768, 1024, 256) == (192, 256)
    assert im.fit_size(1024, 768, 256) == (256, 192)
    with pytest.raises(NstError, match="at least 16"):
        im.fit_size(100, 100, 8)
    with pytest.raises(NstError, match="raise --size"):
        im.fit_size(10, 100, 20)  # 20x2 px


def test_resize_shape_and_range():
    a = np.random.default_rng(0).uniform(0, 255, (30, 40, 3)).astype(np.float32)
    r = im.resize(a, 15, 20)
    assert r.shape == (15, 20, 3) and r.min() >= 0 and r.max() <= 255
    assert abs(r.mean() - a.mean()) < 2  # averaging filter keeps the mean
