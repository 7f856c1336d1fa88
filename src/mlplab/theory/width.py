"""How much a finite-width relu network's output length fluctuates at He initialization (Hanin & Rolnick 2018,
*How to start training: the effect of initialization and architecture*, NeurIPS).

With Gaussian weights W^l ~ N(0, 2/n_{l−1}) and zero biases, the pre-activations z^l of layer l (width n_l) are,
given the layer below, iid N(0, s_l²) with s_{l+1}² = (2/n_l) s_l² χ²_{K_l}: K_l ~ Binomial(n_l, ½) units are
active and their squared sum is s_l² χ²_{K_l}. So log M_L, M_L = ‖z^L‖²/n_L, is a sum of independent terms:

    Var log M_L = Σ_{l<L} Var[log χ²_{K_l}] + ψ′(n_L/2),
    Var[log χ²_K] = E[ψ′(K/2)] + Var[ψ(K/2)]     (log χ²_k has mean ψ(k/2) + ln 2 and variance ψ′(k/2))

(ψ the digamma function; K = 0, probability 2^{−n}, is left out). For large widths each hidden layer adds
≈ 4/n + 1/n = 5/n, so Var log M_L ≈ 5β with β = Σ_j 1/n_j (Hanin & Rolnick's β), whatever the widths' order: a
tapered network with the same β fluctuates as much as a constant-width one, and E[M_L] stays M_0 at every width.
"""

from __future__ import annotations

import numpy as np
from scipy.special import polygamma, psi
from scipy.stats import binom

__all__ = ["beta", "log_length_variance"]


def beta(widths) -> float:
    """β = Σ_j 1/n_j over the hidden widths."""
    return float(np.sum(1.0 / np.asarray(widths, dtype=float)))


def _var_log_chi2_binomial(n: int) -> float:
    k = np.arange(1, n + 1)
    p = binom.pmf(k, n, 0.5)
    p = p / p.sum()  # conditioned on at least one active unit
    m = psi(k / 2)
    return float(np.sum(p * polygamma(1, k / 2)) + np.sum(p * m * m) - np.sum(p * m) ** 2)


def log_length_variance(widths) -> float:
    """Var log(‖z^L‖²/n_L) over random He-initialized relu networks whose layers have the widths n_1 … n_L (z^L the
    last layer's pre-activations, from a fixed input): the exact sum above."""
    n = [int(w) for w in widths]
    if not n or min(n) < 1:
        raise ValueError(f"widths must be positive integers, got {widths}")
    return sum(_var_log_chi2_binomial(w) for w in n[:-1]) + float(polygamma(1, n[-1] / 2))
