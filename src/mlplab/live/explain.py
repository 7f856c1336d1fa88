"""What to look for: a few sentences for the Train and Compare views, from the setting and the readings.

The sentences are computed, not written once: from the activation and initializer (the mean-field
argument each initializer is built on), from the run's mean-field prediction of the spread of the
pre-activations z at initialization, and from the newest frame's readings (saturated and dead
fractions, the update-to-weight ratio ‖ΔW‖/‖W‖ per layer, the measured spread of z, the verdicts of
``mlplab diagnose``). Each sentence names the number it rests on, so a learner can find it on the
page. Thresholds are the usual rules of thumb, not laws: a ratio near 1e-3 per step (Karpathy's
CS231n notes), a unit "saturated" as ``mlplab diagnose`` counts it.

Sources: Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
networks" (2010) for Xavier and tanh/sigmoid; He et al., "Delving Deep into Rectifiers" (2015) for
ReLU's factor 2.

The setting's place in signal-propagation theory (:func:`theory_of`): χ₁, the phase and the depth scale
ξ_c of the (σ_w², σ_b², φ) the run starts from, all computed by :mod:`mlplab.theory` (Schoenholz et al.,
"Deep Information Propagation", 2017), with the paper's rule of thumb that a network trains when its
depth is within about 6 ξ_c.
"""

from __future__ import annotations

import math

import numpy as np

from .. import init as _init
from .. import theory

SATURATED = 0.2  # a fifth of the units saturated or dead: worth a sentence
DEAD = 0.2
SMALL_RATIO, LARGE_RATIO, UNEVEN = 1e-4, 1e-1, 10.0
PHASE_TOL = 1e-6  # |χ₁ − 1| within this is "critical": the critical initializer's σ_w² is found to ~1e-8
TRAINABLE_XI = 6  # Schoenholz et al. 2017: trainable iff depth ≲ 6 ξ_c


def _f(x) -> str:
    return "—" if x is None else f"{x:.2g}" if abs(x) < 0.01 or abs(x) >= 1000 else f"{x:.3g}"


def _init_kind(init: str) -> str:
    init = str(init).lower()
    if init in ("he", "kaiming", "he_normal"):
        return "he"
    if init in ("xavier", "glorot", "xavier_normal"):
        return "xavier"
    if init in ("lecun",):
        return "lecun"
    if init.startswith("std="):
        return "std"
    return init


def setting_notes(settings: dict, predicted=None) -> list[str]:
    """Sentences from the setting alone (and, with ``predicted``, the mean-field std of z per layer
    at initialization, input to output)."""
    act, init = str(settings.get("activation", "")).lower(), _init_kind(settings.get("init", ""))
    notes = []
    if act == "sigmoid":
        notes.append("Sigmoid saturates: its slope σ′(z) is at most 1/4 (at z = 0) and below 0.02 once |z| > 4, so "
                     "every sigmoid layer scales the gradient flowing back by 1/4 or less — watch the first layers' "
                     "‖ΔW‖/‖W‖ fall behind the last ones' (vanishing updates).")
    elif act == "tanh":
        if init in ("xavier", "lecun"):
            notes.append("Why Xavier suits tanh: tanh′(0) = 1, so near 0 tanh passes signals like the identity, and "
                         "Var W = 1/n_in keeps Var z the same from layer to layer (Glorot & Bengio 2010).")
        elif init == "he":
            notes.append("He's Var W = 2/n_in is made for ReLU: with tanh (slope 1 near 0) it doubles Var z each "
                         "layer until tanh saturates and caps it — Xavier's 1/n_in suits tanh.")
    elif act in ("relu", "leaky_relu"):
        if init == "he":
            notes.append("ReLU zeroes about half its inputs, halving the second moment; He's Var W = 2/n_in doubles "
                         "it back, so the spread of z should stay flat across layers (He et al. 2015).")
        elif init in ("xavier", "lecun"):
            notes.append("With ReLU, Var W = 1/n_in loses half the second moment per layer: the spread of z shrinks "
                         "by about 1/√2 per layer, and a deep network's last layers get small signals.")
    if init == "std":
        notes.append(f"A fixed std ({settings.get('init')}) ignores the width: the spread of z is multiplied by "
                     "about std·√n_in (times the activation's factor) at each layer, so it vanishes or explodes "
                     "geometrically with depth.")
    pred = _hidden([p for p in (predicted or []) if p is not None and math.isfinite(p)])
    if len(pred) >= 2 and pred[0] > 0:
        change = pred[-1] / pred[0]
        trend = ("stays about the same" if 0.5 <= change <= 2 else "shrinks" if change < 0.5 else "grows")
        notes.append(f"Mean-field prediction at initialization: std of z {trend} from {_f(pred[0])} in layer 1 to "
                     f"{_f(pred[-1])} in layer {len(pred)}, the last hidden layer (×{_f(change)}).")
    return notes


