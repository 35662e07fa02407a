"""config.py: every option declared once, with its help; validation; settled defaults."""

import dataclasses

import pytest

from nst_jax import NstError, config
from nst_jax.config import NORMALIZED_STYLE_WEIGHT, SECTIONS, SIZE, STYLE_WEIGHT, Config


def test_every_field_has_its_help_and_sections_name_fields():
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for f in fields.values():
        assert len(f.metadata["help"]) > 10, f.name
    assert set(SECTIONS) <= set(fields)


@pytest.mark.parametrize(
    "field", [f for f in dataclasses.fields(Config) if f.metadata["choices"]], ids=lambda f: f.name
)
def test_every_choice_is_checked(field):
    for value in field.metadata["choices"]:
        options = {field.name: value}
        if field.name == "precision" and value == "bf16":
            options["conv"] = "direct"
        Config(**options).validate()
    with pytest.raises(NstError, match=f"unknown --{field.name.replace('_', '-')} 'bogus'; use one of"):
        Config(**{field.name: "bogus"}).validate()


def test_the_defaults_that_depend_on_other_fields():
    """The options stay as given; the size and beta they imply are read from them (the
    run settles them once: run/settings.py)."""
    assert Config().validate().size is None and Config().side == SIZE
    assert Config(scales=(128, 300)).side == 300
    assert Config().beta("vgg19") == STYLE_WEIGHT
    assert Config(normalize_weights=True).beta("vgg19") == NORMALIZED_STYLE_WEIGHT
    assert Config(style_weight=7.0).beta("resnet50") == 7.0
    assert Config(size=512, num_scales=3).sizes() == (256, 362, 512)  # sqrt(2) apart
    # the style term's octaves at each scale: one per halving down to 256 px, or as given
    assert [Config().octave_count(s) for s in (256, 362, 512, 1024)] == [1, 1, 2, 3]
    assert Config(octaves=1).octave_count(1024) == 1


def test_the_default_balance_is_carried_to_any_size():
    """beta(s) = beta_256 (s / 256)^2 (README, Image size); an explicit weight is Gatys'
    literal beta at every size."""
    for size in (64, 128, 256, 362, 512, 1024):
        assert Config(size=size).beta("vgg16") == pytest.approx(STYLE_WEIGHT * (size / 256) ** 2)
        normalized = Config(size=size, normalize_weights=True).beta("vgg16")
        assert normalized == pytest.approx(NORMALIZED_STYLE_WEIGHT * (size / 256) ** 2)
        explicit = Config(size=size, style_weight=300.0).validate()
        assert explicit.beta("vgg16") == 300.0 and explicit.objective("vgg16").style_weight == 300.0
    assert Config(scales=(256, 512)).beta("vgg19") == pytest.approx(4 * STYLE_WEIGHT)  # the output's


def test_coarse_to_fine_by_default_above_256_px():
    """One scale per doubling of the pixels from 256 px (README, Image size); iters at the
    first scale, iters / 4 at each finer one; --num-scales 1 opts out."""
    ladders = {
        128: (128,),
        256: (256,),
        300: (300,),
        304: (304,),
        305: (216, 305),  # half a doubling of the pixels above 256: two scales
        362: (256, 362),
        512: (256, 362, 512),
        1024: (256, 362, 512, 724, 1024),
    }
    for size, ladder in ladders.items():
        cfg = Config(size=size).validate()
        assert cfg.sizes() == ladder, size
        assert cfg.iterations() == (200,) + (50,) * (len(ladder) - 1)
    assert Config(size=1024, num_scales=1).validate().sizes() == (1024,)
    assert Config(size=512, iters=0).validate().iterations() == (0, 0, 0)  # scoring: no steps
    assert Config(size=512, scale_iters=(5, 6, 7)).validate().iterations() == (5, 6, 7)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"chunk": 0}, "--chunk must be >= 1"),
        ({"lbfgs_memory": 0}, "--lbfgs-memory must be >= 1"),
        ({"iters": -1}, "--iters must be >= 0"),
        ({"ema": 1.0}, "--ema must be a decay"),
        ({"octaves": 0}, "--octaves must be >= 1"),
        ({"octave_weight": -1.0}, "--octave-weight must be >= 0"),
        ({"octave_weight": float("inf")}, "--octave-weight must be >= 0"),
        ({"lr": float("nan")}, "--lr must be a finite number"),
        ({"content_layers": (), "style_layers": ()}, "no content or style layers"),
        ({"conv": "winograd", "precision": "bf16"}, "needs float32"),
    ],
)
def test_bad_values_are_one_line_errors(options, message):
    with pytest.raises(NstError, match=message):
        Config(**options).validate()


