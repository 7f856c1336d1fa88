"""The rules of the check-up, shared by :mod:`mlplab.diagnose` (mlplab networks) and
:mod:`mlplab.diagnose_torch` (PyTorch networks): the per-layer verdict (symmetric, dead, saturating,
exploding, vanishing, healthy; see :mod:`mlplab.diagnose` for the table), its thresholds, and the
init table's recommendation keyed by (activation, init family). Pure Python and NumPy."""

from __future__ import annotations

import math

import numpy as np

from . import diagnostics as dg
from .activations import canonical_activation
from .init import init_family as _init_family
from .init import theoretical_std

__all__ = ["VERDICTS", "THRESHOLDS", "init_family", "recommendation", "layer_verdict"]

VERDICTS = ("symmetric", "dead", "saturating", "exploding", "vanishing", "healthy")  # per-layer rule order
THRESHOLDS = {
    "dead_units": 0.5,  # fraction of ReLU units zero on the whole batch
    "zero_outputs": 0.9,  # fraction of ReLU outputs that are zero
    "saturated": 0.4,  # fraction of sigmoid/tanh activations within SATURATION_EPS of a bound
    "signal_high": 10.0,  # activation std / input std
    "signal_low": 0.1,
    "grad_high": 100.0,  # ‖∂L/∂z_l‖ / ‖∂L/∂z_L‖
    "grad_low": 0.01,
}

# ------------------------------------------------------------------------------ init families
def init_family(spec, activation: str | None = None) -> str:
    """The family of an init spec, from the initializer registry (:func:`mlplab.init.init_family`):
    he, xavier, lecun, torch, orthogonal, identity, constant, fixed (an explicit std / distribution),
    or other."""
    return _init_family(spec, activation)


def _matched_init(activation: str) -> str:
    return "he" if activation in ("relu", "leaky_relu") else "xavier_normal"


def _small_signal_factor(activation: str, n_sigma2: float) -> float:
    """Var z_{l+1} / Var z_l while the activation is in its small-signal regime: n σ² / 2 for ReLU,
    n σ² for tanh and the identity (slope 1 at 0), n σ² / 16 for sigmoid's fluctuations (slope 1/4)."""
    return n_sigma2 * {"relu": 0.5, "leaky_relu": 0.5 * (1 + 0.01**2), "sigmoid": 1 / 16}.get(activation, 1.0)


# (activation group, family) -> (matched?, template). Templates see: act, init, f (per-layer small-signal
# factor of the variance), nsig (n σ²), n (a typical fan-in), std_rec (recommended std at that fan-in).
_TABLE = {
    ("relu", "he"): (True, "ReLU with He init: n σ² = 2 cancels ReLU's halving, Var z stays constant per layer"),
    ("relu", "xavier"): (False, "ReLU with Xavier init: ReLU halves E[φ²], so Var z shrinks about {inv:.2g}x per "
                                "layer (n σ²/2 = {f:.2g}); use he (σ² = 2/n, std {std_rec:.3g} at n = {n})"),
    ("relu", "lecun"): (False, "ReLU with LeCun/1/n init: n σ²/2 = 0.5, Var z halves every layer; use he "
                               "(σ² = 2/n, std {std_rec:.3g} at n = {n})"),
    ("relu", "torch"): (False, "ReLU with torch's default U(±1/√n): n σ²/2 = 1/6, Var z shrinks 6x per layer; "
                               "use he (std {std_rec:.3g} at n = {n})"),
    ("relu", "orthogonal"): (None, "ReLU with orthogonal init: use gain √2 (orthogonal(gain=1.414)) so ReLU's "
                                   "halving is cancelled"),
    ("tanh", "he"): (False, "tanh with He init: variance grows 2x per layer (n σ² = 2) while tanh is linear, "
                            "until the units saturate and gradients grow going back; use xavier_normal (n σ² ≈ 1)"),
    ("tanh", "xavier"): (True, "tanh with Xavier init: n σ² ≈ 1 keeps Var z about constant while tanh is linear"),
    ("tanh", "lecun"): (True, "tanh with LeCun/1/n init: n σ² = 1 keeps Var z about constant while tanh is linear"),
    ("tanh", "torch"): (False, "tanh with torch's default U(±1/√n): n σ² = 1/3, Var z shrinks 3x per layer; "
                               "use xavier_normal (std {std_rec:.3g} at n = {n})"),
    ("sigmoid", "he"): (False, "sigmoid with He init: n σ² = 2 on inputs with mean 0.5 pushes z into sigmoid's "
                               "flat tails in deeper layers; use xavier_normal (std {std_rec:.3g} at n = {n})"),
    ("sigmoid", "xavier"): (True, "sigmoid with Xavier init: the matched choice, though sigmoid's slope ≤ 1/4 still "
                                  "shrinks gradients about 4x per layer in deep nets (tanh or ReLU avoid it)"),
    ("sigmoid", "lecun"): (True, "sigmoid with LeCun/1/n init: the matched choice (the source book's Xavier)"),
    ("sigmoid", "torch"): (True, "sigmoid with torch's default: close to Xavier's scale"),
    ("identity", "he"): (False, "a linear network with He init: n σ² = 2 doubles the variance every layer; use "
                                "xavier_normal or lecun (n σ² = 1)"),
    ("identity", "xavier"): (True, "a linear network with Xavier init: n σ² ≈ 1 keeps the variance"),
    ("identity", "lecun"): (True, "a linear network with LeCun init: n σ² = 1 keeps the variance"),
}


