"""Gaussian expectations by Gauss–Hermite quadrature, vectorized over any grid of variances.

One variable: E[f(√q z)], z ~ N(0, 1), is Σᵢ wᵢ f(√q xᵢ) with the probabilists' Gauss–Hermite nodes xᵢ and
weights wᵢ/√(2π) of order n (exact for f a polynomial of degree ≤ 2n − 1). Two variables, the pair of
pre-activations of two inputs with covariance [[q₁, q₁₂], [q₁₂, q₂]]: u₁ = √q₁ z₁, u₂ = √q₂ (c z₁ + √(1 − c²) z₂),
c = q₁₂/√(q₁q₂), on the n × n product rule.

Orders: one variable, :data:`ORDER_1D` = 101 nodes, raised to the next of :data:`ORDERS_1D` at or above 80 q
for large variances (:func:`order_for`, at most :data:`MAX_ORDER_1D` = 8001); two variables, the smallest of
:data:`ORDERS_2D` (48 … 160 per axis) at or above 30 q. Each point of a grid gets its own order; nodes whose
weight underflows to 0 (beyond |x| ≈ 38.6, most of a large order's) are dropped, as they add nothing. For a smooth
φ the error falls like exp(−2d√(2n)), d the distance of the nearest singularity of z ↦ φ(√q z) from the real
axis (tanh: d = π/(2√q)), hence orders that grow with q. ``tests/test_theory.py`` measures the error against
adaptive quadrature (scipy's QUADPACK): ≤ 1e-7 in one variable for every smooth activation up to q = 50, ≤ 1e-4
in two for tanh up to q = 5. Kinks (relu, leaky relu, elu's φ′) converge only algebraically, which is why
those activations use closed forms (:mod:`.functions`); elu's two-variable kernels integrate a closed-form
inner expectation by Gauss–Legendre on each side of the kink (:func:`expect_pairs_smoothed`).

Arrays broadcast: every argument may be an array, the nodes sit on new trailing axes, and large grids are
evaluated in blocks of :data:`BLOCK` points so memory stays bounded.
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache

import numpy as np

ORDER_1D = 101
MAX_ORDER_1D = 8001
ORDERS_1D = (ORDER_1D, 201, 401, 801, 1601, 3201, MAX_ORDER_1D)  # the 1-D orders a point may get
ORDERS_2D = (48, 64, 96, 128, 160)  # the 2-D orders a point may get, by its variance (see expect_pairs)
ORDER_2D = 48
BLOCK = 2048  # grid points per block of a 2-D evaluation (ORDER_2D² nodes each)


@lru_cache(maxsize=16)
def nodes(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and weights normalized to sum to 1: E[f(z)] ≈ Σ w f(x)."""
    if order < 1:
        raise ValueError(f"quadrature order must be >= 1, got {order}")
    from scipy.special import roots_hermitenorm  # here: scipy.special's import is ~0.4 s of a fresh process

    x, w = roots_hermitenorm(int(order))  # Golub–Welsch below order 150, asymptotic expansions above
    w = w / w.sum()
    # the nodes whose weight is exactly 0 (e^(−x²/2) underflows beyond |x| ≈ 38.6: 5836 of order 8001's nodes,
    # 1846 of 3201's) add nothing to any sum: dropped, a large order costs what its nodes within ±38.6 do (a
    # sigmoid network's critical line is found at q* ≈ 46, order 8001: 3.7x fewer evaluations of φ)
    keep = w > 0
    return (x, w) if keep.all() else (x[keep], w[keep])


def order_for(q) -> np.ndarray:
    """The 1-D order for each variance of ``q``: ORDER_1D, raised for large variances to the next of 201, 401, …
    (at most :data:`MAX_ORDER_1D`) at or above 80 q, so that a φ bending at |x| ≈ 1 stays resolved when √q ≫ 1:
    tanh's φ′² needs n ≈ 80 q for 1e-8 (measured against adaptive quadrature at q = 1, 5, 50)."""
    q = np.nan_to_num(np.asarray(q, dtype=float), nan=0.0, posinf=0.0)
    levels = np.asarray(ORDERS_1D)
    return levels[np.minimum(np.searchsorted(levels, 80.0 * q), len(levels) - 1)]