def test_style_losses_have_their_defaults_and_refuse_the_gram_normalisation():
    from nst_jax.config import NORMALIZED_STYLE_WEIGHTS

    assert Config().validate().objective("vgg16").style_loss == "gram"
    for loss, beta in NORMALIZED_STYLE_WEIGHTS.items():
        assert Config(style_loss=loss, normalize_weights=True).beta("vgg19") == beta
    with pytest.raises(NstError, match="--style-normalization sets the Gram loss's denominator; drop it"):
        Config(style_loss="w2", style_normalization="none").validate()
    with pytest.raises(NstError, match="unknown --style-loss 'l1'; use one of: gram, w2, sliced, meanstd"):
        Config(style_loss="l1").validate()


def test_each_model_has_its_own_defaults():
    """Layers, style normalisation and beta are the model's unless given (backbones.py)."""
    from nst_jax.paper import backbones

    for name in backbones.NAMES:
        bb = backbones.get(name)
        cfg = Config(model=name, size=512).validate()
        ob = cfg.objective(name)
        assert [n for n, _ in ob.content_layers] == [bb.resolve(n) for n in bb.content_layers]
        assert [n for n, _ in ob.style_layers] == [bb.resolve(n) for n in bb.style_layers]
        assert ob.style_normalization == bb.style_normalization
        # (512 / 256)^2, or its inverse without the 1/M^2 (Config.beta)
        assert (
            cfg.beta(name)
            == ob.style_weight
            == pytest.approx(bb.style_weights["gram"] * (0.25 if ob.style_normalization == "none" else 4))
        )
        for loss in ("w2", "sliced", "meanstd"):  # averages over positions: (512 / 256)^2
            cfg = Config(model=name, size=512, style_loss=loss).validate()
            assert cfg.beta(name) == pytest.approx(bb.style_weights[loss] * 4)
            assert cfg.objective(name).style_loss == loss
    ob = Config(model="resnet50", style_normalization="gatys", style_layers=("conv3_block1_out",)).objective(
        "resnet50"
    )
    assert ob.style_normalization == "gatys" and ob.style_layers == (("conv3_block1_out", 1.0),)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(remat=True), "--remat is written for VGG, not resnet50; drop --remat"),
        (dict(normalize_weights=True), "--normalize-weights is written for VGG, not resnet50"),
        (dict(conv="winograd"), "--conv winograd is written for VGG, not resnet50; drop --conv"),
        (dict(content_layers=("relu4_2",)), "unknown layer 'relu4_2' for resnet50"),
        (dict(size=24), "--size must be at least 32 px for resnet50, got 24"),
        (dict(style_normalization="l2"), "unknown --style-normalization 'l2'; use one of: gatys, none"),
    ],
)
def test_what_resnet50_refuses(options, message):
    with pytest.raises(NstError, match=message):
        Config(model="resnet50", **options).validate()


def test_a_layer_no_network_has_is_refused_before_the_weights_load():
    with pytest.raises(NstError, match="unknown layer 'relu9_1' for vgg19"):
        Config(style_layers=("relu9_1",)).validate()
    Config(style_layers=("conv4_block1_out",)).validate()  # resnet50's: checked once the model is known


def test_the_help_names_each_networks_defaults_from_its_module():
    """The defaults a network owns (layers, normalisation, beta) are written in its module
    only; the help texts read them from there."""
    from nst_jax.paper import backbones

    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(Config)}
    for name in backbones.NAMES:
        bb = backbones.get(name)
        assert ",".join(bb.content_layers) in helps["content_layers"]
        assert ",".join(bb.style_layers) in helps["style_layers"]
        assert f"{bb.style_weights['gram']:g}" in helps["style_weight"]
        assert bb.style_normalization in helps["style_normalization"]
    assert (
        STYLE_WEIGHT
        == backbones.get("vgg19").style_weights["gram"]
        == backbones.get("vgg16").style_weights["gram"]
    )


@pytest.mark.parametrize("options", [{}, {"scales": (128, 256)}, {"model": "resnet50", "size": 300}])
def test_validate_rewrites_nothing_and_the_settings_are_settled_once(options):
    """validate checks; the options stay what the user gave. run/settings.resolve settles
    the model, the scales, beta and the optimiser from them, once."""
    from nst_jax.optimizers import optim
    from nst_jax.run.settings import OPTIMIZERS, resolve

    c = Config(**options)
    assert c.validate() is c
    s = resolve(c, c.model or "vgg16", 7)
    assert s.options is c and s.sides == c.sizes() and s.iterations == c.iterations()
    assert s.style_weight == c.beta(s.model) and s.optimizer == optim.Spec(optim.lbfgs, (7, "wolfe", 0))
    logged = s.to_dict()
    assert (
        logged["size"] == c.side and logged["style_weight"] == s.style_weight and logged["lbfgs_memory"] == 7
    )
    assert set(OPTIMIZERS) == set(config.OPTIMIZERS)  # one maker per --optimizer choice
