"""The rules of the check-up, shared by :mod:`mlplab.diagnose` (mlplab networks) and
:mod:`mlplab.diagnose.pytorch` (PyTorch networks): the per-layer verdict (symmetric, dead, saturating,
exploding, vanishing, healthy; see :mod:`mlplab.diagnose` for the table), its thresholds, and the
init table's recommendation keyed by (activation, init family). Pure Python and NumPy."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..activations import canonical_activation
from ..init import init_family as _init_family
from ..init import theoretical_std
from . import statistics as dg

__all__ = ["VERDICTS", "LEVELS", "RULES", "Rule", "THRESHOLDS", "init_family", "recommendation", "judge", "judge_rows",
           "layer_verdict", "label_coherence", "label_signal_gated"]

# the problems a layer can have, in rule order
VERDICTS = ("symmetric", "dead", "saturating", "nonfinite", "exploding", "not_updated", "vanishing", "no_signal",
            "healthy")
NETWORK_PROBLEMS = ("not_analysed",)  # a network's only: its analysed layers hold under half of its parameters
LEVELS = ("ok", "warning", "error")  # severity, the same for mlplab and PyTorch networks

# ------------------------------------------------------------------------------ init families
def init_family(spec, activation: str | None = None) -> str:
    """The family of an init spec, from the initializer registry (:func:`mlplab.init.init_family`):
    he, xavier, lecun, torch, orthogonal, identity, constant, fixed (an explicit std / distribution),
    or other."""
    return _init_family(spec, activation)


# the registry's answers for a named spec, kept: the registry is fixed at import (mlplab.init's SCHEMES), and each
# answer parses the spec and reads the scheme's signature with inspect (issue 30's time budget: ~0.2 ms a check-up)
@lru_cache(maxsize=512)
def _family_of_name(spec: str, activation: str | None) -> str:
    return _init_family(spec, activation)


@lru_cache(maxsize=512)
def _std_of_name(spec: str, n: int, activation: str | None) -> float:
    return theoretical_std(spec, (n, n), activation=activation)


_STD_NUMBER = re.compile(r"std=[0-9]+(\.[0-9]*)?(e[+-]?[0-9]+)?")


def _family(spec, activation):
    """:func:`init_family`, kept per named spec; every "std=<a non-negative number>" (the PyTorch check-up's spec
    of the weights' measured std) is N(0, x²) of family "fixed" whatever x: one entry for them all."""
    if type(spec) is not str:
        return init_family(spec, activation)
    return _family_of_name("std=1" if _STD_NUMBER.fullmatch(spec) else spec, activation)


def _theoretical_std(spec, n: int, activation=None) -> float:
    return _std_of_name(spec, n, activation) if type(spec) is str else theoretical_std(spec, (n, n),
                                                                                         activation=activation)


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
    fam = _family(init, act)
    n = int(fan_in)
    try:
        std = weight_std if weight_std is not None else _theoretical_std(init, n, act)
    except (ValueError, TypeError):
        std = float("nan")
    nsig = n * std**2
    f = _small_signal_factor(act, nsig)
    rec_init = _matched_init(act)
    std_rec = _theoretical_std(rec_init, n)
    ctx = {"act": act, "init": init, "f": f, "inv": 1 / f if f > 0 else math.inf, "nsig": nsig, "n": n,
           "std_rec": std_rec}
    if fam == "constant":
        return {"family": fam, "matched": False, "factor": f,
                "advice": f"{init!r} gives every unit of a layer the same weights, so all units compute the same "
                          f"output and receive the same gradient: symmetry never breaks; use {rec_init} "
                          f"(random, std {std_rec:.3g} at n = {n})"}
    if fam == "critical" and math.isfinite(f):  # σ_w² chosen on χ₁ = 1 for this very activation: matched
        return {"family": fam, "matched": True, "factor": f,
                "advice": f"{act} with {init}: σ_w² = n σ² = {nsig:.3g} on the critical line χ₁ = 1 (Schoenholz et al. "
                          "2017): correlations between inputs neither collapse nor decorrelate over depth; draw the "
                          "biases N(0, σ_b²) with the σ_b² it was chosen for"}
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
    return x is not None and isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def label_coherence(errors, inputs) -> float | None:
    """The ``label_signal`` measure of :data:`RULES`' ``no_label_signal``: for the output layer's errors
    δ_i = ∂L/∂z_i and inputs x_i (examples first; a sequence as (B, T, ·), summed over positions), the cosine
    between G_h = Σ_{i∈h} (δ_i − δ̄_h)(x_i − x̄_h)ᵀ on the two halves h of the batch. Removing the means leaves
    the covariance of errors and features, what the layer can learn about the labels (the mean part only fits
    the class frequencies): 0.3–0.8 at initialisation on the zoo's models that train, |cos| ≲ 0.05 where the
    features carry nothing about the labels (noise gives about ±1/√(outputs·features): 0.03 for the makemore
    Transformer's 27 × 32 output layer, so the 0.1 boundary is for layers of a few hundred weights or more).
    Only meaningful for labels the user gave (random labels have no signal by construction). None for a
    batch under 8 or no variation."""
    d, x = _float(errors), _float(inputs)
    if d.shape[0] < 8 or x.shape[0] != d.shape[0]:
        return None
    d, x = d.reshape(d.shape[0], -1, d.shape[-1]), x.reshape(x.shape[0], -1, x.shape[-1])
    if d.shape[1] != x.shape[1]:
        return None
    return _coherence(_centred_halves(d), _centred_halves(x))


def _centred_halves(a) -> np.ndarray:
    """The two halves h of the batch of a (B, T, C) array, each centred on its own mean over examples, as one
    float64 (2, h·T, C) array: both sides centred, since Σ(δ−δ̄)xᵀ equals Σ(δ−δ̄)(x−x̄)ᵀ only in exact arithmetic
    and features constant over the batch (a zero-initialised layer before) must give G = 0 exactly (no signal:
    None), not a cosine of roundings. Centred in float64 in the one float64 array returned: the values cast once
    into it, their means over the examples summed there (np.mean's sum of the float32 values in float64, in the same
    order, and its division) and subtracted in place — the same numbers as summing and subtracting with casts
    from the float32 values, 10–30 % faster (a reduction over a middle axis with a cast runs buffered, and the
    subtraction cast the values a second time); no other copy (a 784-wide input's extra copy was once a third of
    this measure's time). Both halves in one mean and one subtraction (issue 30's time budget: per half, the
    calls' overhead was most of it for a small layer; each half's mean adds its examples in the same order as
    alone)."""
    h = a.shape[0] // 2
    a = a[:2 * h].reshape(2, h, a.shape[1], a.shape[2])
    c = a.astype(np.float64)
    m = np.add.reduce(c, 1, keepdims=True)
    m /= h
    np.subtract(c, m, out=c)
    return c.reshape(2, h * a.shape[2], a.shape[3])


def _coherence(d, x) -> float | None:
    """The cosine between the two halves' G_h = Σ_b Σ_t δ_bt x_btᵀ of :func:`_centred_halves` arrays: one
    batched matrix product for both (einsum's unoptimised loop took ~1 ms for 10 × 784)."""
    g = np.matmul(d.transpose(0, 2, 1), x)
    ga, gb = g[0].ravel(), g[1].ravel()
    den = float(np.sqrt(ga.dot(ga)) * np.sqrt(gb.dot(gb)))  # np.linalg.norm's own steps, without its wrapper
    return float(np.sum(ga * gb)) / den if den > 0 and math.isfinite(den) else None  # (the sum of 1-D products)


def _float(a) -> np.ndarray:
    """``a`` as a float32 or float64 array (float32 kept: label_coherence centres it in float64)."""
    a = np.asarray(a)
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def label_signal_gated(errors, out_inputs, net_inputs) -> float | None:
    """:func:`label_coherence` of the output layer, judged only where the network's own input carries label
    information: the same coherence between the output errors and the first layer's input (flattened per
    example) must be at least :data:`INPUT_SIGNAL_MIN`. Random labels (the check-up's default, and many a
    synthetic test) have none there either, and then there is nothing the network could learn: None."""
    d, x = _float(errors), _float(net_inputs)
    if d.shape[0] < 8 or x.shape[0] != d.shape[0]:
        return None
    flat = d.reshape(d.shape[0], 1, -1)
    dc = _centred_halves(flat)  # the errors centred once: the output layer's own measure reads the same halves
    gate = _coherence(dc, _centred_halves(x.reshape(x.shape[0], 1, -1)))
    if gate is None or gate < INPUT_SIGNAL_MIN:
        return None
    xo = _float(out_inputs)
    if d.ndim != 2 or xo.ndim != 2:
        return label_coherence(d, xo)
    if xo.shape[0] != d.shape[0]:
        return None
    return _coherence(dc, _centred_halves(xo.reshape(xo.shape[0], 1, -1)))


INPUT_SIGNAL_MIN = 0.1


def _ratio(x: float) -> str:
    return "0" if x == 0 else f"{x:.2g}" if x < 1 else f"{x:.3g}"


@dataclass(frozen=True)
class Rule:
    """One verdict rule: the ``problem`` it names (one of :data:`VERDICTS`), the ``measure`` it reads from a
    layer's row, the comparison ``op`` ("<", ">", "==", "is"), and its boundaries: beyond ``warning`` the layer
    gets "warning", beyond ``error`` "error" (None: that level does not exist for the rule). A boundary is
    strict: ``dead > 0.5`` is an error, exactly 0.5 is not (tests check both sides of every boundary).
    ``error_with``: the optimizer the error assumes; with another one (Adam's per-parameter scaling) the rule
    gives "warning" and says so. ``scope``: "all", "not_output" (not the output layer) or "output" (the output
    layer only). ``on_steps``: the
    rule reads the update ratios measured on the steps, so its error assumes the optimizer of those steps."""

    name: str
    problem: str
    measure: str
    op: str
    warning: float | bool | None
    error: float | bool | None
    decided_by: str
    meaning: str
    error_with: str | None = None
    scope: str = "all"
    on_steps: bool = False  # reads the update ratios of the steps: its error holds for the optimizer they used

    def level(self, value, optimizer: str | None = None) -> str | None:
        """"error", "warning" or None for a measured ``value``."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        for lvl, bound in (("error", self.error), ("warning", self.warning)):
            if bound is None:
                continue
            hit = (value < bound if self.op == "<" else value > bound if self.op == ">" else value == bound)
            if hit:
                if lvl == "error" and self.error_with and optimizer and optimizer != self.error_with:
                    return "warning"
                return lvl
        return None


#: The verdict rules, in the order that names a layer's problem (the first rule of the worst level it breaks).
#: ``rel_update`` is a layer's ‖ΔW‖/‖W‖ over the fastest layer's, measured on the steps with the chosen
#: optimizer: what "learns N× slower" means. ``learning_speed`` is that, or (no steps taken) the gradient gain.
RULES = (
    Rule("equal_weights", "symmetric", "equal_weights", "is", None, True, "weights",
         "all weights of the layer are equal (e.g. zero init): every unit computes and learns the same thing"),
    Rule("dead_units", "dead", "dead", ">", None, 0.5, "dead",
         "ReLU: more than half of the units output 0 on every example of the batch"),
    Rule("zero_outputs", "dead", "zero", ">", 0.9, None, "dead",
         "ReLU: more than 90 % of all outputs are 0 (fewer units dead on every example)"),
    Rule("identical_units", "symmetric", "identical_units", "is", None, True, "units",
         "a hidden layer's units are still all identical after the steps"),
    Rule("saturated", "saturating", "saturated", ">", None, 0.4, "saturated",
         "sigmoid/tanh: more than 40 % of the outputs within 0.01 of a bound, where φ' ≈ 0"),
    Rule("nonfinite", "exploding", "nonfinite", "is", None, True, "nonfinite",
         "activations or gradients are inf/NaN"),
    Rule("not_registered", "not_updated", "unregistered", "is", None, True, "update",
         "the weight is not among model.parameters(): no optimizer ever updates it and state_dict does not save it "
         "(an error although the rest may still learn on its random features: the saved model is not the trained "
         "one)"),
    Rule("not_moving", "not_updated", "moved", "==", 0.0, None, "update",
         "the layer receives a gradient but its weights did not change in the steps"),
    Rule("signal_high", "exploding", "signal_gain", ">", None, 10.0, "signal",
         "the activation std is more than 10x the input's"),
    Rule("grad_high", "exploding", "grad_gain", ">", 100.0, None, "grad",
         "‖∂L/∂z‖ is more than 100x the output layer's (a divergence within the steps is an error)"),
    Rule("signal_low", "vanishing", "signal_gain", "<", 0.1, 0.02, "signal",
         "the activation std is under 0.1x the input's (warning), under 0.02x (error with SGD); not judged for "
         "the output layer, whose small logits at initialisation are desirable", error_with="sgd",
         scope="not_output"),
    Rule("no_gradient", "vanishing", "grad_gain", "==", None, 0.0, "grad",
         "no gradient reaches the layer (it underflowed, or every path back is blocked)"),
    Rule("slow_learning", "vanishing", "learning_speed", "<", None, 1 / 30, "update",
         "the layer's update ‖ΔW‖/‖W‖ (on the steps, with the chosen optimizer) is under 1/30 of the fastest "
         "layer's: it learns 30x slower", on_steps=True),
    Rule("weak_gradient", "vanishing", "weak_gradient", "<", None, 0.03, "grad",
         "‖∂L/∂z‖ under 0.03x the output layer's, confirmed by an update under 0.1x the fastest layer's (with SGD: "
         "Adam's steps do not scale with the gradient, so with Adam a warning)", error_with="sgd", on_steps=True),
    Rule("no_label_signal", "no_signal", "label_signal", "<", None, 0.1, "signal",
         "the output layer's gradient on one half of the batch is unrelated to its gradient on the other half "
         "(cosine under 0.1, each with the batch's mean error and mean feature removed): the features reaching the "
         "output carry no information about the labels yet, so SGD's steps follow noise and the loss sits at its "
         "initial value (an attention model before its pattern forms); an error with SGD, a warning with Adam; "
         "judged only with the user's labels and where the network's input carries label information (its "
         "coherence with the output errors at least 0.1: random labels carry none)",
         error_with="sgd", scope="output"),
)
RULE = {r.name: r for r in RULES}
THRESHOLDS = {r.name: {"warning": r.warning, "error": r.error, "op": r.op} for r in RULES}


def _measures(row: dict, last: bool, fastest: float | None) -> dict:
    """The values :data:`RULES` read, from one row of the check-up (missing fields: the rule is not judged)."""
    g = row.get
    sig, grad, ur = g("signal_gain"), g("grad_gain"), g("update_ratio")
    if (g("shared_uses") or 1) > 1:  # one use of a shared weight: the parameter learns from the sum of the uses'
        grad = None                  # gradients (a GRU cell's first step, where h = 0, gets none on its own)
    fan_out = g("fan_out") or 0
    rel = ur / fastest if _finite(ur) and _finite(fastest) and fastest > 0 else None
    moved = (ur if _finite(ur) and _finite(g("weight_grad_norm")) and g("weight_grad_norm") > 0 and rel is not None
             and not (_finite(grad) and grad < 0.03) else None)
    if g("registered") is False or moved == 0:  # not moved although its gradient is fine: not_registered/not_moving
        rel = None
    return {
        "equal_weights": g("weight_std0") == 0.0 and fan_out > 1,
        "dead": g("dead") if _finite(g("dead")) else None,
        "zero": g("zero") if _finite(g("zero")) else None,
        "identical_units": (not last) and fan_out > 1 and g("distinct_units") == 1,
        "saturated": g("saturated") if _finite(g("saturated")) else None,
        "nonfinite": any(k in row and not _finite(row[k]) for k in ("act_std", "weight_grad_norm")),
        "unregistered": g("registered") is False,
        "signal_gain": sig if _finite(sig) else None,
        "grad_gain": grad if _finite(grad) else None,
        "learning_speed": rel if rel is not None else (grad if _finite(grad) and not _finite(ur) and not moved == 0
                                                       and g("registered") is not False else None),
        "weak_gradient": grad if _finite(grad) and (rel is None or rel < 0.1) else None,
        "label_signal": g("label_signal") if _finite(g("label_signal")) else None,
        "moved": moved,
        "rel_measured": rel is not None,
    }


_REASON = {
    "equal_weights": lambda r, v: (f"all {r.get('fan_in')}×{r.get('fan_out')} weights start equal "
                                   f"({r.get('weight_mean0', float('nan')):.3g}), so every unit gets the same input "
                                   "weights"),
    "dead_units": lambda r, v: f"{v:.0%} of the ReLU units output 0 on every example of the batch",
    "zero_outputs": lambda r, v: (f"{v:.0%} of the ReLU outputs are 0 ({r.get('dead') or 0:.0%} of the units on "
                                  "every example): little gradient gets through"),
    "identical_units": lambda r, v: f"all {r.get('fan_out')} units are still identical after the steps",
    "saturated": lambda r, v: (f"{v:.0%} of the {r.get('activation')} outputs are within {dg.SATURATION_EPS} of a "
                               "bound, where φ' ≈ 0"),
    "nonfinite": lambda r, v: "activations or gradients overflowed to inf/NaN",
    "not_registered": lambda r, v: ("its weight is not a registered parameter (not in model.parameters(): a "
                                    "plain Python list instead of nn.ModuleList?), so the optimizer never updates "
                                    "it (its update ‖ΔW‖/‖W‖ is exactly 0) and state_dict does not save it"),
    "signal_high": lambda r, v: f"the activation std is {_ratio(v)}x the input's",
    "grad_high": lambda r, v: f"the gradient ‖∂L/∂z‖ is {_ratio(v)}x the output layer's",
    "signal_low": lambda r, v: f"the activation std is only {_ratio(v)}x the input's",
    "no_gradient": lambda r, v: ("no gradient reaches this layer (‖∂L/∂z‖ = 0: it underflowed, or every path back "
                                 "is blocked)"),
    "slow_learning": lambda r, v: (f"its update ‖ΔW‖/‖W‖ is {_ratio(v)}x the fastest layer's: it learns about "
                                   f"{1 / v:.3g}x slower" if v > 0 else
                                   "its weights did not change in the steps while other layers' did"),
    "weak_gradient": lambda r, v: (f"the gradient ‖∂L/∂z‖ is only {_ratio(v)}x the output layer's, and its update "
                                   "is under 0.1x the fastest layer's"),
    "not_moving": lambda r, v: "it receives a gradient, but its weights did not change in the steps",
    "no_label_signal": lambda r, v: (f"its gradient on one half of the batch is unrelated to that on the other half "
                                     f"(cosine {v:.2g}): the features it receives carry no information about the "
                                     "labels yet, so the steps follow noise and the loss stays at its initial value "
                                     "(a plateau: a larger learning rate, many more steps, or Adam get past it)"),
}

_ASSUMES = {"sgd": "error with SGD; Adam's per-parameter scaling may compensate (diagnose with optimizer='adam' "
                   "to check)"}


def judge(row: dict, last: bool = False, fastest: float | None = None, optimizer: str | None = None) -> dict:
    """The verdict of one layer by :data:`RULES`: ``{"problem", "level" (ok|warning|error), "reason",
    "decided_by", "rule", "assumes", "broken"}``; ``last``: the output layer; ``fastest``: the largest update
    ratio among the network's layers; ``optimizer``: the one the steps used (an SGD-only error is a warning
    with another). The problem is that of the first rule broken (in :data:`RULES`' order), the level the worst
    of the rules broken, and the reason names both rules if they differ."""
    m = _measures(row, last, fastest)
    broken = []
    for rule in RULES:
        if (rule.scope == "not_output" and last) or (rule.scope == "output" and not last):
            continue
        lvl = rule.level(m[rule.measure], optimizer)
        if lvl:
            broken.append((rule, lvl, m[rule.measure]))
    if not broken:
        return {"problem": "healthy", "level": "ok", "reason": "signal and gradient within range", "decided_by": "-",
                "rule": None, "assumes": None, "broken": []}
    worst = "error" if any(lvl == "error" for _, lvl, _ in broken) else "warning"
    rule, lvl, value = broken[0]  # the first rule broken names the problem (dead before the low signal it causes)
    reason = _REASON[rule.name](row, value)
    if lvl != worst:  # a later rule makes it an error: say which
        other, _, other_value = next(b for b in broken if b[1] == worst)
        rule_err, lvl = other, worst
        reason += f"; and {_REASON[other.name](row, other_value)}"
    else:
        rule_err, other_value = rule, value
    assumes = None
    if rule_err.on_steps and lvl == "error":
        # measured on the steps: it holds for their optimizer; without steps the gradient gain is SGD's proxy
        assumes = (optimizer or "sgd") if m["rel_measured"] else "sgd"
        reason += (f" (measured on {assumes.upper() if assumes == 'sgd' else assumes}'s steps" if m["rel_measured"]
                   else " (the gradient gain standing in for SGD's update ratios") + (
            "; Adam's per-parameter scaling may compensate: diagnose with optimizer='adam' to check)"
            if assumes == "sgd" else ")")
    elif rule_err.error_with and rule_err.error is not None and rule_err.level(other_value) == "error":
        assumes = rule_err.error_with
        reason += f" ({_ASSUMES[assumes]})" if lvl == "error" else (
            f" (an error with {rule_err.error_with.upper()}; with {optimizer} a warning: its per-parameter scaling "
            "may compensate)")
    return {"problem": rule.problem, "level": lvl, "reason": reason, "decided_by": rule.decided_by,
            "rule": rule.name, "assumes": assumes, "broken": [b[0].name for b in broken]}


def judge_rows(rows: list[dict], optimizer: str | None = None) -> list[dict]:
    """Judge every layer of a check-up in place (``verdict``, ``reason``, ``decided_by``, ``level``, ``rule``,
    ``assumes``): the network-level reference (the fastest layer's update ratio) comes from all rows."""
    # a layer followed by a normalisation is scale-invariant: its tiny weights get huge relative updates (the
    # gradient grows as 1/‖W‖), which is no measure of how fast the network learns; the reference excludes it
    urs = [r.get("update_ratio") for r in rows if _finite(r.get("update_ratio")) and not r.get("normalization")]
    urs = urs or [r.get("update_ratio") for r in rows if _finite(r.get("update_ratio"))]
    fastest = max(urs) if urs else None
    for i, r in enumerate(rows):
        j = judge(r, last=i == len(rows) - 1, fastest=fastest, optimizer=optimizer)
        r["verdict"], r["reason"], r["decided_by"] = j["problem"], j["reason"], j["decided_by"]
        r["level"], r["rule"], r["assumes"] = j["level"], j["rule"], j["assumes"]
    return rows


def _layer_verdict(row: dict, hidden: bool) -> tuple[str, str, str]:
    """(verdict, reason, decided_by) of one row alone (no network-level reference: the update-ratio rules fall
    back to the gradient gain); :func:`judge_rows` judges a whole check-up."""
    j = judge(row, last=not hidden)
    return j["problem"], j["reason"], j["decided_by"]


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
