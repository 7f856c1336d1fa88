"""Tracing a PyTorch forward pass into layers, for :mod:`mlplab.diagnose.pytorch`.

A ``TorchFunctionMode`` sees every call of ``F.linear``/``F.conv1d``/``F.conv2d``, of an activation (ReLU,
ReLU6 = ``hardtanh(0, 6)``, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid: module, function or tensor method), of
a normalisation, dropout or reshape, whichever code made it; a wrapper of each module's forward, set on the
copy's instances for the call, names the module each call came from (and records which modules ran), and lists
leaf modules of other types as not analysed. Activations asked to run in place with ``inplace=True`` run out
of place (so z is kept); a tensor method such as ``h.relu_()`` still changes h in place, through a
differentiable copy z of h that keeps its own gradient (h ← φ(z), z = clone(h)), so the layer's gradient
statistics exist. Dropout runs switched off. :func:`layers` then groups the calls: each weight call is one
layer, with the normalisation and the activation that consume its output (through reshapes), and a flag saying
whether its input is the previous layer's output.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["trace", "layers", "grad_bytes"]

_ACT = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "gelu": "gelu", "silu": "silu", "elu": "elu",
        "leaky_relu": "leaky_relu", "relu6": "relu6"}
_KIND = {"linear": "weight", "conv1d": "weight", "conv2d": "weight",
         "batch_norm": "norm", "layer_norm": "norm", "group_norm": "norm", "instance_norm": "norm",
         "dropout": "dropout", "dropout1d": "dropout", "dropout2d": "dropout", "dropout3d": "dropout",
         "alpha_dropout": "dropout", "feature_alpha_dropout": "dropout", "feature_dropout": "dropout",
         "flatten": "reshape", "view": "reshape", "reshape": "reshape", "contiguous": "reshape",
         "squeeze": "reshape", "unsqueeze": "reshape"}
_KIND.update({k: "act" for k in _ACT} | {k + "_": "act" for k in _ACT})
_SKIP = ("max_pool", "avg_pool", "adaptive_", "lp_pool", "softmax", "log_softmax", "softplus",
         "selu", "celu", "mish", "hardswish", "hardsigmoid", "softsign", "prelu", "rrelu", "glu", "logsigmoid",
         "conv3d", "conv_transpose", "embedding", "bilinear", "multi_head_attention", "scaled_dot_product",
         "lstm", "gru", "rnn_")
_PASS_CHECK = _SKIP + ("hardtanh",)  # names looked at beyond _KIND (the others run untouched, without a copy of kwargs)
_MODULES = {"Linear", "Conv1d", "Conv2d", "ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Tanh", "Sigmoid",
            "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "Dropout",
            "Dropout1d", "Dropout2d", "AlphaDropout", "Flatten", "Unflatten", "Identity"}


@dataclass
class _Op:
    kind: str  # weight, act, norm, dropout, reshape, skip
    name: str  # the function's name (linear, relu, batch_norm, ...) or a module type for "skip"
    where: str  # the module it came from ("" for the model's own forward)
    x: object = None
    out: object = None
    weight: object = None
    bias: object = None
    pre: object = None  # an in-place activation's input z (a differentiable copy that keeps its gradient)
    slope: float = 0.01
    grad: bool = False  # the backward makes a gradient for ``out`` (counted by the memory estimates)


_RECORDER: list = []  # the Recorder class, made once (a class statement per trace cost ~50 µs: issue 30's budget)


def _recorder(on_weight=None):
    """A TorchFunctionMode that records the ops of interest, in call order, and keeps their tensors."""
    if not _RECORDER:
        _RECORDER.append(_recorder_class())
    return _RECORDER[0](on_weight)


def _recorder_class():
    from torch.overrides import TorchFunctionMode

    class Recorder(TorchFunctionMode):
        def __init__(self, on_weight=None):
            super().__init__()
            self.ops: list[_Op] = []
            self.where = [""]
            self.on_weight = on_weight

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name not in _KIND and not name.startswith(_PASS_CHECK):  # not recorded: called as it is
                return func(*args, **(kwargs or {}))
            kwargs = dict(kwargs or {})
            if name.rstrip("_") == "hardtanh":  # ReLU6 is hardtanh(0, 6): a ReLU that saturates at 6
                lo = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
                hi = args[2] if len(args) > 2 else kwargs.get("max_val", 1.0)
                if (float(lo), float(hi)) == (0.0, 6.0):
                    if len(args) > 3 and args[3]:
                        args = (*args[:3], False, *args[4:])
                    name = "relu6_" if name.endswith("_") else "relu6"
            kind = _KIND.get(name) or ("skip" if name.startswith(_SKIP) else None)
            if kind is None:
                return func(*args, **kwargs)
            x = args[0] if args else kwargs.get("input")
            op = _Op(kind, name.rstrip("_"), self.where[-1], x)
            if kind == "act" and kwargs.get("inplace"):
                kwargs["inplace"] = False  # keep z: the activation writes a new tensor
            elif kind == "act" and name.endswith("_"):
                # Tensor.relu_(): the caller may rely on x changing in place, so it still does, but through
                # a differentiable copy z of x that keeps its own gradient: x <- φ(z), z = clone(x)
                op.pre = x.clone()
                if op.pre.requires_grad:
                    op.pre.retain_grad()
                import torch

                fname = name.rstrip("_")
                base = getattr(torch.nn.functional, fname, None) or getattr(torch, fname)
                extra = args[1:] if fname != "relu6" else ()
                if fname == "leaky_relu":
                    op.slope = float(args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01))
                x.copy_(base(op.pre, *extra, **{k: v for k, v in kwargs.items() if k != "inplace"}))
                op.out = x
                self.ops.append(op)
                return x
            if kind == "act" and op.name == "leaky_relu":
                op.slope = float(args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01))
            if kind == "dropout":  # the deterministic signal: dropout off
                for k in ("training", "train"):
                    if k in kwargs:
                        kwargs[k] = False
                if len(args) > 2:
                    args = (*args[:2], False, *args[3:])
            if kind == "weight":
                op.weight = args[1] if len(args) > 1 else kwargs.get("weight")
                op.bias = args[2] if len(args) > 2 else kwargs.get("bias")
                if op.weight.requires_grad and not op.weight.is_leaf:
                    op.weight.retain_grad()
            out = func(*args, **kwargs)
            if kind == "weight" and self.on_weight is not None:
                out = self.on_weight(sum(o.kind == "weight" for o in self.ops), op, out)
            op.out = out
            if kind in ("weight", "act", "norm") and getattr(out, "requires_grad", False) and op.pre is None:
                op.grad = True
                if kind != "act":  # z's gradient is read (a layer's ∂L/∂z); an activation's output's is not
                    out.retain_grad()
            self.ops.append(op)
            return out

    return Recorder


def trace(model, x, on_weight=None, called: set | None = None, names: bool = True, modules: list | None = None):
    """Run ``model(x)`` recording ops; returns (ops, output). ``x`` is a tensor or has ``args`` and ``kwargs``
    (``model(*x.args, **x.kwargs)``); ``called`` collects the names of the modules whose forward ran.
    ``names=False``: the modules are not named (the ops' ``where`` is "" and a module not analysed is listed by its
    functional, e.g. max_pool2d): for a pass that reads only the layers' tensors, such as the check-up's pass after
    the steps. ``modules``: ``list(model.named_modules())`` if the caller has it (a walk fewer).

    A module is named by a wrapper of its ``forward`` set on the instance for the call (``module.__dict__``, where
    ``Module.__call__`` finds it before the class's method; the instance's own ``forward`` attribute, if it had one,
    is put back after), which pushes its name while its forward runs. ``trace`` is run on the check-up's copies
    only. Not hooks (issue 30's time budget): any global module hook, as the two this used, sends every module call
    through ``Module.__call__``'s slow path (a closure, the hook lists) on top of the two hook calls — about 10 µs a
    module call, a tenth of a small model's traced pass — and two hooks registered on every module cost more
    still. A module that is not the model's (made in the forward) is not named, as before."""
    rec = _recorder(on_weight)
    args, kwargs = (x.args, x.kwargs) if hasattr(x, "args") and hasattr(x, "kwargs") else ((x,), {})
    patched = []
    if names:
        for name, m in model.named_modules() if modules is None else modules:
            if name:
                # a known module (Linear, ReLU, ...) or one with children only needs its name pushed and popped; a
                # leaf of another type also records where its ops start, so that its functional calls can be named
                # after it (children() skips None entries too)
                leaf = not (type(m).__name__ in _MODULES or any(c is not None for c in m._modules.values()))
                d = m.__dict__
                patched.append((d, d.get("forward", _NONE)))
                d["forward"] = _named(rec, m, name, leaf, called, m.forward)
    try:
        with rec:
            out = model(*args, **kwargs)
    finally:
        for d, before in patched:
            if before is _NONE:
                d.pop("forward", None)
            else:
                d["forward"] = before
    return rec.ops, out


_NONE = object()  # a module without a ``forward`` of its own in its ``__dict__``


def _named(rec, module, name: str, leaf: bool, called: set | None, forward):
    """``forward`` of ``module`` with its name pushed while it runs (:func:`trace`)."""
    ops, where = rec.ops, rec.where

    def named_forward(*args, **kwargs):
        if called is not None:
            called.add(name)
        where.append(name)
        first = len(ops)
        out = forward(*args, **kwargs)
        where.pop()
        if leaf and all(op.kind == "skip" for op in ops[first:]):
            del ops[first:]  # name the module (MaxPool2d), not its functional (max_pool2d)
            ops.append(_Op("skip", type(module).__name__, name, args[0] if args else None, out))
        return out

    return named_forward


def grad_bytes(ops) -> int:
    """The bytes of the gradients the backward makes for the traced outputs (their shapes), as the memory counts
    take them: each op whose output is the output of a weight, activation or normalisation op that needs a
    gradient — an op that passes its input through (dropout switched off returns it) counts it again, as when
    every such output kept its gradient (``retains_grad``) and was counted by that flag: the same estimate."""
    made = {id(op.out) for op in ops if op.grad}
    return sum(op.out.numel() * op.out.element_size() for op in ops
               if id(op.out) in made and hasattr(op.out, "element_size"))


@dataclass
class _Layer:
    op: _Op
    label: str
    kind: str  # Linear, Conv1d, Conv2d
    z: object  # what the activation sees (the normalised z if a normalisation follows)
    a: object  # the layer's output after its activation
    activation: str = "identity"
    slope: float = 0.01
    norm: str | None = None
    continues: bool = False  # its input is the previous layer's output (reshapes and dropout aside)
    z_values: object = None  # for an in-place activation: z before it


def layers(ops) -> tuple[list[_Layer], list[dict]]:
    """Group the traced ops into layers; also list what was not analysed."""
    alias: dict[int, int] = {}

    def root(t):
        i = id(t)
        while i in alias:
            i = alias[i]
        return i

    consumers: dict[int, list[_Op]] = {}
    skipped, seen = [], set()
    for op in ops:
        if op.kind in ("reshape", "dropout"):
            if op.out is not op.x:
                alias[id(op.out)] = root(op.x)
            continue
        if op.kind == "skip":
            key = (op.where, op.name)
            if key not in seen:
                seen.add(key)
                skipped.append({"where": op.where or "forward", "what": op.name})
            continue
        consumers.setdefault(root(op.x), []).append(op)
    found: list[_Layer] = []
    for op in ops:
        if op.kind != "weight":
            continue
        kind = {"linear": "Linear", "conv1d": "Conv1d", "conv2d": "Conv2d"}[op.name]
        lay = _Layer(op, op.where or f"F.{op.name}", kind, op.out, op.out)
        nxt = [c for c in consumers.get(root(op.out), []) if c.kind in ("norm", "act")]
        if nxt and nxt[0].kind == "norm":
            lay.norm, lay.z = nxt[0].name, nxt[0].out
            nxt = [c for c in consumers.get(root(lay.z), []) if c.kind == "act"]
        if nxt and nxt[0].kind == "act":
            act = nxt[0]
            lay.activation, lay.slope, lay.a = _ACT[act.name], act.slope, act.out
            lay.z_values = act.pre
        if found:
            lay.continues = root(op.x) == root(found[-1].a)
        found.append(lay)
    return found, skipped
