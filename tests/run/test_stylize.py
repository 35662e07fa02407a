"""stylize.py: the Python API, its log, intermediate images, alpha, NaN and memory checks.

These use a small synthetic VGG16 file so that each run compiles and finishes in seconds;
test_e2e.py runs the real weights.
"""

import json

import h5py
import numpy as np
import numpy_ref
import pytest
from PIL import Image

import nst_jax
from nst_jax import NstError
from nst_jax.io import image_files
from nst_jax.paper import image as im

# optax's L-BFGS runs on the device loop, a while_loop XLA:CPU compiles and runs slowly
OPTAX_LBFGS = pytest.param("optax-lbfgs", marks=pytest.mark.slow)


def run(small_vgg16, content, style, **kw):
    kw.setdefault("size", 40)
    kw.setdefault("iters", 4)
    return nst_jax.stylize(content, style, weights=str(small_vgg16), progress=False, **kw)


def load_params(path):
    params = {}
    with h5py.File(path) as f:
        for name in f.attrs["layer_names"]:
            name = name.decode()
            if "_conv" in name:
                b, i = name[5:].split("_conv")
                params[f"conv{b}_{i}"] = {
                    "kernel": f[name][f"{name}_W_1:0"][()],
                    "bias": f[name][f"{name}_b_1:0"][()],
                }
    return params


def test_log_reports_the_loss_numpy_computes(small_vgg16, photo, painting, tmp_path):
    """Iteration 0 of the log is the init image; its terms equal the paper's formulas
    evaluated in float64 NumPy, with the file read by h5py directly."""
    init = tmp_path / "init.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 40, 3), np.uint8)).save(init)
    opts = dict(
        content_weight=2.0,
        style_weight=1e2,
        tv_weight=1e-2,
        init=str(init),
        style_size=48,
        content_layers=("relu3_2",),
    )
    r = run(small_vgg16, photo, painting, log=tmp_path / "log.json", **opts)
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["history"] == r.history
    first = log["history"][0]
    assert first["iteration"] == 0 and first["evaluations"] == 1 and first["seconds"] == 0

    def prep(path):  # RGB 0..255 -> BGR minus the ImageNet mean, written out here
        return np.asarray(Image.open(path).convert("RGB"), np.float64)[..., ::-1] - [103.939, 116.779, 123.68]

    params = load_params(small_vgg16)
    fx, fc, fs = (numpy_ref.vgg_features(params, prep(p), "vgg16", "max") for p in (init, photo, painting))
    c = numpy_ref.content(fx["relu3_2"], fc["relu3_2"])
    s = sum(
        0.2 * numpy_ref.style_layer(fx[n], numpy_ref.style_target(fs[n], fx[n]))
        for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    )
    t = numpy_ref.tv(prep(init))
    # float32 network against float64: 1e-4 relative (see test_vgg)
    assert first["content"] == pytest.approx(c, rel=1e-4)
    assert first["style"] == pytest.approx(s, rel=1e-4)
    assert first["tv"] == pytest.approx(t, rel=1e-4)
    assert first["total"] == pytest.approx(2 * c + 1e2 * s + 1e-2 * t, rel=1e-4)


