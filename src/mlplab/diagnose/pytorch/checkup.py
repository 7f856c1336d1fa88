"""The check-up itself: one traced forward and backward pass on a deep copy of the user's model, the
per-layer statistics (:func:`mlplab.diagnose.statistics._summary`) beside the mean-field theory, and a few
optimizer steps for the update sizes: :func:`diagnose_torch`.
"""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import numpy as np

from .. import statistics as dg
from ..theory_note import note_for_chain
from ..verdicts import judge_rows, label_signal_gated
from .result import Diagnosis, _from_rows, _judge_coverage
from .trace import layers as layers_of
from .trace import trace

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
    """A tensor as a NumPy array (float32 for bfloat16/float16: statistics are taken in float32 or wider)."""
    if hasattr(t, "detach"):
        t = t.detach()
        a = (t.float() if t.is_floating_point() and t.dtype not in (_torch().float32, _torch().float64) else t
             ).cpu().numpy()
    else:
        a = np.asarray(t)
    return np.moveaxis(a, 1, -1) if channel_axis and a.ndim > 2 else a


def _weight_matrix(w) -> np.ndarray:
    """(fan_in, units): a Linear's (out, in) weight transposed; a conv's (C_out, C_in/g, *k) as (C_in/g·Πk, C_out)."""
    w = w.detach().float().cpu().numpy().copy()  # a copy: the optimizer steps later change the parameter in place
    return w.reshape(w.shape[0], -1).T


def _norm(t) -> float:
    if t is None:
        return float("nan")
    import torch

    return float(torch.linalg.vector_norm(t.detach(), dtype=torch.float64))  # no float64 copy through NumPy


