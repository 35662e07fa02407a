"""fast/tiles.py: the loss and gradient in strips equal the whole image's, and the plan
chooses strips only when the whole image would not fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst_jax import stylize
from nst_jax.config import Config
from nst_jax.errors import NstError
from nst_jax.fast import plan, pool, tiles
from nst_jax.fast.plan import with_tiles
from nst_jax.paper import losses, vgg

OB = Config(content_weight=1.0, style_weight=1000.0, tv_weight=1e-3).objective("vgg16")


@pytest.fixture(scope="module")
def float64_case():
    """VGG16 (random weights), an image of 213x40 and its targets, all in float64: with
    float64 the strips must agree with the whole image to rounding (~1e-15), so that any
    missing row of context, misplaced crop or pooling offset shows."""
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), vgg.init_params("vgg16"))
        rng = np.random.default_rng(0)
        x, c = (jnp.asarray(rng.normal(0, 50, (213, 40, 3))) for _ in range(2))
        s = jnp.asarray(rng.normal(0, 50, (64, 48, 3)))
        t = losses.make_targets(params, OB, c, s)
        f = lambda x: (lambda r: (r["total"], r))(losses.loss_terms(params, t, x, OB))
        (_, whole), g = jax.value_and_grad(f, has_aux=True)(x)
        yield params, x, c, s, t, whole, g


def test_strips_cover_the_rows_once_from_aligned_starts():
    assert tiles.halo(OB) == 64 and tiles.align(OB) == 16  # VGG16 to relu5_1: 58 rows, rounded up
    assert tiles.halo(Config().objective("vgg19")) == 80  # VGG19: 70 rows
    for height in (16, 100, 213, 512):
        parts = tiles.strips(height, 48, tiles.halo(OB), tiles.align(OB))
        own = np.concatenate([np.arange(s.own, s.own_stop) for s in parts])
        assert np.array_equal(own, np.arange(height))
        assert all(s.start % 16 == 0 and s.own % 16 == 0 and s.start <= s.own for s in parts)


@pytest.mark.slow
@pytest.mark.parametrize("rows", [16, 96])  # thin strips (halos > rows), and two strips
def test_tiled_loss_and_gradient_are_the_whole_images(float64_case, rows):
    params, x, _, _, t, whole, g = float64_case
    with jax.enable_x64(True):
        (total, terms), grad = tiles.value_and_grad(OB, vgg.Ops(), rows)(x, (params, t))
        for k in whole:  # float64: the same sums in another order
            assert float(terms[k]) == pytest.approx(float(whole[k]), rel=1e-12), k
        assert float(total) == pytest.approx(float(whole["total"]), rel=1e-12)
        assert float(jnp.max(jnp.abs(grad - g)) / jnp.max(jnp.abs(g))) < 1e-12


@pytest.mark.slow
def test_too_little_context_is_wrong(float64_case, monkeypatch):
    """The test above can fail: one aligned step of halo less changes the gradient."""
    params, x, _, _, t, _, g = float64_case
    monkeypatch.setattr(tiles, "halo", lambda ob: 48)
    with jax.enable_x64(True):
        _, grad = tiles.value_and_grad(OB, vgg.Ops(), 48)(x, (params, t))
        assert float(jnp.max(jnp.abs(grad - g)) / jnp.max(jnp.abs(g))) > 1e-6


@pytest.mark.slow
def test_tiled_targets_are_make_targets(float64_case):
    """The plan's targets in strips (as the run asks for them) are make_targets'."""
    from nst_jax.fast.plan import Plan
    from nst_jax.paper.losses import Targets

    params, _, c, s, t, _, _ = float64_case
    strips = Plan("cpu", 1, "direct", (), "host", False, False, tile_rows=32)
    assert (
        strips.ops == vgg.Ops(pool.max_pool_2x2, (), pool.max_pool_3x3_s2) and strips.evaluate(OB) is not None
    )
    assert Plan("cpu", 1, "direct", (), "host", False, False).evaluate(OB) is None  # whole
    with jax.enable_x64(True):
        p = strips.content_targets(params, c, OB)
        t2 = Targets(p, strips.style_targets(params, s, c.shape[:2], OB))
        for k in t.content:
            assert float(jnp.max(jnp.abs(t2.content[k] - t.content[k]))) <= 1e-9 * float(
                jnp.max(t.content[k])
            )
        for k in t.style:
            assert float(jnp.max(jnp.abs(t2.style[k] - t.style[k]))) <= 1e-12 * float(jnp.max(t.style[k]))


@pytest.mark.slow
def test_a_tiled_run_is_the_plain_run(real_vgg16, images):
    """End to end, float32, Winograd off at this size: 5 L-BFGS iterations at 160x120 in
    strips of 48 rows (3 strips with halos) give the plain run's losses to 1e-5 (float32
    sums in another order: measured 2e-7 relative)."""
    args = (images / "tubingen.jpg", images / "starry_night.jpg")
    kw = dict(progress=False, size=160, model="vgg16", weights=real_vgg16, iters=5, num_scales=1)
    plain, tiled = stylize(*args, **kw, tile="off"), stylize(*args, **kw, tile="48")
    assert tiled.info["plan"]["tile_rows"] == 48 and tiled.info["plan"]["loop"] == "host"
    assert len(plain.history) == len(tiled.history) == 6
    for a, b in zip(plain.history, tiled.history):
        assert b["total"] == pytest.approx(a["total"], rel=1e-5)


def test_the_plan_tiles_only_what_does_not_fit():
    cfg = Config(model="vgg19").validate()
    p = plan(cfg, "vgg19", 4096 * 3072)
    need = lambda rows: 28 * 2**30 if rows == 0 else 4 * 2**30 + rows * 2**23  # bytes, made up
    assert with_tiles(p, cfg, "vgg19", 3072, need, 40 * 2**30, False).tile_rows == 0  # it fits whole
    tiled = with_tiles(p, cfg, "vgg19", 3072, need, 20 * 2**30, False)
    # the fewest strips whose estimate fits in TILE_FILL (0.75) of 20 GiB: 1536 rows need 16 GiB
    # (2 strips: too much), 1024 rows 12 GiB (3 strips)
    assert tiled.tile_rows == 1024 and tiled.loop == "host"
    assert with_tiles(p, cfg, "vgg19", 3072, need, 20 * 2**30, True).tile_rows == 0  # masks: no strips
    w2 = Config(model="vgg19", style_loss="w2").validate()
    assert (
        with_tiles(plan(w2, "vgg19", 4096 * 3072), w2, "vgg19", 3072, need, 20 * 2**30, False).tile_rows == 0
    )


@pytest.mark.parametrize(
    "options, guided, why",
    [
        (dict(style_loss="sliced"), False, "sliced style loss"),
        (dict(optimizer="optax-lbfgs"), False, "optax-lbfgs"),
        ({}, True, "masked"),
        (dict(model="resnet50"), False, "receptive field"),
    ],
)
def test_strips_asked_for_where_they_cannot_be_are_refused(options, guided, why):
    model = options.pop("model", "vgg19")
    cfg = Config(model=model, tile="512", **options).validate()
    with pytest.raises(NstError, match=why):
        plan(cfg, model, 1024 * 768, guided=guided)


def test_bad_tile_values_are_refused():
    for bad in ("0", "-5", "many"):
        with pytest.raises(NstError, match="--tile takes auto, off or rows per strip"):
            Config(tile=bad).validate()
    assert plan(Config(model="vgg19", tile="500").validate(), "vgg19", 1024 * 768).tile_rows == 512  # aligned
