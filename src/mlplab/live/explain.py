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
"""

from __future__ import annotations

import math

SATURATED = 0.2  # a fifth of the units saturated or dead: worth a sentence
DEAD = 0.2
SMALL_RATIO, LARGE_RATIO, UNEVEN = 1e-4, 1e-1, 10.0


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
