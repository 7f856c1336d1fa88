"""Diagnose a user's own PyTorch network: per-layer signal statistics against mean-field theory,
a verdict per layer, and a re-initialisation that fixes it.

``diagnose_model(model, x, y=None)`` (``mlplab.diagnose`` dispatches here for a ``torch.nn.Module``)
runs one forward and one backward pass on a *deep copy* of the model, so the user's model keeps its
parameters bit for bit, its train/eval flags, ``requires_grad`` and hooks. The forward is traced with
a ``TorchFunctionMode`` (every ``F.linear``/``F.conv1d``/``F.conv2d``, activation, normalisation and
dropout call, whether a module or functional code made it) plus forward hooks that name the module
each call came from. Each ``Linear``/``Conv1d``/``Conv2d`` is one *layer*: its output z (or, if a
BatchNorm/LayerNorm/GroupNorm follows, the normalised z) and the activation φ that follows (ReLU,
LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid, or none). Fan-in is C·k·k for a convolution; its "units"
are the channels, so a dead ReLU channel is one that is 0 at every position of every example.

The measures and the verdict rules are those of :mod:`mlplab.diagnose` (``_layer_verdict``: symmetric,
dead, saturating, exploding, vanishing, healthy) on the same statistics (:func:`mlplab.diagnostics._summary`),
so a torch network and the mlplab network with the same weights get the same verdicts. The theory is
:func:`mlplab.diagnostics.predict_signal`, Var z_{l+1} = n σ² E[φ(z_l)²] + Var b with σ² the measured
mean square of each weight, started from the measured E[x²]. A normalisation resets the variance, so
the recursion restarts there (and after anything not analysed, e.g. pooling) from the measured value;
such layers are never flagged for a signal that grew or shrank before them.

Severity: each layer becomes ``ok`` (healthy), ``warning`` (a problem, but it trains) or ``error``
(will not train as initialised): symmetric or non-finite, or beyond a limit of :data:`SEVERITY` —
signal gain (activation std / input std) outside 0.03-10, gradient gain ‖∂L/∂z_l‖/‖∂L/∂z_L‖ outside
0.03-10 (a first layer that learns 30x slower than the last; mlplab's verdict waits for 100x), 40 %
saturated, 50 % dead units. The limits were set on one generated set of networks and checked on
another: ``benchmarks/diagnose_accuracy.py`` compares "error" with what one epoch of MNIST does.

``fix_weights(model, "he" | "xavier" | "lsuv", x)`` returns a re-initialised state dict (the model is
untouched): He N(0, g²/n_in) or Xavier N(0, 2g²/(n_in + n_out)) with the gain g of each layer's own
activation, biases 0; or LSUV (Mishkin & Matas, *All you need is a good init*, 2016): orthonormal
weights, then each layer in turn rescaled on the batch until its output variance is 1.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

import numpy as np

from . import diagnostics as dg
from .torch_trace import layers as layers_of
from .torch_trace import trace
from .verdicts import _finite, _layer_verdict, _nan_to_none, _ratio, recommendation

__all__ = ["Diagnosis", "LayerDiagnosis", "diagnose_torch", "fix_weights", "from_result", "is_torch_module",
           "SEVERITY", "INSTALL_HINT"]

INSTALL_HINT = "this needs PyTorch, which is not installed: pip install mlplab[torch]"
SEVERITY = {  # beyond these a layer is an "error" (will not train); set on benchmarks/diagnose_accuracy.py, seed 0
    "signal_high": 10.0, "signal_low": 0.03,  # activation std / input std
    "grad_high": 10.0, "grad_low": 0.03,  # ‖∂L/∂z_l‖ / ‖∂L/∂z_L‖
    "saturated": 0.4, "dead": 0.5,  # fraction saturated; fraction of dead units
}
LEVELS = ("ok", "warning", "error")


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
    return float(np.linalg.norm(t.detach().cpu().double().numpy())) if t is not None else float("nan")


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


# ------------------------------------------------------------------------------ the result
@dataclass
class LayerDiagnosis:
    """One analysed layer: ``verdict`` ok|warning|error, ``problem`` (mlplab.diagnose's verdict: healthy,
    vanishing, exploding, saturating, dead, symmetric), the measured and predicted statistics, a sentence."""

    index: int
    name: str
    kind: str
    shape: str
    activation: str
    normalization: str | None
    verdict: str
    problem: str
    sentence: str
    measured: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)


@dataclass
class Diagnosis:
    """The check-up of a network: ``overall`` ok|warning|error, ``problem`` (the first problem from the input,
    "symmetric" if any layer is), ``summary`` and ``recommendation`` in plain words, the ``layers``, what was
    ``not_analysed``, ``notes`` (normalisations, dropout), the optimizer ``steps`` taken on a copy."""

    overall: str
    problem: str
    summary: str
    recommendation: str
    layers: list[LayerDiagnosis]
    not_analysed: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: dict = field(default_factory=dict)
    input: dict = field(default_factory=dict)

    @property
    def will_train(self) -> bool:
        return self.overall != "error"

    def to_dict(self) -> dict:
        return _nan_to_none(asdict(self))

    def _repr_html_(self) -> str:
        """Jupyter's view: the table and the sentences, by the report's renderer."""
        from .display import html

        return html(self)

    def __str__(self) -> str:
        return _text(self)


def _severity(row: dict) -> tuple[str, str, str]:
    """(level, problem, reason) for one row of mlplab.diagnose: ``error`` if the row is symmetric or not
    finite, or breaks one of :data:`SEVERITY`'s limits (its gradient more than 10x off the output layer's counts
    even where mlplab's verdict, at 100x, still says healthy); else ``warning`` for any other problem."""
    v, t, reason = row["verdict"], SEVERITY, row.get("reason", "")
    if v == "symmetric" or row.get("decided_by") == "nonfinite":
        return "error", v, reason
    sig, grad, sat, dead = (row.get(k) for k in ("signal_gain", "grad_gain", "saturated", "dead"))
    if (_finite(dead) and dead >= t["dead"]) or (_finite(sat) and sat >= t["saturated"]) or \
            (_finite(sig) and not t["signal_low"] <= sig <= t["signal_high"]):
        return "error", v, reason
    if _finite(grad) and not t["grad_low"] <= grad <= t["grad_high"]:
        if v == "healthy":  # mlplab's verdict waits for 100x; a 10x slower (or faster) layer already fails
            v = "vanishing" if grad < t["grad_low"] else "exploding"
            reason = (f"the gradient ‖∂L/∂z‖ is {_ratio(grad)}x the output layer's: this layer learns about "
                      f"{max(grad, 1 / grad):.3g}x {'slower' if grad < 1 else 'faster'} than the last")
        return "error", v, reason
    return ("ok" if v == "healthy" else "warning"), v, reason


