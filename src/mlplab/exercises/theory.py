"""The signal-propagation exercises: the variance recursion through a deep ReLU/tanh network and tanh's critical
σ_w² (Schoenholz et al. 2017), solved by :mod:`mlplab.theory` (the length map, the critical line)."""

from __future__ import annotations

import numpy as np

from ..theory import gauss, maps
from ..theory.critical import critical_line
from .base import REGISTRY, SCHOENHOLZ, Exercise, register

_BEFORE = set(REGISTRY)


# ----------------------------------------------------------------------------- signal propagation
def layer_variances(q0, sigma_w2, sigma_b2, depth, activation):
    """q^l for l = 1..depth by the length map (mlplab.theory.maps.length_map)."""
    q, out = float(q0), []
    for _ in range(depth):
        q = float(maps.length_map(q, sigma_w2, sigma_b2, activation))
        out.append(q)
    return np.array(out)


def _lv_wrong(kind):
    def f(q0, sigma_w2, sigma_b2, depth, activation):
        q, out = float(q0), []
        for _ in range(depth):
            if kind == "first":
                out.append(q)
            if kind == "linear":
                q = sigma_w2 * q + sigma_b2
            elif kind == "point":
                phi = {"relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh}[activation]
                q = sigma_w2 * float(gauss.expect(phi, q)) ** 2 + sigma_b2
            else:
                q = float(maps.length_map(q, sigma_w2, 0.0 if kind == "nob" else sigma_b2, activation))
            if kind != "first":
                out.append(q)
        return np.array(out)
    return f


def _lv_cases(rng, hidden):
    out = []
    for k in range(4 if hidden else 2):
        act = ("relu", "tanh")[k % 2]
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"q0": round(float(rng.uniform(0.2, 3.0)), 3) if hidden else 1.0,
                     "sigma_w2": round(float(rng.uniform(0.8, 3.0)), 3) if hidden else [2.0, 1.5][k],
                     "sigma_b2": round(float(rng.uniform(0.01, 0.5)), 3) if hidden else 0.1,
                     "depth": int(rng.integers(3, 9)) if hidden else 5, "activation": act}))
    return out


register(Exercise(
    "layer_variances", "function", "the variance recursion through a deep ReLU/tanh network", SCHOENHOLZ,
    "def layer_variances(q0, sigma_w2, sigma_b2, depth, activation):",
    """Predict the variance of each layer's pre-activations in a wide network with weights N(0, σ_w²/n) and
    biases N(0, σ_b²), from the input's q⁰ (the length map):

        q^l = σ_w² E_z[φ(√q^(l−1) z)²] + σ_b²,     z ~ N(0, 1),   l = 1..depth

    activation is "relu" (E[relu(√q z)²] = q/2) or "tanh" (compute the Gaussian expectation numerically, e.g.
    Gauss–Hermite quadrature: np.polynomial.hermite_e.hermegauss). Return the float64 array (q¹, …, q^depth).""",
    layer_variances,
    {"activation ignored (the linear network's q ← σ_w² q + σ_b²)": _lv_wrong("linear"),
     "σ_b² dropped": _lv_wrong("nob"),
     "off by one: returns q⁰ … q^(depth−1)": _lv_wrong("first"),
     "the square of the mean E[φ]² instead of the mean of the square E[φ²]": _lv_wrong("point")},
    _lv_cases, tol={"rtol": 1e-6, "atol": 1e-9}))


def critical_sigma_w2(sigma_b2):
    """σ_w² on tanh's critical line χ₁ = 1 for each σ_b² (mlplab.theory.critical.critical_line)."""
    return critical_line(np.asarray(sigma_b2, dtype=float), "tanh")[0]


def _crit_wrong(kind):
    def f(sigma_b2):
        sb2 = np.asarray(sigma_b2, dtype=float)
        if kind == "one":
            return np.ones_like(sb2)
        q = sb2 if kind == "qb" else np.ones_like(sb2)
        return 1.0 / maps.derivative_mean_square("tanh", np.maximum(q, 1e-300))
    return f


register(Exercise(
    "critical_sigma_w2", "function", "the critical σ_w² of a tanh network", SCHOENHOLZ,
    "def critical_sigma_w2(sigma_b2):",
    """The edge of chaos for tanh: for each σ_b² (a float64 array), the σ_w² with χ₁ = 1 at the fixed point q*:

        q* = σ_w² E_z[tanh(√q* z)²] + σ_b²,       χ₁ = σ_w² E_z[tanh′(√q* z)²] = 1

    (solve both together: e.g. for a trial q*, σ_w² = 1 / E[tanh′(√q* z)²] and σ_b² = q* − σ_w² E[tanh(√q* z)²];
    find the q* that gives the wanted σ_b²). Return an array of σ_b²'s shape.""",
    critical_sigma_w2,
    {"σ_b² ignored (σ_w² = 1, right only at σ_b² = 0)": _crit_wrong("one"),
     "χ₁ taken at q = σ_b² instead of the fixed point q*": _crit_wrong("qb"),
     "χ₁ taken at q = 1 instead of the fixed point q*": _crit_wrong("q1")},
    lambda rng, hidden: [(f"hidden-{k + 1}", {"sigma_b2": np.round(rng.uniform(0.01, 0.3, int(rng.integers(2, 6))), 4)})
                         for k in range(2)] if hidden else [("public-1", {"sigma_b2": np.array([0.0, 0.05, 0.2])}),
                                                            ("public-2", {"sigma_b2": np.array([0.01, 0.5])})],
    tol={"rtol": 1e-5, "atol": 1e-8}))


NAMES = [n for n in REGISTRY if n not in _BEFORE]  # this topic's exercises, in the order written