def recommendation(activation: str, init, fan_in: int, weight_std: float | None = None, depth: int = 0,
                   label: str | None = None) -> dict:
    """What the init table says for (activation, init family): ``{"family", "matched", "advice",
    "factor"}``; ``factor`` is the per-layer small-signal variance factor of the theory
    (``weight_std`` overrides the init's theoretical std, for trained or custom weights); ``depth``, the
    number of layers, adds the compounded factor to the advice; ``label`` names the weights in it."""
    act = canonical_activation(activation)
    group = "relu" if act in ("relu", "leaky_relu") else act
    fam = init_family(init, act)
    n = int(fan_in)
    try:
        std = weight_std if weight_std is not None else theoretical_std(init, (n, n), activation=act)
    except (ValueError, TypeError):
        std = float("nan")
    nsig = n * std**2
    f = _small_signal_factor(act, nsig)
    rec_init = _matched_init(act)
    std_rec = theoretical_std(rec_init, (n, n))
    ctx = {"act": act, "init": init, "f": f, "inv": 1 / f if f > 0 else math.inf, "nsig": nsig, "n": n,
           "std_rec": std_rec}
    if fam == "constant":
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{init!r} gives every unit of a layer the same weights, so all units compute the same "
                          f"output and receive the same gradient: symmetry never breaks; use {rec_init} "
                          f"(random, std {std_rec:.3g} at n = {n})"}
    if (group, fam) in _TABLE:
        matched, text = _TABLE[(group, fam)]
        if matched is None:
            matched = abs(math.log(max(f, 1e-300))) < math.log(1.5)
        return {"family": fam, "matched": bool(matched), "factor": f, "advice": text.format(**ctx)}
    if not math.isfinite(f):
        return {"family": fam, "matched": True, "factor": f,
                "advice": f"no variance formula known for {init!r}; compare the measured std per layer"}
    act_name = {"relu": "ReLU", "leaky_relu": "leaky ReLU"}.get(act, act)
    if act == "sigmoid":
        # sigmoid's outputs have mean 0.5, so Var z_{l+1} ≈ n σ² · 0.25 whatever came before
        z_std = math.sqrt(nsig * 0.25)
        if z_std > 2.0:
            return {"family": fam, "matched": False, "factor": f,
                    "advice": f"sigmoid with std {std:.3g}: Var z ≈ n σ² E[a²] ≈ {nsig * 0.25:.3g} (std {z_std:.2g}) "
                              f"puts z in sigmoid's flat tails, where φ' ≈ 0; use xavier_normal "
                              f"(std {std_rec:.3g} at n = {n})"}
        if z_std < 0.1:
            return {"family": fam, "matched": False, "factor": f,
                    "advice": f"sigmoid with std {std:.3g}: z stays within ±{2 * z_std:.2g}, every output ≈ 0.5 and "
                              f"carries almost no signal; use xavier_normal (std {std_rec:.3g} at n = {n})"}
        return {"family": fam, "matched": True, "factor": f,
                "advice": f"sigmoid with std {std:.3g}: Var z ≈ {nsig * 0.25:.3g}, within sigmoid's useful range"}
    what = f"{act_name} with {label or init}" + (
        "" if str(init).startswith("std=") and not label else f" (std {std:.3g} at n = {n})")
    compound = f", {f ** (depth - 1):.3g}x over the {depth} layers" if depth > 2 else ""
    if f > 1.25:
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{what}: Var z grows {f:.3g}x per layer (n σ² = {nsig:.3g}){compound}; "
                          f"use {rec_init} (std {std_rec:.3g} at n = {n})"}
    if f < 0.8:
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{what}: Var z shrinks {ctx['inv']:.3g}x per layer (factor {f:.3g}){compound}; "
                          f"use {rec_init} (std {std_rec:.3g} at n = {n})"}
    return {"family": fam, "matched": True, "factor": f,
            "advice": f"{what}: Var z changes {f:.3g}x per layer, close to 1"}


