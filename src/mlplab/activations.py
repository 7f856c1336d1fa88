"""The activation registry: one canonical name per activation and one normalizer of names.

Every module that takes an activation by name (:mod:`mlplab.nn`, :mod:`mlplab.init`,
:mod:`mlplab.diagnose.statistics`, :mod:`mlplab.diagnose`, :mod:`mlplab.settings` and the CLI) asks
:func:`canonical_activation`, so ``"ReLU"``, ``"relu"``, ``"leaky-relu"``, ``"LeakyReLU"`` and a
``nn.LeakyReLU(0.1)`` module all resolve the same way. Each entry carries what the theory needs:

====================== ================================ =============== ===========================
canonical name         φ(z)                             gain (torch)    book init σ² (Saito ch. 6)
====================== ================================ =============== ===========================
``relu``               max(0, z)                        √2              2/n
``leaky_relu``         z if z > 0 else a·z (a = 0.01)   √(2/(1+a²))     2/n
``tanh``               tanh z                           5/3             1/n
``sigmoid``            1/(1 + e^(−z))                   1               1/n
``identity``           z                                1               1/n
====================== ================================ =============== ===========================

The gain is ``torch.nn.init.calculate_gain``'s; the book's scale is the ``weight_init_std`` of
*Deep Learning from Scratch* ch. 6 ("He" for ReLU, "Xavier" as the book writes it, 1/n, otherwise).
This module is pure Python and imports nothing from mlplab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["ACTIVATION_INFO", "ActivationInfo", "activation_names", "canonical_activation", "normalize_name",
           "relu_like"]


def normalize_name(name) -> str:
    """The one normalizer of user-typed names: ``" Leaky-ReLU"`` -> ``"leaky_relu"`` (case, blanks,
    dashes and spaces do not matter). Used for activations, initializers, optimizers and schedules."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True)
class ActivationInfo:
    """One activation: canonical ``name``, the formula, aliases, its torch gain and the book's scale."""

    name: str
    formula: str
    aliases: tuple = ()
    gain: float | None = None  # None: depends on the parameter (leaky_relu)
    book_scale: float = 1.0  # σ² · n of the source book's init for this activation
    parameter: str | None = None  # the module attribute holding a parameter (leaky_relu's slope)
    default_parameter: float | None = None
    extra: dict = field(default_factory=dict)

    def gain_for(self, param: float | None = None) -> float:
        if self.gain is not None:
            return self.gain
        a = self.default_parameter if param is None else param
        if isinstance(a, bool) or not isinstance(a, (int, float)):
            raise ValueError(f"negative slope {a!r} is not a number")
        return math.sqrt(2.0 / (1.0 + a**2))


ACTIVATION_INFO: dict[str, ActivationInfo] = {a.name: a for a in (
    ActivationInfo("relu", "max(0, z)", aliases=("rectifier",), gain=math.sqrt(2.0), book_scale=2.0),
    ActivationInfo("leaky_relu", "z if z > 0 else a·z", aliases=("leakyrelu", "lrelu"), book_scale=2.0,
                   parameter="negative_slope", default_parameter=0.01),
    ActivationInfo("tanh", "tanh(z)", gain=5.0 / 3.0),
    ActivationInfo("sigmoid", "1 / (1 + exp(−z))", aliases=("logistic",), gain=1.0),
    ActivationInfo("identity", "z", aliases=("linear", "none"), gain=1.0),
)}

_LOOKUP = {alias: a.name for a in ACTIVATION_INFO.values() for alias in (a.name, *a.aliases)}


def activation_names() -> list[str]:
    """The canonical names, in the registry's order."""
    return list(ACTIVATION_INFO)


def canonical_activation(activation) -> str:
    """The canonical name of ``activation``: a name in any spelling (``"ReLU"``, ``"leaky-relu"``,
    ``"linear"``), or an activation module or class (``nn.LeakyReLU(0.1)`` -> ``"leaky_relu"``).
    Raises ValueError naming the valid choices."""
    if activation is None:
        return "identity"
    if not isinstance(activation, str):
        cls = activation if isinstance(activation, type) else type(activation)
        key = _LOOKUP.get(normalize_name(cls.__name__))
        if key is None:
            raise ValueError(f"unknown activation module {cls.__name__}; valid: {', '.join(activation_names())}")
        return key
    key = _LOOKUP.get(normalize_name(activation))
    if key is None:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(activation_names())}")
    return key


def relu_like(activation) -> bool:
    """True for ReLU and leaky ReLU (the activations He's init is made for)."""
    return canonical_activation(activation) in ("relu", "leaky_relu")
