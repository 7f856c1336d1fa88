"""The critical line χ₁ = 1 and the phases of the (σ_w², σ_b²) plane.

Schoenholz et al. 2017 (*Deep Information Propagation*, §3, Fig. 1): a point of the critical line is easiest
found from its q*: at criticality σ_w² E[φ′(√q* z)²] = 1 and q* = σ_w² E[φ(√q* z)²] + σ_b², so

    σ_w²(q*) = 1 / E[φ′(√q* z)²],        σ_b²(q*) = q* − E[φ(√q* z)²] / E[φ′(√q* z)²].

:func:`critical_point` is that map; :func:`critical_line` inverts the second equation for given σ_b² (on a
table of q* shared by every σ_b², refined in log q*: Newton's method for a few σ_b², bisection for many). For
tanh σ_b²(q*) rises from 0, so every σ_b² ≥ 0 has one critical σ_w² (1 at σ_b² = 0, 1.761 at σ_b² = 0.05).
For the homogeneous activations (identity, relu, leaky relu) χ₁ = σ_w² E[φ′²] does not depend on q*, so the
critical σ_w² is 1/E[φ′²] (1, 2, 2/(1 + a²)) for every σ_b², but only σ_b² = 0 gives a fixed length (the paper's
ReLU critical point (2, 0)); with σ_b² > 0 the length grows by σ_b² a layer (q* = inf).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import gauss
from .functions import theory_activation
from .maps import _quadrature_only, chi_1, derivative_mean_square, mean_squares, phase_names, q_star

__all__ = ["PHASES", "critical_line", "critical_point", "phase", "phase_names"]

PHASES = ("ordered", "critical", "chaotic", "unbounded")
_LOG_Q = np.linspace(np.log(1e-8), np.log(1e6), 400)  # the table of q* the line is found on


def critical_point(q, activation) -> tuple[np.ndarray, np.ndarray]:
    """(σ_w², σ_b²) of the critical point whose fixed length is q* = ``q`` (σ_b² < 0: no such point)."""
    act = theory_activation(activation)
    q = np.asarray(q, dtype=float)
    m, d = mean_squares(act, q)
    return 1.0 / d, q - m / d


def _brent(act, targets, lo, hi, found):
    """q* for a few σ_b² by Brent's method in ln q* (~10 evaluations each, where bisection takes 60: a diagnosis
    asks for one σ_b², issue 30's time budget), or None when a bracket from the table does not hold for the
    scalar evaluation (its quadrature order can differ from the table's by a hair): then bisection decides."""
    from scipy.optimize import brentq

    out = []
    for s, a, b, ok in zip(targets, lo, hi, found):
        if not ok:
            out.append(0.5 * (a + b))
            continue
        try:
            out.append(brentq(lambda x, s=s: critical_point(np.exp(np.array([x])), act)[1][0] - s, a, b,
                              xtol=1e-14, rtol=4 * np.finfo(float).eps))
        except ValueError:
            return None
    return np.exp(np.array(out))


def _sigma_b2_and_slope(act, t: float) -> tuple[float, float]:
    """σ_b²(q*) at q* = e^t (:func:`critical_point`'s, the same number) and its derivative in t, from one
    evaluation of φ and φ′ on the nodes: with M = E[φ²], D = E[φ′²] and (Stein's lemma) M′ = E[(z² − 1)φ²]/(2q),
    D′ = E[(z² − 1)φ′²]/(2q), d/dt (q − M/D) = q (1 − (M′D − M D′)/D²)."""
    q = np.exp(np.array([t]))

    def both(u):
        p, d = act.phi_dphi(u)
        return p ** 2, d ** 2
    (m, ms), (d, ds) = gauss._by_order_many((np.ones_like, gauss._stein_rule), both, q, None)
    m, d, dm, dd, qv = float(m[0]), float(d[0]), float(ms[0]) / (2 * q[0]), float(ds[0]) / (2 * q[0]), float(q[0])
    return qv - m / d, qv * (1.0 - (dm * d - m * dd) / (d * d))


def _newton(act, targets, lo, hi, found, table_lo, table_hi):
    """q* for a few σ_b² by Newton's method in t = ln q* inside the table's bracket [lo, hi] (bisection where a
    step would leave it), started where the table's chord crosses the target: ~3 evaluations each where Brent's
    method took 7–8 (issue 30's time budget: a sigmoid network's critical line is found at q* ≈ 46, where each
    evaluation is a quadrature of order 8001). Stops as :func:`_brent` does (a step ≤ 1e-14 + 4ε|t|), at the
    same root to ~1e-15 relative. For the activations whose E[φ²] and E[φ′²] are both quadratures."""
    out = []
    for s, a, b, ok, ga, gb in zip(targets, lo, hi, found, table_lo, table_hi):
        if not ok:
            out.append(0.5 * (a + b))
            continue
        t = a + (b - a) * (s - ga) / (gb - ga) if gb > ga else 0.5 * (a + b)
        t = min(max(t, a), b)
        for _ in range(100):
            g, dg = _sigma_b2_and_slope(act, t)
            g -= s
            if g == 0:
                break
            if g < 0:
                a = t
            else:
                b = t
            new = t - g / dg if dg != 0 and np.isfinite(dg) else np.nan
            # a Newton step below the tolerance is convergence, even where it lands on the end of the bracket t
            # has just become (the step of a g at rounding level): it once bisected from there, ~6 evaluations more
            close = abs(new - t) <= 1e-14 + 4 * np.finfo(float).eps * abs(t)
            if not (a < new < b) and not close:
                new = 0.5 * (a + b)
            tol = 1e-14 + 4 * np.finfo(float).eps * abs(new)
            done = abs(new - t) <= tol or b - a <= tol
            t = new
            if done:
                break
        out.append(t)
    return np.exp(np.array(out))


@lru_cache(maxsize=32)
def _table(act) -> np.ndarray:
    """σ_b²(q*) on the table :data:`_LOG_Q` for one activation (read-only): it does not depend on the σ_b² asked
    for, and its 400 quadratures were most of a diagnosis's theory note (issue 30's time budget), so a process
    computes it once per activation."""
    _, table = critical_point(np.exp(_LOG_Q), act)
    table.flags.writeable = False
    return table


def critical_line(sigma_b2, activation) -> tuple[np.ndarray, np.ndarray]:
    """(σ_w², q*) on the critical line χ₁ = 1 for each σ_b² of the array ``sigma_b2``.

    The first q* (from small to large) with σ_b²(q*) = the target: a table of 400 log-spaced q* in
    [1e-8, 1e6] locates the crossing; for up to 4 targets Newton's method in ln q* (tanh, sigmoid, GELU, SiLU)
    or Brent's (erf, elu) refines it, for more 60 bisection steps (to ~1e-16 relative). Where no
    q* in that range gives the target, nan. Homogeneous φ: σ_w² = 1/E[φ′²], q* nan at σ_b² = 0, else inf.
    """
    act = theory_activation(activation)
    sb2 = np.asarray(sigma_b2, dtype=float)
    if np.any(sb2 < 0) or not np.all(np.isfinite(sb2)):
        raise ValueError("σ_b² must be finite and >= 0")
    if act.homogeneous:
        return np.full(sb2.shape, 1.0 / act.dslope2), np.where(sb2 == 0, np.nan, np.inf)
    flat = sb2.ravel()
    table = _table(act)
    above = table[None, :] >= flat[:, None]  # (targets, table)
    first = np.argmax(above, axis=1)
    found = above[np.arange(flat.size), first] & (first > 0)
    lo = _LOG_Q[np.maximum(first - 1, 0)]
    hi = _LOG_Q[first]
    exact_zero = (flat == 0) & (table[0] >= 0)
    if flat.size > 4:
        qs = None
    elif _quadrature_only(act):
        qs = _newton(act, flat, lo, hi, found, table[np.maximum(first - 1, 0)], table[first])
    else:
        qs = _brent(act, flat, lo, hi, found)
    if qs is None:
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            _, b = critical_point(np.exp(mid), act)
            up = b >= flat
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
        qs = np.exp(0.5 * (lo + hi))
    qs = np.where(found, qs, np.nan)
    qs = np.where(exact_zero, 0.0, qs)
    w = np.where(np.isnan(qs), np.nan, 1.0 / derivative_mean_square(act, np.nan_to_num(qs)))
    return w.reshape(sb2.shape), qs.reshape(sb2.shape)


def phase(sigma_w2, sigma_b2, activation, tol: float = 1e-9) -> np.ndarray:
    """The phase of each (σ_w², σ_b²): ordered (χ₁ < 1), critical, chaotic (χ₁ > 1), unbounded (no q*)."""
    q = q_star(sigma_w2, sigma_b2, activation)
    return phase_names(chi_1(sigma_w2, sigma_b2, activation, q=q), q, tol)