# ------------------------------------------------------------------------------ verdicts
def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _ratio(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}" if x < 1 else f"{x:.3g}"


def _layer_verdict(row: dict, hidden: bool) -> tuple[str, str, str]:
    """(verdict, reason, which measure decided it: weights/units/dead/saturated/nonfinite/signal/grad/-)."""
    t = THRESHOLDS
    sig, grad = row["signal_gain"], row["grad_gain"]
    if row["weight_std0"] == 0.0 and row["fan_out"] > 1:  # symmetry is between units: one unit has none
        return "symmetric", (f"all {row['fan_in']}×{row['fan_out']} weights start equal "
                             f"({row['weight_mean0']:.3g}), so every unit gets the same input weights"), "weights"
    if _finite(row["dead"]) and row["dead"] > t["dead_units"]:
        return "dead", f"{row['dead']:.0%} of the ReLU units output 0 on every example of the batch", "dead"
    if _finite(row["zero"]) and row["zero"] > t["zero_outputs"]:
        return "dead", (f"{row['zero']:.0%} of the ReLU outputs are 0 ({row['dead']:.0%} of the units on every "
                        f"example): almost no gradient gets through"), "dead"
    if hidden and row["fan_out"] > 1 and row.get("distinct_units") == 1:
        return "symmetric", f"all {row['fan_out']} units are still identical after the steps", "units"
    if _finite(row["saturated"]) and row["saturated"] > t["saturated"]:
        return "saturating", (f"{row['saturated']:.0%} of the {row['activation']} outputs are within "
                              f"{dg.SATURATION_EPS} of a bound, where φ' ≈ 0"), "saturated"
    if not all(_finite(row[k]) for k in ("act_std", "weight_grad_norm")):
        return "exploding", "activations or gradients overflowed to inf/NaN", "nonfinite"
    if _finite(sig) and sig > t["signal_high"]:
        return "exploding", f"the activation std is {_ratio(sig)}x the input's", "signal"
    if _finite(grad) and grad > t["grad_high"]:
        return "exploding", f"the gradient ‖∂L/∂z‖ is {_ratio(grad)}x the output layer's", "grad"
    if sig == 0:
        return "vanishing", "the activations are constant (std 0): no signal reaches this layer", "signal"
    if _finite(sig) and sig < t["signal_low"]:
        return "vanishing", f"the activation std is only {_ratio(sig)}x the input's", "signal"
    if grad == 0:
        return "vanishing", ("no gradient reaches this layer (‖∂L/∂z‖ = 0: it underflowed, or every path back "
                             "is blocked)"), "grad"
    if _finite(grad) and grad < t["grad_low"]:
        return "vanishing", f"the gradient ‖∂L/∂z‖ is only {_ratio(grad)}x the output layer's", "grad"
    return "healthy", "signal and gradient within range", "-"


def _nan_to_none(x):
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


layer_verdict = _layer_verdict