_CONSEQUENCE = {"ok": "", "warning": "; it will train, but slowly or unevenly",
                "error": "; as initialised, this stops the network from training"}


def _sentence(row: dict, level: str) -> str:
    th = row.get("theory") or {}
    meas = f"activation std {_g(row.get('act_std'))} (theory {_g(th.get('act_std'))})"
    if row.get("normalization"):
        meas += f"; {row['normalization']} resets the variance here, so what came before does not compound"
    f = th.get("variance_factor")
    if _finite(f) and row["verdict"] in ("vanishing", "exploding"):
        meas += f"; theory: Var z changes {f:.3g}x at this layer (n σ² E[φ²] / Var z)"
    head = "healthy: signal and gradient within range" if row["verdict"] == "healthy" else \
        f"{row['verdict']}: {row['reason']}"
    return f"{head}{_CONSEQUENCE[level]} — {meas}"


def _g(x, pct=False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if pct:
        return f"{x:.0%}"
    if abs(x) < 1e-12:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.1e}"


_MEASURED = ("act_mean", "act_std", "saturated", "zero", "dead", "weight_grad_norm", "pre_grad_norm", "signal_gain",
             "grad_gain", "update_ratio", "total_change", "distinct_units", "weight_std0", "weight_mean0")


def _from_rows(rows: list[dict], *, names=None, kinds=None, norms=None, diverged=None, steps=None, input=None,
               not_analysed=(), notes=(), activation=None, fan=None) -> Diagnosis:
    """A Diagnosis from mlplab.diagnose-style rows (each with its verdict/reason/decided_by)."""
    out = []
    for i, r in enumerate(rows):
        level, problem, reason = _severity(r)
        r = {**r, "verdict": problem, "reason": reason, "normalization": (norms or [None] * len(rows))[i]}
        out.append(LayerDiagnosis(
            index=r["layer"], name=(names or [f"layer {r['layer']}"] * len(rows))[i],
            kind=(kinds or ["Linear"] * len(rows))[i], shape=f"{r['fan_in']}→{r['fan_out']}",
            activation=r["activation"], normalization=r["normalization"], verdict=level, problem=r["verdict"],
            sentence=_sentence(r, level), measured={k: r.get(k) for k in _MEASURED},
            predicted=dict(r.get("theory") or {})))
    problems = [x.problem for x in out if x.problem != "healthy"]
    problem = "symmetric" if "symmetric" in problems else problems[0] if problems else "healthy"
    overall = max((x.verdict for x in out), key=LEVELS.index, default="ok")
    if diverged:
        overall = "error"
        if problem == "healthy" or problem == "vanishing":
            problem = "exploding"
    bad = [x for x in out if x.problem == problem]
    where = f"layer {bad[0].index} ({bad[0].name})" if len(bad) == 1 else \
        f"{len(bad)} layers from layer {bad[0].index} ({bad[0].name})" if bad else ""
    if overall == "ok":
        summary = "ok: every analysed layer keeps its signal and gradient within range; it should train"
    else:
        first = bad[0].sentence.split(" — ")[0] if bad else ""
        summary = (f"{overall}: {'will not train as initialised' if overall == 'error' else 'trains, with a problem'}"
                   f"; {problem} in {where}: {first}" if bad else f"{overall}: {problem}")
        if diverged:
            summary += f"; {diverged}"
    act = activation or next((x.activation for x in out if x.activation != "identity"), "identity")
    act_key = act if act in ("relu", "leaky_relu", "tanh", "sigmoid", "identity") else "relu"
    ws = [x.predicted.get("weight_std") for x in out if _finite(x.predicted.get("weight_std"))]
    rec = recommendation(act_key, f"std={ws[min(1, len(ws) - 1)]:.3g}" if ws else "std=1", fan or rows[0]["fan_in"],
                         depth=len(rows), label="its current weights")["advice"]
    if overall != "ok":
        method = "he" if act_key in ("relu", "leaky_relu") else "xavier"
        rec += (f". Fix: fix_weights(model, {method!r}) or {'lsuv'!r} (CLI: --fix {method}) re-initialises every "
                "layer with the gain of its own activation")
    return Diagnosis(overall, problem, summary, rec, out, list(not_analysed), list(notes), dict(steps or {}),
                     dict(input or {}))