def _hidden(per_layer: list) -> list:
    """The hidden layers' entries (the logits layer's z is the output, which training scales at will)."""
    return per_layer[:-1] if len(per_layer) >= 3 else per_layer


def reading_notes(settings: dict, frame: dict | None, ratio_frame: dict | None = None) -> list[str]:
    """Sentences from the newest frame's readings (None: no frame yet); ‖ΔW‖/‖W‖ from ``ratio_frame``,
    the newest frame that has it (a run's first and last frames do not), default ``frame``."""
    if not frame or not frame.get("layers"):
        return []
    layers = frame["layers"]
    act = str(settings.get("activation", "")).lower()
    notes = []
    sat = [(i, lay.get("saturated")) for i, lay in enumerate(layers[:-1]) if lay.get("saturated") is not None]
    worst = max(sat, key=lambda t: t[1], default=None)
    if act in ("sigmoid", "tanh") and worst and worst[1] >= SATURATED:
        notes.append(f"Saturation now: {worst[1]:.0%} of layer {worst[0] + 1}'s units sit on the flat ends of {act} "
                     "on the probe batch; their gradients are near zero.")
    dead = [(i, lay.get("dead")) for i, lay in enumerate(layers[:-1]) if lay.get("dead") is not None]
    worst = max(dead, key=lambda t: t[1], default=None)
    if act in ("relu",) and worst and worst[1] >= DEAD:
        notes.append(f"Dead units now: {worst[1]:.0%} of layer {worst[0] + 1}'s ReLUs output 0 for every probe "
                     "example; they get no gradient and stop learning.")
    ratios = [(i, lay.get("update_ratio")) for i, lay in enumerate((ratio_frame or frame).get("layers", []))
              if lay.get("update_ratio")]
    if ratios:
        lo, hi = min(ratios, key=lambda t: t[1]), max(ratios, key=lambda t: t[1])
        if lo[1] < SMALL_RATIO:
            notes.append(f"Vanishing updates: layer {lo[0] + 1} changes by ‖ΔW‖/‖W‖ = {_f(lo[1])} per step, far "
                         "below the usual ~1e-3: it barely learns.")
        if hi[1] > LARGE_RATIO:
            notes.append(f"Large updates: layer {hi[0] + 1} changes by {_f(hi[1])} of its size per step (usual ~1e-3): "
                         "a smaller learning rate would be steadier.")
        if hi[1] / lo[1] >= UNEVEN and lo[0] < hi[0]:
            notes.append(f"Uneven updates: layer {lo[0] + 1} moves {_f(hi[1] / lo[1])}× less than layer {hi[0] + 1} "
                         f"({_f(lo[1])} vs {_f(hi[1])}) — the earlier layers learn slower, the vanishing-gradient "
                         "pattern.")
    zs = _hidden([lay.get("z_std") for lay in layers])
    preds = _hidden([lay.get("pred_z_std") for lay in layers])
    if len(zs) >= 2 and all(z is not None and z > 0 for z in (zs[0], zs[-1])):
        line = f"Measured now: std of z goes from {_f(zs[0])} in layer 1 to {_f(zs[-1])} in layer {len(zs)}"
        if preds[-1]:
            line += f" (predicted at initialization: {_f(preds[-1])})"
        notes.append(line + ".")
    bad = [f"layer {i + 1} {lay['verdict']}" for i, lay in enumerate(layers)
           if isinstance(lay.get("verdict"), str) and lay["verdict"] not in ("healthy", "measured", "")]
    if bad:
        notes.append("mlplab diagnose says: " + ", ".join(bad) + " (hover a verdict for its reason).")
    return notes


