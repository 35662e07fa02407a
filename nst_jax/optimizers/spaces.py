"""The space an optimiser moves in: the image's pixels, a Laplacian pyramid, or a 1/f-scaled
cosine basis, each with an optional decorrelated colour basis.

The objective is a function of the image, f(x). Pixels are a badly conditioned space for
it: the style term's gradient is dominated by high frequencies, so a first-order or
quasi-Newton method's first steps mostly move fine detail. Optimising another
parameterisation of the same image, x = A p with A linear, changes nothing about f (the
same image has the same loss) and everything about the steps: the gradient becomes
A^T g, so a step -a A^T g moves the image by -a A A^T g, and A A^T is a preconditioner
that can favour the large structures. For L-BFGS it is the initial inverse Hessian
H_0 = gamma A A^T in place of gamma I (lbfgs.py, `precondition`).

    pixels    x = p                                                 (Gatys et al. 2016)
    pyramid   x = L_0 + up(L_1 + up(L_2 + ... up(L_K)))           (STROTSS, Kolkin et al.
              p = (L_0, ..., L_K), L_k = g_k - up(g_k+1), g_k+1 = down(g_k), L_K = g_K;
              a coarse level's coefficient moves ~4^k pixels at once: A A^T ~ sum_k 4^k
              on the frequencies level k holds                              2019, syn_lap_pyr)
    fourier   x = IDCT(w * p),  w(f) = 1 / max(|f|, f_min)^decay,   (Mordvintsev et al.
              the orthonormal 2-D cosine transform (the Fourier basis of the image mirrored
              at its edges: real, the image's own size, no wrap-around), w normalised to
              an RMS of 1: A A^T = diag(w^2) in that basis, 1/|f|^(2 decay); 2018, Lucid fft_image)
              decay 0.25 (Lucid: 1, which measured worse for L-BFGS: docs/guide/performance.md)
    colour    x_c = C p_c per pixel, C the square root of natural images' colour covariance
              (Lucid's `color_correlation_svd_sqrt`), scaled to a largest column norm of 1

`to_params(x)` and `to_image(p)` are linear, pure and batched over leading axes;
`to_image(to_params(x)) == x` for every image (the pyramid is overcomplete: 4/3 as many
coefficients as pixels, so only this direction round-trips). `Space` is a hashable value:
the programs compiled for a problem in a space are built once (run/programs.py).
"""

import dataclasses
import functools
from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp
import numpy as np

SPACES = ("pixels", "pyramid", "fourier")

# Lucid's colour basis (RGB rows): the square root of ImageNet's colour covariance by SVD.
_RGB_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float64)
_C = (_RGB_SQRT / np.max(np.linalg.norm(_RGB_SQRT, axis=0)))[::-1, ::-1]  # (3, 3) for BGR images
COLOR = _C.astype(np.float32)  # x_c = COLOR @ p_c: (3, 3)
COLOR_INV = np.linalg.inv(_C).astype(np.float32)  # p_c = COLOR_INV @ x_c


