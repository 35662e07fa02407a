"""Plain NumPy (float64) references for VGG features and the losses, written from the
papers' definitions, sharing no code with nst_jax beyond the layer counts."""

import numpy as np

BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


def conv3x3_same(x, k, b):
    """x: (H, W, Cin), k: (3, 3, Cin, Cout) HWIO, zero padding 1 -> (H, W, Cout)."""
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, k.shape[3]))
    for dy in range(3):
        for dx in range(3):  # cross-correlation, as every deep learning framework
            out += xp[dy : dy + h, dx : dx + w, :] @ k[dy, dx]
    return out + b


def pool2x2(x, kind):
    h, w, c = x.shape
    x = x[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c)
    return x.max(axis=(1, 3)) if kind == "max" else x.mean(axis=(1, 3))


def vgg_features(params, x, model, pooling):
    """{'relu1_1': ..., every conv's post-ReLU activation} for a preprocessed (H, W, 3) x."""
    out = {}
    x = np.asarray(x, np.float64)
    for b, n in enumerate(BLOCKS[model], 1):
        if b > 1:
            x = pool2x2(x, pooling)
        for i in range(1, n + 1):
            p = params[f"conv{b}_{i}"]
            x = np.maximum(
                conv3x3_same(x, np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)), 0
            )
            out[f"relu{b}_{i}"] = x
    return out


def gram(f):
    F = f.reshape(-1, f.shape[-1]).T  # the paper's F^l: (N_l, M_l)
    return F @ F.T


def style_target(fs, fx):
    """A^l for an output whose features are fx: the style's Gram rescaled to the output's
    number of positions, (M_x / M_s) F_s F_s^T (losses.py, "Style and output sizes")."""
    return gram(fs) * (fx.shape[0] * fx.shape[1]) / (fs.shape[0] * fs.shape[1])


def guided_style_layer(f, a, t, b):
    """E_l over regions, written out: f (h, w, N), a (R, N, N) targets at the output's
    size, t (h, w, R) masks, b (R,) weights (losses.py, Gatys et al. 2017 Sec. 4.1)."""
    n, m = f.shape[-1], f.shape[0] * f.shape[1]
    total = 0.0
    for r in range(a.shape[0]):
        fr = f * t[..., r : r + 1]  # F_r = T_r o F
        m_r = np.sum(t[..., r] ** 2)
        e = np.sum((gram(fr) / m_r - a[r] / m) ** 2) / (4 * n**2)
        total += b[r] * (m_r / m) * e
    return total


def content(f, p):
    return 0.5 * np.sum((f - p) ** 2)


def style_layer(f, a):
    n, m = f.shape[-1], f.shape[0] * f.shape[1]
    return np.sum((gram(f) - a) ** 2) / (4 * n**2 * m**2)


def tv(x):
    return np.sum((x[1:] - x[:-1]) ** 2) + np.sum((x[:, 1:] - x[:, :-1]) ** 2)


def reduce(x):
    """Burt & Adelson's REDUCE of an (H, W, C) image, written out: each output pixel the
    5x5 binomial average (1, 4, 6, 4, 1)^2 / 256 of the input around pixel (2i, 2j), the
    input mirrored 2 px beyond its edges (paper/octaves.py)."""
    g = np.array([1, 4, 6, 4, 1]) / 16
    h, w = x.shape[:2]
    out = np.zeros(((h + 1) // 2, (w + 1) // 2, x.shape[2]))
    mirror = lambda k, n: -k if k < 0 else (2 * (n - 1) - k if k >= n else k)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for u in range(5):
                for v in range(5):
                    out[i, j] += g[u] * g[v] * x[mirror(2 * i + u - 2, h), mirror(2 * j + v - 2, w)]
    return out


# -- style distances (nst_jax/paper/distances.py), from their definitions, in float64 with SciPy


def weighted_moments(x, w):
    """x (M, N) samples, w (M,) weights -> mean (N,), covariance (N, N)."""
    mu = (w[:, None] * x).sum(0) / w.sum()
    return mu, ((x - mu).T * w) @ (x - mu) / w.sum()


def w2(fx, mu_s, cov_s, w=None):
    """|mu - mu_s|^2 + tr(S + S_s - 2 (S_s^1/2 S S_s^1/2)^1/2), / N (scipy.linalg.sqrtm)."""
    import scipy.linalg

    x = fx.reshape(-1, fx.shape[-1])
    mu, cov = weighted_moments(x, np.ones(len(x)) if w is None else w)
    r = scipy.linalg.sqrtm(cov_s).real
    cross = scipy.linalg.sqrtm(r @ cov @ r).real
    return (np.sum((mu - mu_s) ** 2) + np.trace(cov + cov_s - 2 * cross)) / x.shape[1]


def meanstd(fx, mu_s, var_s, w=None):
    x = fx.reshape(-1, fx.shape[-1])
    mu, cov = weighted_moments(x, np.ones(len(x)) if w is None else w)
    sd = lambda v: np.sqrt(v + 1e-8)
    return np.mean((mu - mu_s) ** 2 + (sd(np.diag(cov)) - sd(var_s)) ** 2)


def quantiles(fs, v, m):
    """The style's sorted projections on the directions v (N, K), at m levels (i + 1/2)/m."""
    s = np.sort(fs.reshape(-1, fs.shape[-1]) @ v, axis=0)  # (M_s, K)
    levels = lambda k: (np.arange(k) + 0.5) / k
    return np.stack([np.interp(levels(m), levels(len(s)), s[:, k]) for k in range(v.shape[1])])  # (K, m)


def sliced(fx, v, q, w=None):
    """Per direction the weighted 1-D W2 against the quantiles q (K, M): each sample at the
    middle of its weight in the sorted order."""
    p = fx.reshape(-1, fx.shape[-1]) @ v  # (M, K)
    w = np.ones(len(p)) if w is None else w
    levels = (np.arange(q.shape[1]) + 0.5) / q.shape[1]
    total = 0.0
    for k in range(v.shape[1]):
        order = np.argsort(p[:, k], kind="stable")
        ws = w[order]
        c = (np.cumsum(ws) - ws / 2) / ws.sum()
        total += np.sum(ws * (p[order, k] - np.interp(c, levels, q[k])) ** 2) / ws.sum()
    return total / v.shape[1]
