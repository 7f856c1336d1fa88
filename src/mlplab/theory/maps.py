"""The mean-field maps of a deep random network, their fixed points and depth scales.

Poole et al. 2016 (*Exponential expressivity in deep neural networks through transient chaos*) and
Schoenholz, Gilmer, Ganguli, Sohl-Dickstein 2017 (*Deep Information Propagation*, ICLR; §2–3, eqs. 3–9):
a network of width → ∞ with weights W_ij ~ N(0, σ_w²/N) and biases b_i ~ N(0, σ_b²) carries the
pre-activations z^l of an input as a Gaussian whose variance q^l follows the **length map**

    q^l = σ_w² E[φ(√q^{l−1} z)²] + σ_b²,                         z ~ N(0, 1)        (eq. 3)

with fixed point q*. Two inputs' covariance q₁₂ follows σ_w² E[φ(u₁)φ(u₂)] + σ_b²; at q* their correlation
c = q₁₂/q* follows the **correlation map** (eq. 5)

    c^l = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²) / q*,    u₁ = √q* z₁,  u₂ = √q* (c z₁ + √(1 − c²) z₂),

which always has the fixed point c = 1 and, where that one is unstable, a second one c* < 1. Its slope at
c = 1 is **χ₁ = σ_w² E[φ′(√q* z)²]** (eq. 6): χ₁ < 1 is the *ordered* phase (c* = 1: nearby inputs merge),
χ₁ > 1 the *chaotic* one (c* < 1: nearby inputs separate), χ₁ = 1 is *critical*. Near the fixed points the
deviations decay like e^(−l/ξ):

    ξ_q⁻¹ = −ln(σ_w² d/dq E[φ(√q z)²] at q*) = −ln(χ₁ + σ_w² E[φ″φ])              (eq. 8)
    ξ_c⁻¹ = −ln(χ_c),  χ_c = σ_w² E[φ′(u₁)φ′(u₂)] at (q*, c*)  (= χ₁ when c* = 1)   (eq. 9)

ξ_c diverges at criticality; the paper finds a network trainable when its depth is below about 6 ξ_c.

Every function takes σ_w², σ_b² (and q, c) as arrays that broadcast and returns float64 arrays. Where the
length map has no fixed point (an unbounded φ with σ_w² E[φ(√q z)²]/q ≥ 1 and σ_b² > 0) q* = inf; where every
q is one (relu at σ_w² = 2, σ_b² = 0; identity at σ_w² = 1, σ_b² = 0) q* = nan, and χ₁ — which does not depend
on q for those activations — is still defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gauss
from .functions import TheoryActivation, theory_activation

__all__ = ["Propagation", "c_star", "chi_1", "correlation_map", "correlation_slope", "covariance_map",
           "derivative_kernel", "derivative_mean_square", "iterates", "kernel", "kernels", "length_map", "mean_square",
           "mean_square_slope", "phase_names", "propagation", "q_star", "xi_c", "xi_q"]

Q_MAX = 1e12  # beyond this the length map is taken to have no fixed point (q* = inf)
_Q_TINY = 1e-14


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


# --------------------------------------------------------------------------- Gaussian expectations
def _quadrature_only(act: TheoryActivation) -> bool:
    """E[φ²], E[φ′²] and d/dq E[φ²] are all Gauss–Hermite sums of φ (no closed form for any of them): tanh,
    sigmoid, GELU, SiLU."""
    return not act.homogeneous and act.kernel is None and act.dkernel is None and act.square is None \
        and act.name != "erf"


def mean_squares(activation, q) -> tuple[np.ndarray, np.ndarray]:
    """(E[φ(√q z)²], E[φ′(√q z)²]) on one evaluation of φ and φ′ where both are quadratures (the same numbers
    as :func:`mean_square` and :func:`derivative_mean_square`, which it calls otherwise)."""
    act = theory_activation(activation)
    if not _quadrature_only(act):
        return mean_square(act, q), derivative_mean_square(act, q)

    def both(u):
        p, d = act.phi_dphi(u)
        return p ** 2, d ** 2
    m, d = gauss.expect_each(both, _f(q))
    return m, d


def mean_square(activation, q, order: int | None = None) -> np.ndarray:
    """E[φ(√q z)²], z ~ N(0, 1)."""
    act = theory_activation(activation)
    q = _f(q)
    if act.homogeneous:
        return act.slope2 * q
    if act.kernel is not None:
        return act.kernel(q, q, q)
    if act.square is not None:
        return act.square(q)[0]
    return gauss.expect(lambda u: act.phi(u) ** 2, q, order)


def mean_square_slope(activation, q, order: int | None = None) -> np.ndarray:
    """d/dq E[φ(√q z)²] = E[φ′² + φφ″] (by Stein's lemma, from φ alone; the closed form for erf)."""
    act = theory_activation(activation)
    q = _f(q)
    if act.homogeneous:
        return act.slope2 + 0.0 * q
    if act.name == "erf":
        return 4 / np.pi / ((1 + 2 * q) * np.sqrt(1 + 4 * q))
    if act.square is not None:
        return act.square(q)[2]
    return gauss.expect_stein(lambda u: act.phi(u) ** 2, np.maximum(q, _Q_TINY), order)


def derivative_mean_square(activation, q, order: int | None = None) -> np.ndarray:
    """E[φ′(√q z)²], z ~ N(0, 1)."""
    act = theory_activation(activation)
    q = _f(q)
    if act.homogeneous:
        return act.dslope2 + 0.0 * q
    if act.dkernel is not None:
        return act.dkernel(q, q, q)
    if act.square is not None:
        return act.square(q)[1]
    return gauss.expect(lambda u: act.dphi(u) ** 2, q, order)


def kernel(activation, q1, q2, q12, order: int | None = None) -> np.ndarray:
    """E[φ(u₁)φ(u₂)] for (u₁, u₂) ~ N(0, [[q₁, q₁₂], [q₁₂, q₂]])."""
    return _pair(activation, q1, q2, q12, order, derivative=False)


def derivative_kernel(activation, q1, q2, q12, order: int | None = None) -> np.ndarray:
    """E[φ′(u₁)φ′(u₂)] for (u₁, u₂) ~ N(0, [[q₁, q₁₂], [q₁₂, q₂]])."""
    return _pair(activation, q1, q2, q12, order, derivative=True)


def _pair(activation, q1, q2, q12, order, derivative: bool) -> np.ndarray:
    """E[f(u₁)f(u₂)] with f = φ′ (``derivative``) or φ: the activation's closed form where it has one,
    else its smoothed pair quadrature, else Gauss–Hermite over the pair."""
    act = theory_activation(activation)
    closed = act.dkernel if derivative else act.kernel
    if closed is not None:
        return closed(*np.broadcast_arrays(_f(q1), _f(q2), _f(q12)))
    if act.smoothed is not None:
        return kernels(act, q1, q2, q12)[int(derivative)]
    f = act.dphi if derivative else act.phi
    return gauss.expect_pairs(lambda u: (f(u),), lambda u: (f(u),), q1, q2, q12, order, symmetric=act.odd)[0]


def kernels(activation, q1, q2, q12, order: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(E[φ(u₁)φ(u₂)], E[φ′(u₁)φ′(u₂)]) at once: one set of quadrature nodes and one φ evaluation for both."""
    act = theory_activation(activation)
    if act.kernel is not None:
        return kernel(act, q1, q2, q12), derivative_kernel(act, q1, q2, q12)
    if act.smoothed is not None:
        k, dk = gauss.expect_pairs_smoothed(act.phi_dphi, act.smoothed, q1, q2, q12)
        return k, dk
    k, dk = gauss.expect_pairs(act.phi_dphi, act.phi_dphi, q1, q2, q12, order, symmetric=act.odd)
    return k, dk


# --------------------------------------------------------------------------- the maps
def length_map(q, sigma_w2, sigma_b2, activation) -> np.ndarray:
    """q ↦ σ_w² E[φ(√q z)²] + σ_b² (Schoenholz et al. 2017, eq. 3)."""
    return _f(sigma_w2) * mean_square(activation, q) + _f(sigma_b2)


def covariance_map(q1, q2, q12, sigma_w2, sigma_b2, activation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One layer for two inputs: (q₁, q₂, q₁₂) ↦ σ_w² (E[φ(u₁)²], E[φ(u₂)²], E[φ(u₁)φ(u₂)]) + σ_b²."""
    sw2, sb2 = _f(sigma_w2), _f(sigma_b2)
    return (sw2 * mean_square(activation, q1) + sb2, sw2 * mean_square(activation, q2) + sb2,
            sw2 * kernel(activation, q1, q2, q12) + sb2)


def correlation_map(c, q, sigma_w2, sigma_b2, activation) -> np.ndarray:
    """c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q with u₁, u₂ of variance q and correlation c (eq. 5; q = q*)."""
    q = _f(q)
    return (_f(sigma_w2) * kernel(activation, q, q, _f(c) * q) + _f(sigma_b2)) / q


def correlation_slope(c, q, sigma_w2, activation) -> np.ndarray:
    """dc^{l+1}/dc^l = σ_w² E[φ′(u₁)φ′(u₂)] (Gaussian integration by parts); χ₁ at c = 1, χ_c at c*."""
    q = _f(q)
    return _f(sigma_w2) * derivative_kernel(activation, q, q, _f(c) * q)


def q_star(sigma_w2, sigma_b2, activation) -> np.ndarray:
    """The stable fixed point of the length map: q* = σ_w² E[φ(√q* z)²] + σ_b².

    Homogeneous φ (identity, relu, leaky relu): q* = σ_b²/(1 − σ_w² m) with m = E[φ(z)²] (inf if σ_w² m ≥ 1 and
    σ_b² > 0; nan if σ_w² m = 1 and σ_b² = 0). Otherwise a bracketed Newton iteration on F(q) = σ_w² E[φ²] + σ_b² − q
    (F′ from Stein's lemma), started from a bracket [lo, hi] with F(lo) ≥ 0 > F(hi), to 1e-13 relative.
    """
    act = theory_activation(activation)
    sw2, sb2 = np.broadcast_arrays(_f(sigma_w2), _f(sigma_b2))
    if np.any(sw2 < 0) or np.any(sb2 < 0) or np.any(~np.isfinite(sw2)) or np.any(~np.isfinite(sb2)):
        raise ValueError("σ_w² and σ_b² must be finite and >= 0")
    if act.homogeneous:
        gain = sw2 * act.slope2
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(gain < 1, sb2 / (1 - gain), np.inf)
        # gain 1 within a few ulps: σ_w² = n · (2/n) for He carries a rounding of an ulp, which made a He-initialised
        # relu network "unbounded" (q* = inf) on the live page instead of critical
        return np.where((np.abs(gain - 1) <= 8 * np.finfo(float).eps) & (sb2 == 0), np.nan, q)
    return _solve_q(act, sw2.astype(float), sb2.astype(float))


def _solve_q(act: TheoryActivation, sw2: np.ndarray, sb2: np.ndarray) -> np.ndarray:
    shape = sw2.shape
    sw2, sb2 = sw2.ravel(), sb2.ravel()

    def F(q, idx):
        return sw2[idx] * mean_square(act, q) + sb2[idx] - q

    def F_dF(q, idx):
        """F and F′ at q (F′ = σ_w² d/dq E[φ²] − 1): one quadrature for both where E[φ²] is one (the same
        numbers as mean_square and mean_square_slope apart)."""
        if _quadrature_only(act) and bool(np.all(q >= _Q_TINY)):
            m, slope = gauss.expect_with_slope(lambda u: act.phi(u) ** 2, q)
        else:
            m, slope = mean_square(act, q), mean_square_slope(act, q)
        return sw2[idx] * m + sb2[idx] - q, sw2[idx] * slope - 1.0

    n = sw2.size
    everything = np.arange(n)
    lo = np.full(n, _Q_TINY)
    f_lo = F(lo, everything)
    out = np.full(n, np.nan)
    out[f_lo <= 0] = 0.0  # σ_b² = 0 and the origin attracts: the signal dies out
    hi = np.ones(n)
    for _ in range(40):  # grow hi until F(hi) < 0
        f_hi = F(hi, everything)
        grow = (f_hi >= 0) & (hi < Q_MAX)
        if not grow.any():
            break
        lo = np.where(grow, hi, lo)
        hi = np.where(grow, hi * 8.0, hi)
    f_hi = F(hi, everything)
    out[(f_lo > 0) & (f_hi >= 0)] = np.inf  # the length grows without bound
    todo = np.flatnonzero(np.isnan(out))
    lo, hi = lo[todo], hi[todo]
    x = 0.5 * (lo + hi)
    for _ in range(200):
        if todo.size == 0:
            break
        fx, dfx = F_dF(x, todo)
        lo = np.where(fx >= 0, x, lo)
        hi = np.where(fx < 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - fx / dfx
        inside = (newton > lo) & (newton < hi) & np.isfinite(newton)
        # a Newton step below the tolerance is convergence, even where it lands on the end of the bracket x has just
        # become (F at rounding level): it once bisected from there to the tolerance, several quadratures more
        close = np.isfinite(newton) & (np.abs(newton - x) <= 1e-13 * np.maximum(x, 1e-300))
        new = np.where(inside | close, newton, 0.5 * (lo + hi))
        done = (np.abs(new - x) <= 1e-13 * np.maximum(x, 1e-300)) | (hi - lo <= 1e-15 * hi)
        x = new
        if done.any():
            out[todo[done]] = x[done]
            keep = ~done
            todo, x, lo, hi = todo[keep], x[keep], lo[keep], hi[keep]
    out[todo] = x  # did not meet the tolerance in 200 steps (bisection halves the bracket each step)
    return out.reshape(shape)


def chi_1(sigma_w2, sigma_b2, activation, q=None) -> np.ndarray:
    """χ₁ = σ_w² E[φ′(√q* z)²] (eq. 6), at ``q`` if given, else at q*."""
    act = theory_activation(activation)
    q = q_star(sigma_w2, sigma_b2, act) if q is None else _f(q)
    if act.homogeneous:
        return _f(sigma_w2) * act.dslope2 + 0.0 * np.nan_to_num(q, nan=0.0, posinf=0.0)
    return _f(sigma_w2) * derivative_mean_square(act, q)


def c_star(sigma_w2, sigma_b2, activation, q=None) -> np.ndarray:
    """The stable fixed point of the correlation map: 1 where χ₁ ≤ 1, the root c* < 1 of c ↦ C(c) − c
    where χ₁ > 1 (nan where q* is not finite).

    C is a power series in c with non-negative coefficients (Mehler's expansion of E[φ(u₁)φ(u₂)]), so
    g(c) = C(c) − c is convex on [0, 1] with g(0) ≥ 0 and g(1) = 0, g′(1) = χ₁ − 1 > 0: Newton's method from
    c = 0 climbs monotonically to c* (g′ = correlation_slope − 1 < 0 on [0, c*]).
    """
    p = propagation(sigma_w2, sigma_b2, activation, q=q)
    return p.c_star


@dataclass
class Propagation:
    """Everything of one (σ_w², σ_b², φ) grid at once (arrays of the broadcast shape)."""

    activation: str
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray
    chi_1: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray  # slope of the correlation map at c*
    xi_q: np.ndarray
    xi_c: np.ndarray

    def phase(self, tol: float = 1e-9) -> np.ndarray:
        """'ordered', 'critical', 'chaotic' by χ₁; 'unbounded' where q* = inf (no fixed length)."""
        return phase_names(self.chi_1, self.q_star, tol)


def phase_names(chi, q, tol: float = 1e-9) -> np.ndarray:
    """Names of the phases for arrays of χ₁ and q*: 'unbounded' where q* = inf, else 'critical' within ``tol``
    of χ₁ = 1, 'ordered' below, 'chaotic' above."""
    chi, q = np.broadcast_arrays(np.asarray(chi, dtype=float), np.asarray(q, dtype=float))
    out = np.where(chi < 1.0, "ordered", "chaotic").astype(object)
    out[np.abs(chi - 1.0) <= tol] = "critical"
    out[np.isposinf(q)] = "unbounded"
    return out.astype(str)


def propagation(sigma_w2, sigma_b2, activation, q=None) -> Propagation:
    """q*, χ₁, c*, χ_c, ξ_q and ξ_c on a broadcast grid of (σ_w², σ_b²) (``q`` overrides q*)."""
    act = theory_activation(activation)
    sw2, sb2 = np.broadcast_arrays(_f(sigma_w2), _f(sigma_b2))
    sw2, sb2 = sw2.astype(float), sb2.astype(float)
    qs = q_star(sw2, sb2, act) if q is None else np.broadcast_to(_f(q), sw2.shape).astype(float)
    chi = chi_1(sw2, sb2, act, q=qs)
    finite = np.isfinite(qs) & (qs > 0)
    cs = np.where(np.isfinite(qs), 1.0, np.nan)
    chi_c = np.where(np.isfinite(qs), chi, np.nan)
    chaotic = finite & (chi > 1.0)
    if chaotic.any():
        c_, s_ = _solve_c(act, sw2[chaotic], sb2[chaotic], qs[chaotic])
        cs[chaotic], chi_c[chaotic] = c_, s_
    slope_q = np.where(qs > 0, sw2 * mean_square_slope(act, np.where(finite, qs, 1.0)), chi)
    with np.errstate(divide="ignore"):
        xi_q = np.where(np.isfinite(qs), -1.0 / np.log(slope_q), np.nan)
        xi_c = np.where(np.isfinite(chi_c), -1.0 / np.log(chi_c), np.nan)
    xi_c = np.where(chi_c == 1.0, np.inf, xi_c)
    return Propagation(act.name, sw2, sb2, qs, chi, cs, chi_c, xi_q, xi_c)


def _solve_c(act, sw2, sb2, q) -> tuple[np.ndarray, np.ndarray]:
    c = np.zeros_like(q)
    slope = np.full_like(q, np.nan)
    todo = np.arange(q.size)
    for _ in range(100):
        k, dk = kernels(act, q[todo], q[todo], c[todo] * q[todo])
        g = (sw2[todo] * k + sb2[todo]) / q[todo] - c[todo]
        s = sw2[todo] * dk
        slope[todo] = s
        # s ≥ 1 left of c* happens only when χ₁ exceeds 1 by less than the quadrature resolves: c* is 1 to
        # within that accuracy, and ξ_c is infinite
        unresolved = s >= 1.0
        c[todo[unresolved]], slope[todo[unresolved]] = 1.0, 1.0
        step = g / np.where(unresolved, np.nan, 1.0 - s)
        new = np.clip(c[todo] + step, -1.0, 1.0)
        done = unresolved | (np.abs(step) <= 1e-12)  # the slope was taken at this c: keep c, not new
        c[todo] = np.where(done, c[todo], new)
        todo = todo[~done]
        if todo.size == 0:
            break
    return c, slope


def xi_q(sigma_w2, sigma_b2, activation) -> np.ndarray:
    """ξ_q = −1/ln(σ_w² d/dq E[φ(√q z)²] at q*): the depth over which the length reaches q* (eq. 8)."""
    return propagation(sigma_w2, sigma_b2, activation).xi_q


def xi_c(sigma_w2, sigma_b2, activation) -> np.ndarray:
    """ξ_c = −1/ln χ_c: the depth over which two inputs' correlation reaches c* (eq. 9); inf at χ₁ = 1."""
    return propagation(sigma_w2, sigma_b2, activation).xi_c


def iterates(q0, c0, sigma_w2, sigma_b2, activation, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The maps' prediction layer by layer for two inputs of squared length q0 (per unit: E[x²] = q0/σ_w²
    reaching the first layer as q¹ = σ_w² q0_in + σ_b² is the caller's business: here ``q0`` is q of layer 0's
    pre-activations) and correlation c0: arrays q^l, c^l for l = 0..depth (q^0 = q0, c^0 = c0)."""
    q = np.empty(depth + 1)
    c = np.empty(depth + 1)
    q[0], c[0] = float(q0), float(c0)
    q12 = c0 * q0
    for l in range(1, depth + 1):
        qn, _, q12 = covariance_map(q[l - 1], q[l - 1], q12, sigma_w2, sigma_b2, activation)
        q[l], c[l] = qn, q12 / qn
    return q, c
