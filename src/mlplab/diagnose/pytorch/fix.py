"""Re-initialising a torch network: :func:`fix_weights` (He, Xavier with each layer's own gain, LSUV, and the
critical line of signal-propagation theory)."""

from __future__ import annotations

import math

import numpy as np

from ..fix import WEIGHTS, _orthonormal, critical_matrix, pooled_bias_variance
from .checkup import _torch
from .trace import layers as layers_of
from .trace import trace


# ------------------------------------------------------------------------------ the fix
def _gain(act: str, slope: float) -> float:
    """The init gain for an activation: torch's table (calculate_gain); √2 for ELU/GELU/SiLU/ReLU6, ReLU-like."""
    from ...init import calculate_gain

    if act in ("elu", "gelu", "silu", "relu6"):
        return math.sqrt(2.0)
    return calculate_gain(act, slope if act == "leaky_relu" else None)


class FixedState(dict):
    """The re-initialised state dict, and ``skipped``: a sentence for each layer the fix could not write
    (a weight computed by a parametrization that cannot be inverted, or not a parameter of the model)."""

    skipped: list
    critical: list  # --fix critical: {"layer", "activation", "sigma_w2", "sigma_b2"} per layer written


def _set_weight(torch, modules, where, w, new, reparam, params) -> str | None:
    """Write ``new`` as the weight ``w`` a layer (called in module ``where``) uses: into the parameter, or
    through its parametrization; the reason it cannot, or None."""
    if id(w) in params or (w.is_leaf and w.requires_grad):
        w.copy_(new.to(w.dtype))
        return None
    module, r = modules.get(where), reparam.get(where)
    if module is None or r is None:
        return "its weight is computed in the forward from other tensors, so there is no parameter to write"
    if r["api"] == "hook":
        if r["how"] != "weight_norm":
            return f"{r['how']} divides any weight by its largest singular value, so the fix cannot set it"
        hook = next(h for h in module._forward_pre_hooks.values() if type(h).__name__ == "WeightNorm")
        v, g = getattr(module, hook.name + "_v"), getattr(module, hook.name + "_g")
        v.copy_(new.to(v.dtype))
        g.copy_(torch.norm_except_dim(new, 2, hook.dim).to(g.dtype))
        setattr(module, hook.name, hook.compute_weight(module))
        return None
    plist = module.parametrizations[r["tensor"]]
    originals = {k: t.detach().clone() for k, t in plist.named_parameters(recurse=False)}
    try:
        setattr(module, r["tensor"], new.to(w.dtype))  # through right_inverse
        got = getattr(module, r["tensor"]).detach().double()
        ok = float(torch.linalg.norm(got - new.double())) <= 1e-3 * float(torch.linalg.norm(new.double())) + 1e-12
    except Exception:  # no right_inverse
        ok = False
    if not ok:
        for k, t in originals.items():
            getattr(plist, k).copy_(t)
        return (f"{r['how']} (torch.nn.utils.parametrize) maps any weight to another one, so the fix cannot set "
                "it through the parametrization")
    return None


FIXES = ("he", "xavier", "lsuv", "critical")


def fix_weights(model, method: str, x=None, seed: int = 0, weights: str = "normal") -> FixedState:
    """Re-initialised weights for ``model`` as a new state dict (the model itself is untouched).

    ``he``: W ~ N(0, g²/n_in); ``xavier``: N(0, 2 g²/(n_in + n_out)), g the gain of the activation that follows each
    layer (n_in = C·k·k, n_out = C_out·k·k for a convolution); ``lsuv``: orthonormal rows (or columns), then, layer
    after layer on the batch ``x``, W ← W / std(z) so that Var z = 1. Biases are set to 0. ``critical``: W ~ N(0,
    σ_w²/n_in) (``weights="orthogonal"``: gain·Q of that variance) with σ_w² on the critical line χ₁ = 1
    (:mod:`mlplab.theory`) for the layer's activation and the measured bias variance σ_b² = Var b (median over the
    layers with that activation); the biases are kept (they are the σ_b² the line was chosen for) and ``.critical``
    lists (layer, activation, σ_w², σ_b²). Everything else in the state dict (norm layers, buffers) is kept. A
    re-parametrized weight (weight_norm, parametrize) is written through its parametrization: weight_norm's g and v
    are set so that g·v/‖v‖ is the new weight; a parametrization that cannot give the new weight back
    (spectral_norm) is left as it was, and ``.skipped`` says so, as for weights that are not parameters."""
    from . import hygiene

    torch = _torch()
    method = str(method).lower()
    if method not in FIXES:
        raise ValueError(f"unknown fix {method!r}; valid: {', '.join(FIXES)}")
    if weights not in WEIGHTS:
        raise ValueError(f"unknown weights {weights!r} for --fix critical; valid: {', '.join(WEIGHTS)}")
    if x is None:
        raise ValueError("fix_weights needs an input batch x (it traces the forward to find each layer's activation)")
    model, _ = hygiene.unwrap_compiled(model)
    hygiene.refuse_meta(model)
    with hygiene.no_global_hooks(), torch.random.fork_rng(devices=[]):  # the user's RNG state stays as it was
        return _fix(torch, model, method, x, seed, weights)


