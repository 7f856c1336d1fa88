"""The activations the theory knows: φ and φ′ as float64 NumPy functions, and the closed-form Gaussian
kernels where they exist.

Nine activations: the five that :mod:`mlplab.nn` builds (``identity`` a.k.a. linear, ``relu``,
``leaky_relu``, ``tanh``, ``sigmoid``, resolved through :func:`mlplab.activations.canonical_activation`)
and four that only PyTorch networks have (``erf``, ``gelu``, ``silu`` a.k.a. swish, ``elu``), which the
theory needs for ``diagnose``'s PyTorch check-up. They are listed here, not in the activation registry,
because that registry is what :class:`mlplab.nn.MLP` can build.

====================== ===================================== ===================================
name                   φ(x)                                  φ′(x)
====================== ===================================== ===================================
``identity``           x                                     1
``relu``               max(0, x)                             1{x > 0}
``leaky_relu``         x if x > 0 else a·x (a = 0.01)        1 if x > 0 else a
``tanh``               tanh x                                1 − tanh² x
``sigmoid``            1/(1 + e^(−x))                        σ(x)(1 − σ(x))
``erf``                erf x                                 (2/√π) e^(−x²)
``gelu``               x Φ(x) (the exact, erf form)          Φ(x) + x ϕ(x)
``silu``               x σ(x)                                σ(x)(1 + x(1 − σ(x)))
``elu``                x if x > 0 else e^x − 1 (α = 1)       1 if x > 0 else e^x
====================== ===================================== ===================================

Closed forms (:attr:`TheoryActivation.kernel`, ``dkernel``) for u ~ N(0, [[q₁, q₁₂], [q₁₂, q₂]]),
c = q₁₂/√(q₁q₂):

* relu, the arc-cosine kernel of degree 1 (Cho & Saul 2009, *Kernel methods for deep learning*):
  E[φ(u₁)φ(u₂)] = √(q₁q₂)/(2π) · (√(1 − c²) + (π − arccos c) c), E[φ′(u₁)φ′(u₂)] = (π − arccos c)/(2π);
* leaky relu = (1 − a)·relu + a·identity: (1 − a)² K_relu + a q₁₂ and (1 − a)² K′_relu + a;
* erf (Williams 1997, *Computing with infinite networks*):
  E[φ(u₁)φ(u₂)] = (2/π) arcsin(2q₁₂/√((1 + 2q₁)(1 + 2q₂))),
  E[φ′(u₁)φ′(u₂)] = (4/π)/√((1 + 2q₁)(1 + 2q₂) − 4q₁₂²);
* identity: q₁₂ and 1;
* elu: E[φ(√q z)²], E[φ′(√q z)²] and d/dq E[φ²] from E[e^{az}1{z < 0}] = e^{a²/2}Φ(−a); for two variables
  the inner expectation E[φ(a + bz)] in closed form and the outer one by Gauss–Legendre on each side of the
  kink (:func:`.gauss.expect_pairs_smoothed`): its φ′ has a kink at 0, where Gauss–Hermite converges only
  algebraically.

Every other expectation is Gauss–Hermite quadrature (:mod:`.gauss`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..activations import canonical_activation, normalize_name


def _special(name: str):
    """``scipy.special.<name>``, imported at the first call: scipy.special takes ~0.4 s to import, most of a
    fresh process's ``import mlplab.diagnose.pytorch`` (``mlplab diagnose`` always is one), and a network of
    ReLUs never calls it (issue 30's time target)."""
    from scipy import special

    return getattr(special, name)


def _erf(x):
    return _special("erf")(x)


def erfcx(x):
    return _special("erfcx")(x)


def expit(x):
    return _special("expit")(x)


def ndtr(x):
    return _special("ndtr")(x)


LEAKY_SLOPE = 0.01  # the registry's default negative slope
_SQRT_2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class TheoryActivation:
    """φ and φ′ of one activation, and what the theory may shortcut.

    ``homogeneous``: φ(λx) = λφ(x) for λ > 0 (identity, relu, leaky relu), so E[φ(√q z)²] = m·q and
    E[φ′²] is the same at every q (``slope2`` = m, ``dslope2`` = E[φ′²]); ``kernel`` / ``dkernel`` are
    closed forms of E[φ(u₁)φ(u₂)] and E[φ′(u₁)φ′(u₂)] as functions of (q₁, q₂, q₁₂), or None (quadrature).
    """

    name: str
    phi: Callable
    dphi: Callable
    formula: str
    kernel: Callable | None = None
    dkernel: Callable | None = None
    homogeneous: bool = False
    slope2: float | None = None  # E[φ(z)²] for z ~ N(0, 1) when homogeneous
    dslope2: float | None = None  # E[φ′(z)²] when homogeneous
    bounded: bool = False  # |φ| bounded: the length map always has a finite fixed point
    odd: bool = False  # φ(−x) = −φ(x): the kernels' integrands are symmetric under u → −u (half the nodes)
    both: Callable | None = None  # x ↦ (φ(x), φ′(x)) sharing work (tanh's φ′ = 1 − φ², sigmoid's σ(1 − σ))
    square: Callable | None = None  # closed forms q ↦ (E[φ(√q z)²], E[φ′(√q z)²], d/dq E[φ(√q z)²]), if any
    smoothed: Callable | None = None  # closed forms (a, b) ↦ (E[φ(a + b z)], E[φ′(a + b z)]), if any

    def phi_dphi(self, x):
        """(φ(x), φ′(x)) in one call."""
        return self.both(x) if self.both is not None else (self.phi(x), self.dphi(x))


def _cos(q1, q2, q12):
    return np.clip(q12 / np.sqrt(q1 * q2), -1.0, 1.0)


def _relu_kernel(q1, q2, q12):
    c = _cos(q1, q2, q12)
    return np.sqrt(q1 * q2) / (2 * math.pi) * (np.sqrt(1.0 - c * c) + (math.pi - np.arccos(c)) * c)


def _relu_dkernel(q1, q2, q12):
    return (math.pi - np.arccos(_cos(q1, q2, q12))) / (2 * math.pi)


def _leaky(a: float) -> TheoryActivation:
    return TheoryActivation(
        "leaky_relu", lambda x: np.where(x > 0, x, a * x), lambda x: np.where(x > 0, 1.0, a),
        f"x if x > 0 else {a:g}·x",
        kernel=lambda q1, q2, q12: (1 - a) ** 2 * _relu_kernel(q1, q2, q12) + a * q12,
        dkernel=lambda q1, q2, q12: (1 - a) ** 2 * _relu_dkernel(q1, q2, q12) + a,
        homogeneous=True, slope2=(1 + a * a) / 2, dslope2=(1 + a * a) / 2)


def _erf_kernel(q1, q2, q12):
    return 2 / math.pi * np.arcsin(np.clip(2 * q12 / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)), -1.0, 1.0))


