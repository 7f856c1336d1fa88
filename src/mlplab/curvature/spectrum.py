"""Eigenvalues, trace and spectral density from a Hessian-vector product alone.

Every function here takes ``hvp`` (a function v ↦ H v on float64 vectors of length ``n``, H symmetric)
and never forms H. Randomness is an explicit ``numpy.random.Generator`` (or a seed).

* :func:`top_eigen` — the k largest (``which="LA"``) or most negative (``"SA"``) eigenpairs by implicitly
  restarted Lanczos (ARPACK through ``scipy.sparse.linalg.eigsh`` on a ``LinearOperator``; restarts keep the
  Krylov basis orthogonal, so there are no ghost copies of converged eigenvalues).
* :func:`power_iteration` — the simple reference: v ← Hv/‖Hv‖ until the Rayleigh quotient settles. It finds
  the eigenvalue of largest *magnitude* (PyHessian's method; the same as λ_max once training has made
  the positive side dominate), and converges at the rate |λ₂/λ₁| per step, so Lanczos is preferred.
* :func:`hutchinson_trace` — tr H ≈ mean of zᵀHz over Rademacher z (Hutchinson 1990): unbiased, with
  variance 2(‖H‖²_F − Σ H_ii²) per sample, reported as the standard error of the mean.
* :func:`slq` — stochastic Lanczos quadrature (Golub & Meurant; Ghorbani, Krishnan, Xiao 2019, *An
  Investigation into Neural Net Optimization via Hessian Eigenvalue Density*): for a unit probe q,
      qᵀ φ(H) q ≈ Σ_j τ_j φ(θ_j),
  with θ_j the eigenvalues of the m×m Lanczos tridiagonal T and τ_j the squared first components of
  its eigenvectors (Gauss quadrature, exact for polynomials φ of degree ≤ 2m − 1). Averaged over
  Rademacher probes it estimates the spectral density (1/n) Σ_i δ(λ − λ_i); its p-th moment estimates
  tr(Hᵖ)/n. Lanczos here reorthogonalizes fully against every earlier vector (m is small).
* :func:`block_hvp` — one layer's diagonal block H_ll of H (the curvature of that layer alone, the others
  held fixed): embed v in the block, multiply, keep the block. Every function above applies to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .hvp import as_operator

__all__ = ["top_eigen", "sharpness", "power_iteration", "hutchinson_trace", "slq", "density", "block_hvp", "Trace",
           "SLQ", "dense_matrix"]


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_k(k, n):
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if int(k) > n:
        raise ValueError(f"k = {k} eigenvalues asked of a {n}-parameter network: k can be at most {n}")


def top_eigen(hvp, n, k=1, which="LA", rng=0, tol=0.0, maxiter=None, v0=None):
    """The ``k`` largest (``"LA"``) or smallest (``"SA"``) eigenvalues of H and their eigenvectors.

    Returns ``(values, vectors)``: values sorted from the extreme inwards (largest first for "LA", most
    negative first for "SA"), vectors as columns (n, k). ``tol=0`` asks ARPACK for machine precision;
    ``v0`` warm-starts it (e.g. the last top eigenvector during training). Small n (k ≥ n − 1, where
    ARPACK cannot run) falls back to the dense matrix built from n products.
    """
    from scipy.sparse.linalg import eigsh

    _check_k(k, n)
    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' (largest) or 'SA' (most negative), got {which!r}")
    if k >= n - 1:
        w, U = np.linalg.eigh(dense_matrix(hvp, n))
        order = np.argsort(-w if which == "LA" else w)[:k]
        return w[order], U[:, order]
    if v0 is None:
        v0 = _rng(rng).standard_normal(n)
    w, U = eigsh(as_operator(hvp, n), k=k, which=which, tol=tol, v0=np.asarray(v0, dtype=np.float64),
                 maxiter=maxiter, ncv=min(n, max(2 * k + 1, 20)))
    order = np.argsort(-w if which == "LA" else w)
    return w[order], U[:, order]


def power_iteration(hvp, n, iters=200, tol=1e-10, rng=0, v0=None):
    """The eigenvalue of H of largest magnitude and its unit eigenvector, by power iteration.

    Stops when the Rayleigh quotient changes by less than ``tol`` (relative) between steps, or after
    ``iters`` products. Returns ``(value, vector, products_used)``.
    """
    v = _rng(rng).standard_normal(n) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    v /= np.linalg.norm(v)
    value = None
    for i in range(1, int(iters) + 1):
        hv = hvp(v)
        new = float(v @ hv)
        norm = np.linalg.norm(hv)
        if norm == 0:
            return 0.0, v, i
        v = hv / norm
        if value is not None and abs(new - value) <= tol * abs(new):
            return new, v, i
        value = new
    return value, v, int(iters)


@dataclass
class Trace:
    """Hutchinson's estimate: ``value`` ± ``stderr`` (the standard error of the mean of ``samples``)."""

    value: float
    stderr: float
    samples: np.ndarray

    def as_dict(self):
        return {"trace": self.value, "stderr": self.stderr, "samples": len(self.samples)}


def hutchinson_trace(hvp, n, samples=100, rng=0) -> Trace:
    """tr H ≈ (1/m) Σ zᵀ H z over m Rademacher vectors z (entries ±1 with probability ½)."""
    if int(samples) < 2:
        raise ValueError(f"samples must be at least 2 (one sample has no standard error), got {samples}")
    rng = _rng(rng)
    vals = np.empty(int(samples))
    for i in range(int(samples)):
        z = rng.integers(0, 2, n).astype(np.float64) * 2 - 1
        vals[i] = z @ hvp(z)
    return Trace(float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(len(vals))), vals)


