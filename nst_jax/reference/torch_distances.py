"""The paper's terms and the style distances of distances.py in PyTorch, written again
from their formulas; shared by the PyTorch VGG and ResNet50 and by the Keras-on-torch
reference (`paper_terms`: the features in whatever layout each network gives them).

What `compare --style-loss w2|sliced|meanstd` holds nst_jax's distances.py against. One
style layer's features are M samples in R^N, an (M, N) tensor f (one row per position);
the style's side is its target, data shared with ours as the Gram matrix is (computed
once by nst_jax: distances.Gaussian, Slices, MeanStd, NamedTuples of arrays). Each E_l is
written from the formula in torch ops, gradients by autograd:

    w2       W^2 = |mu - mu_s|^2 + tr(S + S_s - 2 (S_s^1/2 S S_s^1/2)^1/2),  E_l = W^2 / N
             (Dowson & Landau 1982; Olkin & Pukelsheim 1982). mu, S: the mean and
             covariance (over M, not M - 1) of the rows; S_s = L^T L and S_s^1/2 are the
             target's (distances.Gaussian's factor L and root). The trace of the square
             root is sum_i sqrt(lambda_i) over the eigenvalues of the symmetric
             A = S_s^1/2 S S_s^1/2, by torch.linalg.eigvalsh: a trace needs no
             eigenvectors, and eigvalsh's gradient V diag(g) V^T is exact for it, repeated
             eigenvalues included. (Ours takes another road to the same trace: the
             nuclear norm of C S_s^1/2, S = C^T C, by an SVD.) Eigenvalues under the
             numerical rank threshold eps N lambda_max (NumPy's matrix_rank) count as 0,
             with gradient 0: a layer with fewer positions than filters has a singular A,
             whose zero eigenvalues come out as rounding noise of either sign. In float64
             whatever the features' dtype: the square root of an eigenvalue known to
             eps lambda_max is off by sqrt(eps lambda_max), in float32 percents of W^2
             (distances.py), which would measure the method, not our code.
    sliced   1/(K M) sum_k sum_i (sort(f v_k)_i - q_ki)^2 (Heitz et al., CVPR 2021,
             Eq. 6-8): the projections on the target's K unit directions v_k (the same
             random directions as ours: data), sorted by torch.sort, against the target's
             sorted style projections q (K, M) already resampled to M positions.
    meanstd  1/N sum_j (mu_j - mu_sj)^2 + (sigma_j - sigma_sj)^2 (Li et al., IJCAI 2017,
             Eq. 11), sigma = sqrt(var + 1e-8) per channel (finite for a dead channel).
"""

from typing import Any, Callable, Dict

import numpy as np

VAR_EPS = 1e-8  # sigma = sqrt(var + VAR_EPS), as distances.py's meanstd


def to_torch(target: Any, dtype: Any = None, device: Any = None) -> Any:
    """An array (Gram), or a NamedTuple of arrays (distances.py's targets), as tensors of
    `dtype` on `device`; tensors already (of any dtype) are cast."""
    import torch

    def one(a):
        t = a if isinstance(a, torch.Tensor) else torch.tensor(np.asarray(a))
        return t.to(device=device, dtype=dtype)

    if isinstance(target, tuple) and hasattr(target, "_fields"):  # a NamedTuple: keep its type
        return type(target)(*(one(a) for a in target))
    return one(target)


def torch_targets(
    targets: Dict[str, Any], dtype: Any = None, channels_first: bool = True, device: Any = None
) -> Dict[str, Any]:
    """A run's targets (losses.make_targets: content (h, w, C), style {layer: Gram or a
    distances.py target}) as tensors on `device`; content as (C, h, w) unless
    `channels_first` is False."""
    content = to_torch(targets["content"], dtype, device)  # (h, w, C)
    return {
        "content": content.permute(2, 0, 1) if channels_first else content,  # -> (C, h, w)
        "style": {k: to_torch(v, dtype, device) for k, v in targets["style"].items()},
    }


def _moments(f: Any):
    """Mean (N,) and covariance (N, N) over the M rows of f (M, N), divided by M."""
    mu = f.mean(dim=0)
    c = f - mu
    return mu, c.T @ c / f.shape[0]