def from_result(result: dict) -> Diagnosis:
    """The ok/warning/error Diagnosis of an mlplab network, from ``mlplab.diagnose.diagnose_model``'s dict."""
    st = result.get("steps") or {}
    return _from_rows(result["layers"], diverged=st.get("diverged"), steps=st, input=result.get("input"),
                      activation=(result.get("config") or {}).get("activation"))


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
    from .optim import DEFAULT_HPARAMS

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
        }
        row["verdict"], row["reason"], row["decided_by"] = _layer_verdict(row, hidden)
        rows.append(row)
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



# ------------------------------------------------------------------------------ the fix
def _gain(act: str, slope: float) -> float:
    """The init gain for an activation: torch's table (calculate_gain); √2 for ELU/GELU/SiLU, ReLU-like."""
    from .init import calculate_gain

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


# ------------------------------------------------------------------------------ presenting
_COLUMNS = ("layer", "name", "shape", "φ", "act mean", "act std", "sat./dead", "‖∂L/∂W‖", "‖ΔW‖/‖W‖", "verdict")


def _cells(d: Diagnosis) -> list[list[str]]:
    """The table rows: measured (theory)."""
    out = []
    for lay in d.layers:
        m, p = lay.measured, lay.predicted
        if lay.activation in ("sigmoid", "tanh"):
            sd = f"{_g(m.get('saturated'), True)} ({_g(p.get('saturated'), True)})"
        elif lay.activation == "relu":
            sd = f"{_g(m.get('dead'), True)} (0%)"
        else:
            sd = ""
        act = (f"{lay.normalization}+" if lay.normalization else "") + lay.activation
        out.append([str(lay.index), f"{lay.name} {lay.kind}", lay.shape, act,
                    f"{_g(m.get('act_mean'))} ({_g(p.get('act_mean'))})",
                    f"{_g(m.get('act_std'))} ({_g(p.get('act_std'))})", sd,
                    f"{_g(m.get('weight_grad_norm'))} ({_g(p.get('weight_grad_norm'))})",
                    _g(m.get("update_ratio")), f"{lay.verdict} ({lay.problem})" if lay.verdict != "ok" else "ok"])
    return out


