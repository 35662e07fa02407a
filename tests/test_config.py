"""config.py: every option declared once, with its help; validation; settled defaults."""

import dataclasses

import pytest

from nst_jax import NstError
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


def test_validate_settles_the_defaults_that_depend_on_other_fields():
    assert Config().validate().size == SIZE
    assert Config(scales=(128, 300)).validate().size == 300
    assert Config().validate().style_weight == STYLE_WEIGHT
    assert Config(normalize_weights=True).validate().style_weight == NORMALIZED_STYLE_WEIGHT
    assert Config(style_weight=7.0).validate().style_weight == 7.0
    assert Config(size=512, num_scales=3).sizes() == (256, 362, 512)  # sqrt(2) apart


@pytest.mark.parametrize(
    "options, message",
    [
        ({"chunk": 0}, "--chunk must be >= 1"),
        ({"lbfgs_memory": 0}, "--lbfgs-memory must be >= 1"),
        ({"iters": -1}, "--iters must be >= 0"),
        ({"ema": 1.0}, "--ema must be a decay"),
        ({"lr": float("nan")}, "--lr must be a finite number"),
        ({"content_layers": (), "style_layers": ()}, "no content or style layers"),
        ({"conv": "winograd", "precision": "bf16"}, "needs float32"),
    ],
)
def test_bad_values_are_one_line_errors(options, message):
    with pytest.raises(NstError, match=message):
        Config(**options).validate()
