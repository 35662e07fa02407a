"""Colour preservation: style transfer that keeps the colours of the content photo.

Gatys, Bethge, Hertzmann & Shechtman, "Preserving Color in Neural Artistic Style
Transfer" (arXiv:1606.05897, 2016), and Gatys et al., "Controlling Perceptual Factors
in Neural Style Transfer" (CVPR 2017), Sec. 5. Two methods:

  luminance   Transfer on luminance only, then put the content's colour back. In YIQ
              (NTSC) space, Y = 0.299 R + 0.587 G + 0.114 B is luminance and I, Q are
              chroma. The style's luminance is first matched to the content's mean and
              spread,  L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c,  the transfer runs on
              the gray images (Y copied to R, G, B), and the output is Y of the result
              with I, Q of the content photo.
  histogram   Recolour the *style* image so its colours have the content's mean and
              covariance, then transfer as usual: x' = A (x - mu_s) + mu_c with
              A = Sigma_c^(1/2) Sigma_s^(-1/2) (symmetric matrix square roots, the
              "image analogies" colour transfer of the paper's Sec. 2.1), so that
              Cov(x') = A Sigma_s A^T = Sigma_c.

Pure NumPy on (H, W, 3) float RGB in 0..255: this happens once, before and after the
optimisation, not inside it.
"""

from typing import Tuple

import numpy as np

MODES = ("luminance", "histogram")
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],  # Y: luminance
        [0.596, -0.274, -0.322],  # I: orange-blue chroma
        [0.211, -0.523, 0.312],
    ]
)  # Q: purple-green chroma
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W, 3) YIQ, float64: [Y, I, Q] = M [R, G, B] per pixel."""
    return np.asarray(rgb, np.float64) @ RGB_TO_YIQ.T  # (H, W, 3) (3, 3)^T -> (H, W, 3)


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    return np.asarray(yiq, np.float64) @ YIQ_TO_RGB.T


def match_luminance(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The style's luminance L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c, (H_s, W_s)."""
    ls, lc = rgb_to_yiq(style_rgb)[..., 0], rgb_to_yiq(content_rgb)[..., 0]
    return (ls - ls.mean()) * (lc.std() / max(ls.std(), 1e-6)) + lc.mean()


def gray3(y: np.ndarray) -> np.ndarray:
    """(H, W) luminance -> (H, W, 3) gray RGB image in 0..255, float32 (Y in R, G, B)."""
    return np.repeat(np.clip(y, 0, 255)[..., None], 3, axis=2).astype(np.float32)


def luminance_inputs(content_rgb: np.ndarray, style_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(content, style) as the gray images the luminance-only transfer runs on."""
    return gray3(rgb_to_yiq(content_rgb)[..., 0]), gray3(match_luminance(style_rgb, content_rgb))


def recombine(result_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Luminance of the (stylized) result with the chroma (I, Q) of the content photo."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[..., 0] = rgb_to_yiq(result_rgb)[..., 0]
    return np.clip(yiq_to_rgb(yiq), 0, 255).astype(np.float32)


def _sqrtm(cov, inverse=False) -> np.ndarray:
    """Symmetric square root (or inverse square root) of a covariance: U diag(l^(+-1/2)) U^T."""
    w, u = np.linalg.eigh(cov)
    w = np.maximum(w, 1e-6)  # a flat (e.g. gray) image has a singular covariance
    return (u * (w ** (-0.5 if inverse else 0.5))) @ u.T


def match_colors(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The style image recoloured to the content's colour mean and covariance (clipped
    to 0..255; without clipping the match is exact)."""
    s = np.asarray(style_rgb, np.float64).reshape(-1, 3)  # (M_s, 3) pixels
    c = np.asarray(content_rgb, np.float64).reshape(-1, 3)  # (M_c, 3)
    mu_s, mu_c = s.mean(0), c.mean(0)
    a = _sqrtm(np.cov(c, rowvar=False)) @ _sqrtm(np.cov(s, rowvar=False), inverse=True)
    out = (s - mu_s) @ a.T + mu_c  # x' = A (x - mu_s) + mu_c, row-wise
    return np.clip(out, 0, 255).reshape(np.shape(style_rgb)).astype(np.float32)
