"""What signal-propagation theory says about a network the check-up measured: its phase, χ₁ and ξ_c, and its
depth against ξ_c (Schoenholz, Gilmer, Ganguli, Sohl-Dickstein 2017, *Deep Information Propagation*).

For a plain chain of fully-connected layers (Linear + one activation, one hidden width or close: the widest
hidden layer at most :data:`MAX_WIDTH_RATIO` times the narrowest, no normalisation, no skip), the weights are
read as the mean-field model's: σ_w² = n_in · Var W and σ_b² = Var b, measured per layer from the weights and
biases as the network was given (its initialization: the check-up reads both before its optimizer steps) and
taken as the median over the layers whose input is a hidden activation (layer 2 to the last hidden one; the
first sees the data, the last is the read-out). :mod:`mlplab.theory` then gives q*, χ₁ = σ_w² E[φ′(√q* z)²],
the phase (ordered χ₁ < 1, chaotic χ₁ > 1, critical within :data:`CRITICAL_TOL`; unbounded where the length has
no fixed point), ξ_c, and the critical σ_w² for the measured σ_b² (:func:`mlplab.theory.critical_line`).

The paper finds random networks trainable when their depth L is below about 6 ξ_c (its Fig. 5; ``mlplab lab
run trainability`` fits the factor on MNIST): the note says whether L is within or beyond 6 ξ_c and, beyond
it (or with no fixed length), the critical σ_w² to use instead — ``--fix critical`` sets it — or orthogonal
weights. The note is information: it names no verdict level (the rules of :mod:`.verdicts` do that).
"""

from __future__ import annotations

import math

import numpy as np

from .. import theory

__all__ = ["CRITICAL_TOL", "DEPTH_FACTOR", "MAX_WIDTH_RATIO", "critical_sigma_w2", "note", "note_for_chain"]

MAX_WIDTH_RATIO = 2.0  # "one width or close": widest / narrowest hidden layer
CRITICAL_TOL = 0.01  # |χ₁ − 1| this small is called critical (σ_w² measured from finite weights is ~1 % noisy)
DEPTH_FACTOR = 6.0  # trainable while L ≲ 6 ξ_c (Schoenholz et al. 2017)


def _not(why: str) -> dict:
    return {"applies": False, "why_not": why}


def note_for_chain(activations, weights, biases, *, kinds=None, chained=None, norms=None, weight_vars=None) -> dict:
    """The note for a network given per layer (input to output): ``activations`` (the φ after each layer,
    "identity" for none), ``weights`` as (fan_in, fan_out) arrays, ``biases`` (arrays or None), and optionally
    ``kinds`` ("Linear", "Conv2d", …), ``chained`` (the layer's input is the previous layer's output) and
    ``norms`` (a normalisation after the layer); ``weight_vars``, each weight's Var W if the caller has it
    (the check-up does: one pass over each weight fewer). ``{"applies": False, "why_not": …}`` where the theory
    of a plain fully-connected chain does not describe the network."""
    L = len(weights)
    hidden = list(range(L - 1))
    if L < 3:
        return _not(f"{L} layer{'s' if L != 1 else ''}: the depth scales need at least two hidden layers")
    if kinds is not None and any(k != "Linear" for k in kinds):
        return _not("not a fully-connected network (convolutions): the mean-field maps here are for dense layers")
    if (chained is not None and not all(chained[1:])) or (norms is not None and any(norms)):
        return _not("not a plain chain (a normalisation, skip connection or pooling between layers)")
    acts = {activations[i] for i in hidden}
    if len(acts) != 1:
        return _not(f"the hidden layers mix activations ({', '.join(sorted(acts))})")
    act = acts.pop()
    try:
        ta = theory.theory_activation(act)
    except ValueError:
        return _not(f"the theory has no maps for {act}")
    if activations[-1] not in ("identity", act):
        return _not(f"the output layer's activation {activations[-1]} is not the hidden layers'")
    widths = [np.shape(weights[i])[1] for i in hidden]
    if max(widths) > MAX_WIDTH_RATIO * min(widths):
        return _not(f"hidden widths from {min(widths)} to {max(widths)}: not one width or close")
    inner = list(range(1, L - 1))  # input is a hidden activation, output a hidden pre-activation
    sw2s = np.array([np.shape(weights[i])[0] * (float(weight_vars[i]) if weight_vars is not None else
                                                float(np.var(np.asarray(weights[i], dtype=np.float64))))
                     for i in inner])
    sb2s = np.array([float(np.var(np.asarray(biases[i], dtype=np.float64))) if biases[i] is not None
                     and np.size(biases[i]) > 1 else 0.0 for i in inner])
    if not (np.all(np.isfinite(sw2s)) and np.all(np.isfinite(sb2s))):
        return _not("the weights are not finite")
    sw2, sb2 = float(np.median(sw2s)), float(np.median(sb2s))
    return note(ta.name, sw2, sb2, L, spread=(float(sw2s.min()), float(sw2s.max())))


