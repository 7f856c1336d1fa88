"""The check-up itself: one traced forward and backward pass on a deep copy of the user's model, the
per-layer statistics (:func:`mlplab.diagnostics._summary`) beside the mean-field theory, and a few
optimizer steps for the update sizes: :func:`diagnose_torch`.
"""

from __future__ import annotations

import copy
import math
import sys
from types import SimpleNamespace

import numpy as np

from .. import diagnostics as dg
from ..torch_trace import layers as layers_of
from ..torch_trace import trace
from ..verdicts import judge_rows
from .result import Diagnosis, _from_rows

INSTALL_HINT = "this needs PyTorch, which is not installed: pip install mlplab[torch]"


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return torch


def is_torch_module(obj) -> bool:
    """True for a ``torch.nn.Module`` (without importing torch if the caller has not)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


# ------------------------------------------------------------------------------ measuring
def _np(t, channel_axis: bool):
    a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
    return np.moveaxis(a, 1, -1) if channel_axis and a.ndim > 2 else a


def _weight_matrix(w) -> np.ndarray:
    """(fan_in, units): a Linear's (out, in) weight transposed; a conv's (C_out, C_in/g, *k) as (C_in/g·Πk, C_out)."""
    w = w.detach().cpu().numpy().copy()  # a copy: the optimizer steps later change the parameter in place
    return w.reshape(w.shape[0], -1).T


def _norm(t) -> float:
    if t is None:
        return float("nan")
    import torch

    return float(torch.linalg.vector_norm(t.detach(), dtype=torch.float64))  # no float64 copy through NumPy


def _measure(layers, x_np, eps=dg.SATURATION_EPS):
    """Per layer: mlplab's LayerStats (dg._summary) plus gradient norms and shapes."""
    out = []
    for i, lay in enumerate(layers):
        conv = lay.kind != "Linear"
        wm = _weight_matrix(lay.op.weight)
        z = _np(lay.z_values if lay.z_values is not None else lay.z, conv)
        a = _np(lay.a, conv)
        s = dg._summary(i, SimpleNamespace(linear=SimpleNamespace(weight=SimpleNamespace(data=wm)),
                                           activation=lay.activation), z, a, eps)
        units = wm.shape[1]
        positions = max(1, z[0].size // units) if z.ndim > 1 else 1
        zg = getattr(lay.z, "grad", None) if lay.z_values is None else None
        wg = lay.op.weight.grad
        s.pre_grad_norm = _norm(zg) if zg is not None else float("nan")
        s.weight_grad_norm = _norm(wg) if wg is not None else float("nan")
        xin = _np(lay.op.x, conv).astype(np.float64)
        b = lay.op.bias
        out.append({"stats": s, "weight": wm, "positions": positions, "elements": z.size,
                    "in_sq": float(np.mean(xin**2)), "pre_sq": s.pre_sq,
                    "bias_sq": float(np.mean(b.detach().cpu().double().numpy() ** 2)) if b is not None else 0.0,
                    "grad_sq": float(np.mean(zg.detach().cpu().double().numpy() ** 2)) if zg is not None else None,
                    "bwd_fan": units * int(np.prod(lay.op.weight.shape[2:])),
                    "batch": int(x_np.shape[0])})
    return out


def _theory(layers, meas) -> list[dict]:
    """The mean-field prediction per layer, restarted at every normalisation and every break in the chain."""
    segs: list[list[int]] = []
    for i, lay in enumerate(layers):
        if not segs or not lay.continues or lay.norm:
            segs.append([i])
        else:
            segs[-1].append(i)
    th: list[dict] = [{} for _ in layers]
    for seg in segs:
        first = layers[seg[0]]
        m = [meas[i] for i in seg]
        fan_in = [mm["weight"].shape[0] for mm in m]
        wv = [float(np.mean(mm["weight"].astype(np.float64) ** 2)) for mm in m]
        bv = [mm["bias_sq"] for mm in m]
        input_sq = m[0]["in_sq"]
        if first.norm:  # the normalisation sets Var z itself: a unit "layer" with n σ² E[x²] = measured E[z²]
            fan_in[0], wv[0], bv[0], input_sq = 1, 1.0, 0.0, m[0]["pre_sq"]
        g = m[-1]["grad_sq"]
        with np.errstate(all="ignore"):
            pred = dg.predict_signal(fan_in, [mm["bwd_fan"] for mm in m], wv, [layers[i].activation for i in seg],
                                     input_sq, bv, output_grad_sq=g if g is not None and math.isfinite(g) else None,
                                     slope=first.slope)
            for k, i in enumerate(seg):
                var = float(pred.pre_var[k])
                act = layers[i].activation
                row = {"pre_std": math.sqrt(var) if var >= 0 else float("nan"), "act_mean": float("nan"),
                       "act_std": float("nan"), "saturated": float("nan"),
                       "dead": 0.0 if act == "relu" else float("nan"),
                       "variance_factor": float("nan") if (k == 0 and (first.norm or not first.continues))
                       else float(pred.factor[k]),
                       "weight_grad_norm": float("nan"), "pre_grad_norm": float("nan"),
                       "weight_std": math.sqrt(wv[k]) if not (k == 0 and first.norm) else math.sqrt(
                           float(np.mean(meas[i]["weight"].astype(np.float64) ** 2))),
                       "reset": bool(first.norm) and k == 0}
                if math.isfinite(var):
                    phi, _ = dg.activation_fn(act, layers[i].slope)
                    mean = dg.gaussian_expectation(phi, var)
                    row["act_mean"] = mean
                    row["act_std"] = math.sqrt(max(float(pred.act_sq[k]) - mean**2, 0.0))
                    if act in dg._BOUNDS:
                        lo, hi = dg._BOUNDS[act]
                        row["saturated"] = dg.gaussian_expectation(
                            lambda z, phi=phi, lo=lo, hi=hi: ((phi(z) <= lo + dg.SATURATION_EPS)
                                                              | (phi(z) >= hi - dg.SATURATION_EPS)).astype(float), var)
                if pred.grad_sq is not None and not row["reset"]:  # BatchNorm's Jacobian is not in the theory
                    prev = input_sq if k == 0 else float(pred.act_sq[k - 1])
                    mm = m[k]
                    gs = float(pred.grad_sq[k])
                    row["pre_grad_norm"] = math.sqrt(mm["elements"] * gs)
                    row["weight_grad_norm"] = math.sqrt(mm["weight"].size * mm["batch"] * mm["positions"] * prev * gs)
                th[i] = row
    return th


# ------------------------------------------------------------------------------ diagnose
def _as_input(torch, model, x):
    p = next((q for q in model.parameters() if q.is_floating_point()), None)
    dtype, device = (p.dtype, p.device) if p is not None else (torch.float32, "cpu")
    x = x if isinstance(x, torch.Tensor) else torch.tensor(np.asarray(x))
    return x.detach().to(device=device, dtype=dtype)


def _loss_fn(torch, out, y):
    out = out.reshape(out.shape[0], -1)
    if y.dtype.is_floating_point:
        return 0.5 * torch.mean((out - y.reshape(out.shape)) ** 2)
    return torch.nn.functional.cross_entropy(out, y)


def _labels(torch, out, y, seed):
    """y as a tensor; without it random labels (classification) or N(0, 1) targets (one output)."""
    rng = np.random.default_rng([seed, 2])
    out = out.reshape(out.shape[0], -1)
    if y is not None:
        y = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
        return y.to(out.device).long() if not y.dtype.is_floating_point else y.to(out.device, out.dtype)
    if out.shape[1] >= 2:
        return torch.as_tensor(rng.integers(0, out.shape[1], size=out.shape[0]), device=out.device)
    return torch.as_tensor(rng.standard_normal(out.shape), dtype=out.dtype, device=out.device)


def _registered(weight, params) -> bool | None:
    """Whether a layer's weight is one of the parameters the optimizer updates (None: not a leaf tensor, e.g.
    computed by a parametrization, so the question does not apply)."""
    if not getattr(weight, "is_leaf", False):
        return None
    return any(weight is p for p in params)


def _working_copy(torch, model):
    """A deep copy in train mode (BatchNorm normalises by the batch), dropout off, every float parameter
    trainable so every layer gets a gradient. The user's model is never touched."""
    work = copy.deepcopy(model)
    work.train()
    for m in work.modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd):
            m.eval()
    for p in work.parameters():
        if p.is_floating_point():
            p.requires_grad_(True)
            p.grad = None
    return work


