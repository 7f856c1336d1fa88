"""Learning dynamics of deep linear networks, mode by mode (Saxe, McClelland, Ganguli 2014, *Exact solutions to the
nonlinear dynamics of learning in deep linear neural networks*, ICLR; §1–3).

A linear network of D weight layers trained by gradient flow on whitened inputs to fit the map
T = Σ_α s_α v_α u_αᵀ, from the "decoupled" initial conditions (every layer aligned with the modes of T and
balanced: each contributes a = u₀^{1/D} to mode α), keeps the modes independent; the strength u_α of mode α in
the network's map obeys

    τ du/dt = D u^{2 − 2/D} (s − u),

and for D = 2 (one hidden layer) this integrates to the sigmoid

    u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u₀):

a plateau while u is small, then a sudden transition at t ≈ τ/(2s) ln(s/u₀), so strong modes are learned first.
τ is the time constant of the learning rule: for the loss mean((ŷ − y)²) over a batch and N_out outputs with
learning rate λ, τ = N_out/(2λ) steps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["half_time", "mode_strength"]


def mode_strength(t, s, u0, tau, depth: int = 2) -> np.ndarray:
    """u(t) of a mode of singular value ``s`` started at ``u0`` (arrays broadcast). D = 2: the closed form; D > 2:
    the ODE τ du/dt = D u^{2−2/D}(s − u) integrated by scipy's solve_ivp (rtol 1e-10) for each (s, u0) pair."""
    t, s, u0 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (t, s, u0)))
    if depth == 2:
        e = np.exp(np.minimum(2 * s * t / tau, 700.0))
        return s * e / (e - 1 + s / u0)
    if depth < 2:
        raise ValueError(f"depth must be >= 2 weight layers, got {depth}")
    from scipy.integrate import solve_ivp

    out = np.empty(t.shape)
    pairs = {}
    for idx in np.ndindex(t.shape):
        pairs.setdefault((float(s[idx]), float(u0[idx])), []).append(idx)
    for (si, ui), where in pairs.items():
        times = np.array([t[i] for i in where])
        order = np.argsort(times)
        sol = solve_ivp(lambda _, u, si=si: depth * np.abs(u) ** (2 - 2 / depth) * (si - u) / tau, (0.0, times.max()),
                        [ui], t_eval=times[order], rtol=1e-10, atol=1e-14)
        for k, j in enumerate(order):
            out[where[j]] = sol.y[0, k]
    return out


def half_time(s, u0, tau, depth: int = 2) -> np.ndarray:
    """The time a mode takes from u₀ to s/2: τ/(2s) ln(s/u₀ − 1) for D = 2 (from the closed form); for D > 2 the
    integral (τ/D) ∫ du / (u^{2−2/D}(s − u)) from u₀ to s/2, by adaptive quadrature."""
    s, u0 = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(u0, dtype=float))
    if depth == 2:
        return tau / (2 * s) * np.log(s / u0 - 1)
    from scipy.integrate import quad

    out = np.empty(s.shape)
    for idx in np.ndindex(s.shape):
        si, ui = float(s[idx]), float(u0[idx])
        out[idx] = tau / depth * quad(lambda u, si=si: 1.0 / (u ** (2 - 2 / depth) * (si - u)), ui, si / 2, limit=200,
                                      epsrel=1e-12)[0]
    return out
