"""color.py: YIQ, luminance matching, colour-statistics matching, and colour-preserving
runs (with the small synthetic VGG16: the properties hold whatever the weights)."""

import numpy as np
import pytest

import nst_jax
from nst_jax.cli.app import main
from nst_jax.io import image_files
from nst_jax.paper import color
from nst_jax.paper import image as im

rng = np.random.default_rng(0)


def correlated_image(shape, mean, mix):
    """Mid-range RGB pixels with correlated channels (no clipping at 0 or 255)."""
    z = rng.normal(size=(*shape, 3)) @ np.asarray(mix, np.float64).T
    return np.asarray(mean) + z


def test_yiq_round_trip_and_gray_has_no_chroma():
    rgb = rng.uniform(0, 255, (7, 9, 3))
    np.testing.assert_allclose(color.yiq_to_rgb(color.rgb_to_yiq(rgb)), rgb, atol=1e-9)
    gray = np.repeat(rng.uniform(0, 255, (5, 5, 1)), 3, axis=2)
    yiq = color.rgb_to_yiq(gray)
    np.testing.assert_allclose(yiq[..., 0], gray[..., 0], atol=1e-9)  # Y weights sum to 1
    np.testing.assert_allclose(yiq[..., 1:], 0, atol=1e-9)


def test_match_colors_gives_the_content_mean_and_covariance():
    content = correlated_image((40, 50), [120, 100, 90], [[12, 3, 0], [4, 10, 2], [1, 2, 8]])
    style = correlated_image((30, 30), [110, 130, 140], [[6, 0, 5], [0, 14, 0], [3, 1, 9]])
    out = color.match_colors(style, content).reshape(-1, 3).astype(np.float64)
    c = content.reshape(-1, 3)
    np.testing.assert_allclose(out.mean(0), c.mean(0), atol=1e-3)  # float32 output
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.cov(c, rowvar=False), rtol=1e-4, atol=1e-3)
    assert out.shape == (900, 3)


def test_match_luminance_gives_the_content_mean_and_spread():
    content, style = rng.uniform(60, 200, (20, 20, 3)), rng.uniform(0, 90, (16, 24, 3))
    y = color.match_luminance(style, content)
    yc = color.rgb_to_yiq(content)[..., 0]
    assert y.shape == (16, 24)
    assert y.mean() == pytest.approx(yc.mean()) and y.std() == pytest.approx(yc.std())


def test_recombine_keeps_the_content_chroma_and_the_result_luminance():
    content, result = rng.uniform(80, 170, (6, 6, 3)), rng.uniform(80, 170, (6, 6, 3))
    out = color.rgb_to_yiq(color.recombine(result, content))
    np.testing.assert_allclose(out[..., 1:], color.rgb_to_yiq(content)[..., 1:], atol=1e-3)
    np.testing.assert_allclose(out[..., 0], color.rgb_to_yiq(result)[..., 0], atol=1e-3)


def stylize(small_vgg16, content, style, **kw):
    return nst_jax.stylize(content, style, weights=str(small_vgg16), progress=False, size=40, iters=6, **kw)


def test_luminance_preservation_keeps_the_content_chroma(small_vgg16, photo, painting):
    plain = stylize(small_vgg16, photo, painting).image.astype(np.float64)
    kept = stylize(small_vgg16, photo, painting, preserve_colors="luminance").image.astype(np.float64)
    rgb = image_files.load_image(photo)[0]
    content = im.resize(rgb, *im.fit_size(*rgb.shape[:2], 40))
    iq = lambda a: color.rgb_to_yiq(a)[..., 1:]
    inside = np.all((kept > 0) & (kept < 255), axis=2)  # clipped pixels cannot keep chroma
    assert inside.mean() > 0.5
    # uint8 rounding moves each channel by <= 0.5: I by <= 0.5 (0.596 + 0.274 + 0.322) = 0.60
    assert np.abs(iq(kept) - iq(content))[inside].max() <= 0.6
    assert np.abs(iq(plain) - iq(content)).max() > 5  # without it, the style's colours come in
    y = lambda a: color.rgb_to_yiq(a)[..., 0]
    assert np.abs(y(kept) - y(content)).mean() > 1  # and the luminance was stylized


def test_histogram_preservation_changes_the_style_target(small_vgg16, photo, painting):
    plain = stylize(small_vgg16, photo, painting)
    matched = stylize(small_vgg16, photo, painting, preserve_colors="histogram")
    assert matched.info["config"]["preserve_colors"] == "histogram"
    # same content, same start: only the recoloured style image can make the difference
    assert matched.history[0]["content"] == plain.history[0]["content"]
    assert matched.history[0]["style"] != pytest.approx(plain.history[0]["style"], rel=1e-3)


def test_unknown_mode_is_a_one_line_error(small_vgg16, photo, painting, capsys):
    with pytest.raises(nst_jax.NstError, match="preserve-colors"):
        stylize(small_vgg16, photo, painting, preserve_colors="sepia")
    assert main([str(photo), str(painting), "--preserve-colors", "sepia"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "preserve-colors" in err[0]
