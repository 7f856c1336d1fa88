"""What a frame of the live view measures, as a function of the model's arrays alone.

Given the network's (Linear, activation) plan (:func:`mlplab.diagnose.statistics.layer_plan`) and a fixed
probe batch, :func:`measure` runs the probe forward and returns per layer l the histograms of its
pre-activations z_l and activations a_l, of its weight gradient ∂L/∂W_l (the last training step's)
and of its weights W_l, the spread of z_l beside the mean-field prediction, the dead / saturated
fractions, ‖ΔW_l‖/‖W_l‖ of the last update and the per-layer verdict of ``mlplab diagnose``.

It reads nothing but the plan's arrays, so it runs the same on the training model (frames made
inline, in the training thread) and on a mirror of it whose arrays are shared memory
(:mod:`mlplab.live.framer`, frames made in a process of their own).
"""

from __future__ import annotations

import math

import numpy as np

from ..diagnose import statistics as dg
from ..tensor import Tensor, no_grad
from .histograms import BINS, histograms

__all__ = ["Probe", "measure", "extras", "update_ratios"]


class Probe:
    """The fixed probe batch and what is known of it before training: the input's spread and the
    mean-field prediction of every layer's pre-activation spread (``predicted_pre_std``)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, predicted_pre_std: list, grid: dict | None = None):
        self.X, self.y = X, y
        self.in_std = float(np.std(X.astype(np.float64)))
        self.predicted_pre_std = list(predicted_pre_std)
        self.grid = grid  # a toy 2-D set's decision-boundary grid (:mod:`mlplab.live.boundary`), or None


def _std(x: np.ndarray) -> float:
    """Standard deviation of all of ``x`` in float64, in two passes (a sum and a dot product):
    cheaper than ``x.std()``; NaN when ``x`` is empty or not finite."""
    v = x.ravel().astype(np.float64)
    if v.size == 0:
        return float("nan")
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(v.sum()) / v.size
        var = float(v @ v) / v.size - mean * mean
    return math.sqrt(var) if var > 0 else (0.0 if var == var else float("nan"))


def _lean_stats(i, lay, a, w, g, pre_std, act_std) -> dg.LayerStats:
    """The few :class:`~mlplab.diagnose.statistics.LayerStats` fields a frame shows and the verdict
    reads, with ``diagnostics``' definitions (saturated within SATURATION_EPS of a bound; ReLU
    zero outputs and dead units), computed in single passes: a frame must stay cheap."""
    nan = float("nan")
    sat = zero = dead = nan
    if a.size and lay.activation in dg._BOUNDS:
        lo, hi = dg._BOUNDS[lay.activation]
        eps = dg.SATURATION_EPS
        sat = np.count_nonzero((a <= lo + eps) | (a >= hi - eps)) / a.size
    if a.size and lay.activation == "relu":
        off = a <= 0
        zero = np.count_nonzero(off) / a.size
        dead = np.count_nonzero(off.reshape(-1, a.shape[-1]).all(axis=0)) / a.shape[-1]
    return dg.LayerStats(
        layer=i + 1, fan_in=int(w.shape[-2]), fan_out=int(w.shape[-1]), activation=lay.activation,
        weight_mean=nan, weight_std=nan, weight_norm=nan, pre_mean=nan, pre_std=float(pre_std), pre_sq=nan,
        act_mean=nan, act_std=float(act_std), act_sq=nan, act_norm=nan, saturated=sat, zero=zero, dead=dead,
        weight_grad_norm=float(np.linalg.norm(g)) if g is not None else nan)


def _verdict(stats: dg.LayerStats, in_std: float, out_pre: float, hidden: bool, equal_weights: bool,
             trained: bool, has_grad: bool = True) -> dict:
    """The per-layer verdict of ``mlplab diagnose`` (its rules, on the probe batch's numbers).

    Two rules are left out: the gradient gain (it needs ‖∂L/∂z_l‖, a backward pass through the
    probe batch, which the live view skips to stay cheap; ``out_pre`` = 0 turns it off), and,
    once training has started, the signal gain of the logits layer: training grows the logits
    on purpose (that is how cross-entropy falls), which is not an exploding initialization."""
    from ..diagnose.network import _layer_verdict

    row = {"fan_in": stats.fan_in, "fan_out": stats.fan_out, "activation": stats.activation,
           "weight_std0": 0.0 if equal_weights else 1.0, "weight_mean0": float("nan"),
           "dead": stats.dead, "zero": stats.zero, "saturated": stats.saturated, "act_std": stats.act_std,
           "weight_grad_norm": stats.weight_grad_norm,
           "signal_gain": stats.act_std / in_std if in_std > 0 and (hidden or not trained) else float("nan"),
           "grad_gain": stats.pre_grad_norm / out_pre if out_pre > 0 else float("nan"), "distinct_units": None}
    if not has_grad:  # a frame before the first backward pass (step 0) has no gradient, not a NaN one
        del row["weight_grad_norm"]
    verdict, reason, _ = _layer_verdict(row, hidden)
    if verdict == "symmetric" and equal_weights:
        reason = f"all {stats.fan_in}×{stats.fan_out} weights are equal, so every unit gets the same input weights"
    return {"verdict": verdict, "reason": reason}


def update_ratios(weights: list, before: list) -> list:
    """‖W_l − W_l'‖ / ‖W_l'‖ per layer (Frobenius), W' the snapshot before the last update: the
    value of :func:`mlplab.diagnose.statistics.relative_change`, in the weights' own dtype with BLAS dot
    products instead of float64 copies (57 µs instead of 2.1 ms for a 784×100 float32 layer; the
    float32 sums agree to ~1e-7 relative, far below the three digits the page shows)."""
    out = []
    for w, ref in zip(weights, before):
        d, r = (w - ref).ravel(), ref.ravel()
        den = float(np.dot(r, r))
        out.append(math.sqrt(float(np.dot(d, d)) / den) if den > 0 else (math.inf if np.any(d) else 0.0))
    return out


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None




def extras(plan, probe: Probe) -> dict:
    """What a frame carries beside its layers: for a toy 2-D set, the decision boundary over its
    grid (:func:`mlplab.live.boundary.boundary`)."""
    if probe.grid is None:
        return {}
    from .boundary import boundary

    return {"boundary": boundary(plan, probe.grid, probe.X.dtype)}


def measure(plan, probe: Probe, update_ratio, trained: bool) -> tuple[list, float]:
    """The frame's per-layer rows and the probe batch's accuracy, from the plan's current arrays.

    ``update_ratio``: ‖ΔW‖/‖W‖ per layer (:func:`update_ratios`) or None; ``trained``: whether a
    step has been taken (the logits layer's signal gain is judged only before)."""
    layers = []
    with no_grad(), np.errstate(all="ignore"):
        h = Tensor(probe.X)
        zs, acts = [], []
        for lay in plan:
            z = lay.linear(h)
            a = z
            for m in lay.modules:
                a = m(a)
            zs.append(z.data)
            acts.append(a.data)
            h = a
        logits = h.data
        probe_acc = float(np.mean(np.argmax(logits, axis=-1) == probe.y))
        # all of the frame's histograms in one pass (:func:`histograms`)
        arrays, where = [], []
        for i, (lay, z, a) in enumerate(zip(plan, zs, acts)):
            for key, arr in (("z", z), ("a", a if lay.activation != "identity" else None),
                             ("g", lay.linear.weight.grad), ("w", lay.linear.weight.data)):
                if arr is not None:
                    where.append((i, key))
                    arrays.append(arr)
        per_layer = [{"z": None, "a": None, "g": None, "w": None} for _ in plan]
        for (i, key), hist in zip(where, histograms(arrays, BINS)):
            per_layer[i][key] = hist
        for i, (lay, z, a) in enumerate(zip(plan, zs, acts)):
            g, w, hist = lay.linear.weight.grad, lay.linear.weight.data, per_layer[i]
            st = _lean_stats(i, lay, a, w, g, _std(z), _std(a))
            layers.append({
                **hist,
                "z_std": _num(st.pre_std), "a_std": _num(st.act_std), "pred_z_std": probe.predicted_pre_std[i],
                "dead": _num(st.dead), "zero": _num(st.zero), "saturated": _num(st.saturated),
                "update_ratio": _num(update_ratio[i]) if update_ratio is not None else None,
                "grad_norm": _num(st.weight_grad_norm) if g is not None else None,
                "activation": lay.activation, "shape": [st.fan_in, st.fan_out],
            })
            # all weights equal (symmetry)? the sampled histogram has one value only if so; then check all
            hw = hist["w"]
            equal = max(hw["counts"]) == hw["sampled"] and bool(np.all(w == w.flat[0]))
            layers[-1].update(_verdict(st, probe.in_std, 0.0, i < len(plan) - 1, equal, trained=trained,
                                       has_grad=g is not None))
    return layers, probe_acc