@dataclasses.dataclass(frozen=True)
class Space:
    kind: str  # "pixels" | "pyramid" | "fourier"
    hw: Tuple[int, int]  # (H, W) of the image
    decorrelate: bool = False  # the decorrelated colour basis on top
    decay: float = 0.25  # fourier: w ~ 1/|f|^decay (measured: 0.25, 0.5 beat Lucid's 1; docs/guide)
    smallest: int = 16  # pyramid: halve while the shorter side of the next level is >= this

    @property
    def plain(self) -> bool:
        """Whether this is the image itself (the identity map)."""
        return self.kind == "pixels" and not self.decorrelate

    def to_image(self, p: jax.Array) -> jax.Array:
        """(..., *param shape) -> (..., H, W, 3)."""
        x = p if self.kind == "pixels" else getattr(self, f"_{self.kind}_image")(p)
        return jnp.einsum("ij,...j->...i", COLOR, x) if self.decorrelate else x  # x_c = C p_c

    def to_params(self, x: jax.Array) -> jax.Array:
        """(..., H, W, 3) -> (..., *param shape), so that to_image(to_params(x)) == x."""
        x = jnp.einsum("ij,...j->...i", COLOR_INV, x) if self.decorrelate else x  # p_c = C^-1 x_c
        return x if self.kind == "pixels" else getattr(self, f"_{self.kind}_params")(x)

    def param_shape(self) -> Tuple[int, ...]:
        """The shape of one image's parameters."""
        if self.kind == "pyramid":
            return (sum(h * w * 3 for h, w in self.levels()),)  # the levels, flattened end to end
        return (*self.hw, 3)

    # ------------------------------------------------------------- the Laplacian pyramid
    def levels(self) -> Tuple[Tuple[int, int], ...]:
        """(h_k, w_k) of each level, full size first: h_k+1 = ceil(h_k / 2)."""
        sizes = [tuple(self.hw)]
        while min(-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)) >= self.smallest:
            sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))
        return tuple(sizes)  # type: ignore[arg-type]

    def _pyramid_params(self, x):
        lead, out, g = x.shape[:-3], [], x
        for h, w in self.levels()[1:]:
            smaller = _resize(g, h, w, antialias=True)  # g_k+1 = down(g_k)
            out.append(g - _resize(smaller, *g.shape[-3:-1]))  # L_k = g_k - up(g_k+1)
            g = smaller
        out.append(g)  # L_K = g_K
        return jnp.concatenate([level.reshape(*lead, -1) for level in out], axis=-1)  # (..., n)

    def _pyramid_image(self, p):
        lead, sizes = p.shape[:-1], self.levels()
        cuts = np.cumsum([h * w * 3 for h, w in sizes])[:-1]
        levels = [c.reshape(*lead, h, w, 3) for c, (h, w) in zip(jnp.split(p, cuts, axis=-1), sizes)]
        x = levels[-1]
        for level in levels[-2::-1]:  # g_k = L_k + up(g_k+1), coarse to fine
            x = level + _resize(x, *level.shape[-3:-1])
        return x  # (..., H, W, 3)

    # ------------------------------------------------------------- the cosine basis
    def weights(self) -> np.ndarray:
        """w(f) of each cosine, (H, W, 1): 1/max(|f|, f_min)^decay, RMS 1."""
        (h, w), f_min = self.hw, 1.0 / (2 * max(self.hw))  # DCT-II index k: k / 2N cycles/pixel
        fy, fx = np.arange(h)[:, None] / (2 * h), np.arange(w)[None, :] / (2 * w)
        wt = 1.0 / np.maximum(np.sqrt(fy**2 + fx**2), f_min) ** self.decay  # (H, W)
        return (wt / np.sqrt(np.mean(wt**2)))[..., None].astype(np.float32)

    def _fourier_image(self, p):
        return jax.scipy.fft.idctn(self.weights() * p, type=2, axes=(-3, -2), norm="ortho")  # x = IDCT(w p)

    def _fourier_params(self, x):
        return jax.scipy.fft.dctn(x, type=2, axes=(-3, -2), norm="ortho") / self.weights()  # p = DCT(x) / w


def _resize(x, h, w, antialias=False):  # bilinear, over the (h, w) axes of (..., h0, w0, 3)
    return jax.image.resize(x, (*x.shape[:-3], h, w, x.shape[-1]), "linear", antialias=antialias)


def space(kind: str, hw: Tuple[int, int], decorrelate: bool = False) -> Space:
    """The space `kind` (SPACES) for images of (H, W) = hw."""
    return Space(kind, (int(hw[0]), int(hw[1])), bool(decorrelate))


@dataclasses.dataclass(frozen=True)
class InSpace:
    """fun(x, aux) as a function of the parameters: fun(to_image(p), aux). The terms are
    those of the image, so a run in any space reports the same objective."""

    fun: Callable
    space: Space

    def __call__(self, p: jax.Array, aux: Any):
        return self.fun(self.space.to_image(p), aux)


@dataclasses.dataclass(frozen=True)
class EvaluateInSpace:
    """A Python-called evaluate(x, aux) -> ((total, terms), g) (tiles.py) in the
    parameters: the image's gradient pulled back, A^T g."""

    evaluate: Callable
    space: Space

    def __call__(self, p, aux):
        value, g = self.evaluate(to_image(self.space, p), aux)
        return value, pull_back(self.space, p, g)


@functools.partial(jax.jit, static_argnums=0)
def to_image(sp: Space, p):
    return sp.to_image(p)


@functools.partial(jax.jit, static_argnums=0)
def to_params(sp: Space, x):
    return sp.to_params(x)


@functools.partial(jax.jit, static_argnums=0)
def pull_back(sp: Space, p, g):
    """A^T g: the gradient in the parameters of the image's gradient g."""
    return jax.vjp(sp.to_image, p)[1](g)[0]


def problem_in(sp: Space, problem: Any) -> Any:
    """An optim.Problem as a function of sp's parameters, with the same terms (plain pixels:
    the problem itself). Its box does not carry over: a bound on pixels is no bound on the
    coefficients (Adam and SciPy's L-BFGS-B then run unbounded; the saved image is clipped)."""
    if sp.plain:
        return problem
    evaluate = None if problem.evaluate is None else EvaluateInSpace(problem.evaluate, sp)
    return problem._replace(fun=InSpace(problem.fun, sp), low=None, high=None, evaluate=evaluate)
