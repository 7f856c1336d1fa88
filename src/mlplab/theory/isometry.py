"""The spectrum of the input–output Jacobian at initialization: dynamical isometry.

Pennington, Schoenholz, Ganguli 2017 (*Resurrecting the sigmoid in deep learning through dynamical isometry:
theory and practice*, NeurIPS; §2–3): for a depth-L network x^l = φ(h^l), h^l = W^l x^{l−1} + b^l at the fixed
length q*, the Jacobian J = ∂x^L/∂x^0 = Π_l D^l W^l with D^l = diag φ′(h^l). In the wide limit the factors are
free, so the S-transform of JJᵀ is the product of the factors' S-transforms, and the first two moments of its
eigenvalue (squared singular value) distribution follow exactly:

    mean       m₁ = χ₁^L,                         χ₁ = σ_w² μ₁
    variance   σ²_JJᵀ = m₁² · L (μ₂/μ₁² − 1 − s₁),   μ_k = E[φ′(√q* z)^{2k}]        (eq. 16 at χ₁ = 1)

with s₁ = −1 for Gaussian weights (W Wᵀ/σ_w² is Marchenko–Pastur: normalized variance 1) and s₁ = 0 for
orthogonal ones (no spread at all). So a linear network with orthogonal weights is exactly isometric, a linear
Gaussian one has variance L, relu (μ₂/μ₁² = 2) has 2L with Gaussian and L with orthogonal weights, and tanh at
small q* has μ₂/μ₁² → 1: orthogonal tanh comes close to isometry.

The linear Gaussian product's squared singular values follow the Fuss–Catalan law (its k-th moment
C(L+1)k choose k)/(Lk + 1); the edge of its support is (L + 1)^{L+1}/L^L ≈ e(L + 1)); its density has the
parametric form of Haagerup & Möller (2013) / Neuschel (2014), :func:`fuss_catalan_density`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from . import gauss
from .functions import theory_activation
from .maps import q_star as _q_star

__all__ = ["WEIGHTS", "derivative_moments", "fuss_catalan_density", "fuss_catalan_edge", "fuss_catalan_moment",
           "jacobian_moments"]

#: s₁, the first coefficient of the S-transform of W Wᵀ/σ_w², for each weight distribution.
WEIGHTS = {"gaussian": -1.0, "orthogonal": 0.0}


def derivative_moments(activation, q, k: int = 2) -> list[np.ndarray]:
    """[μ₁, …, μ_k] with μ_j = E[φ′(√q z)^{2j}] (Gauss–Hermite of order :data:`gauss.ORDER_1D`)."""
    act = theory_activation(activation)
    q = np.asarray(q, dtype=float)
    if act.homogeneous:  # φ′² takes the values 1 and a² with probability ½ each (identity: always 1)
        a2 = 2 * act.dslope2 - 1.0 if act.name != "identity" else 1.0
        return [(0.5 * (1 + a2**j) if act.name != "identity" else 1.0) + 0.0 * q for j in range(1, k + 1)]
    return [gauss.expect(lambda u, j=j: act.dphi(u) ** (2 * j), q) for j in range(1, k + 1)]


def jacobian_moments(sigma_w2, sigma_b2, activation, depth, weights: str = "gaussian",
                     q=None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) of the eigenvalues of JJᵀ for a depth-L network at q* (or ``q``): χ₁^L and
    χ₁^{2L} L (μ₂/μ₁² − 1 − s₁). ``weights``: "gaussian" or "orthogonal". Arrays broadcast."""
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r}; valid: {', '.join(WEIGHTS)}")
    sw2 = np.asarray(sigma_w2, dtype=float)
    q = _q_star(sigma_w2, sigma_b2, activation) if q is None else np.asarray(q, dtype=float)
    mu1, mu2 = derivative_moments(activation, np.nan_to_num(q, nan=1.0), 2)
    L = np.asarray(depth, dtype=float)
    mean = (sw2 * mu1) ** L
    return mean, mean**2 * L * (mu2 / mu1**2 - 1.0 - WEIGHTS[weights])


def fuss_catalan_moment(depth: int, k: int) -> float:
    """E[λ^k] of the squared singular values of a product of L = ``depth`` square Gaussian matrices with
    entries N(0, 1/N), N → ∞: the Fuss–Catalan number C((L+1)k, k)/(Lk + 1) (k = 1: 1; k = 2: L + 1)."""
    L, k = int(depth), int(k)
    return float(np.exp(gammaln((L + 1) * k + 1) - gammaln(k + 1) - gammaln(L * k + 1)) / (L * k + 1))


def fuss_catalan_edge(depth: int) -> float:
    """The largest squared singular value of that product: (L + 1)^{L+1} / L^L."""
    L = int(depth)
    return math.exp((L + 1) * math.log(L + 1) - L * math.log(L)) if L > 0 else 1.0


def fuss_catalan_density(depth: int, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(λ, ρ(λ)) of the Fuss–Catalan law of order L = ``depth`` on ``points`` points of its support (0, edge].

    Parametric form (Haagerup & Möller 2013; Neuschel 2014), for 0 < θ < π/(L + 1):
    λ(θ) = sin((L+1)θ)^{L+1} / (sin θ · sin(Lθ)^L),   ρ = sin θ² · sin(Lθ)^{L−1} / (π sin((L+1)θ)^L).
    """
    L = int(depth)
    theta = np.linspace(0, math.pi / (L + 1), points + 2)[1:-1]
    s1, sL, sL1 = np.sin(theta), np.sin(L * theta), np.sin((L + 1) * theta)
    lam = sL1 ** (L + 1) / (s1 * sL**L)
    rho = s1**2 * sL ** (L - 1) / (math.pi * sL1**L)
    order = np.argsort(lam)
    return lam[order], rho[order]
