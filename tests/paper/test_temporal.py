"""paper/temporal.py against NumPy/SciPy in float64: warping, Ruder et al.'s consistency
rules and temporal loss, the flicker measure; the flow recovers a known motion."""

import jax
import numpy as np
import pytest
import scipy.ndimage

from nst_jax.paper import temporal as tp


def blobs(h: int, w: int, dx: float = 0.0, dy: float = 0.0, seed: int = 0) -> np.ndarray:
    """A smooth test frame (H, W, 3) 0..255: Gaussian blobs, all moved by (dx, dy) px."""
    rng = np.random.default_rng(seed)
    centres, sigmas, amps = (
        rng.uniform(0, 1, (12, 2)) * [w, h],
        rng.uniform(6, 14, 12),
        rng.uniform(60, 160, 12),
    )
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = sum(
        a * np.exp(-((x - dx - cx) ** 2 + (y - dy - cy) ** 2) / (2 * s * s))
        for (cx, cy), s, a in zip(centres, sigmas, amps)
    )
    return np.repeat(np.clip(out, 0, 255)[..., None], 3, -1).astype(np.float32)


def numpy_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    at = [ys + flow[..., 1], xs + flow[..., 0]]
    return np.stack(
        [scipy.ndimage.map_coordinates(image[..., c].astype(np.float64), at, order=1, mode="nearest")
         for c in range(image.shape[-1])],
        axis=-1,
    )  # fmt: skip


def numpy_consistency(f: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ruder et al. Sec. 3.1, written out: 1 where the flow is trusted."""
    h, w = b.shape[:2]
    f_back = numpy_warp(f, b)
    sq = lambda v: (v**2).sum(-1)  # noqa: E731
    disoccluded = sq(f_back + b) > 0.01 * (sq(f_back) + sq(b)) + 0.5
    grad = sum(g**2 for c in range(2) for g in np.gradient(b[..., c]))
    boundary = grad > 0.01 * sq(b) + 0.002
    ys, xs = np.mgrid[0:h, 0:w]
    y, x = ys + b[..., 1], xs + b[..., 0]
    outside = (y < 0) | (y > h - 1) | (x < 0) | (x > w - 1)
    return (~disoccluded & ~boundary & ~outside).astype(np.float64)


def test_warp_is_bilinear_sampling_with_the_border_repeated():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, (20, 24, 3))
    flow = rng.normal(0, 3, (20, 24, 2))  # some samples fall outside: the border repeated
    got = np.asarray(tp.warp(image.astype(np.float32), flow.astype(np.float32)))
    # float32 coordinates and weights against float64: ~1e-5 of the 0..255 values
    np.testing.assert_allclose(got, numpy_warp(image, flow), atol=2e-3)
    still = image.astype(np.float32)
    np.testing.assert_array_equal(
        np.asarray(tp.warp(still, np.zeros((20, 24, 2), np.float32))), still
    )  # w = 0


def test_consistency_follows_ruder_et_al_rules():
    rng = np.random.default_rng(2)
    smooth = lambda a: scipy.ndimage.gaussian_filter(a, (3, 3, 0))  # noqa: E731
    f, b = smooth(rng.normal(0, 6, (32, 40, 2))), smooth(rng.normal(0, 6, (32, 40, 2)))
    b[5:9] = -f[5:9]  # forward and back cancel in these rows: consistent unless at a boundary
    with jax.enable_x64(True):
        got = np.asarray(tp.consistency(f, b))
    want = numpy_consistency(f, b)
    np.testing.assert_array_equal(got, want)
    assert 0 < want.mean() < 1  # (each rule decides some pixels here)


def test_a_moving_square_disoccludes_what_it_leaves_behind():
    """A square moves 4 px right over a still background: the strip it uncovers, and its
    edges (motion boundaries), are not to be trusted; the still background far away is."""
    h, w = 32, 48
    f, b = np.zeros((h, w, 2)), np.zeros((h, w, 2))
    f[10:20, 10:20, 0] = 4.0  # frame i-1: the square at columns 10..19 moves to 14..23
    b[10:20, 14:24, 0] = -4.0  # frame i: its pixels came from 4 px to the left
    c = np.asarray(tp.consistency(f.astype(np.float32), b.astype(np.float32)))
    assert (c[11:19, 10:13] == 0).all()  # uncovered: the background there was hidden
    assert (c[:, 30:] == 1).all() and (c[:6] == 1).all()  # still, away from the square
    assert (c[12:18, 16:22] == 1).all()  # inside the square: forward and back agree


def test_temporal_loss_and_warping_error_are_the_formulas():
    rng = np.random.default_rng(3)
    x, w = rng.uniform(0, 255, (2, 9, 11, 3))
    c = (rng.uniform(size=(9, 11)) > 0.3).astype(np.float64)
    with jax.enable_x64(True):
        loss, err = float(tp.temporal_loss(x, w, c)), float(tp.warping_error(x, w, c))
    assert loss == pytest.approx(
        (c[..., None] * (x - w) ** 2).sum() / x.size, rel=1e-12
    )  # (1/D) sum c (x-w)^2
    assert err == pytest.approx(((x - w) ** 2)[c > 0].mean(), rel=1e-12)


def test_the_flow_recovers_a_known_motion():
    """Frames of smooth blobs moved by (1.5, -2.25) px: Horn-Schunck, coarse to fine,
    finds that motion inside the frame (its smoothness term biases it slightly: measured
    0.044 px mean error; 0.1 px allowed); two equal frames give no motion at all."""
    d = (1.5, -2.25)
    a, b = blobs(96, 128), blobs(96, 128, *d)
    w = np.asarray(tp.flow(a, b))[10:-10, 10:-10]  # (the border: the motion leaves the frame)
    assert np.abs(w - d).mean() < 0.1
    np.testing.assert_allclose(w.reshape(-1, 2).mean(0), d, atol=0.05)
    assert np.abs(np.asarray(tp.flow(a, a))).max() == 0.0
    # the warped second frame is the first, where the flow is right
    warped = np.asarray(tp.warp(b, np.asarray(tp.flow(a, b))))
    assert np.abs(warped - a)[10:-10, 10:-10].mean() < 0.5  # of 0..255
