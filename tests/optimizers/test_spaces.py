"""spaces.py: each parameterisation round-trips, its gradient is the finite differences',
a run in it reports the loss of the same image, and every optimiser and the batch run in it."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import nst_jax
from nst_jax import config
from nst_jax.optimizers import optim, spaces

EACH = [(k, d) for k in spaces.SPACES for d in (False, True)]
RNG = np.random.default_rng(0)
X = RNG.normal(0, 60, (2, 37, 53, 3)).astype(np.float32)  # two odd-sized images, pixel-like scale


def test_the_options_name_every_space():
    assert config.PARAMS == spaces.SPACES


@pytest.mark.parametrize("kind,decorrelate", EACH)
def test_round_trip_and_shapes(kind, decorrelate):
    sp = spaces.space(kind, X.shape[1:3], decorrelate)
    p = spaces.to_params(sp, X)
    assert p.shape == (2, *sp.param_shape())
    # 1e-5 of the images' range: float32 transforms of ~1e4 sums (DCT, resizes) round at ~1e-7
    assert float(jnp.max(jnp.abs(spaces.to_image(sp, p) - X))) <= 1e-5 * float(np.ptp(X))
    one = spaces.to_params(sp, X[1])  # leading axes are batch axes: each image as alone
    np.testing.assert_allclose(np.asarray(one), np.asarray(p[1]), rtol=0, atol=1e-4 * float(np.abs(p).max()))


def test_the_maps_are_what_the_docstring_says():
    sp = spaces.space("pyramid", (96, 63))  # halved (rounding up) while the shorter side stays >= 16
    assert sp.levels() == ((96, 63), (48, 32), (24, 16)) and sp.param_shape() == (
        (96 * 63 + 48 * 32 + 24 * 16) * 3,
    )
    four = spaces.space("fourier", (8, 8))
    w = four.weights()[..., 0]
    assert np.isclose(np.sqrt(np.mean(w**2)), 1.0) and w[0, 0] == w[0, 1] and w[0, 1] > w[3, 3] > w[7, 7]
    # a constant image is the DC coefficient alone; p = DCT(x) / w (orthonormal DCT: sqrt(H W) * mean)
    p = np.asarray(spaces.to_params(four, np.full((8, 8, 3), 2.0, np.float32)))
    assert np.allclose(p[0, 0], 2.0 * 8 / w[0, 0], rtol=1e-5) and np.allclose(
        p.reshape(-1, 3)[1:], 0, atol=1e-4
    )
    # colour: x = C p per pixel, C's largest column norm 1
    assert np.isclose(np.max(np.linalg.norm(spaces.COLOR, axis=0)), 1.0)
    np.testing.assert_allclose(spaces.COLOR @ spaces.COLOR_INV, np.eye(3), atol=1e-5)


def _smooth(x, aux):  # a non-quadratic function of the image, with two terms
    a = jnp.sum(jnp.tanh(x / 50.0) ** 2 * aux)
    b = jnp.sum((x[1:] - x[:-1]) ** 2) * 1e-3
    return a + b, {"total": a + b, "content": a, "style": b, "tv": 0.0 * a}


@pytest.mark.parametrize("kind,decorrelate", EACH)
def test_gradient_matches_finite_differences_in_float64(kind, decorrelate):
    with jax.enable_x64(True):
        x = jnp.asarray(X[0, :19, :21], jnp.float64)
        aux = jnp.asarray(RNG.uniform(0.5, 2.0, x.shape))
        sp = spaces.space(kind, x.shape[:2], decorrelate)
        fun = spaces.InSpace(_smooth, sp)
        p = sp.to_params(x)
        g = jax.grad(lambda p: fun(p, aux)[0])(p)
        for _ in range(3):  # central differences along random directions: O(eps^2) ~ 1e-8 relative
            v = jnp.asarray(RNG.normal(size=p.shape))
            eps = 1e-3
            fd = (fun(p + eps * v, aux)[0] - fun(p - eps * v, aux)[0]) / (2 * eps)
            assert abs(float(jnp.vdot(g, v)) - float(fd)) <= 1e-6 * abs(float(fd)) + 1e-9


@pytest.mark.parametrize("kind,decorrelate", EACH)
def test_the_same_image_has_the_same_loss_and_evaluate_pulls_back(kind, decorrelate):
    sp = spaces.space(kind, X.shape[1:3], decorrelate)
    aux = jnp.ones(X.shape[1:])
    box = (-100.0, -100.0, -100.0), (150.0, 150.0, 150.0)
    problem = optim.Problem(_smooth, ("total", "content", "style", "tv"), *box, evaluate=_evaluate)
    inside = spaces.problem_in(sp, problem)
    p = spaces.to_params(sp, X[0])
    (total, terms), g = inside.evaluate(p, aux)
    (total_x, terms_x), _ = _evaluate(X[0], aux)
    # the same image up to the round trip's float32 rounding (~1e-7 relative per pixel)
    assert np.isclose(float(total), float(total_x), rtol=1e-5)
    assert all(np.isclose(float(terms[k]), float(terms_x[k]), rtol=1e-5, atol=1e-6) for k in terms)
    (_, _), g_direct = jax.value_and_grad(inside.fun, has_aux=True)(p, aux)
    np.testing.assert_allclose(
        np.asarray(g), np.asarray(g_direct), rtol=1e-4, atol=1e-4 * float(jnp.abs(g).max())
    )
    assert (inside.low is None) == (not sp.plain) and (inside is problem) == sp.plain


_evaluate = jax.jit(jax.value_and_grad(_smooth, has_aux=True))  # a Python-called evaluate, as tiles.py's


def run(small_vgg16, photo, painting, **kw):
    return nst_jax.stylize(photo, painting, weights=str(small_vgg16), progress=False, size=48, **kw)


@pytest.mark.parametrize("param,decorrelate,optimizer", [
    ("pyramid", False, "lbfgs"), ("fourier", True, "lbfgs"), ("fourier", False, "adam"),
    ("pyramid", True, "scipy-lbfgsb"), ("pixels", True, "optax-lbfgs"),
])  # fmt: skip
def test_a_run_in_a_space_reports_the_images_loss(
    small_vgg16, photo, painting, param, decorrelate, optimizer
):
    """Iteration 0 is the content image in every space: the same loss as in pixels; every
    optimiser then lowers it (the image returned: test_the_loop_maps_every_image_back)."""
    base = run(small_vgg16, photo, painting, iters=0)
    r = run(small_vgg16, photo, painting, iters=6, param=param, decorrelate=decorrelate, optimizer=optimizer)
    first, last = r.history[0], r.history[-1]
    assert np.isclose(first["total"], base.history[0]["total"], rtol=1e-4)  # (round trip's rounding)
    assert last["total"] < first["total"] and r.image.shape == base.image.shape


@pytest.mark.parametrize("kind,decorrelate", [("pyramid", True), ("fourier", False)])
def test_the_loop_maps_every_image_back(kind, decorrelate):
    """loop.run in a space: the monitor is shown images, and the image returned is the one
    whose loss the last row reports (to float32 rounding of the round trip)."""
    from nst_jax.run import loop
    from nst_jax.run.monitor import Monitor
    from nst_jax.run.settings import Steps

    seen = []

    class Watch(Monitor):
        def reached(self, iteration, x):
            seen.append(np.shape(x))
            return super().reached(iteration, x)

    x0, aux = X[0], jnp.asarray(RNG.uniform(0.5, 2.0, X.shape[1:]), jnp.float32)
    problem = optim.Problem(_smooth, ("total", "content", "style", "tv"))
    spec = optim.Spec(optim.lbfgs, (5, "wolfe", 0), (kind, decorrelate))
    with Watch(Steps(6, 2, 0, 0.0), None, None, False, lambda x: x) as monitor:
        out = loop.run(problem, aux, x0, spec, Steps(6, 2, 0, 0.0), "host", monitor)
    assert out.x.shape == x0.shape and set(seen) == {x0.shape}
    last = monitor.rows(0)[-1]
    assert out.iterations == 6 and last["iteration"] == 6 and last["total"] < monitor.rows(0)[0]["total"]
    assert np.isclose(float(_smooth(jnp.asarray(out.x), aux)[0]), last["total"], rtol=1e-5)


def test_a_batch_in_a_space_is_each_image_as_alone(small_vgg16, photo, painting, tmp_path):
    """vmapped L-BFGS on (B, n) pyramid coefficients: each image's history is its single run's
    (1e-5 as tests/batches/test_batch.py: a batched program's rounding, amplified by L-BFGS)."""
    flipped = tmp_path / "flipped.png"
    Image.open(photo).transpose(Image.FLIP_LEFT_RIGHT).save(flipped)
    options = dict(weights=str(small_vgg16), size=48, iters=3, param="pyramid", decorrelate=True)
    r = nst_jax.stylize_batch([photo, flipped], [painting], tmp_path / "out", 2, progress=False, **options)
    assert len(r.done) == 2 and not r.failed
    for c in (photo, flipped):
        alone = nst_jax.stylize(c, painting, progress=False, **options).history
        log = tmp_path / "out" / "logs" / f"{c.stem}__{painting.stem}.json"
        together = json.loads(log.read_text())["history"]
        np.testing.assert_allclose([h["total"] for h in together], [h["total"] for h in alone], rtol=1e-5)
