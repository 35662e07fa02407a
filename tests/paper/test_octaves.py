"""octaves.py: Burt & Adelson's REDUCE, the octaves' sizes and count, the averaged style term."""

import jax
import jax.numpy as jnp
import numpy as np
import numpy_ref
import pytest

from nst_jax.paper import octaves
from nst_jax.paper.losses import (
    Loss,
    Objective,
    Targets,
    content_targets,
    loss_terms,
    make_targets,
    style_targets,
)
from nst_jax.paper.vgg import init_params

STYLE = tuple((n, 0.2) for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))


@pytest.mark.parametrize("hw", [(16, 16), (17, 23), (32, 40), (5, 3)])
def test_reduce_is_the_written_out_binomial_average(hw):
    """Against the 5x5 average written pixel by pixel in float64 (numpy_ref.reduce), odd and
    even sides; float32 sums of five terms: 1e-5 relative to values of 0..255."""
    x = np.random.default_rng(0).uniform(-120, 150, (*hw, 3))
    got = octaves.reduce(x.astype(np.float32))
    assert got.shape == (*octaves.reduced_hw(hw, 1), 3)
    np.testing.assert_allclose(got, numpy_ref.reduce(x), atol=1e-5 * 255)


def test_reduce_keeps_constants_and_works_on_a_batch():
    """g sums to 1 (a constant image stays: R commutes with the Caffe mean); leading axes
    are a batch, each image reduced alone."""
    c = np.full((9, 14, 3), [3.0, -7.0, 100.0], np.float32)
    np.testing.assert_allclose(octaves.reduce(c), np.broadcast_to([3.0, -7.0, 100.0], (5, 7, 3)), rtol=1e-6)
    xs = np.random.default_rng(1).normal(size=(2, 3, 12, 10, 3)).astype(np.float32)
    one = np.stack([np.stack([octaves.reduce(x) for x in row]) for row in xs])
    np.testing.assert_allclose(octaves.reduce(xs), one, rtol=1e-6, atol=1e-6)
    assert octaves.reduced_hw((512, 341), 2) == (128, 86)


@pytest.mark.parametrize(
    "side, given, levels",
    [
        (256, 0, 1),
        (362, 0, 1),
        (511, 0, 2),
        (512, 0, 2),
        (724, 0, 2),
        (1024, 0, 3),
        (256, 3, 3),
        (1024, 1, 1),
    ],
)
def test_one_octave_per_halving_down_to_the_reference(side, given, levels):
    assert octaves.levels_for(side, 256, given) == levels


@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_the_objective_is_the_weighted_mean_over_the_octaves(weight):
    """WithOctaves(loss, 2, lambda) at an image x: each octave's terms are the plain loss's
    at x and at R x (targets of R p and R a made by make_targets for the reduced pair),
    the content scaled by the pixel ratio M_0 / M_1, both averaged with the weights
    1 : lambda (normalised); TV is x's own; the total is Eq. 7 of those."""
    params = jax.tree.map(jnp.asarray, init_params("vgg16", 3))
    ob = Objective("vgg16", "max", (("relu4_2", 1.0),), STYLE, 2.0, 50.0, 1e-3)
    rng = np.random.default_rng(2)
    x, c, a = (
        jnp.asarray(rng.uniform(-100, 100, s), jnp.float32) for s in [(34, 40, 3), (34, 40, 3), (44, 36, 3)]
    )
    targets = make_targets(params, ob, c, a)
    (c1,), (a1,) = octaves.pyramid(c, 2), octaves.pyramid(a, 2)
    coarse = (Targets(content_targets(params, c1, ob), style_targets(params, a1, (17, 20), ob)),)
    fun = octaves.WithOctaves(Loss(ob), 2, weight)
    total, terms = fun(x, (params, (targets, coarse)))
    plain = loss_terms(params, targets, x, ob)
    small = loss_terms(params, make_targets(params, ob, c1, a1), octaves.reduce(x), ob)
    w0, w1 = 1 / (1 + weight), weight / (1 + weight)
    ratio = (34 * 40) / (17 * 20)  # M_0 / M_1
    # float32 terms summed in another order: 1e-5 relative
    want_c = w0 * float(plain["content"]) + w1 * ratio * float(small["content"])
    assert terms["content"] == pytest.approx(want_c, rel=1e-5)
    assert terms["style"] == pytest.approx(w0 * float(plain["style"]) + w1 * float(small["style"]), rel=1e-5)
    assert terms["tv"] == pytest.approx(float(plain["tv"]), rel=1e-6)
    want = 2.0 * terms["content"] + 50.0 * terms["style"] + 1e-3 * terms["tv"]
    assert total == pytest.approx(float(want), rel=1e-6)
    g = jax.grad(lambda v: fun(v, (params, (targets, coarse)))[0])(x)
    g0 = jax.grad(lambda v: Loss(ob)(v, (params, targets))[0])(x)
    assert np.isfinite(g).all() and not np.allclose(g, g0, rtol=1e-3)


def test_the_gradient_is_the_finite_difference_of_the_loss():
    """d/de L(x + e v) at e = 0 against a central difference, in float64 (the octaves'
    REDUCE and terms are differentiated by JAX; this checks nothing is cut off, e.g. a
    copy taken outside the trace). Average pooling: max pooling's switches make the loss
    piecewise, and a difference across a switch is not the derivative. h = 1e-6: the
    difference agreed to 1e-9 relative, 1e-6 leaves room for other machines' rounding."""
    with jax.enable_x64(True):
        params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), init_params("vgg16", 4))
        ob = Objective("vgg16", "avg", (("relu3_2", 1.0),), STYLE[:3], 1.0, 10.0, 0.0)
        rng = np.random.default_rng(5)
        x, c, a, v = (jnp.asarray(rng.uniform(-50, 50, (32, 36, 3))) for _ in range(4))
        (c1,), (a1,) = octaves.pyramid(c, 2), octaves.pyramid(a, 2)
        aux = (params, (make_targets(params, ob, c, a), (make_targets(params, ob, c1, a1),)))
        f = lambda e: octaves.WithOctaves(Loss(ob), 2)(x + e * v, aux)[0]
        directional = float(jnp.vdot(jax.grad(lambda y: octaves.WithOctaves(Loss(ob), 2)(y, aux)[0])(x), v))
        h = 1e-6
        assert directional == pytest.approx(float((f(h) - f(-h)) / (2 * h)), rel=1e-6)