def _mean_sq(a) -> float:
    """E[a²] accumulated in float64 without a float64 copy of ``a`` (a weight matrix can be most of the memory)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(a))
    return float(torch.linalg.vector_norm(t, dtype=torch.float64) ** 2 / max(t.numel(), 1)) if t.numel() else 0.0


def _spread(a) -> tuple[int, float, float]:
    """(n, mean, Σ(x − mean)²) of an array in float64 without a float64 copy of it but the deviations: one pass
    for the mean, one for the deviations' squares (the two passes of ``np.std``). The input's std (biased and
    unbiased) and E[x²] = Σ(x − mean)²/n + mean² all come from it (issue 30's time budget: they were three
    passes over the input in float64, and a float64 copy of it, for a 784-wide input as long as a layer's
    statistics)."""
    a = np.ravel(np.asarray(a))
    n = a.size
    if n == 0:
        return 0, float("nan"), float("nan")
    mean = float(np.mean(a, dtype=np.float64))
    d = np.subtract(a, mean, dtype=np.float64)
    return n, mean, float(np.dot(d, d))


RELU6_TOP = 6.0


def _segments(layers) -> list[list[int]]:
    """The chains the theory follows: a new one at the first layer, at every normalisation and every break."""
    segs: list[list[int]] = []
    for i, lay in enumerate(layers):
        if not segs or not lay.continues or lay.norm:
            segs.append([i])
        else:
            segs[-1].append(i)
    return segs


def _measure(layers, batch: int, eps=dg.SATURATION_EPS):
    """Per layer: mlplab's LayerStats (dg._summary, the fields the check-up reads) plus gradient norms and
    shapes. ReLU6 counts as a ReLU (dead and zero units) that also saturates: outputs within ``eps`` of 6, where
    φ' = 0. What the theory reads only at a chain's ends is measured there only (issue 30's time budget): the
    input's E[x²] at a chain's first layer (``in_sq``, else None), E[(∂L/∂z)²] at its last (``grad_sq``, else
    None), the input's std at layer 1 (``in_std``). A weight several layers call (tied, reused: a GRU cell
    unrolled over the steps) is copied and its gradient's norm taken once.

    Layer by layer, not on one array of all the layers' values: that was slower (the statistics of 20 layers of
    256 × 64 in one float64 array of 2.6 MB leave the cache that a layer's 128 kB stays in)."""
    segs = _segments(layers)
    starts, ends = {seg[0] for seg in segs}, {seg[-1] for seg in segs}
    weights: dict[int, tuple] = {}
    out = []
    for i, lay in enumerate(layers):
        conv = lay.kind != "Linear"
        if id(lay.op.weight) not in weights:
            wg = lay.op.weight.grad
            weights[id(lay.op.weight)] = (_weight_matrix(lay.op.weight), _norm(wg) if wg is not None else float("nan"))
        wm, wg_norm = weights[id(lay.op.weight)]
        zsrc = lay.z_values if lay.z_values is not None else lay.z
        z = _np(zsrc, conv)
        a = _np(lay.a, conv)
        act = "relu" if lay.activation == "relu6" else lay.activation
        s = dg._summary(i, SimpleNamespace(linear=SimpleNamespace(weight=SimpleNamespace(data=wm)),
                                           activation=act), z, a, eps, full=False)
        if lay.activation == "relu6":
            s.activation = "relu6"
            s.saturated = float(np.mean(a >= RELU6_TOP - eps))
        units = wm.shape[1]
        positions = max(1, z[0].size // units) if z.ndim > 1 else 1
        zg = getattr(zsrc, "grad", None)
        s.pre_grad_norm = _norm(zg) if zg is not None else float("nan")
        s.weight_grad_norm = wg_norm
        xin = (_np(lay.op.x, conv) if lay.op.x is not None and lay.op.x.is_floating_point() else np.zeros(1)) \
            if i in starts or i == 0 else None
        b = lay.op.bias
        spread = _spread(xin) if i == 0 else None
        out.append({"stats": s, "weight": wm, "positions": positions, "elements": z.size,
                    "in_sq": (spread[2] / spread[0] + spread[1] ** 2 if i == 0 else _mean_sq(xin))
                    if i in starts else None, "pre_sq": s.pre_sq, "in_spread": spread,
                    "bias_sq": float(np.mean(b.detach().cpu().double().numpy() ** 2)) if b is not None else 0.0,
                    "grad_sq": float(np.mean(zg.detach().cpu().double().numpy() ** 2))
                    if zg is not None and i in ends else None,
                    "bwd_fan": units * int(np.prod(lay.op.weight.shape[2:])),
                    "batch": int(batch), "in_std": math.sqrt(spread[2] / spread[0]) if i == 0 else None})
    return out


def label_signal(torch, lay, first) -> float | None:
    """:func:`mlplab.diagnose.verdicts.label_signal_gated` of the output layer ``lay`` from the traced pass
    (its input and its retained ∂L/∂z: no extra backward), gated by the first layer's input; None for a
    conv output layer."""
    z, x, x0 = lay.op.out, lay.op.x, first.op.x
    if lay.kind != "Linear" or z is None or x is None or getattr(z, "grad", None) is None \
            or not x.is_floating_point() or x0 is None or not x0.is_floating_point():
        return None

    def np_(t):
        return t.detach().float().cpu().numpy()

    return label_signal_gated(np_(z.grad), np_(x), np_(x0))


def _theory(layers, meas) -> list[dict]:
    """The mean-field prediction per layer, restarted at every normalisation and every break in the chain.

    :func:`mlplab.diagnose.statistics.predict_signal`'s recursion for every chain at once (issue 30's time
    budget: a GRU unrolled over 8 steps is 25 one-layer chains): step k takes the k-th layer of every chain
    still that long, with one theory call per activation for E[φ²] (:func:`~mlplab.diagnose.statistics.moments_at`),
    then E[φ′²] of every layer in one call for the backward recursion, and the activation's mean and saturated
    fraction of every layer on one array of grids (:func:`~mlplab.diagnose.statistics.gaussian_expectations_at`).
    The same operations per layer as ``predict_signal`` and ``gaussian_expectations``: the same numbers up to
    the order of the quadratures' additions."""
    th: list[dict] = [{} for _ in layers]
    segs = _segments(layers)
    wsq: dict[int, float] = {}  # E[w²] per weight array (one for the layers sharing a weight)
    for mm in meas:
        if id(mm["weight"]) not in wsq:
            wsq[id(mm["weight"])] = _mean_sq(mm["weight"])
    chains = []
    for seg in segs:
        first = layers[seg[0]]
        m = [meas[i] for i in seg]
        fan_in = [float(mm["weight"].shape[0]) for mm in m]
        wv = [wsq[id(mm["weight"])] for mm in m]
        bv = [mm["bias_sq"] for mm in m]
        input_sq = m[0]["in_sq"]
        if first.norm:  # the normalisation sets Var z itself: a unit "layer" with n σ² E[x²] = measured E[z²]
            fan_in[0], wv[0], bv[0], input_sq = 1.0, 1.0, 0.0, m[0]["pre_sq"]
        g = m[-1]["grad_sq"]
        chains.append({"seg": seg, "first": first, "m": m, "fan_in": fan_in, "wv": wv, "bv": bv,
                       "input_sq": float(input_sq), "acts": [layers[i].activation for i in seg],
                       "g": g if g is not None and math.isfinite(g) else None,
                       "pre": np.zeros(len(seg)), "act_sq": np.zeros(len(seg)), "factor": np.zeros(len(seg))})
    with np.errstate(all="ignore"):
        prev = np.array([c["input_sq"] for c in chains])
        prev_var = prev.copy()
        for k in range(max(len(seg) for seg in segs)):
            live = [j for j, c in enumerate(chains) if len(c["seg"]) > k]
            pre = (np.array([chains[j]["fan_in"][k] for j in live]) * np.array([chains[j]["wv"][k] for j in live])
                   * prev[live] + np.array([chains[j]["bv"][k] for j in live]))
            act_sq = dg.moments_at("phi", [chains[j]["acts"][k] for j in live],
                                   [chains[j]["first"].slope for j in live], pre)
            factor = np.where(prev_var[live] > 0, pre / prev_var[live], np.inf)
            for n, j in enumerate(live):
                c = chains[j]
                c["pre"][k], c["act_sq"][k], c["factor"][k] = pre[n], act_sq[n], factor[n]
            prev[live], prev_var[live] = act_sq, pre
        back = [c for c in chains if c["g"] is not None]
        if back:
            dm = dg.moments_at("dphi", [a for c in back for a in c["acts"]],
                               [c["first"].slope for c in back for _ in c["seg"]],
                               np.concatenate([c["pre"] for c in back]))
            at = 0
            for c in back:
                n = len(c["seg"])
                d, grad = dm[at:at + n], np.zeros(n)
                at += n
                grad[-1] = c["g"] * float(d[-1])
                for l in range(n - 2, -1, -1):
                    grad[l] = float(d[l]) * (c["m"][l + 1]["bwd_fan"] * c["wv"][l + 1] * grad[l + 1])
                c["grad"] = grad
        # the activation's mean (and saturated fraction) at each layer's predicted variance, grouped by activation
        groups: dict[tuple, list[tuple[int, float]]] = {}
        for c in chains:
            for k, i in enumerate(c["seg"]):
                if math.isfinite(float(c["pre"][k])):
                    groups.setdefault((layers[i].activation, layers[i].slope), []).append((i, float(c["pre"][k])))
        expect: dict[int, list[float]] = {}
        for (act, slope), items in groups.items():
            if act == "identity":  # E[z] = 0 for z ~ N(0, var): no quadrature (it gave 0 to rounding)
                for i, _ in items:
                    expect[i] = [0.0]
                continue
            phi, _ = dg.activation_fn(act, slope)
            sat = None
            if act == "relu6":  # the top bound only (0 is a ReLU's dead side, counted as dead)
                def sat(z, phi=phi):
                    return (phi(z) >= RELU6_TOP - dg.SATURATION_EPS).astype(float)
            elif act in dg._BOUNDS:
                lo, hi = dg._BOUNDS[act]

                def sat(z, phi=phi, lo=lo, hi=hi):
                    a = phi(z)
                    return ((a <= lo + dg.SATURATION_EPS) | (a >= hi - dg.SATURATION_EPS)).astype(float)
            got = dg.gaussian_expectations_at([phi] if sat is None else [phi, sat], [v for _, v in items])
            for n, (i, _) in enumerate(items):
                expect[i] = [float(r[n]) for r in got]
        for c in chains:
            first, seg, m, wv = c["first"], c["seg"], c["m"], c["wv"]
            for k, i in enumerate(seg):
                var = float(c["pre"][k])
                act = layers[i].activation
                row = {"pre_std": math.sqrt(var) if var >= 0 else float("nan"), "act_mean": float("nan"),
                       "act_std": float("nan"), "saturated": float("nan"),
                       "dead": 0.0 if act in ("relu", "relu6") else float("nan"),
                       "variance_factor": float("nan") if (k == 0 and (first.norm or not first.continues))
                       else float(c["factor"][k]),
                       "weight_grad_norm": float("nan"), "pre_grad_norm": float("nan"),
                       "weight_std": math.sqrt(wv[k]) if not (k == 0 and first.norm) else math.sqrt(
                           wsq[id(meas[i]["weight"])]),
                       "reset": bool(first.norm) and k == 0}
                if i in expect:
                    mean = expect[i][0]
                    row["act_mean"] = mean
                    row["act_std"] = math.sqrt(max(float(c["act_sq"][k]) - mean**2, 0.0))
                    if len(expect[i]) > 1:
                        row["saturated"] = expect[i][1]
                if "grad" in c and not row["reset"]:  # BatchNorm's Jacobian is not in the theory
                    prev_sq = c["input_sq"] if k == 0 else float(c["act_sq"][k - 1])
                    mm = m[k]
                    gs = float(c["grad"][k])
                    row["pre_grad_norm"] = math.sqrt(mm["elements"] * gs)
                    row["weight_grad_norm"] = math.sqrt(mm["weight"].size * mm["batch"] * mm["positions"] * prev_sq
                                                        * gs)
                th[i] = row
    return th


# ------------------------------------------------------------------------------ diagnose
class ForwardFailed(ValueError):
    """The user's forward pass raised on the check-up's input (a shape or dtype that does not fit)."""


def _nonfinite(work) -> list[str]:
    """'0.weight (3 NaN, 1 inf)' for each parameter or buffer of ``work`` with values that are not finite."""
    torch = _torch()
    floats = [t for t in (*work.parameters(), *work.buffers()) if t.is_floating_point()]
    # one norm per tensor in one call: a finite norm means finite values (NaN and inf propagate), so only a
    # non-finite one (or an overflow of large finite values) is looked at element by element
    norms = torch._foreach_norm([t.detach() for t in floats]) if floats else []
    if not floats or bool(torch.isfinite(torch.stack(norms)).all()):
        return []
    out = []
    for n, t in (*work.named_parameters(), *work.named_buffers()):
        if t.is_floating_point() and not bool(_torch().isfinite(t).all()):
            nan, inf = int(_torch().isnan(t).sum()), int(_torch().isinf(t).sum())
            out.append(f"{n} ({', '.join(x for x in (f'{nan} NaN' if nan else '', f'{inf} inf' if inf else '') if x)})")
    return out


def _typical_fan(fans: list[int]) -> int:
    """The fan-in the recommendation quotes: the median of the hidden layers' fan-ins, taken as one of them
    (the lower middle value: np.median of 128 and 64 is 96, which no layer has)."""
    hidden = sorted(fans[1:]) if len(fans) > 1 else list(fans)
    return int(hidden[(len(hidden) - 1) // 2])


def _snapshot(layers) -> list:
    """A copy of each layer's weight as it is now; a weight several layers call (tied, reused) is copied once and
    that one copy listed for each of them."""
    copies: dict[int, object] = {}
    for lay in layers:
        if id(lay.op.weight) not in copies:
            copies[id(lay.op.weight)] = lay.op.weight.detach().clone()
    return [copies[id(lay.op.weight)] for lay in layers]


def _base(weight):
    """The tensor a layer's weight is a view of (a tied decoder's ``W.t()`` is the encoder's W), else itself."""
    while getattr(weight, "_base", None) is not None:
        weight = weight._base
    return weight


def _analysed_fraction(work, layers) -> float:
    """The share of the model's trainable parameters that the analysed layers hold (weights and biases)."""
    seen, analysed = set(), 0
    for lay in layers:
        for t in (_base(lay.op.weight), lay.op.bias):
            t = _base(t) if t is not None else None
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                analysed += t.numel()
    total = sum(p.numel() for p in work.parameters() if p.is_floating_point() and id(p) not in seen) + analysed
    return analysed / total if total else 1.0


def _registered(weight, params) -> bool | None:
    """Whether a layer's weight (or the tensor it is a view of) is one of the parameters the optimizer updates
    (None: not a leaf tensor, e.g. computed by a parametrization, so the question does not apply)."""
    weight = _base(weight)
    if not getattr(weight, "is_leaf", False):
        return None
    return any(weight is p for p in params)


def diagnose_torch(model, x, y=None, *, steps: int = 3, optimizer: str = "sgd", lr: float | None = None,
                   seed: int = 0, output=None, overfit_batch: int = 0, max_memory=None,
                   threads: int | None = None) -> Diagnosis:
    """Diagnose a ``torch.nn.Module`` on an input batch ``x`` (labels ``y`` optional: random labels drawn
    from ``seed``), then take ``steps`` full-batch ``optimizer`` steps (sgd or adam, mlplab's default
    learning rates) on a copy for the update sizes ‖ΔW‖/‖W‖ and whether units stay identical.

    ``x``: a tensor/array (integer token ids stay integers), a tuple of them (``model(*x)``) or a dict
    (``model(**x)``); ``output``: the key or index of the forward's result to train on (default its
    tensor, first tensor or ``'logits'``; see :mod:`mlplab.diagnose.pytorch.io`); ``overfit_batch`` N > 0
    adds the overfit-one-batch probe of N steps; ``max_memory`` (bytes or "4GB") caps the memory the
    check-up may take (:class:`mlplab.runtime.memory.NotEnoughMemory` before anything runs when its estimate is
    larger, or larger than what is available); ``threads``: torch's thread count (None: the free cores)."""
    torch = _torch()
    from ...optim import DEFAULT_HPARAMS
    from ...runtime.memory import available_memory
    from . import hygiene
    from .io import as_inputs

    if not is_torch_module(model):
        raise TypeError(f"diagnose_torch needs a torch.nn.Module, got {type(model).__name__}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam' for a torch model, got {optimizer!r}")
    model, compiled = hygiene.unwrap_compiled(model)
    hygiene.refuse_meta(model)
    inputs = as_inputs(torch, model, x)
    lr = float(lr if lr is not None else DEFAULT_HPARAMS[optimizer]["lr"])
    with hygiene.no_global_hooks(), hygiene.torch_threads(torch, threads) as (n_threads, why), \
            torch.random.fork_rng(devices=[]):
        # the activations measured on the meta device before anything runs for a large model or a given cap;
        # for a small one they are counted as the first pass saves them (refused on the way if over the room)
        p_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.is_floating_point())
        est, how = hygiene.estimate_memory(torch, model, inputs, optimizer, activations=max_memory is not None
                                           or p_bytes >= hygiene.META_ESTIMATE_FROM)
        room = available_memory()
        if max_memory is not None:
            cap = hygiene.parse_bytes(max_memory) if isinstance(max_memory, str) else int(max_memory)
            if room[0] is None or cap < room[0]:
                room = (cap, "--max-memory / max_memory")
        n_par = sum(p.numel() for p in model.parameters())
        what = f"diagnosing this model ({n_par:,} parameters) on a batch of {inputs.batch}"
        hygiene.check_fits(est, what + ("" if "activations" in est.parts else f" ({how}; activations not counted)"),
                           room)
        # the first pass's saved tensors and a step's own graph are held together: half the room left each
        meter = {"limit": None if "activations" in est.parts or room[0] is None else max(room[0] - est.total, 0) // 2,
                 "what": what}
        d = _diagnose(torch, model, inputs, y, steps=int(steps), optimizer=optimizer, lr=lr, seed=seed,
                      output=output, overfit=int(overfit_batch or 0), meter=meter)
    d.notes[:0] = [n for n in (compiled,) if n]
    d.input["threads"] = f"{n_threads} ({why})"
    if "activations" not in est.parts and "saved" in meter:
        est.parts["activations"] = 2 * meter["saved"]
    d.input["memory_estimate"] = est.total
    return d


def _diagnose(torch, model, inputs, y, *, steps, optimizer, lr, seed, output, overfit, meter=None) -> Diagnosis:
    from ...runtime.memory import NotEnoughMemory
    from . import checks
    from .coverage import coverage
    from .hygiene import activation_guard, working_copy
    from .io import Loss, select_output
    from .steps import Steps

    work = working_copy(torch, model)
    bad_weights = _nonfinite(work)
    called: set = set()
    meter = meter if meter is not None else {"limit": None, "what": "diagnosing this model"}
    try:
        with activation_guard(torch, meter["limit"], meter["what"]) as saved:
            ops, out = trace(work, inputs, called=called)
        # as activation_bytes counts them: the saved tensors, the traced outputs the trace keeps (each storage
        # once) and the gradients those will retain in the backward (their shapes)
        held = {id(t._base if t._base is not None else t): t for t in (o.out for o in ops)
                if isinstance(t, torch.Tensor)}
        meter["saved"] = saved["saved"] + sum(
            (t._base if t._base is not None else t).numel() * t.element_size()
            for i, t in held.items() if i not in saved["seen"]) + sum(
            o.out.numel() * o.out.element_size() for o in ops if isinstance(o.out, torch.Tensor) and o.out.retains_grad)
    except NotEnoughMemory:
        raise
    except Exception as e:  # the user's forward on this input: one line, said to be theirs
        from .io import _one_line

        raise ForwardFailed(f"the model's forward pass failed on {inputs.description} ({_one_line(e)})") from None
    chosen, out_words = select_output(torch, out, output)
    layers, skipped = layers_of(ops)
    if not layers:
        raise ValueError("no Linear/Conv1d/Conv2d layer was called in the forward pass: nothing to diagnose")
    loss = Loss(torch, chosen, y, seed, inputs.tokens)
    loss0 = loss(chosen)
    if not loss0.requires_grad:
        raise ValueError(f"the loss on {out_words} does not depend on the model's parameters (no gradient "
                         "reaches them): choose the output to train on with --output / output=")
    loss0.backward()
    meas = _measure(layers, inputs.batch)
    signal = label_signal(torch, layers[-1], layers[0]) if y is not None else None  # random labels: no signal
    theory = _theory(layers, meas)
    cov = coverage(torch, model, work, layers, called)
    first_check = checks.initial_loss(float(loss0.detach()), loss, chosen)
    w0 = _snapshot(layers)

    def forward():
        return select_output(torch, work(*inputs.args, **inputs.kwargs), output)[0]

    # a few steps on the copy; the weights a layer uses are read from a trace (a re-parametrized layer's
    # weight is computed in the forward, so the parameter itself is not it). The traced pass's gradients
    # are the first step's (the same batch, the same weights): steps cost steps − 1 more forward+backward.
    params = [p for p in work.parameters() if p.requires_grad]
    opt = Steps(torch, params, optimizer, lr)  # torch.optim's steps, without its first-call import of torch._dynamo
    diverged, taken, prev = None, 0, None
    for s in range(0 if bad_weights else steps):
        if s == 0:
            loss_t = loss0
            prev = w0 if s == steps - 1 else None
        elif s == steps - 1 and all(lay.op.weight.is_leaf for lay in layers):  # parameters: read them directly
            opt.zero_grad()
            prev = _snapshot(layers)
            loss_t = loss(forward())
        elif s == steps - 1:
            opt.zero_grad()
            ops_s, o = trace(work, inputs, names=False)
            lay_s, _ = layers_of(ops_s)
            prev = _snapshot(lay_s) if len(lay_s) == len(layers) else None
            del ops_s, lay_s
            loss_t = loss(select_output(torch, o, output)[0])
        else:
            opt.zero_grad()
            loss_t = loss(forward())
        if not torch.isfinite(loss_t.detach()):
            diverged = f"training diverged at step {s + 1}: the loss is {float(loss_t.detach())}"
            break
        if s:
            loss_t.backward()
        opt.step()
        taken += 1
    with torch.no_grad():
        after_ops, after_out = trace(work, inputs, names=False)
        loss_after = float(loss(select_output(torch, after_out, output)[0]))
    after, _ = layers_of(after_ops)
    now = [lay.op.weight.detach() for lay in after] if len(after) == len(layers) else None
    if now is not None:  # a weight several layers call: one tensor (the update ratio is taken once)
        first_of = {}
        now = [first_of.setdefault(id(lay.op.weight), t) for lay, t in zip(after, now)]
    ratios: dict[tuple[int, int], float] = {}

    def rel(a, b):
        k = (id(a), id(b))
        if k not in ratios:
            ratios[k] = _rel(a, b)
        return ratios[k]

    def _rel(a, b):
        if a.dtype not in (torch.float32, torch.float64):  # bfloat16/float16: the norms in float32
            a, b = a.float(), b.float()
        den = float(torch.linalg.norm(b))
        return float(torch.linalg.norm(a - b)) / den if den > 0 else (math.inf if bool((a != b).any()) else 0.0)

    if now is not None:  # every ‖a − b‖/‖b‖ the rows read, float32/float64 ones in two _foreach_norm calls
        pairs = {(id(a), id(b)): (a, b) for a, b in zip(now, w0)}
        if prev is not None and not diverged:
            pairs.update({(id(a), id(b)): (a, b) for a, b in zip(now, prev)})
        fast = [(k, a, b) for k, (a, b) in pairs.items() if a.dtype in (torch.float32, torch.float64)
                and a.dtype == b.dtype and a.shape == b.shape]
        if fast:
            dens = torch._foreach_norm([b for _, _, b in fast])
            nums = torch._foreach_norm(torch._foreach_sub([a for _, a, _ in fast], [b for _, _, b in fast]))
            for (k, a, b), d, nu in zip(fast, dens, nums):
                d = float(d)
                ratios[k] = float(nu) / d if d > 0 else (math.inf if bool((a != b).any()) else 0.0)

    fi = inputs.float_input
    if fi is not None:  # its n, mean and Σ(x − mean)²: layer 1's own if layer 1 reads the input as it is
        x0 = layers[0].op.x
        same = x0 is not None and x0.dtype == fi.dtype and x0.numel() == fi.numel() and x0.is_contiguous() \
            and fi.is_contiguous() and x0.data_ptr() == fi.data_ptr()
        n_in, mean_in, ss_in = meas[0]["in_spread"] if same else _spread(_np(fi, False))
    if fi is not None:  # torch's std: n − 1
        in_std = math.sqrt(ss_in / (n_in - 1)) if n_in > 1 else float("nan")
    else:
        in_std = meas[0]["in_std"]
    uses: dict[int, int] = {}
    for lay in layers:  # a weight called by several layers (tied, reused): one parameter, one update, k uses
        uses[id(_base(lay.op.weight))] = uses.get(id(_base(lay.op.weight)), 0) + 1
    last = meas[-1]
    out_pre = last["stats"].pre_grad_norm
    moments = {}  # per weight array (one for the layers that share a weight): its std, mean and variance in float64
    for m in meas:
        w = m["weight"]
        if id(w) not in moments:
            var = float(w.var(dtype=np.float64))  # np.std is its square root: the same number, one pass fewer
            moments[id(w)] = (0.0 if np.all(w == w.flat[0]) else math.sqrt(var), float(w.mean(dtype=np.float64)),
                              var)
    rows = []
    for i, (lay, m, th) in enumerate(zip(layers, meas, theory)):
        s, w = m["stats"], m["weight"]  # float32: its mean and std accumulate in float64 without a float64 copy
        hidden = i < len(layers) - 1
        distinct = None
        if hidden and len(after) == len(layers):
            a = _np(after[i].a, lay.kind != "Linear")
            if np.all(np.isfinite(a)):
                distinct = int(dg.count_distinct_units(a.reshape(-1, a.shape[-1])))
        row = {
            "layer": i + 1, "fan_in": s.fan_in, "fan_out": s.fan_out, "activation": lay.activation,
            "weight_std0": moments[id(w)][0], "weight_mean0": moments[id(w)][1],
            "act_mean": s.act_mean, "act_std": s.act_std, "saturated": s.saturated, "zero": s.zero, "dead": s.dead,
            "weight_grad_norm": s.weight_grad_norm, "pre_grad_norm": s.pre_grad_norm,
            "signal_gain": s.act_std / in_std if in_std > 0 else float("nan"),
            "grad_gain": s.pre_grad_norm / out_pre if math.isfinite(out_pre) and out_pre > 0 else float("nan"),
            "update_ratio": rel(now[i], prev[i]) if prev is not None and now is not None and not diverged
            else float("nan"),
            "total_change": rel(now[i], w0[i]) if now is not None else float("nan"),
            "distinct_units": distinct, "theory": th,
            "registered": _registered(lay.op.weight, params), "shared_uses": uses[id(_base(lay.op.weight))],
            "normalization": lay.norm,
        }
        if not hidden:
            row["label_signal"] = signal
        rows.append(row)
    judge_rows(rows, optimizer)
    notes = [f"diagnosed on {out_words}; loss: {loss.words}"] if not isinstance(out, torch.Tensor) else \
        [f"loss: {loss.words}"]
    notes += [f"{lay.norm} after layer {i + 1} ({lay.label}) resets the variance: the theory restarts from it"
              for i, lay in enumerate(layers) if lay.norm]
    notes += [f"{op.name} in {op.where or 'forward'} was switched off (the signal is measured without it)"
              for op in ops if op.kind == "dropout"]
    notes += [f"the input of layer {i + 1} ({lay.label}) is not the previous layer's output (pooling, a residual "
              "sum, ...): the theory restarts from its measured E[x²]"
              for i, lay in enumerate(layers) if i and not lay.continues and not lay.norm]
    if inputs.float_input is None:
        notes.append(f"the input is {inputs.description}: signal gains are relative to layer 1's input "
                     f"(std {in_std:.3g})")
    acts = [lay.activation for lay in layers if lay.activation != "identity"]
    fans = [m["weight"].shape[0] for m in meas]
    d = _from_rows(
        rows, names=[e["parameter"].rsplit(".", 1)[0] if e["weights"] == "unregistered" else lay.label
                     for lay, e in zip(layers, cov["layer_weights"])],
        kinds=[lay.kind for lay in layers],
        norms=[lay.norm for lay in layers], diverged=diverged, not_analysed=skipped, notes=notes,
        activation=max(set(acts), key=acts.count) if acts else "identity",
        fan=_typical_fan(fans),
        theory=note_for_chain([lay.activation for lay in layers], [m["weight"] for m in meas],
                              [None if lay.op.bias is None else lay.op.bias.detach().cpu().double().numpy()
                               for lay in layers], kinds=[lay.kind for lay in layers],
                              chained=[lay.continues for lay in layers], norms=[lay.norm for lay in layers],
                              weight_vars=[moments[id(m["weight"])][2] for m in meas]),
        steps={"optimizer": optimizer, "lr": lr, "steps": taken, "requested": steps,
               "loss_before": float(loss0.detach()), "loss_after": loss_after, "diverged": diverged},
        input={"examples": inputs.batch, "shape": list(inputs.args[0].shape[1:]) if inputs.args else None,
               "std": in_std, "mean_square": float(in_std ** 2) if inputs.float_input is None else
               ss_in / n_in + mean_in ** 2, "description": inputs.description,
               "output": out_words, "loss": loss.words})
    _judge_coverage(d, _analysed_fraction(work, layers))
    work = ops = after_ops = layers = after = opt = params = None  # freed before the overfit probe's copy
    _apply_coverage(d, cov, bad_weights)
    d.checks["initial_loss"] = first_check
    if overfit > 0:
        fresh = working_copy(torch, model)
        d.checks["overfit_batch"] = checks.overfit_batch(
            torch, fresh, lambda: select_output(torch, fresh(*inputs.args, **inputs.kwargs), output)[0], loss,
            optimizer, lr, overfit)
    return d


def _apply_coverage(d: Diagnosis, cov: dict, bad_weights: list[str]) -> None:
    """Coverage into the result: weights that are not finite are named (NaN is not an overflow); the summary
    counts what was not covered."""
    from .coverage import complete

    d.coverage = cov  # a layer whose weights are not registered is judged by verdicts' not_registered rule
    if bad_weights:
        d.overall, d.problem = "error", "nonfinite"
        for lay in d.layers:
            if not all(_finite_or_none(lay.measured.get(k)) for k in ("act_std", "weight_grad_norm")):
                lay.verdict, lay.problem = "error", "nonfinite"
                lay.sentence = ("not finite: the weights hold values that are not finite, so nothing after them can "
                                "be measured")
        d.summary = (f"error: the weights are not finite: {', '.join(bad_weights[:4])}"
                     f"{', …' if len(bad_weights) > 4 else ''}; load finite weights or re-initialise them "
                     "(fix_weights / --fix he); no optimizer steps were taken")
    if not complete(cov) or cov["frozen"] or cov["shared"] or cov["reparametrized"]:
        d.summary += f"; coverage: {cov['summary']}"


def _finite_or_none(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and math.isfinite(v))