def test_log_reports_the_octaves_numpy_computes(small_vgg16, photo, painting, tmp_path):
    """--octaves 2: iteration 0's terms are the mean of Eq. 1 and Eq. 5 at the image and at
    its REDUCE against the photo and painting reduced alike (the reduced content scaled by
    the pixel ratio), each in float64 NumPy from the file; TV stays the image's own: the
    run wires the octaves' targets to the right sizes."""
    init = tmp_path / "init.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 40, 3), np.uint8)).save(init)
    opts = dict(
        content_weight=2.0, style_weight=1e2, tv_weight=1e-2, style_size=48, octaves=2, init=str(init)
    )
    r = run(small_vgg16, photo, painting, **opts)

    def prep(path):  # RGB 0..255 -> BGR minus the ImageNet mean, written out here
        return np.asarray(Image.open(path).convert("RGB"), np.float64)[..., ::-1] - [103.939, 116.779, 123.68]

    params, (x, p, a) = load_params(small_vgg16), (prep(v) for v in (init, photo, painting))
    features = lambda v: numpy_ref.vgg_features(params, v, "vgg16", "max")
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    e = lambda fx, fs: sum(
        0.2 * numpy_ref.style_layer(fx[n], numpy_ref.style_target(fs[n], fx[n])) for n in layers
    )
    c = lambda fx, fp: numpy_ref.content(fx["relu4_2"], fp["relu4_2"])
    f0 = [features(v) for v in (x, p, a)]
    f1 = [features(numpy_ref.reduce(v)) for v in (x, p, a)]
    first = r.history[0]
    # float32 network against float64: 1e-4 relative (see test_vgg)
    ratio = (32 * 40) / (16 * 20)  # M_0 / M_1
    assert first["content"] == pytest.approx((c(f0[0], f0[1]) + ratio * c(f1[0], f1[1])) / 2, rel=1e-4)
    assert first["style"] == pytest.approx((e(f0[0], f0[2]) + e(f1[0], f1[2])) / 2, rel=1e-4)
    assert first["tv"] == pytest.approx(numpy_ref.tv(x), rel=1e-4)
    assert first["total"] == pytest.approx(
        2 * first["content"] + 1e2 * first["style"] + 1e-2 * first["tv"], rel=1e-5
    )
    assert r.history[-1]["total"] < first["total"]
    plain = run(small_vgg16, photo, painting, **dict(opts, octaves=1))
    assert (
        plain.history[0]["style"] == pytest.approx(e(f0[0], f0[2]), rel=1e-4) and plain.history != r.history
    )


def test_the_memory_estimate_counts_the_octaves_the_run_uses(small_vgg16, photo, painting):
    """--octaves 3 at 64x51 with a 40 px style: the third copies (16x12, 10x10) would be below
    VGG's 16 px, so the run uses two octaves, and the estimate counts two, not three."""
    opts = dict(size=64, style_size=40, iters=0)
    est = lambda k: run(small_vgg16, photo, painting, octaves=k, **opts).info["estimated_memory"]
    assert est(3) == est(2) > est(1)


def test_result_history_and_log_schema(small_vgg16, photo, painting, tmp_path):
    r = run(
        small_vgg16,
        photo,
        painting,
        iters=5,
        log=tmp_path / "log.json",
        output=tmp_path / "out.png",
        optimizer="adam",
    )
    assert r.image.dtype == np.uint8 and r.image.shape == (32, 40, 3)
    assert [h["iteration"] for h in r.history] == list(range(6))
    assert [h["evaluations"] for h in r.history] == list(range(1, 7))  # Adam: one per step
    assert all(
        set(h) == {"iteration", "evaluations", "seconds", "total", "content", "style", "tv", "scale"}
        for h in r.history
    )
    seconds = [h["seconds"] for h in r.history]
    assert seconds == sorted(seconds)
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["config"]["iters"] == 5 and log["config"]["model"] == "vgg16"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), r.image)
    assert r.info["stop"] == "iterations" and r.info["iterations"] == 5
    assert r.history[-1]["total"] < r.history[0]["total"]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", OPTAX_LBFGS, "scipy-lbfgsb"])
def test_save_every_writes_intermediates(small_vgg16, photo, painting, tmp_path, optimizer):
    run(small_vgg16, photo, painting, iters=7, save_every=3, output=tmp_path / "out.png", optimizer=optimizer)
    assert sorted(p.name for p in tmp_path.glob("out*.png")) == ["out.png", "out_00003.png", "out_00006.png"]


def test_inputs_as_arrays_and_pil(small_vgg16, photo, painting):
    a = np.asarray(Image.open(photo))
    r1 = run(small_vgg16, a, Image.open(painting), iters=2)
    r2 = run(small_vgg16, photo, painting, iters=2)
    assert np.array_equal(r1.image, r2.image)  # same inputs, same deterministic run