def _text(d: Diagnosis) -> str:
    cells = [list(_COLUMNS), *_cells(d)]
    widths = [max(len(r[j]) for r in cells) for j in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["measured (theory)"]
    lines += [f"not analysed: {s['what']} in {s['where']}" for s in d.not_analysed]
    lines += [f"note: {n}" for n in d.notes]
    lines += [f"layer {lay.index} ({lay.name}): {lay.sentence}" for lay in d.layers if lay.verdict != "ok"]
    lines += [f"verdict: {d.summary}", f"recommendation: {d.recommendation}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ loading a user's model
def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}" + ("…" if len(text) > 300 else "")


def load_model(spec: str, state_dict: str | None = None):
    """The module returned by FACTORY() in ``FILE.py:FACTORY``, with the weights of ``state_dict`` (a file
    written by ``torch.save(model.state_dict(), W)``) if given. Every failure is a one-line ValueError."""
    import importlib.util
    from pathlib import Path

    torch = _torch()
    path, sep, name = str(spec).rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"--torch {spec!r}: give FILE.py:FACTORY, e.g. model.py:make_model")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--torch: no such file {str(file)!r}")
    mod_spec = importlib.util.spec_from_file_location(f"mlplab_user_model_{abs(hash(str(file.resolve())))}", file)
    if mod_spec is None or mod_spec.loader is None:
        raise ValueError(f"--torch: cannot import {str(file)!r} as a Python file")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # the user's file: any error is theirs to fix, in one line
        raise ValueError(f"--torch: importing {str(file)!r} raised {_one_line(e)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise ValueError(f"--torch: {str(file)!r} has no function {name!r}"
                         + (f"; it defines {', '.join(found)}" if found else ""))
    try:
        model = factory()
    except Exception as e:
        raise ValueError(f"--torch: {name}() raised {_one_line(e)}") from None
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"--torch: {name}() returned a {type(model).__name__}, not a torch.nn.Module")
    if state_dict is not None:
        w = Path(state_dict)
        if not w.is_file():
            raise ValueError(f"--state-dict: no such file {str(w)!r}")
        try:
            state = torch.load(w, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            model.load_state_dict(state)
        except Exception as e:
            raise ValueError(f"--state-dict {str(w)!r} does not fit {name}(): {_one_line(e)}") from None
    return model


def input_batch(shape, batch_size: int = 256, std: float = 1.0, seed: int = 0) -> np.ndarray:
    """A Gaussian N(0, std²) batch of shape (batch_size, *shape), float32, from ``seed``."""
    rng = np.random.default_rng([seed, 3])
    return (rng.standard_normal((int(batch_size), *shape)) * std).astype(np.float32)


def parse_shape(text) -> tuple[int, ...]:
    """"784" -> (784,); "1,28,28" or "1x28x28" -> (1, 28, 28)."""
    try:
        shape = tuple(int(v) for v in str(text).replace("x", ",").replace(" ", "").split(",") if v)
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: give the shape of one example, e.g. 784 or 1,28,28")
    return shape