def diagnose_torch(model, x, y=None, *, steps: int = 3, optimizer: str = "sgd", lr: float | None = None,
                   seed: int = 0) -> Diagnosis:
    """Diagnose a ``torch.nn.Module`` on an input batch ``x`` (labels ``y`` optional: random labels drawn
    from ``seed``), then take ``steps`` full-batch ``optimizer`` steps (sgd or adam, mlplab's default
    learning rates) on a copy for the update sizes ‖ΔW‖/‖W‖ and whether units stay identical."""
    torch = _torch()
    from ..optim import DEFAULT_HPARAMS

    if not is_torch_module(model):
        raise TypeError(f"diagnose_torch needs a torch.nn.Module, got {type(model).__name__}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam' for a torch model, got {optimizer!r}")
    steps = int(steps)
    work = _working_copy(torch, model)
    x = _as_input(torch, work, x)
    ops, out = trace(work, x)
    layers, skipped = layers_of(ops)
    if not layers:
        raise ValueError("no Linear/Conv1d/Conv2d layer was called in the forward pass: nothing to diagnose")
    yt = _labels(torch, out, y, seed)
    loss0 = _loss_fn(torch, out, yt)
    loss0.backward()
    x_np = x.detach().cpu().numpy()
    meas = _measure(layers, x_np)
    theory = _theory(layers, meas)
    w0 = [lay.op.weight.detach().clone() for lay in layers]

    # a few steps on the copy
    lr = float(lr if lr is not None else DEFAULT_HPARAMS[optimizer]["lr"])
    params = [p for p in work.parameters() if p.requires_grad]
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(params, lr=lr)
    diverged, taken, prev = None, 0, None
    for s in range(steps):
        opt.zero_grad()
        loss_t = _loss_fn(torch, work(x), yt)
        if not torch.isfinite(loss_t):
            diverged = f"training diverged at step {s + 1}: the loss is {float(loss_t)}"
            break
        loss_t.backward()
        prev = [lay.op.weight.detach().clone() for lay in layers] if s == steps - 1 else prev
        opt.step()
        taken += 1
    with torch.no_grad():
        after_ops, after_out = trace(work, x)
        loss_after = float(_loss_fn(torch, after_out, yt))
    after, _ = layers_of(after_ops)

    def rel(a, b):
        den = float(torch.linalg.norm(b))
        return float(torch.linalg.norm(a - b)) / den if den > 0 else (math.inf if bool((a != b).any()) else 0.0)

    in_std = float(np.std(x_np.astype(np.float64)))
    uses: dict[int, int] = {}
    for lay in layers:  # a weight called by several layers (tied, reused): one parameter, one update, k uses
        uses[id(lay.op.weight)] = uses.get(id(lay.op.weight), 0) + 1
    last = meas[-1]
    out_pre = last["stats"].pre_grad_norm
    rows = []
    for i, (lay, m, th) in enumerate(zip(layers, meas, theory)):
        s, w = m["stats"], m["weight"].astype(np.float64)
        hidden = i < len(layers) - 1
        distinct = None
        if hidden and len(after) == len(layers):
            a = _np(after[i].a, lay.kind != "Linear")
            if np.all(np.isfinite(a)):
                distinct = int(dg.count_distinct_units(a.reshape(-1, a.shape[-1])))
        row = {
            "layer": i + 1, "fan_in": s.fan_in, "fan_out": s.fan_out, "activation": lay.activation,
            "weight_std0": 0.0 if np.all(w == w.flat[0]) else float(w.std()), "weight_mean0": float(w.mean()),
            "act_mean": s.act_mean, "act_std": s.act_std, "saturated": s.saturated, "zero": s.zero, "dead": s.dead,
            "weight_grad_norm": s.weight_grad_norm, "pre_grad_norm": s.pre_grad_norm,
            "signal_gain": s.act_std / in_std if in_std > 0 else float("nan"),
            "grad_gain": s.pre_grad_norm / out_pre if math.isfinite(out_pre) and out_pre > 0 else float("nan"),
            "update_ratio": rel(lay.op.weight.detach(), prev[i]) if prev is not None and not diverged
            else float("nan"),
            "total_change": rel(lay.op.weight.detach(), w0[i]),
            "distinct_units": distinct, "theory": th,
            "registered": _registered(lay.op.weight, params), "shared_uses": uses[id(lay.op.weight)],
            "normalization": lay.norm,
        }
        rows.append(row)
    judge_rows(rows, optimizer)
    notes = [f"{lay.norm} after layer {i + 1} ({lay.label}) resets the variance: the theory restarts from it"
             for i, lay in enumerate(layers) if lay.norm]
    notes += [f"{op.name} in {op.where or 'forward'} was switched off (the signal is measured without it)"
              for op in ops if op.kind == "dropout"]
    notes += [f"the input of layer {i + 1} ({lay.label}) is not the previous layer's output (pooling, a residual "
              "sum, ...): the theory restarts from its measured E[x²]"
              for i, lay in enumerate(layers) if i and not lay.continues and not lay.norm]
    acts = [lay.activation for lay in layers if lay.activation != "identity"]
    fans = [m["weight"].shape[0] for m in meas]
    return _from_rows(
        rows, names=[lay.label for lay in layers], kinds=[lay.kind for lay in layers],
        norms=[lay.norm for lay in layers], diverged=diverged, not_analysed=skipped, notes=notes,
        activation=max(set(acts), key=acts.count) if acts else "identity",
        fan=int(np.median(fans[1:])) if len(fans) > 1 else fans[0],
        steps={"optimizer": optimizer, "lr": lr, "steps": taken, "requested": steps,
               "loss_before": float(loss0.detach()), "loss_after": loss_after, "diverged": diverged},
        input={"examples": int(x.shape[0]), "shape": list(x.shape[1:]), "std": in_std,
               "mean_square": float(np.mean(x_np.astype(np.float64) ** 2))})