def test_noise_init_is_seeded(small_vgg16, photo, painting):
    a, b, c = (run(small_vgg16, photo, painting, iters=1, init="noise", seed=s).image for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_rgba_content_keeps_alpha(small_vgg16, painting, tmp_path):
    rgba = np.zeros((32, 40, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[:, 20:, 3] = 255  # right half opaque
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    r = run(small_vgg16, tmp_path / "a.png", painting, output=tmp_path / "out.png")
    assert r.image.shape == (32, 40, 4)
    assert r.image[:, :18, 3].max() == 0 and r.image[:, 22:, 3].min() == 255
    assert Image.open(tmp_path / "out.png").mode == "RGBA"
    with pytest.raises(NstError, match="alpha"):
        run(small_vgg16, tmp_path / "a.png", painting, output=tmp_path / "out.jpg")


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", OPTAX_LBFGS, "scipy-lbfgsb"])
def test_nonfinite_loss_stops_and_writes_no_nonfinite_image(
    small_vgg16, photo, painting, tmp_path, optimizer
):
    # a loss weight near float32's largest value makes the loss overflow to inf at once
    with pytest.warns(UserWarning, match="starting image is not finite"):
        r = run(
            small_vgg16, photo, painting, style_weight=3e38, output=tmp_path / "o.png", optimizer=optimizer
        )
    assert r.info["stop"] == "nonfinite" and r.info["iterations"] == 0
    content = im.to_uint8(im.resize(image_files.load_image(photo)[0], 32, 40))
    assert np.array_equal(r.image, content)  # the init image, returned: its loss is not finite,
    assert not (tmp_path / "o.png").exists() and r.info["wrote"] == []  # so it is not written


@pytest.mark.slow
def test_bad_options_fail_before_any_work(small_vgg16, photo, painting, tmp_path):
    with pytest.raises(NstError, match="unknown option"):
        run(small_vgg16, photo, painting, colour=True)
    with pytest.raises(NstError, match="refusing to overwrite"):
        run(small_vgg16, photo, painting, output=photo)
    with pytest.raises(NstError, match="needs about .* GiB"):
        run(small_vgg16, photo, painting, size=60000)
    with pytest.raises(NstError, match="one weight per layer"):
        run(small_vgg16, photo, painting, style_layer_weights=(1.0,))
    with pytest.raises(NstError, match="--init"):
        run(small_vgg16, photo, painting, init="nothing.png")
    with pytest.raises(NstError, match="does not exist"):
        run(small_vgg16, photo, painting, log=tmp_path / "missing" / "log.json")
    with pytest.raises(NstError, match="should end in .json"):
        run(small_vgg16, photo, painting, log=tmp_path / "log.txt")


@pytest.mark.parametrize("optimizer", ["lbfgs", OPTAX_LBFGS, "scipy-lbfgsb", "adam"])
def test_every_optimizer_logs_and_respects_max_evals(small_vgg16, photo, painting, optimizer):
    r = run(small_vgg16, photo, painting, iters=50, max_evals=12, optimizer=optimizer)
    h = r.history
    assert [x["iteration"] for x in h] == list(range(len(h))) and h[0]["evaluations"] == 1
    assert all(b["evaluations"] > a["evaluations"] for a, b in zip(h, h[1:]))
    # SciPy and optax check the budget only between line searches: they may pass it by a few
    assert r.info["evaluations"] <= 12 + (4 if optimizer in ("scipy-lbfgsb", "optax-lbfgs") else 0)
    assert r.info["stop"] in ("max_evals", "iterations")
    assert h[-1]["total"] < 0.8 * h[0]["total"]
    if optimizer in ("lbfgs", "scipy-lbfgsb"):  # line searches with sufficient decrease
        assert all(b["total"] <= a["total"] for a, b in zip(h, h[1:]))


def test_scipy_keeps_pixels_in_range_and_lbfgs_options(small_vgg16, photo, painting):
    r = run(small_vgg16, photo, painting, iters=5, optimizer="lbfgs", line_search="armijo", lbfgs_memory=3)
    assert r.info["config"]["line_search"] == "armijo" and r.info["iterations"] == 5
    with pytest.raises(NstError, match="lbfgs-memory"):
        run(small_vgg16, photo, painting, lbfgs_memory=0)
    with pytest.raises(NstError, match="unknown --optimizer .sgd.; use one of"):
        run(small_vgg16, photo, painting, optimizer="sgd")


def test_scipy_missing_says_how_to_install(small_vgg16, photo, painting, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import fails as if absent
    with pytest.raises(NstError, match=r"pip install 'nst_jax\[scipy\]'"):
        run(small_vgg16, photo, painting, optimizer="scipy-lbfgsb")


def test_blend_weights_1_0_give_the_single_style_result(small_vgg16, photo, painting, tmp_path):
    other = tmp_path / "other.png"
    Image.fromarray(np.full((40, 40, 3), (20, 200, 90), np.uint8)).save(other)
    single = run(small_vgg16, photo, painting)
    both = run(small_vgg16, photo, [painting, other], style_blend=(1.0, 0.0))
    np.testing.assert_array_equal(both.image, single.image)
    assert both.info["style_blend"] == [1.0, 0.0]
    # weights are normalised: (2, 2) is (0.5, 0.5); and the other style changes the result
    half = run(small_vgg16, photo, [painting, other], style_blend=(0.5, 0.5))
    np.testing.assert_array_equal(
        run(small_vgg16, photo, [painting, other], style_blend=(2.0, 2.0)).image, half.image
    )
    assert not np.array_equal(half.image, single.image)


def test_blended_targets_are_the_weighted_gram_matrices(small_vgg16, photo, painting, tmp_path):
    from nst_jax.io import weights as wt
    from nst_jax.paper import losses

    model, params = wt.load_weights(small_vgg16)
    ob = nst_jax.Config(model=model, style_layers=("relu1_1", "relu2_1")).objective(model)
    a, b = (
        im.preprocess(np.random.default_rng(k).uniform(0, 255, (24, 20, 3)).astype(np.float32))
        for k in (1, 2)
    )
    c = im.preprocess(image_files.load_image(photo)[0])
    t1, t2 = losses.make_targets(params, ob, c, a), losses.make_targets(params, ob, c, b)
    blended = losses.blend_targets([t1, t2], (0.7, 0.3), ob)
    for name in ("relu1_1", "relu2_1"):
        fa = numpy_ref.vgg_features(params, a, model, "max")[name]
        fb = numpy_ref.vgg_features(params, b, model, "max")[name]
        fc = numpy_ref.vgg_features(params, c, model, "max")[name]  # the output's size
        ref = 0.7 * numpy_ref.style_target(fa, fc) + 0.3 * numpy_ref.style_target(fb, fc)
        np.testing.assert_allclose(blended.style[name], ref, rtol=1e-4, atol=1e-3 * np.abs(ref).max())


def test_style_blend_errors_are_one_line(small_vgg16, photo, painting, capsys):
    with pytest.raises(NstError, match="2 weights for 1 style"):
        run(small_vgg16, photo, painting, style_blend=(0.5, 0.5))
    with pytest.raises(NstError, match="finite sum above 0"):
        run(small_vgg16, photo, [painting, painting], style_blend=(0.0, 0.0))
    from nst_jax.cli.app import main

    code = main(
        [
            str(photo),
            f"{painting},{painting}",
            "--style-blend",
            "1,2,3",
            "--weights",
            str(small_vgg16),
            "--size",
            "40",
            "--iters",
            "1",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "3 weights for 2 style images" in err[0]


def test_style_scale_sizes_the_style_relative_to_the_output(small_vgg16, photo, painting):
    r = run(small_vgg16, photo, painting, size=40, iters=1, style_scale=0.5)
    assert max(r.info["style_sizes"][0]) == 20 and max(r.info["size"]) == 40
    with pytest.raises(NstError, match="give one of them"):
        run(small_vgg16, photo, painting, style_scale=0.5, style_size=30)
    with pytest.raises(NstError, match="style-scale must be a positive"):
        run(small_vgg16, photo, painting, style_scale=0.0)


@pytest.mark.slow
def test_remat_and_tf32_on_cpu_give_the_same_run(small_vgg16, photo, painting):
    plain = run(small_vgg16, photo, painting, iters=5)
    for options in ({"remat": True}, {"precision": "tf32"}):
        other = run(small_vgg16, photo, painting, iters=5, **options)
        # remat recomputes the same float32 operations; XLA may fuse them differently, so
        # allow float32 rounding (~1e-7 relative) amplified by 5 L-BFGS steps
        assert [h["total"] for h in other.history] == pytest.approx(
            [h["total"] for h in plain.history], rel=1e-4
        )
        assert np.abs(other.image.astype(int) - plain.image).max() <= 1


@pytest.mark.slow
def test_winograd_run_matches_direct(small_vgg16, photo, painting):
    # the whole run with Winograd convolutions (conv3_2 on) against all direct (the test
    # images are below auto's size threshold, so both are asked for by name). Winograd
    # adds ~1e-5 relative rounding to the deep features (test_winograd.py); over 5
    # L-BFGS steps the loss history stays within 1e-3 and the image within 1 level
    direct = run(small_vgg16, photo, painting, iters=5, conv="direct")
    fast = run(small_vgg16, photo, painting, iters=5, conv="winograd")
    assert [h["total"] for h in fast.history] == pytest.approx([h["total"] for h in direct.history], rel=1e-3)
    assert np.abs(fast.image.astype(int) - direct.image).max() <= 1


@pytest.mark.slow
def test_bf16_precision_runs_close_to_float32(small_vgg16, photo, painting):
    plain = run(small_vgg16, photo, painting, iters=3, optimizer="adam")
    bf16 = run(small_vgg16, photo, painting, iters=3, optimizer="adam", precision="bf16")
    # bfloat16 keeps 8 significant bits: ~0.4% per value, a few % on a sum of squares
    assert bf16.history[0]["total"] == pytest.approx(plain.history[0]["total"], rel=0.05)
    assert bf16.history[0]["total"] != plain.history[0]["total"]  # it did change the arithmetic
    with pytest.raises(NstError, match="unknown --precision"):
        run(small_vgg16, photo, painting, precision="fp8")


def test_scale_sizes_and_their_errors(small_vgg16, photo, painting):
    from nst_jax.config import Config

    assert Config(size=512, num_scales=3).sizes() == (256, 362, 512)  # sqrt(2) apart
    assert Config(size=512, num_scales=1).sizes() == (512,)
    assert Config(size=512, scales=(200, 512)).sizes() == (200, 512)
    for options, message in (
        ({"scales": (20, 30)}, "last of --scales"),
        ({"scales": (40, 20, 40)}, "increasing"),
        ({"scales": (20, 40), "num_scales": 2}, "give one of them"),
        ({"num_scales": 0}, "num-scales must be"),
        ({"num_scales": 2, "scale_iters": (3,)}, "one count"),
    ):
        with pytest.raises(NstError, match=message):
            run(small_vgg16, photo, painting, **options)


@pytest.mark.slow
def test_multi_scale_runs_coarse_to_fine(small_vgg16, photo, painting, tmp_path):
    r = run(
        small_vgg16,
        photo,
        painting,
        size=40,
        scales=(20, 40),
        scale_iters=(3, 4),
        output=tmp_path / "out.png",
        log=tmp_path / "log.json",
    )
    assert r.image.shape == (32, 40, 3) and r.info["scales"] == [[20, 16], [40, 32]]
    assert [h["scale"] for h in r.history] == [0] * 4 + [1] * 5
    assert r.info["iterations"] == 7
    evals, seconds = [h["evaluations"] for h in r.history], [h["seconds"] for h in r.history]
    assert evals == sorted(evals) and seconds == sorted(seconds)  # counted from the start
    # the fine scale starts from the coarse result, not from the content photo
    single = run(small_vgg16, photo, painting, size=40, iters=4)
    assert r.history[4]["total"] < single.history[0]["total"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), r.image)
    one = run(small_vgg16, photo, painting, size=40, iters=4, num_scales=1)
    assert np.array_equal(one.image, single.image)  # one scale is the plain run


@pytest.fixture
def stripes(tmp_path):
    """A second, very different style: hard vertical stripes."""
    a = np.zeros((48, 48, 3), np.uint8)
    a[:, ::6] = a[:, 1::6] = a[:, 2::6] = [20, 240, 240]
    Image.fromarray(a).save(tmp_path / "stripes.png")
    return tmp_path / "stripes.png"


def halves(tmp_path, hw=(32, 40)):
    """Left and right masks, white where the style applies."""
    left = np.zeros(hw, np.uint8)
    left[:, : hw[1] // 2] = 255
    paths = tmp_path / "left.png", tmp_path / "right.png"
    Image.fromarray(left).save(paths[0])
    Image.fromarray(255 - left).save(paths[1])
    return paths


def region_losses(small_vgg16, image, styles, masks):
    """{(region, style): guided style loss of `image` in that region against that style},
    in float64 NumPy over relu1_1..relu3_1 (the photo's 40x32 has 10x8 positions there)."""
    params = load_params(small_vgg16)
    prep = lambda a: a[..., ::-1] - np.array([103.939, 116.779, 123.68])
    fx = numpy_ref.vgg_features(params, prep(image.astype(np.float64)), "vgg16", "max")
    out = {}
    for s_name, style in styles.items():
        fs = numpy_ref.vgg_features(
            params, prep(im.resize(image_files.load_image(style)[0], 40, 40)), "vgg16", "max"
        )
        for r_name, mask in masks.items():
            t = np.asarray(Image.open(mask).convert("L"), np.float64)[..., None] / 255
            total = 0.0
            for n in ("relu1_1", "relu2_1", "relu3_1"):
                guide = t
                for _ in range(int(n[4]) - 1):  # the network's 2x2 average, as losses.py
                    guide = guide.reshape(guide.shape[0] // 2, 2, guide.shape[1] // 2, 2, 1).mean(axis=(1, 3))
                a = numpy_ref.style_target(fs[n], fx[n])[None]
                total += numpy_ref.guided_style_layer(fx[n], a, guide, [1.0])
            out[r_name, s_name] = total
    return out


@pytest.mark.slow
def test_each_region_carries_its_own_style(small_vgg16, photo, painting, stripes, tmp_path):
    """Two styles in two halves, then swapped: in every run each half is closer to the
    style it was given than to the other one (whatever the photo itself resembles)."""
    left, right = halves(tmp_path)
    styles = {"painting": painting, "stripes": stripes}
    for order in (("painting", "stripes"), ("stripes", "painting")):
        r = run(
            small_vgg16,
            photo,
            [styles[order[0]], styles[order[1]]],
            style_masks=[left, right],
            iters=30,
            style_weight=1e4,
            style_layers=("relu1_1", "relu2_1", "relu3_1"),
        )
        assert r.info["style_masks"] == [str(left), str(right)]
        loss = region_losses(small_vgg16, r.image, styles, {"left": left, "right": right})
        assert loss["left", order[0]] < loss["left", order[1]], (order, loss)
        assert loss["right", order[1]] < loss["right", order[0]], (order, loss)


def test_one_white_mask_is_the_unmasked_run(small_vgg16, photo, painting, tmp_path):
    white = tmp_path / "white.png"
    Image.fromarray(np.full((64, 80), 255, np.uint8)).save(white)  # same shape, other size
    plain = run(small_vgg16, photo, painting, iters=2)
    masked = run(small_vgg16, photo, painting, iters=2, style_masks=[white])
    # Eq. 4 either way, computed in another order: float32 rounding only
    for a, b in zip(plain.history, masked.history):
        assert a["style"] == pytest.approx(b["style"], rel=1e-4)
    assert np.abs(plain.image.astype(int) - masked.image).max() <= 1


def test_style_mask_errors_are_one_line(small_vgg16, photo, painting, tmp_path):
    left, right = halves(tmp_path)
    with pytest.raises(NstError, match="2 style mask.*1 style image"):
        run(small_vgg16, photo, painting, style_masks=[left, right])
    tall = tmp_path / "tall.png"
    Image.fromarray(np.full((40, 20), 255, np.uint8)).save(tall)
    with pytest.raises(NstError, match="aspect ratio"):
        run(small_vgg16, photo, painting, style_masks=[tall])
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((32, 40), np.uint8)).save(black)
    with pytest.raises(NstError, match="black everywhere"):
        run(small_vgg16, photo, painting, style_masks=[black])


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["w2", "sliced", "meanstd"])
def test_each_style_loss_runs_with_every_style_option(small_vgg16, photo, painting, stripes, tmp_path, loss):
    """Regions, blends, colour preservation, normalised weights and coarse to fine with
    each distance: every run lowers its own loss and logs the distance used."""
    left, right = halves(tmp_path)
    common = dict(style_loss=loss, iters=6, size=40)
    runs = [
        run(small_vgg16, photo, [painting, stripes], style_masks=[left, right], **common),
        run(
            small_vgg16,
            photo,
            [painting, stripes],
            style_blend=(0.7, 0.3),
            preserve_colors="luminance",
            **common,
        ),
        run(small_vgg16, photo, painting, normalize_weights=True, preserve_colors="histogram", **common),
        run(small_vgg16, photo, painting, scales=(32, 40), style_scale=0.5, **common),
    ]
    for r in runs:
        assert r.info["config"]["style_loss"] == loss
        totals = [h["total"] for h in r.history if h["scale"] == r.history[-1]["scale"]]
        assert np.isfinite(totals).all() and totals[-1] < totals[0]


@pytest.mark.slow
def test_one_white_mask_is_the_unmasked_run_for_each_style_loss(small_vgg16, photo, painting, tmp_path):
    white = tmp_path / "white.png"
    Image.fromarray(np.full((32, 40), 255, np.uint8)).save(white)
    for loss in ("w2", "sliced", "meanstd"):
        plain = run(small_vgg16, photo, painting, iters=2, style_loss=loss)
        masked = run(small_vgg16, photo, painting, iters=2, style_masks=[white], style_loss=loss)
        # at the start the same distance computed with weights 1 (sliced: interpolated at its
        # own levels): float32 rounding only. (Later steps differ more for sliced: tied
        # projections get their places' mean gradient unmasked, one tie order masked)
        assert plain.history[0]["style"] == pytest.approx(masked.history[0]["style"], rel=1e-4), loss
        assert plain.history[-1]["style"] == pytest.approx(masked.history[-1]["style"], rel=1e-2), loss


def test_ema_returns_the_average_of_the_iterates(small_vgg16, photo, painting, tmp_path):
    """The output is the debiased moving average of the images a plain run goes through
    (read back from its intermediate images), and its loss is the last history row."""
    opts = dict(optimizer="adam", lr=20.0, iters=4, save_every=1)
    run(small_vgg16, photo, painting, output=tmp_path / "plain.png", **opts)
    r = run(small_vgg16, photo, painting, output=tmp_path / "ema.png", ema=0.5, **opts)
    xs = [np.asarray(Image.open(tmp_path / f"plain_{k:05d}.png"), np.float64) for k in range(1, 5)]
    ref = sum(0.5 * 0.5 ** (4 - k) * x for k, x in enumerate(xs, 1)) / (1 - 0.5**4)
    # the plain iterates were rounded to uint8 before averaging here: 1 level of slack
    assert np.abs(r.image - ref).max() <= 1.0
    assert np.abs(r.image.astype(int) - xs[-1]).max() > 5  # and it is not the last iterate
    assert r.history[-1]["evaluations"] == r.history[-2]["evaluations"] + 1


def test_a_second_run_compiles_nothing(small_vgg16, photo, painting, tmp_path, compilations):
    """The same run again in the same process (a notebook's second stylize()) traces and
    compiles nothing: every piece is built once (losses' targets at module level, the
    loop's from loop.programs) and jit's cache serves it; coarse to fine, with a log (its
    score) and Adam's box. The result is the first's, bit for bit (the same programs)."""
    opts = dict(scales=(32, 40), scale_iters=(3, 2), optimizer="adam")
    first = run(small_vgg16, photo, painting, log=tmp_path / "a.json", **opts)
    before = compilations()
    second = run(small_vgg16, photo, painting, log=tmp_path / "b.json", **opts)
    assert compilations() == before, "(traced, compiled) before and after the second run"
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in second.history] == [
        {k: v for k, v in h.items() if k != "seconds"} for h in first.history
    ]
    np.testing.assert_array_equal(second.image, first.image)
    assert second.info["compile_seconds"] < 0.5 * first.info["compile_seconds"]