def train_notes(settings: dict, predicted=None, frame: dict | None = None,
                ratio_frame: dict | None = None) -> list[str]:
    """The Train view's "what to look for"."""
    return setting_notes(settings, predicted) + reading_notes(settings, frame, ratio_frame)


def compare_notes(members: list) -> list[str]:
    """The Compare view's: ``members`` are (label, settings, predicted std of z per layer, newest frame
    or None), one per configuration (its first seed). The spread between the configurations' std of
    z in the last hidden layer, predicted at initialization and measured now, and whether it grew."""
    notes = []
    rows = [(label, pred[-2] if len(pred) >= 2 else pred[-1], frame) for label, _, pred, frame in members if pred]
    if len(rows) >= 2:
        layer = len(members[0][2]) - 1 if len(members[0][2]) >= 2 else 1
        init = [(label, p) for label, p, _ in rows if p]
        if len(init) >= 2:
            lo, hi = min(init, key=lambda t: t[1]), max(init, key=lambda t: t[1])
            notes.append(f"At initialization the mean-field prediction puts the std of z in layer {layer} (the last "
                         f"hidden layer) at {_f(hi[1])} for {hi[0]} vs {_f(lo[1])} for {lo[0]}: a spread of "
                         f"×{_f(hi[1] / lo[1])}.")
            now = {label: f["layers"][layer - 1].get("z_std") for label, _, f in rows
                   if f and len(f.get("layers", [])) >= layer}
            if now.get(hi[0]) and now.get(lo[0]):
                then, spread = hi[1] / lo[1], now[hi[0]] / now[lo[0]]
                trend = ("has grown" if spread > 1.25 * then else "has shrunk" if spread < then / 1.25
                         else "is about the same")
                notes.append(f"Measured now: {_f(now[hi[0]])} vs {_f(now[lo[0]])}, ×{_f(spread)} — the spread {trend} "
                             "since initialization" + (" (training has pulled the configurations together)."
                                                       if trend == "has shrunk" else "."))
    seen = set()
    for label, settings, _, _ in members:
        for line in setting_notes(settings):
            if line not in seen:
                seen.add(line)
                notes.append(f"{label}: {line}")
    losses = [(label, f.get("loss")) for label, _, _, f in members if f and f.get("loss") is not None]
    if len(losses) >= 2:
        best = min(losses, key=lambda t: t[1])
        notes.append("Training loss now: " + ", ".join(f"{label} {_f(v)}" for label, v in losses) +
                     f" — lowest: {best[0]} (same seed and batches, so the difference is the setting's).")
    return notes


