"""Re-initialising an mlplab network the check-up found wanting: :func:`fix_network` (``mlplab diagnose
--fix critical|he|xavier`` on a configuration or a run folder), and the weight draws it shares with the
PyTorch fixes (:mod:`mlplab.diagnose.pytorch.fix`).

``critical`` puts every layer on the critical line χ₁ = σ_w² E[φ′(√q* z)²] = 1 of signal-propagation theory
(Schoenholz et al. 2017, *Deep Information Propagation*) for its activation and its measured bias variance σ_b² =
Var b (the median over the layers with that activation; :func:`mlplab.diagnose.theory_note.critical_sigma_w2`): W ~
N(0, σ_w²/n_in), or gain·Q with the same variance (``weights="orthogonal"``; with tanh at a small q* that is
dynamical isometry, Pennington, Schoenholz, Ganguli 2017). The biases are kept: they are the σ_b² the line was
chosen for. ``he`` and ``xavier`` draw N(0, g²/n_in) and N(0, 2g²/(n_in + n_out)) with the gain g of the layer's
activation and zero the biases. The network given is never changed: the fix returns a re-initialised copy.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from . import statistics as dg

__all__ = ["FIXES", "WEIGHTS", "critical_matrix", "fix_network", "pooled_bias_variance"]

FIXES = ("he", "xavier", "critical")  # an mlplab network's (lsuv is the PyTorch check-up's)
WEIGHTS = ("normal", "orthogonal")  # the draws of --fix critical


def _orthonormal(rng, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows or columns, uniformly random (QR with the signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def critical_matrix(rng, rows: int, cols: int, sigma_w2: float, weights: str = "normal") -> np.ndarray:
    """A (rows = fan-out, cols = fan-in) weight of variance σ_w²/n_in: N(0, σ_w²/n_in), or gain·Q with
    gain² = σ_w² · max(n_in, n_out)/n_in (the same variance; Q with orthonormal rows or columns)."""
    if weights == "orthogonal":
        return _orthonormal(rng, rows, cols) * math.sqrt(sigma_w2 * max(rows, cols) / cols)
    if weights != "normal":
        raise ValueError(f"--fix critical draws normal or orthogonal weights, got {weights!r}")
    return rng.standard_normal((rows, cols)) * math.sqrt(sigma_w2 / cols)


def pooled_bias_variance(activations, biases) -> list[float]:
    """σ_b² per layer for --fix critical: the median of Var b over the layers with the same activation (one σ_b²,
    hence one σ_w², for a chain: each layer's Var b of a few hundred biases is itself ~10 % noisy); 0 without
    biases."""
    own = [float(np.var(np.asarray(b, dtype=np.float64))) if b is not None and np.size(b) > 1 else 0.0
           for b in biases]
    return [float(np.median([v for v, a in zip(own, activations) if a == act])) for act in activations]


def fix_network(model, method: str, weights: str = "normal", seed: int = 0):
    """(a re-initialised deep copy of the mlplab network ``model``, per-layer notes): ``method`` one of
    :data:`FIXES`; for ``critical`` each note is ``{"layer", "activation", "sigma_w2", "sigma_b2"}``."""
    from ..init import calculate_gain
    from .theory_note import critical_sigma_w2

    method = str(method).lower()
    if method not in FIXES:
        raise ValueError(f"--fix {method!r} is not a fix for an mlplab network; valid: {', '.join(FIXES)} "
                         "(lsuv is for --torch models)")
    if weights not in WEIGHTS:
        raise ValueError(f"--fix-weights {weights!r}: valid: {', '.join(WEIGHTS)}")
    model = copy.deepcopy(model)
    rng = np.random.default_rng(seed)
    notes = []
    plan = dg.layer_plan(model)
    sb2s = pooled_bias_variance([lay.activation for lay in plan],
                                [None if lay.linear.bias is None else lay.linear.bias.data for lay in plan])
    for i, lay in enumerate(plan):
        w, b = lay.linear.weight, lay.linear.bias
        n_in, n_out = w.data.shape  # mlplab's z = a W: (fan_in, fan_out)
        if method == "critical":
            sb2 = sb2s[i]
            sw2 = critical_sigma_w2(lay.activation, sb2)
            new = critical_matrix(rng, n_out, n_in, sw2, weights).T
            notes.append({"layer": i + 1, "activation": lay.activation, "sigma_w2": sw2, "sigma_b2": sb2})
        else:
            g = calculate_gain(lay.activation, lay.slope if lay.activation == "leaky_relu" else None)
            std = g / math.sqrt(n_in) if method == "he" else g * math.sqrt(2.0 / (n_in + n_out))
            new = rng.standard_normal((n_in, n_out)) * std
            if b is not None:
                b.data[...] = 0
        w.data[...] = new.astype(w.data.dtype)
    return model, notes