def _lanczos(hvp, q, m):
    """m steps of Lanczos from unit q with full reorthogonalization: (alpha, beta) of the tridiagonal T."""
    n = len(q)
    Q = np.zeros((min(m, n), n))
    alpha, beta = [], []
    Q[0] = q
    for j in range(min(m, n)):
        w = hvp(Q[j])
        alpha.append(float(Q[j] @ w))
        w -= alpha[-1] * Q[j] + (beta[-1] * Q[j - 1] if j else 0)
        for _ in range(2):  # twice is enough (Kahan: "twice is enough")
            w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        if j + 1 == min(m, n) or b < 1e-12 * max(1.0, abs(alpha[-1])):
            break  # the Krylov space is exhausted (an invariant subspace): T is exact
        beta.append(b)
        Q[j + 1] = w / b
    return np.array(alpha), np.array(beta[:len(alpha) - 1])


@dataclass
class SLQ:
    """Quadrature nodes and weights per probe: ``nodes[i]`` and ``weights[i]`` (weights sum to 1)."""

    nodes: list
    weights: list
    n: int

    def moment(self, p) -> float:
        """The estimate of tr(Hᵖ)/n: the mean over probes of Σ_j τ_j θ_jᵖ."""
        return float(np.mean([np.sum(w * t ** p) for t, w in zip(self.nodes, self.weights)]))

    def moments_per_probe(self, p) -> np.ndarray:
        return np.array([np.sum(w * t ** p) for t, w in zip(self.nodes, self.weights)])

    def as_dict(self):
        return {"n": self.n, "nodes": [t.tolist() for t in self.nodes], "weights": [w.tolist() for w in self.weights]}


def slq(hvp, n, probes=8, steps=60, rng=0) -> SLQ:
    """Stochastic Lanczos quadrature: ``probes`` Rademacher probes, ``steps`` Lanczos steps each."""
    from scipy.linalg import eigh_tridiagonal

    if int(probes) < 1 or int(steps) < 1:
        raise ValueError(f"probes and steps must be at least 1, got {probes} and {steps}")
    rng = _rng(rng)
    nodes, weights = [], []
    for _ in range(int(probes)):
        z = rng.integers(0, 2, n).astype(np.float64) * 2 - 1
        a, b = _lanczos(hvp, z / math.sqrt(n), int(steps))
        if len(a) == 1:
            theta, tau = a, np.ones(1)
        else:
            theta, S = eigh_tridiagonal(a, b)
            tau = S[0] ** 2
        nodes.append(theta)
        weights.append(tau)
    return SLQ(nodes, weights, n)


def density(result: SLQ, grid, sigma) -> np.ndarray:
    """The SLQ density smoothed by a Gaussian of width ``sigma``, on ``grid`` (integrates to ≈ 1)."""
    grid = np.asarray(grid, dtype=np.float64)
    out = np.zeros_like(grid)
    for t, w in zip(result.nodes, result.weights):
        out += (w[None, :] * np.exp(-0.5 * ((grid[:, None] - t[None, :]) / sigma) ** 2)).sum(axis=1)
    return out / (len(result.nodes) * sigma * math.sqrt(2 * math.pi))


def block_hvp(hvp, n, block: slice):
    """The product with one diagonal block H[block, block], as a function of a vector of the block's size."""
    size = block.stop - block.start

    def f(u):
        v = np.zeros(n)
        v[block] = u
        return hvp(v)[block]

    return f, size


def dense_matrix(hvp, n, symmetrize=True) -> np.ndarray:
    """H from n products with the unit vectors (the test oracle; n² memory), symmetrized unless asked not to
    (a test of the product's symmetry takes it as computed)."""
    H = np.empty((n, n))
    e = np.zeros(n)
    for i in range(n):
        e[i] = 1.0
        H[:, i] = hvp(e)
        e[i] = 0.0
    return (H + H.T) / 2 if symmetrize else H


def sharpness(hvp, n, v0=None, steps=12, rng=0):
    """λ_max(H) and its unit eigenvector from ``steps`` Lanczos steps (full reorthogonalization) started at
    ``v0`` (the previous eigenvector, when H changes a little between calls: training tracks its sharpness
    this way at ~12 products a time). The top Ritz value is a lower bound of λ_max that converges from below."""
    from scipy.linalg import eigh_tridiagonal

    q = _rng(rng).standard_normal(n) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    q /= np.linalg.norm(q)
    n_steps = min(int(steps), n)
    Q = np.zeros((n_steps, n))
    alpha, beta = [], []
    Q[0] = q
    for j in range(n_steps):
        w = hvp(Q[j])
        alpha.append(float(Q[j] @ w))
        for _ in range(2):
            w -= Q[:j + 1].T @ (Q[:j + 1] @ w)
        b = float(np.linalg.norm(w))
        if j + 1 == n_steps or b < 1e-12 * max(1.0, abs(alpha[-1])):
            break
        beta.append(b)
        Q[j + 1] = w / b
    m = len(alpha)
    if m == 1:
        return alpha[0], Q[0]
    theta, S = eigh_tridiagonal(np.array(alpha), np.array(beta[:m - 1]))
    vec = S[:, -1] @ Q[:m]
    return float(theta[-1]), vec / np.linalg.norm(vec)