# ----------------------------------------------------------------------------- signal-propagation theory
def _number(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _variances(settings: dict, sizes) -> tuple[float, float]:
    """(σ_w², σ_b²) of the setting: σ_w² = n_in · Var W from the init registry's variance (the mean over
    the hidden-to-hidden layers, the ones the theory's recursion is about; the first layer if there are
    none), σ_b² = the bias initializer's variance."""
    act = settings.get("activation")
    pairs = [(sizes[i], sizes[i + 1]) for i in range(1, len(sizes) - 2)] or [(sizes[0], sizes[1])]
    sw2 = [n_in * _init.theoretical_std(settings["init"], (n_in, n_out), activation=act) ** 2
           for n_in, n_out in pairs]
    n_in, n_out = pairs[0]
    binit = settings.get("bias_init") or "zeros"
    try:
        sb = _init.theoretical_std(binit, (n_out,), activation=act)
    except TypeError:  # a bias scaled by the weight's fan-in (PyTorch's default)
        sb = _init.theoretical_std(binit, (n_out,), activation=act, fan_in=n_in)
    return float(np.mean(sw2)), float(sb) ** 2


def theory_of(settings: dict, sizes) -> dict | None:
    """χ₁, the phase, ξ_c, q*, c* and the critical σ_w² of the setting's (σ_w², σ_b², φ), from
    :mod:`mlplab.theory`, and one sentence on what they mean at this depth (``depth`` = the number of
    weight layers). None where the theory does not apply: an activation it does not cover, an
    initializer without a variance formula, or weights all equal (σ_w² = 0: symmetry, not the mean
    field, decides). Numbers that are not finite are None (ξ_c in the critical phase: infinite)."""
    act = str(settings.get("activation", ""))
    try:
        sw2, sb2 = _variances(settings, sizes)
        t = theory.theory_activation(act)
    except (ValueError, TypeError, KeyError):
        return None
    if not sw2 > 0 or not math.isfinite(sw2) or not math.isfinite(sb2):
        return None
    with np.errstate(all="ignore"):
        p = theory.propagation(sw2, sb2, t)
        crit_w2 = theory.critical_line(sb2, t)[0]
    out = {"activation": t.name, "sigma_w2": sw2, "sigma_b2": sb2, "depth": len(sizes) - 1,
           "q_star": _number(p.q_star), "chi_1": _number(p.chi_1), "c_star": _number(p.c_star),
           "xi_c": _number(p.xi_c), "phase": str(p.phase(PHASE_TOL)[()]), "critical_sigma_w2": _number(crit_w2)}
    if out["phase"] == "critical":
        out["xi_c"] = None  # infinite (χ_c = 1 up to rounding, which can make −1/ln χ_c any huge number)
    out["text"] = _theory_sentence(out)
    return out


def _theory_sentence(t: dict) -> str:
    depth, xi, phase = t["depth"], t["xi_c"], t["phase"]
    head = (f"{t['activation']} at σ_w² = {_f(t['sigma_w2'])}, σ_b² = {_f(t['sigma_b2'])}: "
            f"{phase} phase (χ₁ = {_f(t['chi_1'])})")
    crit = t["critical_sigma_w2"]
    tip = (f"; the critical σ_w² for this σ_b² is {_f(crit)}" if crit is not None and phase != "critical" else "")
    if phase == "critical":
        line = (f"{head}: signals neither vanish nor explode, and correlations between inputs survive every "
                "layer (ξ_c = ∞)")
        if t["q_star"] == 0:
            line += "; with q* = 0 the signal's length still shrinks toward 0, slowly (σ_b² > 0 moves q* away from 0)"
        return line + "."
    if phase == "unbounded":
        return (f"{head}: there is no fixed length q* — the signal's length grows layer after layer, so the "
                f"activations blow up with depth{tip}.")
    if xi is None:
        return f"{head}{tip}."
    lost = ("correlations between inputs are lost — every input ends up with the same representation and the "
            "gradients vanish" if phase == "ordered" else
            f"nearby inputs decorrelate (c → c* = {_f(t['c_star'])}) and the gradients explode")
    if depth > TRAINABLE_XI * xi:
        return (f"{head}: correlations survive about ξ_c ≈ {_f(xi)} layers, and these {depth} layers are beyond "
                f"{TRAINABLE_XI} ξ_c ≈ {_f(TRAINABLE_XI * xi)}: {lost}{tip}.")
    return (f"{head}: correlations survive about ξ_c ≈ {_f(xi)} layers, and these {depth} layers are within "
            f"{TRAINABLE_XI} ξ_c ≈ {_f(TRAINABLE_XI * xi)}, the depth to which Schoenholz et al. (2017) found networks "
            f"trainable{tip}.")
