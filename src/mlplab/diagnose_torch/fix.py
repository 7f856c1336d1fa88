"""Re-initialising a torch network: :func:`fix_weights` (He, Xavier with each layer's own gain, LSUV)."""

from __future__ import annotations

import math

import numpy as np

from ..torch_trace import layers as layers_of
from ..torch_trace import trace
from .checkup import _as_input, _torch, _working_copy


# ------------------------------------------------------------------------------ the fix
def _gain(act: str, slope: float) -> float:
    """The init gain for an activation: torch's table (calculate_gain); √2 for ELU/GELU/SiLU, ReLU-like."""
    from ..init import calculate_gain

    return math.sqrt(2.0) if act in ("elu", "gelu", "silu") else calculate_gain(act, slope if act == "leaky_relu"
                                                                                 else None)


def fix_weights(model, method: str, x=None, seed: int = 0) -> dict:
    """Re-initialised weights for ``model`` as a new state dict (the model itself is untouched).

    ``he``: W ~ N(0, g²/n_in); ``xavier``: N(0, 2 g²/(n_in + n_out)), g the gain of the activation that
    follows each layer (n_in = C·k·k, n_out = C_out·k·k for a convolution); ``lsuv``: orthonormal rows
    (or columns), then, layer after layer on the batch ``x``, W ← W / std(z) so that Var z = 1. Biases
    are set to 0. Everything else in the state dict (norm layers, buffers) is kept."""
    torch = _torch()
    method = str(method).lower()
    if method not in ("he", "xavier", "lsuv"):
        raise ValueError(f"unknown fix {method!r}; valid: he, xavier, lsuv")
    if x is None:
        raise ValueError("fix_weights needs an input batch x (it traces the forward to find each layer's activation)")
    rng = np.random.default_rng(seed)
    work = _working_copy(torch, model)
    xt = _as_input(torch, work, x)
    with torch.no_grad():
        ops, _ = trace(work, xt)
        layers, _ = layers_of(ops)
        for lay in layers:
            w, b = lay.op.weight, lay.op.bias
            rows, cols = w.shape[0], int(np.prod(w.shape[1:]))
            k = int(np.prod(w.shape[2:]))
            g = _gain(lay.activation, lay.slope)
            if method == "he":
                new = rng.standard_normal((rows, cols)) * g / math.sqrt(cols)
            elif method == "xavier":
                new = rng.standard_normal((rows, cols)) * g * math.sqrt(2.0 / (cols + rows * k))
            else:
                q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
                q = q * np.sign(np.diag(r))  # a uniformly random orthonormal basis
                new = q if rows >= cols else q.T
            w.copy_(torch.as_tensor(new.reshape(w.shape), dtype=w.dtype))
            if b is not None:
                b.zero_()
        if method == "lsuv":
            def rescale(index, op, out):
                # z = x W (+ 0): dividing W by std(z) makes Var z = 1 exactly for this batch
                sd = float(out.double().std())
                if sd > 0 and math.isfinite(sd):
                    op.weight.div_(sd)
                    out = out / sd
                return out

            for _ in range(2):  # a second pass checks what the first set (normalisation layers aside)
                trace(work, xt, on_weight=rescale)
    names = {id(p): n for n, p in work.named_parameters()}
    fixed = {n for lay in layers for n in (names.get(id(lay.op.weight)), names.get(id(lay.op.bias))) if n}
    state = model.state_dict()
    new_state = work.state_dict()
    return {k: (new_state[k].detach().clone() if k in fixed else v.detach().clone()) for k, v in state.items()}
