"""The check-up itself: one traced forward and backward pass on a deep copy of the user's model, the
per-layer statistics beside the mean-field theory (:mod:`.measure`), and a few optimizer steps for the update
sizes: :func:`diagnose_torch`.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ...runtime import memory as _memory  # (available_memory read from it at each call: tests replace it there)
from ...runtime.memory import NotEnoughMemory
from .. import statistics as dg
from ..theory_note import note_for_chain
from ..verdicts import judge_rows
from . import checks, hygiene  # (hygiene's functions read from it at each call: tests replace them there)
from .coverage import complete, coverage
from .io import Loss, _one_line, as_inputs, select_output
from .measure import _measure, _np, _spread, _theory, label_signal
from .result import Diagnosis, _from_rows, _judge_coverage
from .steps import Steps
from .trace import grad_bytes, trace
from .trace import layers as layers_of

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


# ------------------------------------------------------------------------------ diagnose
class ForwardFailed(ValueError):
    """The user's forward pass raised on the check-up's input (a shape or dtype that does not fit)."""


def _nonfinite(work, params=None, which: str = "both", norms: dict | None = None, buffers=None) -> list[str]:
    """'0.weight (3 NaN, 1 inf)' for each parameter or buffer of ``work`` with values that are not finite
    (``params``, ``buffers``: ``list(work.parameters())``, ``list(work.buffers())`` if the caller has them;
    ``which``: "both", "parameters" or "buffers"; ``norms``: id(tensor) -> its norm where the caller has taken the
    parameters' already)."""
    torch = _torch()
    ps = [] if which == "buffers" else (work.parameters() if params is None else params)
    bs = () if which == "parameters" else (work.buffers() if buffers is None else buffers)
    floats = [t for t in (*ps, *bs) if t.is_floating_point()]
    if not floats:
        return []
    # one norm per tensor in one call: a finite norm means finite values (NaN and inf propagate), so only a
    # non-finite one (or an overflow of large finite values) is looked at element by element
    if norms is not None and all(id(t) in norms for t in floats):
        if all(math.isfinite(norms[id(t)]) for t in floats):
            return []
    elif bool(torch.isfinite(torch.stack(torch._foreach_norm([t.detach() for t in floats]))).all()):
        return []
    out = []
    named = (*(work.named_parameters() if which != "buffers" else ()),
             *(work.named_buffers() if which != "parameters" else ()))
    for n, t in named:
        if t.is_floating_point() and not bool(_torch().isfinite(t).all()):
            nan, inf = int(_torch().isnan(t).sum()), int(_torch().isinf(t).sum())
            out.append(f"{n} ({', '.join(x for x in (f'{nan} NaN' if nan else '', f'{inf} inf' if inf else '') if x)})")
    return out


def _members(mods, kind: str) -> list:
    """The parameters (``kind`` "_parameters") or buffers ("_buffers") of the modules ``mods`` (``named_modules()``'s
    pairs), each once, in ``Module.parameters()``'s / ``buffers()``'s order (the same walk: each module's own, a
    tensor registered twice listed where first met)."""
    seen, out = set(), []
    for _, m in mods:
        for t in getattr(m, kind).values():
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                out.append(t)
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


def _analysed_fraction(work, layers, params=None) -> float:
    """The share of the model's trainable parameters that the analysed layers hold (weights and biases);
    ``params``: ``list(work.parameters())`` if the caller has it."""
    seen, analysed = set(), 0
    for lay in layers:
        for t in (_base(lay.op.weight), lay.op.bias):
            t = _base(t) if t is not None else None
            if t is not None and id(t) not in seen:
                seen.add(id(t))
                analysed += t.numel()
    total = sum(p.numel() for p in (work.parameters() if params is None else params)
                if p.is_floating_point() and id(p) not in seen) + analysed
    return analysed / total if total else 1.0


def _registered(weight, params) -> bool | None:
    """Whether a layer's weight (or the tensor it is a view of) is one of the parameters the optimizer updates
    (None: not a leaf tensor, e.g. computed by a parametrization, so the question does not apply). ``params``: the
    parameters, or a set of their ids (the same test, one look-up: the check-up asks it of every layer)."""
    weight = _base(weight)
    if not getattr(weight, "is_leaf", False):
        return None
    return id(weight) in params if isinstance(params, (set, frozenset)) else any(weight is p for p in params)


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

    if not is_torch_module(model):
        raise TypeError(f"diagnose_torch needs a torch.nn.Module, got {type(model).__name__}")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam' for a torch model, got {optimizer!r}")
    model, compiled = hygiene.unwrap_compiled(model)
    every = list(model.parameters())  # one walk for the meta check, the bytes, the count and the coverage
    hygiene.refuse_meta(model, every)
    inputs = as_inputs(torch, model, x)
    lr = float(lr if lr is not None else DEFAULT_HPARAMS[optimizer]["lr"])
    with hygiene.no_global_hooks(), hygiene.torch_threads(torch, threads) as (n_threads, why), \
            torch.random.fork_rng(devices=[]):
        # the activations measured on the meta device before anything runs for a large model or a given cap;
        # for a small one they are counted as the first pass saves them (refused on the way if over the room)
        p_bytes = sum(p.numel() * p.element_size() for p in every if p.is_floating_point())
        est, how = hygiene.estimate_memory(torch, model, inputs, optimizer, activations=max_memory is not None
                                           or p_bytes >= hygiene.META_ESTIMATE_FROM, params=every)
        room = _memory.available_memory()
        if max_memory is not None:
            cap = hygiene.parse_bytes(max_memory) if isinstance(max_memory, str) else int(max_memory)
            if room[0] is None or cap < room[0]:
                room = (cap, "--max-memory / max_memory")
        n_par = sum(p.numel() for p in every)
        what = f"diagnosing this model ({n_par:,} parameters) on a batch of {inputs.batch}"
        hygiene.check_fits(est, what + ("" if "activations" in est.parts else f" ({how}; activations not counted)"),
                           room)
        # the first pass's saved tensors and a step's own graph are held together: half the room left each
        meter = {"limit": None if "activations" in est.parts or room[0] is None else max(room[0] - est.total, 0) // 2,
                 "what": what}
        d = _diagnose(torch, model, inputs, y, steps=int(steps), optimizer=optimizer, lr=lr, seed=seed,
                      output=output, overfit=int(overfit_batch or 0), meter=meter, user_params=every)
    d.notes[:0] = [n for n in (compiled,) if n]
    d.input["threads"] = f"{n_threads} ({why})"
    if "activations" not in est.parts and "saved" in meter:
        est.parts["activations"] = 2 * meter["saved"]
    d.input["memory_estimate"] = est.total
    return d


def _diagnose(torch, model, inputs, y, *, steps, optimizer, lr, seed, output, overfit, meter=None,
              user_params=None) -> Diagnosis:

    work = hygiene.working_copy(torch, model)
    # one walk over the copy's modules for the readers below: its parameters and buffers (each once, in
    # parameters()' and buffers()' order), the trace's names, the coverage
    wmods = list(work.named_modules())
    wparams, wbuffers = _members(wmods, "_parameters"), _members(wmods, "_buffers")
    # buffers that are not finite, before the forward changes them (BatchNorm's running statistics); the
    # parameters' are read from the statistics' float64 norms below (the forward leaves them as they are)
    bad_buffers = _nonfinite(work, which="buffers", buffers=wbuffers)
    called: set = set()
    meter = meter if meter is not None else {"limit": None, "what": "diagnosing this model"}
    try:
        with hygiene.activation_guard(torch, meter["limit"], meter["what"]) as saved:
            ops, out = trace(work, inputs, called=called, modules=wmods)
        # as activation_bytes counts them: the saved tensors, the traced outputs the trace keeps (each storage
        # once) and the gradients the backward makes for them (their shapes; kept for the layers' z)
        held = {id(t._base if t._base is not None else t): t for t in (o.out for o in ops)
                if isinstance(t, torch.Tensor)}
        meter["saved"] = saved["saved"] + sum(
            (t._base if t._base is not None else t).numel() * t.element_size()
            for i, t in held.items() if i not in saved["seen"]) + grad_bytes(ops)
    except NotEnoughMemory:
        raise
    except Exception as e:  # the user's forward on this input: one line, said to be theirs
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
    grad_norms: dict = {}  # every parameter's gradient norm in the statistics' one call, for the coverage too
    meas = _measure(layers, inputs.batch, params=wparams, norms_out=grad_norms, weights=True)
    bad_weights = _nonfinite(work, wparams, "parameters", grad_norms) + bad_buffers
    signal = label_signal(torch, layers[-1], layers[0]) if y is not None else None  # random labels: no signal
    theory = _theory(layers, meas)
    # the network as given (its initialization, as the mlplab network's note): the weights are _measure's copies,
    # and the biases are read here, before the steps change them in place (they were read after the steps once)
    theory_note = note_for_chain([lay.activation for lay in layers], [m["weight"] for m in meas],
                                 [None if lay.op.bias is None else _np(lay.op.bias, False)  # (float64 in the note)
                                  for lay in layers], kinds=[lay.kind for lay in layers],
                                 chained=[lay.continues for lay in layers], norms=[lay.norm for lay in layers],
                                 weight_vars=[m["moments"][2] for m in meas])
    cov = coverage(torch, model, work, layers, called, grad_norms, user_params, wmods)
    value0 = float(loss0.detach())  # (read once: the initial-loss check, step 1's test and loss_before)
    first_check = checks.initial_loss(value0, loss, chosen)
    w0 = _snapshot(layers)

    def forward():
        return select_output(torch, work(*inputs.args, **inputs.kwargs), output)[0]

    # a few steps on the copy; the weights a layer uses are read from a trace (a re-parametrized layer's
    # weight is computed in the forward, so the parameter itself is not it). The traced pass's gradients
    # are the first step's (the same batch, the same weights): steps cost steps − 1 more forward+backward.
    params = [p for p in wparams if p.requires_grad]
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
        value = value0 if s == 0 else float(loss_t.detach())  # (math.isfinite on the float: torch.isfinite
        # and bool() were ~13 µs)
        if not math.isfinite(value):
            diverged = f"training diverged at step {s + 1}: the loss is {value}"
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
        return _ratio(float(torch.linalg.norm(a - b)), float(torch.linalg.norm(b)), a, b)

    if now is not None:  # every ‖a − b‖/‖b‖ the rows read, float32/float64 ones in one _foreach_norm call
        pairs = {(id(a), id(b)): (a, b) for a, b in zip(now, w0)}
        if prev is not None and not diverged:
            pairs.update({(id(a), id(b)): (a, b) for a, b in zip(now, prev)})
        # small weights only: _foreach_sub holds every difference at once, which for large weights is memory the
        # estimate does not count (the 768-wide net's peak grew by ~10 MB); a large one is one subtraction anyway
        fast = [(k, a, b) for k, (a, b) in pairs.items() if a.dtype in (torch.float32, torch.float64)
                and a.dtype == b.dtype and a.shape == b.shape and a.numel() <= _FOREACH_MAX]
        if fast:
            bs = [b for _, _, b in fast]
            # the differences' norms and the weights' in one call (the same norms, one tensor each)
            both = torch.stack(torch._foreach_norm([*torch._foreach_sub([a for _, a, _ in fast], bs), *bs])).tolist()
            nums, dens = both[:len(fast)], both[len(fast):]
            # (the norms as Python floats in one call each: a float() per 0-d tensor was ~1.5 µs)
            for (k, a, b), d, nu in zip(fast, dens, nums):
                ratios[k] = _ratio(nu, d, a, b)

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
    # per weight array (one for the layers that share a weight): its std, mean and variance in float64 (_measure's)
    moments = {id(m["weight"]): m["moments"] for m in meas}
    rows = []
    param_ids = {id(p) for p in params}  # (the parameters are alive, so their ids are theirs)
    scratch = dg.Scratch()  # the distinct-unit counts' float64 copies in one reused buffer
    for i, (lay, m, th) in enumerate(zip(layers, meas, theory)):
        s, w = m["stats"], m["weight"]  # float32: its mean and std accumulate in float64 without a float64 copy
        hidden = i < len(layers) - 1
        distinct = None
        if hidden and len(after) == len(layers):
            a = _np(after[i].a, lay.kind != "Linear")
            a = a.reshape(-1, a.shape[-1])
            # finite values exactly when their largest |value| is (NaN propagates): the count's own tolerance
            # max |a| as max(max a, −min a), exactly (NaN propagates through np.maximum), without |a|'s copy
            amax = float(np.maximum(a.max(), -a.min())) if a.size else None
            if amax is None or math.isfinite(amax):
                distinct = int(dg.count_distinct_units(a, amax=amax, scratch=scratch))
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
            "registered": _registered(lay.op.weight, param_ids), "shared_uses": uses[id(_base(lay.op.weight))],
            "normalization": lay.norm,
        }
        if not hidden:
            row["label_signal"] = signal
        rows.append(row)
    scratch = None
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
        theory=theory_note,
        steps={"optimizer": optimizer, "lr": lr, "steps": taken, "requested": steps,
               "loss_before": value0, "loss_after": loss_after, "diverged": diverged},
        input={"examples": inputs.batch, "shape": list(inputs.args[0].shape[1:]) if inputs.args else None,
               "std": in_std, "mean_square": float(in_std ** 2) if inputs.float_input is None else
               ss_in / n_in + mean_in ** 2, "description": inputs.description,
               "output": out_words, "loss": loss.words})
    _judge_coverage(d, _analysed_fraction(work, layers, wparams))
    work = ops = after_ops = layers = after = opt = params = wparams = None  # freed before the overfit probe's copy
    _apply_coverage(d, cov, bad_weights)
    d.checks["initial_loss"] = first_check
    if overfit > 0:
        fresh = hygiene.working_copy(torch, model)
        d.checks["overfit_batch"] = checks.overfit_batch(
            torch, fresh, lambda: select_output(torch, fresh(*inputs.args, **inputs.kwargs), output)[0], loss,
            optimizer, lr, overfit)
    return d


def _apply_coverage(d: Diagnosis, cov: dict, bad_weights: list[str]) -> None:
    """Coverage into the result: weights that are not finite are named (NaN is not an overflow); the summary
    counts what was not covered."""
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


_FOREACH_MAX = 1 << 16  # values of a weight whose update ratio is taken in the batched norms


def _ratio(num: float, den: float, a, b) -> float:
    """‖a − b‖/‖b‖ from the two norms: a weight that was 0 and moved has an infinite ratio, one that stayed 0 none."""
    return num / den if den > 0 else (math.inf if bool((a != b).any()) else 0.0)


def _finite_or_none(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and math.isfinite(v))