def _rank_threshold(lam: Any, n: int) -> Any:
    import torch

    return torch.finfo(lam.dtype).eps * n * lam.abs().max().detach()


def trace_sqrt(a: Any) -> Any:
    """tr(A^1/2) = sum_i sqrt(lambda_i), A symmetric PSD (N, N)."""
    import torch

    lam = torch.linalg.eigvalsh((a + a.T) / 2)
    keep = lam > _rank_threshold(lam, a.shape[0])
    root = torch.where(keep, lam, torch.ones_like(lam)).sqrt()  # no sqrt(0): its gradient is inf
    return torch.where(keep, root, torch.zeros_like(root)).sum()


def w2(f: Any, t: Any) -> Any:
    """E_l = W^2 / N against distances.Gaussian(mean, factor, root), computed in float64."""
    import torch

    f64, t64 = f.to(torch.float64), to_torch(t, torch.float64)
    mu, s = _moments(f64)
    a = t64.root @ s @ t64.root  # S_s^1/2 S S_s^1/2
    cov_s = t64.factor.T @ t64.factor  # S_s = L^T L
    w = ((mu - t64.mean) ** 2).sum() + s.trace() + cov_s.trace() - 2 * trace_sqrt(a)
    return (w / f.shape[1]).to(f.dtype)


def sliced(f: Any, t: Any) -> Any:
    """E_l = mean over (K, M) of (sorted projections - quantiles)^2 against distances.Slices."""
    import torch

    p = (f @ t.directions).T  # (M, N) (N, K) -> (K, M)
    return ((torch.sort(p, dim=1).values - t.quantiles) ** 2).mean()


def meanstd(f: Any, t: Any) -> Any:
    """E_l = mean over the N channels against distances.MeanStd(mean, var)."""
    mu = f.mean(dim=0)
    var = ((f - mu) ** 2).mean(dim=0)
    sigma = lambda v: (v + VAR_EPS).sqrt()
    return ((mu - t.mean) ** 2 + (sigma(var) - sigma(t.var)) ** 2).mean()


DISTANCES: Dict[str, Callable] = {"w2": w2, "sliced": sliced, "meanstd": meanstd}


def torch_style_term(f_mn: Any, target: Any, style_loss: str) -> Any:
    """E_l of the (M, N) features tensor f_mn against `target` (arrays or tensors: cast to
    f_mn's dtype) under `style_loss` (w2, sliced, meanstd; the Gram loss is the callers')."""
    import torch

    fields = target if isinstance(target, tuple) else (target,)
    if not all(isinstance(a, torch.Tensor) and a.dtype == f_mn.dtype for a in fields):
        target = to_torch(target, f_mn.dtype)
    return DISTANCES[style_loss](f_mn, target)


def paper_terms(
    acts: Dict[str, Any],
    x: Any,
    targets: Dict[str, Any],
    content: str,
    style: Any,
    style_loss: str = "gram",
    channels_last: bool = False,
) -> Dict[str, Any]:
    """Gatys et al.'s terms in torch from one image's activations {layer: (C, h, w), or
    (h, w, C) with `channels_last`} and the image x (..., 3, H, W) or (..., H, W, 3);
    targets' content in the activations' layout, style {layer: Gram, or the target of
    another `style_loss`}."""
    terms = {"content": 0.5 * ((acts[content] - targets["content"]) ** 2).sum()}  # Eq. 1
    for name in style:
        a = acts[name]
        f = a.reshape(-1, a.shape[-1]) if channels_last else a.reshape(a.shape[0], -1).T  # (M, N)
        if style_loss != "gram":
            terms[f"style {name}"] = torch_style_term(f, targets["style"][name], style_loss)
            continue
        m_, n_ = f.shape
        g = f.T @ f  # (N, M) (M, N) -> (N, N), Eq. 3
        terms[f"style {name}"] = ((g - targets["style"][name]) ** 2).sum() / (4.0 * n_**2 * m_**2)  # Eq. 4
    rows, cols = (-3, -2) if channels_last else (-2, -1)  # x's spatial axes
    terms["tv"] = (x.diff(dim=rows) ** 2).sum() + (x.diff(dim=cols) ** 2).sum()
    return terms
