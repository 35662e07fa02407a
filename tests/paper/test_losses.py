"""losses.py against plain NumPy (float64) implementations of the paper's formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import numpy_ref
import pytest

from nst_jax.paper import losses
from nst_jax.paper.vgg import conv_layers

rng = np.random.default_rng(0)


def test_gram_is_sum_over_positions():
    f = rng.normal(size=(5, 7, 4)).astype(np.float32)
    g = np.asarray(losses.gram(jnp.asarray(f)))
    assert g.shape == (4, 4)
    # G_ij = sum_k F_ik F_jk, written as a loop over the M = 35 positions
    loop = sum(np.outer(f[y, x], f[y, x]) for y in range(5) for x in range(7))
    np.testing.assert_allclose(g, loop, rtol=1e-5)
    np.testing.assert_allclose(g, numpy_ref.gram(f), rtol=1e-5)


def test_single_terms_match_numpy():
    f, p = rng.normal(size=(2, 6, 5, 8)).astype(np.float32)
    a = numpy_ref.gram(rng.normal(size=(4, 3, 8)))
    x = rng.uniform(-120, 130, (9, 11, 3)).astype(np.float32)
    # float32 sums of ~100 terms against float64: 1e-5 relative is ample
    assert losses.content_loss(f, p) == pytest.approx(numpy_ref.content(f, p), rel=1e-5)
    assert losses.style_layer_loss(f, a) == pytest.approx(numpy_ref.style_layer(f, a), rel=1e-5)
    assert losses.tv_loss(x) == pytest.approx(numpy_ref.tv(x), rel=1e-5)


def test_style_normalisation_is_1_over_4N2M2():
    f = jnp.ones((2, 3, 4))  # N = 4 channels, M = 6 positions, G = 6 everywhere
    # E = sum (G - 0)^2 / (4 N^2 M^2) = 16 * 36 / (4 * 16 * 36) = 1/4
    assert float(losses.style_layer_loss(f, jnp.zeros((4, 4)))) == pytest.approx(0.25)


def test_tv_is_translation_invariant_per_channel():
    x = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
    # so TV on the preprocessed image (BGR minus a per-channel mean) equals TV on 0..255 RGB
    from nst_jax.paper.image import preprocess

    assert losses.tv_loss(preprocess(x)) == pytest.approx(numpy_ref.tv(x), rel=1e-5)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_total_objective_matches_numpy(vgg19_params, pooling):
    content, style, x = (
        rng.uniform(-110, 130, s).astype(np.float32) for s in [(24, 20, 3), (28, 32, 3), (24, 20, 3)]
    )
    ob = losses.Objective(
        "vgg19",
        pooling,
        (("relu4_2", 1.0), ("relu2_2", 0.5)),
        tuple((n, 0.2) for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
        content_weight=2.0,
        style_weight=1e3,
        tv_weight=1e-2,
    )
    targets = losses.make_targets(vgg19_params, ob, content, style)
    # (the weights an argument: as constants they would be compiled into the program)
    ours = jax.jit(lambda p, x: losses.loss_terms(p, targets, x, ob))(vgg19_params, x)

    fx = numpy_ref.vgg_features(vgg19_params, x, "vgg19", pooling)
    fc = numpy_ref.vgg_features(vgg19_params, content, "vgg19", pooling)
    fs = numpy_ref.vgg_features(vgg19_params, style, "vgg19", pooling)
    c = sum(w * numpy_ref.content(fx[n], fc[n]) for n, w in ob.content_layers)
    s = sum(
        w * numpy_ref.style_layer(fx[n], numpy_ref.style_target(fs[n], fx[n])) for n, w in ob.style_layers
    )
    t = numpy_ref.tv(x)
    ref = {"content": c, "style": s, "tv": t, "total": 2.0 * c + 1e3 * s + 1e-2 * t}
    for k in ref:  # float32 VGG against float64: see test_vgg's tolerance argument
        assert float(ours[k]) == pytest.approx(ref[k], rel=1e-4), k


def test_objective_layers_are_unique_in_order():
    ob = losses.Objective(
        "vgg16", "max", (("relu4_2", 1.0),), (("relu1_1", 0.5), ("relu4_2", 0.5)), 1.0, 1.0, 0.0
    )
    assert ob.layers == ("relu4_2", "relu1_1")
    assert set(ob.layers) <= set(conv_layers("vgg16"))


def test_targets_are_compiled_once_for_objectives_that_differ_only_in_weights(vgg19_params, compilations):
    """content_targets and style_targets depend on the network and their own layers, not on
    alpha, beta, TV or w_l (features_key): a sweep over those (a notebook's second run with
    another beta) traces and compiles nothing more, and the targets are the same arrays.
    Another style loss recompiles the style targets only."""
    import dataclasses

    x, y = (jnp.asarray(rng.uniform(-120, 130, (24, 20, 3)), jnp.float32) for _ in range(2))
    ob = losses.Objective(
        "vgg19", "max", (("relu4_2", 1.0),), (("relu1_1", 0.5), ("relu3_1", 0.5)), 1.0, 1e3, 0.0
    )
    first = losses.make_targets(vgg19_params, ob, x, y)
    before = compilations()
    other = dataclasses.replace(
        ob,
        content_weight=3.0,
        style_weight=7.0,
        tv_weight=1.0,
        style_layers=(("relu1_1", 0.1), ("relu3_1", 0.9)),
    )
    again = losses.make_targets(vgg19_params, dataclasses.replace(other, style_normalization="none"), x, y)
    assert compilations() == before
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)
    content_before = losses._content_targets._cache_size()
    losses.make_targets(vgg19_params, dataclasses.replace(ob, style_loss="meanstd"), x, y)
    assert losses._content_targets._cache_size() == content_before  # the content's program reused
    assert compilations() != before  # and the style's compiled anew: it is another representation


@pytest.mark.parametrize("which", ["content only", "style only"])
def test_one_sided_objectives(vgg19_params, which):
    # Content reconstruction (no style layers) and texture synthesis (no content layers),
    # chapter 3 of the tutorials: the missing term is 0 and the other matches NumPy.
    content, style, x = (rng.uniform(-110, 130, (20, 24, 3)).astype(np.float32) for _ in range(3))
    c_layers = (("relu3_2", 1.0),) if which == "content only" else ()
    s_layers = (("relu1_1", 0.5), ("relu2_1", 0.5)) if which == "style only" else ()
    ob = losses.Objective("vgg19", "max", c_layers, s_layers, 1.0, 10.0, 0.0)
    targets = losses.make_targets(vgg19_params, ob, content, style)
    terms = jax.jit(lambda p, x: losses.loss_terms(p, targets, x, ob))(vgg19_params, x)
    fx = numpy_ref.vgg_features(vgg19_params, x, "vgg19", "max")
    if which == "content only":
        ref = numpy_ref.content(
            fx["relu3_2"], numpy_ref.vgg_features(vgg19_params, content, "vgg19", "max")["relu3_2"]
        )
        assert float(terms["style"]) == 0.0 and float(terms["content"]) == pytest.approx(ref, rel=1e-4)
    else:
        fs = numpy_ref.vgg_features(vgg19_params, style, "vgg19", "max")
        ref = sum(
            0.5 * numpy_ref.style_layer(fx[n], numpy_ref.style_target(fs[n], fx[n]))
            for n in ("relu1_1", "relu2_1")
        )
        assert float(terms["content"]) == 0.0 and float(terms["style"]) == pytest.approx(ref, rel=1e-4)
        assert targets.content == {}


def test_guided_style_loss_matches_numpy():
    # two soft, overlapping regions with their own targets and weights (Gatys et al. 2017)
    f = rng.normal(size=(6, 5, 8)).astype(np.float32)
    a = np.stack([numpy_ref.gram(rng.normal(size=(6, 5, 8))) for _ in range(2)])
    t = rng.uniform(0, 1, (6, 5, 2)).astype(np.float32)
    b = np.array([0.7, 1.5], np.float32)
    ours = losses.guided_style_loss(jnp.asarray(f), jnp.asarray(a), jnp.asarray(t), jnp.asarray(b))
    # float32 sums of ~30 products against float64: 1e-5 relative
    assert float(ours) == pytest.approx(numpy_ref.guided_style_layer(f, a, t, b), rel=1e-5)


def test_one_white_region_is_eq4():
    f = rng.normal(size=(6, 5, 8)).astype(np.float32)
    a = numpy_ref.gram(rng.normal(size=(6, 5, 8))).astype(np.float32)
    guided = losses.guided_style_loss(f, a[None], np.ones((6, 5, 1), np.float32), np.ones(1))
    # (G/M - A/M)^2 / (4 N^2) is (G - A)^2 / (4 N^2 M^2): equal up to float32 rounding
    assert float(guided) == pytest.approx(float(losses.style_layer_loss(f, a)), rel=1e-5)
    # an empty region contributes 0, not NaN (a small mask pooled away at a deep layer)
    empty = losses.guided_style_loss(
        f, np.stack([a, a]), np.stack([np.ones((6, 5)), np.zeros((6, 5))], axis=-1), np.ones(2)
    )
    assert float(empty) == pytest.approx(float(guided), rel=1e-6)


def test_region_guides_are_pooled_to_each_layer(vgg19_params):
    ob = losses.Objective("vgg19", "max", (), (("relu1_1", 0.5), ("relu3_1", 0.5)), 1.0, 1.0, 0.0)
    x = rng.uniform(-110, 130, (21, 18, 3)).astype(np.float32)
    t = losses.make_targets(vgg19_params, ob, x, x)
    masks = np.zeros((21, 18, 2), np.float32)
    masks[:, :9, 0], masks[:, 9:, 1] = 1, 1  # left and right halves
    r = losses.region_targets([t, t], (1.0, 2.0), masks, ob)
    assert r.style["relu3_1"].shape == (2, 256, 256)
    assert r.guides["relu1_1"].shape == (21, 18, 2) and r.guides["relu3_1"].shape == (5, 4, 2)
    # 21x18 -> 10x9 -> 5x4 as the network pools (odd rows/columns dropped). Left half,
    # columns 0..8 of 18: at 9 wide, columns 0..3 are 1 and column 4 (pixels 8, 9) 0.5;
    # at 4 wide, (1, 1), (1, 1), (0.5, 0), (0, 0) -> 1, 1, 0.25, 0
    np.testing.assert_allclose(np.asarray(r.guides["relu3_1"])[:, :, 0], [[1, 1, 0.25, 0]] * 5)


def test_the_three_style_normalisations_match_numpy():
    """--style-normalization: gatys sum (G - A)^2 / (4 N^2 M^2); none the sum alone
    (Lisciandrello et al.); neural-style the mean over the N^2 entries of ((G - A)/(N M))^2.
    NumPy in float64, written from those definitions; float32 sums of ~100 terms: 1e-5."""
    f = rng.normal(size=(6, 5, 8)).astype(np.float32)  # M = 30 positions, N = 8 filters
    a = numpy_ref.gram(rng.normal(size=(4, 3, 8)))
    g = numpy_ref.gram(f.astype(np.float64))
    want = {
        "gatys": np.sum((g - a) ** 2) / (4 * 8**2 * 30**2),
        "none": np.sum((g - a) ** 2),
        "neural-style": np.mean(((g - a) / (8 * 30)) ** 2),
    }
    for norm, value in want.items():
        assert float(losses.style_layer_loss(f, a, norm)) == pytest.approx(value, rel=1e-5), norm
        one = losses.guided_style_loss(
            f, a[None].astype(np.float32), np.ones((6, 5, 1), np.float32), np.ones(1), norm
        )
        assert float(one) == pytest.approx(value, rel=1e-5), norm  # one white region: the same
