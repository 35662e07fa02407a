r"""The paper modules' equations, typeset: each as its module writes it, and in TeX.

The modules write their equations in plain text, to be read in an editor beside the code
(`E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2`). On the site, annotate.py shows
each note as written and, below a paragraph or block that holds one of these texts, the
same equation as math. The key is the text as it stands in the module (one line of it);
tests/test_docs.py checks that each is still there, so an edited equation cannot leave a
stale formula on the page.
"""

EQUATIONS = {
    "nst_jax/paper/losses.py": [
        (
            "L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2",
            r"\mathcal{L}_{content} = \tfrac{1}{2} \sum_{ij} \big(F^l_{ij} - P^l_{ij}\big)^2 \qquad (1)",
        ),
        ("G^l_ij = sum_k F^l_ik F^l_jk", r"G^l_{ij} = \sum_k F^l_{ik} F^l_{jk} \qquad (3)"),
        (
            "E_l = 1 / (4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2",
            r"E_l = \frac{1}{4 N_l^2 M_l^2} \sum_{ij} \big(G^l_{ij} - A^l_{ij}\big)^2 \qquad (4)",
        ),
        ("L_style = sum_l w_l E_l", r"\mathcal{L}_{style} = \sum_l w_l E_l \qquad (5)"),
        (
            "L_total = alpha L_content + beta L_style (+ t L_tv)",
            r"\mathcal{L}_{total} = \alpha \mathcal{L}_{content} + \beta \mathcal{L}_{style}"
            r" \;(+\, t\, \mathcal{L}_{tv}) \qquad (7)",
        ),
        (
            "G^l_r = sum_k (T^l_rk)^2 F^l_:k F^l_:k^T,   M^l_r = sum_k (T^l_rk)^2",
            r"G^l_r = \sum_k (T^l_{rk})^2 F^l_{:k} F^{l\,T}_{:k}, \qquad M^l_r = \sum_k (T^l_{rk})^2",
        ),
        (
            "E^l_r = 1 / (4 N_l^2) sum_ij (G^l_rij / M^l_r - A^l_rij / M_l)^2",
            r"E^l_r = \frac{1}{4 N_l^2} \sum_{ij} \Big(\frac{G^l_{r,ij}}{M^l_r} - \frac{A^l_{r,ij}}{M_l}\Big)^2",
        ),
        ("E_l = sum_r b_r (M^l_r / M_l) E^l_r", r"E_l = \sum_r b_r \frac{M^l_r}{M_l} E^l_r"),
        (
            "L_tv = sum_ij (x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2",
            r"\mathcal{L}_{tv} = \sum_{ij} (x_{i+1,j} - x_{ij})^2 + (x_{i,j+1} - x_{ij})^2",
        ),
        ("G_ij = sum_k F_ik F_jk", r"G_{ij} = \sum_k F_{ik} F_{jk}"),
        ("L_content = 1/2 sum (F - P)^2", r"\mathcal{L}_{content} = \tfrac{1}{2} \sum (F - P)^2"),
        ("E_l = sum (G - A)^2 / (4 N^2 M^2)", r"E_l = \frac{\sum (G - A)^2}{4 N^2 M^2}"),
    ],
    "nst_jax/paper/distances.py": [
        (
            "W^2 = |mu_x - mu_s|^2 + tr(S_x + S_s - 2 (S_s^1/2 S_x S_s^1/2)^1/2)",
            r"W^2 = \lVert \mu_x - \mu_s \rVert^2 + \operatorname{tr}\big(S_x + S_s"
            r" - 2\,(S_s^{1/2} S_x S_s^{1/2})^{1/2}\big)",
        ),
        (
            "E_l = 1/(K M) sum_k sum_i (sort(F^T v_k)_i - Q_k((i + 1/2) / M))^2",
            r"E_l = \frac{1}{K M} \sum_k \sum_i \Big(\operatorname{sort}(F^T v_k)_i"
            r" - Q_k\big(\tfrac{i + 1/2}{M}\big)\Big)^2",
        ),
        (
            "E_l = 1/N_l sum_j (mu_xj - mu_sj)^2 + (sigma_xj - sigma_sj)^2",
            r"E_l = \frac{1}{N_l} \sum_j (\mu_{x,j} - \mu_{s,j})^2 + (\sigma_{x,j} - \sigma_{s,j})^2",
        ),
        (
            "tr((S_s^1/2 S_x S_s^1/2)^1/2) = ||C S_s^1/2||_*",
            r"\operatorname{tr}\big((S_s^{1/2} S_x S_s^{1/2})^{1/2}\big) = \lVert C S_s^{1/2} \rVert_*",
        ),
        (
            "c_k = (sum_{j<k} w_j + w_k / 2) / sum_j w_j",
            r"c_k = \frac{\sum_{j<k} w_j + w_k / 2}{\sum_j w_j}",
        ),
    ],
    "nst_jax/optimizers/lbfgs.py": [
        (
            "s_i = x_{i+1} - x_i,   y_i = g_{i+1} - g_i,   rho_i = 1 / (y_i^T s_i)",
            r"s_i = x_{i+1} - x_i, \quad y_i = g_{i+1} - g_i, \quad \rho_i = \frac{1}{y_i^T s_i}",
        ),
        (
            "H_k^0 = gamma_k I, gamma_k = s_{k-1}^T y_{k-1} / y_{k-1}^T y_{k-1}",
            r"H_k^0 = \gamma_k I, \quad \gamma_k = \frac{s_{k-1}^T y_{k-1}}{y_{k-1}^T y_{k-1}} \qquad (7.20)",
        ),
        ("d_k = -H_k g_k, x_{k+1} = x_k + a_k d_k", r"d_k = -H_k g_k, \quad x_{k+1} = x_k + a_k d_k"),
        ("f(x + a d) <= f(x) + c1 a g^T d", r"f(x + a d) \le f(x) + c_1\, a\, g^T d \qquad (3.7a)"),
        ("|g(x + a d)^T d| <= c2 |g^T d|", r"|g(x + a d)^T d| \le c_2\, |g^T d| \qquad (3.7b)"),
    ],
    "nst_jax/paper/color.py": [
        ("Y = 0.299 R + 0.587 G + 0.114 B", r"Y = 0.299\,R + 0.587\,G + 0.114\,B"),
        (
            "L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c",
            r"L_s' = \frac{\sigma_c}{\sigma_s} (L_s - \mu_s) + \mu_c",
        ),
        ("x' = A (x - mu_s) + mu_c", r"x' = A (x - \mu_s) + \mu_c"),
        ("A = Sigma_c^(1/2) Sigma_s^(-1/2)", r"A = \Sigma_c^{1/2} \Sigma_s^{-1/2}"),
        ("Cov(x') = A Sigma_s A^T = Sigma_c", r"\operatorname{Cov}(x') = A \Sigma_s A^T = \Sigma_c"),
    ],
    "nst_jax/paper/normalize.py": [
        (
            "W'^l_{..ij} = W^l_{..ij} c^{l-1}_i / c^l_j,     b'^l_j = b^l_j / c^l_j",
            r"W'^{\,l}_{\cdot\cdot ij} = W^l_{\cdot\cdot ij} \frac{c^{l-1}_i}{c^l_j},"
            r" \qquad b'^{\,l}_j = \frac{b^l_j}{c^l_j}",
        ),
        ("F'^l_j = F^l_j / c^l_j", r"F'^{\,l}_j = F^l_j / c^l_j"),
        ("G'_ij = G_ij / (c_i c_j)", r"G'_{ij} = \frac{G_{ij}}{c_i c_j}"),
    ],
    "nst_jax/paper/temporal.py": [
        ("w_i(p) = x_{i-1}(p + b(p))", r"w_i(p) = x_{i-1}\big(p + b(p)\big)"),
        (
            "|f~ + b|^2 > 0.01 (|f~|^2 + |b|^2) + 0.5,  f~(p) = f(p + b(p))",
            r"|\tilde f + b|^2 > 0.01\,(|\tilde f|^2 + |b|^2) + 0.5, \quad \tilde f(p) = f\big(p + b(p)\big)",
        ),
        (
            "|grad b_x|^2 + |grad b_y|^2 > 0.01 |b|^2 + 0.002",
            r"|\nabla b_x|^2 + |\nabla b_y|^2 > 0.01\,|b|^2 + 0.002",
        ),
        (
            "L_temporal = (1/D) sum_k c_k (x_k - w_k)^2,  D = H W 3",
            r"\mathcal{L}_{temporal} = \frac{1}{D} \sum_k c_k (x_k - w_k)^2, \quad D = 3 H W \qquad (7)",
        ),
        (
            "u <- u_bar - I_x (I_x (u_bar - u0) + I_y (v_bar - v0) + I_t) / (alpha^2 + I_x^2 + I_y^2)",
            r"u \leftarrow \bar u - \frac{I_x \big(I_x (\bar u - u_0) + I_y (\bar v - v_0) + I_t\big)}"
            r"{\alpha^2 + I_x^2 + I_y^2}",
        ),
        (
            "v <- v_bar - I_y (I_x (u_bar - u0) + I_y (v_bar - v0) + I_t) / (alpha^2 + I_x^2 + I_y^2)",
            r"v \leftarrow \bar v - \frac{I_y \big(I_x (\bar u - u_0) + I_y (\bar v - v_0) + I_t\big)}"
            r"{\alpha^2 + I_x^2 + I_y^2}",
        ),
    ],
    "nst_jax/paper/octaves.py": [
        (
            "R(x)[i, j] = sum_{u,v=0..4} g_u g_v x[2i + u, 2j + v],  g = (1, 4, 6, 4, 1) / 16",
            r"R(x)_{ij} = \sum_{u,v=0}^{4} g_u g_v\, x_{2i+u,\,2j+v}, \quad g = \tfrac{1}{16}(1, 4, 6, 4, 1)",
        ),
        (
            "x_0 = x,  x_k = R(x_{k-1});   p_k = R^k(p), a_k = R^k(a)",
            r"x_0 = x, \quad x_k = R(x_{k-1}); \qquad p_k = R^k(p), \quad a_k = R^k(a)",
        ),
        (
            "L_k = alpha (M_0 / M_k) L_content(x_k; P_k) + beta L_style(x_k; A_k)",
            r"\mathcal{L}_k = \alpha \frac{M_0}{M_k} \mathcal{L}_{content}(x_k; P_k)"
            r" + \beta\, \mathcal{L}_{style}(x_k; A_k)",
        ),
        (
            "L = sum_{k<K} w_k L_k + t L_tv(x)",
            r"\mathcal{L} = \sum_{k<K} w_k \mathcal{L}_k + t\, \mathcal{L}_{tv}(x)",
        ),
        (
            "w_0 = 1 / (1 + lambda (K - 1)),  w_k = lambda w_0",
            r"w_0 = \frac{1}{1 + \lambda (K - 1)}, \quad w_k = \lambda w_0 \;\; (k \ge 1)",
        ),
    ],
    "nst_jax/paper/resnet.py": [
        (
            "BN(x) = gamma (x - mu) / sqrt(var + eps) + beta = a x + b",
            r"\mathrm{BN}(x) = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta = a x + b",
        ),
        (
            "a = gamma / sqrt(var + eps),  b = beta - a mu",
            r"a = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}, \quad b = \beta - a \mu",
        ),
        ("a (W * x + c) + b = (a W) * x + (a c + b)", r"a\,(W * x + c) + b = (a W) * x + (a c + b)"),
    ],
    "nst_jax/paper/image.py": [
        (
            "x = RGB[..., ::-1] - [103.939, 116.779, 123.68]",
            r"x = (B, G, R) - (103.939,\ 116.779,\ 123.68)",
        ),
    ],
}