WIDE_Q = MAX_ORDER_1D / 80.0  # beyond this variance (q = 100) the 1-D rule is :func:`wide_nodes`
PANEL_ORDER = 24  # Gauss–Legendre nodes per panel of wide_nodes


@lru_cache(maxsize=64)
def wide_nodes(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(√q z)] when q ≤ 4^level is too large for Gauss–Hermite (q > :data:`WIDE_Q`):
    Gauss–Legendre (:data:`PANEL_ORDER` nodes) on panels of z whose edges are 0 and ±2^k z₀ (z₀ = 1/(8√(4^level)),
    doubling up to 12) times the Gaussian density. In u = √q z the first panels are ≤ 1/8 wide, so a φ that bends
    at |u| ≈ 1 (tanh, sigmoid, GELU, SiLU) stays resolved however large q is, the panels grow geometrically with
    the density's own scale, and a kink at u = 0 (relu-likes) is a panel edge. Measured against adaptive quadrature
    (scipy's QUADPACK, ``tests/test_theory_diagnose.py``): E[φ²] and E[φ′²] of tanh, sigmoid, GELU and SiLU to
    ≤ 1e-9 relative for q from 100 to 1e12, where Gauss–Hermite of order 8001 was off by up to 25x in E[φ′²]."""
    z0 = 0.125 / math.sqrt(4.0**level)
    edges = [0.0]
    while z0 * 2 ** (len(edges) - 1) < _Z:
        edges.append(z0 * 2 ** (len(edges) - 1))
    edges.append(_Z)
    e = np.asarray(edges)
    t, v = np.polynomial.legendre.leggauss(PANEL_ORDER)
    half = (e[1:] - e[:-1]) / 2
    mid = (e[1:] + e[:-1]) / 2
    xp = (mid[:, None] + half[:, None] * t).ravel()
    wp = (half[:, None] * v).ravel() * np.exp(-0.5 * xp * xp) / math.sqrt(2.0 * math.pi)
    return np.concatenate([-xp[::-1], xp]), np.concatenate([wp[::-1], wp])


def _rule(level: int) -> tuple[np.ndarray, np.ndarray]:
    """The nodes and weights of a level of :func:`_levels`: Gauss–Hermite of that order, or (≤ 0) wide panels."""
    return nodes(int(level)) if level > 0 else wide_nodes(int(-level))


def _levels(flat: np.ndarray) -> np.ndarray:
    """Each variance's level: its Gauss–Hermite order (:func:`order_for`), or −⌈log₄ q⌉ for q > :data:`WIDE_Q`
    (:func:`wide_nodes`). One variance (what the critical line's and q*'s solvers ask, a dozen times each) is read
    without the array calls: the same comparisons, a tenth of the time."""
    if flat.size == 1:
        v = float(flat[0])
        if not (math.isfinite(v) and v > WIDE_Q):  # nan and ±inf count as 0, as order_for's nan_to_num has it
            v = v if math.isfinite(v) else 0.0
            return np.array([ORDERS_1D[min(bisect.bisect_left(ORDERS_1D, 80.0 * v), len(ORDERS_1D) - 1)]])
    levels = order_for(flat)
    wide = np.isfinite(flat) & (flat > WIDE_Q)
    return np.where(wide, -np.ceil(np.log(np.where(wide, flat, 1.0)) / math.log(4.0)), levels).astype(int)


def _by_order_many(rules, f, q, order) -> list[list[np.ndarray]]:
    """[[Σ_i w_i f_j(√q x_i) · rule_k(x_i) for each rule k] for each f_j]: ``f(u)`` returns a tuple of arrays,
    evaluated once per point for every rule (a value and its slope by Stein's lemma, or E[φ²] and E[φ′²] from one
    φ, share the nodes and the activation's evaluation). Each sum is the expression :func:`_by_order` evaluates
    for it alone: the same numbers, bit for bit."""
    q = np.asarray(q, dtype=float)
    if order is not None:
        x, w = nodes(int(order))
        vals = f(np.sqrt(q)[..., None] * x)
        return [[v @ _weights(w, r, x) for r in rules] for v in vals]
    flat = q.ravel()
    levels = _levels(flat)
    if levels.size and (levels.size == 1 or bool(np.all(levels == levels[0]))):  # one rule for every point
        x, w = _rule(int(levels[0]))
        vals = f(np.sqrt(flat)[:, None] * x)
        return [[(v @ _weights(w, r, x)).reshape(q.shape) for r in rules] for v in vals]
    outs = None
    for n in np.unique(levels):
        idx = np.flatnonzero(levels == n)
        x, w = _rule(int(n))
        vals = f(np.sqrt(flat[idx])[:, None] * x)
        if outs is None:
            outs = [[np.empty(flat.size) for _ in rules] for _ in vals]
        for o, v in zip(outs, vals):
            for ok, r in zip(o, rules):
                ok[idx] = v @ _weights(w, r, x)
    if outs is None:  # no points at all
        outs = [[np.empty(0) for _ in rules] for _ in f(np.zeros((0, 1)))]
    return [[ok.reshape(q.shape) for ok in o] for o in outs]


def _weights(w, rule, x):
    """w · rule(x): the weights themselves for the plain expectation's rule ``np.ones_like`` (w · 1 is w exactly;
    two array calls fewer per sum)."""
    return w if rule is np.ones_like else w * rule(x)


def _by_order(rule, f, q, order):
    """Σ_i w_i f(√q x_i) · rule(x_i) on each point's own order (points grouped by order); points with
    q > :data:`WIDE_Q` (unless ``order`` is given) on :func:`wide_nodes`, grouped by ⌈log₄ q⌉."""
    return _by_order_many((rule,), lambda u: (f(u),), q, order)[0][0]


def _stein_rule(x):
    return x * x - 1.0


def expect(f, q, order: int | None = None) -> np.ndarray:
    """E[f(√q z)] for z ~ N(0, 1), elementwise over the array ``q`` (float64); orders by :func:`order_for`."""
    return _by_order(np.ones_like, f, q, order)


def expect_stein(f, q, order: int | None = None) -> np.ndarray:
    """d/dq E[f(√q z)] = E[(z² − 1) f(√q z)] / (2q) (Stein's lemma twice; no f″ needed). q > 0."""
    return _by_order(_stein_rule, f, q, order) / (2.0 * np.asarray(q, dtype=float))


def expect_with_slope(f, q, order: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`expect`, :func:`expect_stein`) of ``f`` at ``q`` (> 0) on one evaluation of f: the same two
    numbers as the two calls (q*'s Newton iteration asks both at every step)."""
    (e, s), = _by_order_many((np.ones_like, _stein_rule), lambda u: (f(u),), q, order)
    return e, s / (2.0 * np.asarray(q, dtype=float))


def expect_each(fs, q, order: int | None = None) -> list[np.ndarray]:
    """[:func:`expect` of each function ``fs(u)`` returns] on one evaluation: E[φ²] and E[φ′²] from one φ."""
    return [o[0] for o in _by_order_many((np.ones_like,), fs, q, order)]


def expect_pair(f, g, q1, q2, q12, order: int | None = None) -> np.ndarray:
    """E[f(u₁) g(u₂)] for (u₁, u₂) ~ N(0, [[q₁, q₁₂], [q₁₂, q₂]]), elementwise over broadcast arrays."""
    return expect_pairs(lambda u: (f(u),), lambda u: (g(u),), q1, q2, q12, order)[0]


def expect_pairs(fs, gs, q1, q2, q12, order: int | None = None, symmetric: bool = False) -> list[np.ndarray]:
    """[E[f_k(u₁) g_k(u₂)] for each k] on one set of nodes: ``fs(u)`` and ``gs(u)`` return tuples of arrays
    (so φ and φ′ can share one tanh). ``symmetric``: every f_k(u₁)g_k(u₂) is unchanged by (u₁, u₂) → (−u₁, −u₂)
    (φ odd, or even), so only the nodes z₁ > 0 are summed, twice (the nodes are symmetric; the order even).

    Without ``order`` each point gets the smallest of :data:`ORDERS_2D` ≥ 30·max(q₁, q₂) (tanh's φ′φ′ to
    ~1e-5 relative up to q ≈ 5, measured against adaptive quadrature); points are grouped by order."""
    q1, q2, q12 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (q1, q2, q12)))
    shape = q1.shape
    q1, q2, q12 = q1.ravel(), q2.ravel(), q12.ravel()
    if order is not None:
        levels = np.full(q1.size, int(order))
    else:
        need = 30.0 * np.nan_to_num(np.maximum(q1, q2), nan=0.0, posinf=0.0)
        levels = np.asarray(ORDERS_2D)[np.minimum(np.searchsorted(ORDERS_2D, need), len(ORDERS_2D) - 1)]
    outs = None
    for n in np.unique(levels):
        idx = np.flatnonzero(levels == n)
        res = _pairs(fs, gs, q1[idx], q2[idx], q12[idx], int(n), symmetric)
        if outs is None:
            outs = [np.empty(q1.size) for _ in res]
        for o, r in zip(outs, res):
            o[idx] = r
    if outs is None:  # no points at all
        outs = [np.empty(0) for _ in fs(np.zeros(1))]
    return [o.reshape(shape) for o in outs]


def _pairs(fs, gs, q1, q2, q12, order, symmetric):
    x, w = nodes(order)
    x1, w1 = x, w
    if symmetric and order % 2 == 0:
        x1, w1 = x[x > 0], 2.0 * w[x > 0]
    outs = None
    block = max(1, BLOCK * ORDER_2D**2 // order**2)
    for s in range(0, q1.size, block):
        a, b, ab = q1[s:s + block], q2[s:s + block], q12[s:s + block]
        r1, r2 = np.sqrt(a), np.sqrt(b)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(r1 * r2 > 0, np.clip(ab / (r1 * r2), -1.0, 1.0), 0.0)
        s_ = np.sqrt(1.0 - c * c)
        fu = fs(r1[:, None] * x1)  # each (m, n₁): f_k(u₁) on z₁'s nodes
        u2 = (r2 * c)[:, None, None] * x1[None, :, None] + (r2 * s_)[:, None, None] * x[None, None, :]
        gu = [v @ w for v in gs(u2)]  # each (m, n₁): E over z₂ of g_k(u₂) for each z₁ node
        if outs is None:
            outs = [np.empty(q1.size) for _ in gu]
        for o, fv, gv in zip(outs, fu, gu):
            o[s:s + block] = (fv * gv) @ w1
    return outs


SPLIT_ORDER = 64  # Gauss–Legendre nodes on each half [−Z, 0] and [0, Z] of z₁ (expect_pairs_smoothed)
_Z = 12.0  # e^(−Z²/2) ≈ 5e-32: nothing beyond


@lru_cache(maxsize=4)
def split_nodes(order: int = SPLIT_ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(z)], z ~ N(0, 1), exact across a kink of f at 0: Gauss–Legendre on each of
    [−Z, 0] and [0, Z] (Z = 12) times the Gaussian density. Each half's integrand is smooth, so the rule
    converges exponentially where Gauss–Hermite over the kink converges only algebraically."""
    t, v = np.polynomial.legendre.leggauss(int(order))
    x = np.concatenate([(t - 1.0) * _Z / 2, (t + 1.0) * _Z / 2])
    w = np.concatenate([v, v]) * _Z / 2 * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return x, w


def expect_pairs_smoothed(fs, inner, q1, q2, q12) -> list[np.ndarray]:
    """[E[f_k(u₁) g_k(u₂)]] when E[g_k(a + b z)] has a closed form ``inner(a, b)`` (a tuple over k): one
    variable remains, u₂ given z₁ being N(√q₂ c z₁, q₂(1 − c²)), integrated by :func:`split_nodes` (f_k may
    have a kink at 0)."""
    x, w = split_nodes()
    q1, q2, q12 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (q1, q2, q12)))
    r1, r2 = np.sqrt(q1), np.sqrt(q2)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(r1 * r2 > 0, np.clip(q12 / (r1 * r2), -1.0, 1.0), 0.0)
    a = (r2 * c)[..., None] * x
    b = np.maximum(r2 * np.sqrt(1.0 - c * c), 1e-300)[..., None]
    return [(fv * gv) @ w for fv, gv in zip(fs(r1[..., None] * x), inner(a, b))]