def _fix(torch, model, method, x, seed, weights="normal") -> FixedState:
    from .coverage import reparametrized, unregistered
    from .hygiene import working_copy
    from .io import as_inputs

    rng = np.random.default_rng(seed)
    work = working_copy(torch, model)
    xt = as_inputs(torch, work, x)
    modules = dict(work.named_modules())
    reparam = reparametrized(torch, work)
    params = {id(p): n for n, p in work.named_parameters()}
    _, loose = unregistered(torch, work)
    skipped: dict[int, str] = {}
    critical = []
    with torch.no_grad():
        ops, _ = trace(work, xt)
        layers, _ = layers_of(ops)
        sb2s = pooled_bias_variance([lay.activation for lay in layers],
                                    [None if lay.op.bias is None else lay.op.bias.detach().cpu().double().numpy()
                                     for lay in layers]) if method == "critical" else None
        for i, lay in enumerate(layers):
            w, b = lay.op.weight, lay.op.bias
            rows, cols = w.shape[0], int(np.prod(w.shape[1:]))
            k = int(np.prod(w.shape[2:]))
            g = _gain(lay.activation, lay.slope)
            if method == "he":
                new = rng.standard_normal((rows, cols)) * g / math.sqrt(cols)
            elif method == "xavier":
                new = rng.standard_normal((rows, cols)) * g * math.sqrt(2.0 / (cols + rows * k))
            elif method == "critical":
                from ..theory_note import critical_sigma_w2

                sb2 = sb2s[i]
                sw2 = critical_sigma_w2(lay.activation, sb2)
                new = critical_matrix(rng, rows, cols, sw2, weights)
                critical.append({"layer": i + 1, "activation": lay.activation, "sigma_w2": sw2, "sigma_b2": sb2})
            else:
                new = _orthonormal(rng, rows, cols)
            why = _set_weight(torch, modules, lay.op.where, w, torch.as_tensor(new.reshape(w.shape)), reparam, params)
            if why is None and id(w) in loose:
                why = (f"its weights ({loose[id(w)]}) are not parameters of the model, so the state dict cannot "
                       "carry them")
            if why:
                skipped[i] = f"layer {i + 1} ({lay.label}): left as it was: {why}"
            elif b is not None and method != "critical":  # critical keeps the biases: their σ_b² set σ_w²
                b.zero_()
        if method == "lsuv":
            def rescale(index, op, out):
                # z = x W (+ 0): dividing W by std(z) makes Var z = 1 exactly for this batch
                sd = float(out.double().std())
                if index not in skipped and sd > 0 and math.isfinite(sd):
                    if _set_weight(torch, modules, op.where, op.weight, op.weight / sd, reparam, params) is None:
                        out = out / sd
                return out

            for _ in range(2):  # a second pass checks what the first set (normalisation layers aside)
                trace(work, xt, on_weight=rescale)
    fixed = set()
    for i, lay in enumerate(layers):
        if i in skipped:
            continue
        for t in (lay.op.weight, lay.op.bias):
            if t is not None and id(t) in params:
                fixed.add(params[id(t)])
        if lay.op.where in reparam:
            r = reparam[lay.op.where]
            prefix = f"{lay.op.where}.parametrizations.{r['tensor']}." if r["api"] == "parametrize" else \
                f"{lay.op.where}.{r['tensor']}_"
            fixed.update(k for k in work.state_dict() if k.startswith(prefix))
    state = model.state_dict()
    new_state = work.state_dict()
    out = FixedState({k: (new_state[k].detach().clone() if k in fixed else v.detach().clone())
                      for k, v in state.items()})
    out.skipped = [skipped[i] for i in sorted(skipped)]
    out.critical = [c for c in critical if c["layer"] - 1 not in skipped]
    return out