def _erf_dkernel(q1, q2, q12):
    return 4 / math.pi / np.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * q12 * q12)


def _elu_square(q):
    """ELU (α = 1), from E[e^{az} 1{z < 0}] = e^{a²/2} Φ(−a) written with erfcx (no overflow):
    E[φ²] = q/2 + ½ erfcx(√(2q)) − erfcx(√(q/2)) + ½, E[φ′²] = ½ + ½ erfcx(√(2q)),
    d/dq E[φ²] = ½ + erfcx(√(2q)) − ½ erfcx(√(q/2))."""
    a, b = erfcx(np.sqrt(2 * q)), erfcx(np.sqrt(q / 2))
    return q / 2 + a / 2 - b + 0.5, 0.5 + a / 2, 0.5 + a - b / 2


def _elu_smoothed(a, b):
    """E[φ(a + bz)] and E[φ′(a + bz)] for ELU: with t = a/b, E[(a + bz)1{a + bz > 0}] = aΦ(t) + bϕ(t) and
    E[e^{a+bz} 1{a + bz < 0}] = e^{a + b²/2} Φ(−t − b) (for t + b ≥ 0 written ½ e^{−t²/2} erfcx((t + b)/√2),
    which neither overflows nor underflows to 0·inf)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        t = a / b
        y = t + b
        e = np.where(y < 0, np.exp(a + 0.5 * b * b) * ndtr(-y),
                     0.5 * np.exp(-0.5 * t * t) * erfcx(np.maximum(y, 0.0) / math.sqrt(2.0)))
        pos = ndtr(t)
        gauss_t = np.where(np.isfinite(t), b * np.exp(-0.5 * t * t) / _SQRT_2PI, 0.0)
    return a * pos + gauss_t + e - (1.0 - pos), pos + e


def _tanh_d(x):
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh_both(x):
    t = np.tanh(x)
    return t, 1.0 - t * t


def _sigmoid_d(x):
    s = expit(x)
    return s * (1.0 - s)


def _sigmoid_both(x):
    s = expit(x)
    return s, s * (1.0 - s)


def _gelu(x):
    return x * ndtr(x)


def _gelu_d(x):
    return ndtr(x) + x * np.exp(-0.5 * x * x) / _SQRT_2PI


def _silu_d(x):
    s = expit(x)
    return s * (1.0 + x * (1.0 - s))


def _silu_both(x):
    s = expit(x)
    return x * s, s * (1.0 + x * (1.0 - s))


def _gelu_both(x):
    p = ndtr(x)
    return x * p, p + x * np.exp(-0.5 * x * x) / _SQRT_2PI


THEORY_ACTIVATIONS: dict[str, TheoryActivation] = {a.name: a for a in (
    TheoryActivation("identity", lambda x: np.asarray(x, dtype=float), lambda x: np.ones_like(x, dtype=float), "x",
                     kernel=lambda q1, q2, q12: q12 + 0.0 * q1, dkernel=lambda q1, q2, q12: 1.0 + 0.0 * q12,
                     homogeneous=True, slope2=1.0, dslope2=1.0),
    TheoryActivation("relu", lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float), "max(0, x)",
                     kernel=_relu_kernel, dkernel=_relu_dkernel, homogeneous=True, slope2=0.5, dslope2=0.5),
    _leaky(LEAKY_SLOPE),
    TheoryActivation("tanh", np.tanh, _tanh_d, "tanh x", bounded=True, odd=True, both=_tanh_both),
    TheoryActivation("sigmoid", expit, _sigmoid_d, "1/(1 + exp(−x))", bounded=True, both=_sigmoid_both),
    TheoryActivation("erf", _erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x), "erf x",
                     kernel=_erf_kernel, dkernel=_erf_dkernel, bounded=True, odd=True),
    TheoryActivation("gelu", _gelu, _gelu_d, "x Φ(x)", both=_gelu_both),
    TheoryActivation("silu", lambda x: x * expit(x), _silu_d, "x σ(x)", both=_silu_both),
    TheoryActivation("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
                     lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))), "x if x > 0 else exp(x) − 1",
                     square=_elu_square, smoothed=_elu_smoothed),
)}

_EXTRA_ALIASES = {"swish": "silu", "gaussian_error": "gelu"}


def theory_activation(activation, slope: float | None = None) -> TheoryActivation:
    """The :class:`TheoryActivation` of a name in any spelling (``"ReLU"``, ``"linear"``, ``"Swish"``) or a
    module (``nn.Tanh()``); ``slope`` is leaky relu's negative slope (default 0.01). ValueError names the valid
    choices."""
    if isinstance(activation, TheoryActivation):
        return activation
    key = normalize_name(activation) if isinstance(activation, str) else normalize_name(type(activation).__name__)
    key = _EXTRA_ALIASES.get(key, key)
    if key not in THEORY_ACTIVATIONS:
        try:
            key = canonical_activation(activation)
        except ValueError:
            raise ValueError(f"the theory does not know activation {activation!r}; valid: "
                             f"{', '.join(theory_activation_names())} (or linear, swish)") from None
    if key == "leaky_relu":
        if slope is None and not isinstance(activation, str):
            slope = getattr(activation, "negative_slope", None)
        if slope is not None and slope != LEAKY_SLOPE:
            return _leaky(float(slope))
    return THEORY_ACTIVATIONS[key]


def theory_activation_names() -> list[str]:
    """The nine activations the theory covers."""
    return list(THEORY_ACTIVATIONS)
