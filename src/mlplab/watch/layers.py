"""Which layers of a torch model can be watched, found by ``diagnose``'s tracer on the first batch.

:func:`find_layers` runs the model's forward once on a working copy (:func:`mlplab.diagnose.pytorch.hygiene.
working_copy`: a deep copy without the user's hooks, dropout off; torch's random state saved and restored
around it, gradients off) under :func:`mlplab.diagnose.pytorch.trace.trace`, which sees every ``F.linear``/``conv1d``/
``conv2d`` and activation whether a module, a function or a tensor method calls it, and groups them into
layers (the weight call, the normalisation and activation consuming its output).

A traced layer is *watched* when its weight call is the forward of an ``nn.Linear``, ``nn.Conv1d`` or
``nn.Conv2d`` module called once per forward: a forward hook on that module then sees z (its output) on the
user's own batch, and a hook on z sees ∂L/∂z. Its activation a = φ(z) is computed by the frame worker from z,
or from the output of the normalisation module in between (hooked too); a normalisation done by a function,
not a module, leaves a layer without its a. Everything else is listed as not watched, with why: weight
calls made by functions in a module's own forward (``F.linear(x, self.w)``), modules called several times
(a shared layer), and what the tracer does not analyse (pooling, attention, embeddings, ...).
"""

from __future__ import annotations

__all__ = ["find_layers", "theory"]

_WEIGHT_TYPES = ("Linear", "Conv1d", "Conv2d")
_NORM_TYPES = ("BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d")


def _module_kind(torch, m) -> str | None:
    for name in _WEIGHT_TYPES:
        if isinstance(m, getattr(torch.nn, name)):
            return name
    return None


def find_layers(torch, model, args, kwargs) -> tuple[list[dict], list[dict]]:
    """(watched, not_watched): per watched layer ``{"name", "kind", "shape", "activation", "slope", "norm",
    "norm_module", "out_shape", "in_shape"}`` (z's and the input's shape for one example); per other item ``{"where",
    "what", "why"}``."""
    from ..diagnose.pytorch import hygiene
    from ..diagnose.pytorch.trace import layers, trace

    class _Call:
        def __init__(self, a, k):
            self.args, self.kwargs = a, k

    rng = torch.get_rng_state()
    try:
        work = hygiene.working_copy(torch, model)
        with torch.no_grad(), hygiene.no_global_hooks():
            ops, _ = trace(work, _Call(args, kwargs))
        found, skipped = layers(ops)
    finally:
        torch.set_rng_state(rng)
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for op in ops:
        if op.kind in ("weight", "norm"):
            calls[op.where] = calls.get(op.where, 0) + 1
    norm_where = {id(op.out): op.where for op in ops if op.kind == "norm"}
    watched, not_watched = [], []
    for lay in found:
        where = lay.op.where
        m = modules.get(where) if where else None
        kind = _module_kind(torch, m) if m is not None else None
        if kind is None:
            not_watched.append({"where": lay.label, "what": lay.kind,
                                "why": "its weight is applied by a function in a module's forward, not by an "
                                       "nn.Linear/Conv module a hook can see"})
            continue
        if calls.get(where, 0) > 1:
            not_watched.append({"where": where, "what": kind, "why": f"called {calls[where]} times per forward "
                                                                      "(a shared layer)"})
            continue
        norm_module = None
        if lay.norm is not None:
            nw = norm_where.get(id(lay.z))
            nm = modules.get(nw) if nw else None
            if nm is not None and type(nm).__name__ in _NORM_TYPES and calls.get(nw, 0) == 1:
                norm_module = nw
        out = lay.op.out
        x = lay.op.x
        in_sq = (float(x.detach().double().pow(2).mean()) if isinstance(x, torch.Tensor) and x.is_floating_point()
                 and x.numel() else None)
        watched.append({"name": where, "kind": kind, "shape": [int(s) for s in m.weight.shape],
                        "activation": lay.activation, "slope": float(lay.slope), "norm": lay.norm,
                        "norm_module": norm_module, "out_shape": [int(s) for s in out.shape[1:]],
                        "in_shape": [int(s) for s in lay.op.x.shape[1:]],
                        "continues": bool(lay.continues), "in_sq": in_sq})
    for s in skipped:
        not_watched.append({"where": s["where"], "what": s["what"], "why": "not analysed by the tracer"})
    return watched, not_watched


def theory(torch, model, watched: list[dict]) -> list[dict]:
    """The mean-field view of the layers as they start (Schoenholz et al. 2017, "Deep Information Propagation";
    :mod:`mlplab.theory`), per watched layer: σ_w² = fan_in·Var W, σ_b² = Var b (the weights when watch() saw the
    first batch), the predicted spread of z by the variance recursion

        q_1 = σ_w² E[x²] + σ_b²,    q_l = σ_w² E_{z~N(0, q_{l−1})}[φ(z)²] + σ_b²

    (E[x²] of the first batch's input; restarted at q = 1 after a normalisation; not continued past a layer
    whose input is not the previous layer's output), and the layer's χ₁ = σ_w² E[φ′(z)²] at its fixed point q*
    with the phase it puts a deep stack of such layers in (ordered χ₁ < 1, critical, chaotic χ₁ > 1). Layers
    whose activation the theory does not cover (ReLU6, Leaky ReLU) get None."""
    from .. import theory as th

    modules = dict(model.named_modules())
    out, q_prev, act_prev, norm_prev = [], None, None, None
    for i, lay in enumerate(watched):
        m = modules[lay["name"]]
        w = m.weight.detach().double()
        fan_in = int(w[0].numel())
        sw2 = fan_in * float(w.var(unbiased=False))
        sb2 = float(m.bias.detach().double().var(unbiased=False)) if m.bias is not None and m.bias.numel() > 1 else 0.0
        act = lay["activation"]
        try:
            th.theory_activation(act)
            known = True
        except (KeyError, ValueError):
            known = False
        q = None
        if i == 0 and lay.get("in_sq") is not None:
            q = sw2 * lay["in_sq"] + sb2
        elif i > 0 and lay.get("continues") and q_prev is not None and act_prev is not None:
            q_in = 1.0 if norm_prev else q_prev
            q = sw2 * float(th.mean_square(act_prev, q_in)) + sb2
        row = {"sigma_w2": sw2, "sigma_b2": sb2, "pred_z_std": q ** 0.5 if q is not None and q >= 0 else None,
               "chi1": None, "phase": None}
        if known and act != "identity":
            row["chi1"] = float(th.chi_1(sw2, sb2, act))
            row["phase"] = str(th.phase(sw2, sb2, act))
        out.append(row)
        q_prev, norm_prev = q, lay.get("norm")
        act_prev = act if known else None
    return out
