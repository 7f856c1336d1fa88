"""Stability limits of the update rules, and the preconditioned sharpness adaptive methods feel.

On a quadratic with Hessian H, an update rule is stable along an eigenvector of eigenvalue λ only
when λ stays below a limit set by the step size η (the ``quadratic`` study shows the GD case):

===================== ======================================= ============================================
rule                  stable while                            where it comes from
===================== ======================================= ============================================
gradient descent      λ₁(H) < 2/η                             x ← (1 − ηλ) x, |1 − ηλ| < 1
heavy ball, β         λ₁(H) < (2 + 2β)/η                      the roots of z² − (1 + β − ηλ) z + β = 0
                                                              leave the unit disc at ηλ = 2 + 2β
Adam / RMSProp        λ₁(P⁻¹H) < (2 + 2β₁)/((1 − β₁) η)       the heavy-ball limit for the EMA form of
                                                              momentum (m ← β₁m + (1−β₁)g), with the
                                                              preconditioner P frozen (Cohen et al. 2022)
===================== ======================================= ============================================

For Adam with β₁ = 0.9 the last is 38/η; RMSProp without momentum (β₁ = 0) gives 2/η. Cohen, Kaur, Li,
Kolter, Talwalkar 2021 (*Gradient Descent on Neural Networks Typically Occurs at the Edge of
Stability*) found full-batch GD's sharpness rises to 2/η and hovers there; Cohen et al. 2022 (*Adaptive
Gradient Methods at the Edge of Stability*) found the same for λ₁(P⁻¹H) of Adam at 38/η.

P⁻¹H is not symmetric but is similar to the symmetric P^{−1/2} H P^{−1/2}, so its eigenvalues are those
of the product v ↦ d ⊙ H (d ⊙ v) with d = P^{−1/2}: :func:`preconditioned_hvp`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gd_limit", "heavy_ball_limit", "adam_limit", "preconditioner", "preconditioned_hvp"]


def _lr(lr):
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a positive number, got {lr!r}")
    return float(lr)


def gd_limit(lr) -> float:
    """2/η: gradient descent's stability limit on the sharpness λ₁(H)."""
    return 2.0 / _lr(lr)


def heavy_ball_limit(lr, beta) -> float:
    """(2 + 2β)/η: heavy-ball momentum's limit (v ← βv − ηg, θ ← θ + v; torch's SGD momentum is the same
    up to the scaling of v)."""
    if not 0 <= beta < 1:
        raise ValueError(f"momentum β must lie in [0, 1), got {beta}")
    return (2.0 + 2.0 * beta) / _lr(lr)


def adam_limit(lr, beta1) -> float:
    """(2 + 2β₁)/((1 − β₁)η): the limit on Adam's preconditioned sharpness λ₁(P⁻¹H); 38/η at β₁ = 0.9."""
    if not 0 <= beta1 < 1:
        raise ValueError(f"β₁ must lie in [0, 1), got {beta1}")
    return (2.0 + 2.0 * beta1) / ((1.0 - beta1) * _lr(lr))


def preconditioner(optimizer, params=None) -> np.ndarray:
    """The diagonal P of an Adam or RMSProp optimizer's current step θ ← θ − η P⁻¹ m̂ (or g), flattened
    in the order of ``params`` (default: the optimizer's own).

    Adam (ε on v̂, torch's form): P = √v̂ + ε, v̂ = v/(1 − β₂ᵗ). Adam (ε on v, the book's): the step is
    η √(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε) = η m̂ / ((√v + ε)/√(1−β₂ᵗ)), so P = (√v + ε)/√(1 − β₂ᵗ).
    RMSProp: P = √(c v) + ε (centred: √(c v − (c m)²) + ε), c the bias correction if on, else 1.
    Raises ValueError before the first step (no second moment yet) or for another optimizer.
    """
    name = type(optimizer).__name__
    if name not in ("Adam", "RMSProp"):
        raise ValueError(f"a preconditioned sharpness needs Adam or RMSProp; {name} has no diagonal preconditioner")
    index = {id(p): i for i, p in enumerate(optimizer.params)}
    params = optimizer.params if params is None else list(params)
    out = []
    for p in params:
        state = optimizer.state[index[id(p)]] if id(p) in index else None
        if state is None or state.get("t", 0) == 0:
            raise ValueError(f"{name} has taken no step yet: its preconditioner (the second moment) is not set")
        t, v = state["t"], state["v"]
        if name == "Adam":
            b2 = optimizer.betas[1]
            if optimizer.amsgrad:
                v = state["v_max"]
            c2 = 1.0 - b2 ** t if optimizer.bias_correction else 1.0
            if optimizer.eps_on == "v_hat":
                P = np.sqrt(v / c2) + optimizer.eps
            else:
                P = (np.sqrt(v) + optimizer.eps) / math.sqrt(c2)
        else:
            c = 1.0 / (1.0 - optimizer.alpha ** t) if optimizer.bias_correction else 1.0
            s = v * c - (state["m"] * c) ** 2 if optimizer.centered else v * c
            P = np.sqrt(s) + optimizer.eps
        out.append(np.asarray(P, dtype=np.float64).ravel())
    return np.concatenate(out)


def preconditioned_hvp(hvp, P):
    """v ↦ P^{−1/2} H P^{−1/2} v, whose eigenvalues are those of P⁻¹H (P a positive diagonal)."""
    d = 1.0 / np.sqrt(np.asarray(P, dtype=np.float64))

    def f(v):
        return d * hvp(d * v)

    return f