def note(activation: str, sigma_w2: float, sigma_b2: float, depth: int, spread=None) -> dict:
    """The note for an activation at (σ_w², σ_b²) and a depth of ``depth`` layers: ``{"applies": True,
    "activation", "sigma_w2", "sigma_b2", "q_star", "chi_1", "phase", "xi_c", "depth", "depth_over_xi_c",
    "beyond", "critical_sigma_w2", "sentence", "advice"}`` (non-finite numbers as None)."""
    p = theory.propagation(sigma_w2, sigma_b2, activation)
    q, chi, xi, cs = float(p.q_star), float(p.chi_1), float(p.xi_c), float(p.c_star)
    phase = str(theory.phase_names(chi, q, CRITICAL_TOL))
    crit, _ = theory.critical_line(sigma_b2, activation)
    crit = float(crit)
    ta = theory.theory_activation(activation)
    head = f"{activation} at σ_w² = {sigma_w2:.3g} with σ_b² = {sigma_b2:.3g}"
    if spread is not None and spread[1] > 1.5 * spread[0]:
        head += f" (the median; σ_w² runs from {spread[0]:.3g} to {spread[1]:.3g} over the layers)"
    limit = DEPTH_FACTOR * xi
    beyond = phase == "unbounded" or (math.isfinite(xi) and depth > limit)
    within = "beyond" if beyond else "within"
    if phase == "unbounded":
        text = (f"{head}: no fixed length — the variance grows every layer (σ_w² E[φ²]/q ≥ 1 with σ_b² > 0), "
                "so the mean-field phases do not apply")
    elif phase == "critical":
        span = "any depth" if not math.isfinite(xi) else f"ξ_c ≈ {xi:.3g} layers"
        text = (f"{head}: critical (χ₁ = {chi:.3f}): correlations survive {span}, and these {depth} layers are "
                f"{within} {DEPTH_FACTOR:g}ξ_c")
    elif phase == "ordered":
        text = (f"{head}: ordered phase (χ₁ = {chi:.3g}): inputs' correlations converge to 1 — they survive "
                f"ξ_c ≈ {xi:.3g} layers — and these {depth} layers are {within} {DEPTH_FACTOR:g}ξ_c = {limit:.3g}")
    else:
        text = (f"{head}: chaotic phase (χ₁ = {chi:.3g}): nearby inputs decorrelate towards c* = {cs:.2f} over "
                f"ξ_c ≈ {xi:.3g} layers, and these {depth} layers are {within} {DEPTH_FACTOR:g}ξ_c = {limit:.3g}")
    if ta.homogeneous and sigma_b2 > 0 and phase in ("unbounded", "chaotic"):
        advice = (f"{activation} is critical at σ_w² = {crit:.3g} only with σ_b² = 0: zero the biases and use "
                  f"σ_w² = {crit:.3g} (--fix critical)")
    elif math.isfinite(crit):
        advice = (f"the critical σ_w² for this σ_b² is {crit:.3g} — use it (--fix critical), or orthogonal "
                  "weights")
    else:
        advice = f"no critical σ_w² for σ_b² = {sigma_b2:.3g} was found"
    sentence = text + (f"; {advice}" if beyond else "")

    def num(x):
        return x if math.isfinite(x) else None

    return {"applies": True, "activation": activation, "sigma_w2": sigma_w2, "sigma_b2": sigma_b2,
            "q_star": num(q), "chi_1": num(chi), "phase": phase, "xi_c": num(xi), "depth": int(depth),
            "depth_over_xi_c": num(depth / xi) if xi > 0 else None, "beyond": bool(beyond),
            "critical_sigma_w2": num(crit), "sentence": sentence, "advice": advice if beyond else None}


def critical_sigma_w2(activation: str, sigma_b2: float) -> float:
    """σ_w² on the critical line χ₁ = 1 for ``activation`` at the bias variance ``sigma_b2`` (what ``--fix
    critical`` sets, by :func:`mlplab.init.critical_variances`); relu6 is taken as relu (the same below 6)."""
    from ..init import critical_variances

    act = "relu" if activation == "relu6" else activation
    return critical_variances(act, bias_var=max(float(sigma_b2), 0.0))[0]


def critical_advice(n: dict | None) -> str | None:
    """The init table's advice for weights the theory finds critical (σ_w² measured on χ₁ = 1): keep them, where
    the table, which knows only n σ², would call σ_w² = 1.76 too large for tanh. None otherwise."""
    if not n or not n.get("applies") or n.get("phase") != "critical":
        return None
    return (f"{n['activation']} with its current weights: σ_w² = {n['sigma_w2']:.3g} sits on the critical line "
            f"χ₁ = 1 for σ_b² = {n['sigma_b2']:.3g} (Schoenholz et al. 2017): keep them")
