"""How the check-up treats the user's process: the copy it works on, the user's hooks, torch.compile,
threads, the meta device and memory.

* :func:`working_copy`: a deep copy in train mode, dropout off, every float parameter trainable, and
  none of the user's forward/backward hooks (they would fire on the copy: a logging hook, a hook that
  changes an output). The hooks that *are* the model, those of the old ``weight_norm`` and
  ``spectral_norm`` (which compute the weight before each forward), are kept. A weight those compute
  is not a graph leaf and cannot be deep-copied; the copy gets a detached placeholder, which its own
  hook recomputes at the first forward (the user's module is not touched).
* :func:`no_global_hooks`: hooks registered for every module (``register_module_forward_hook``)
  are set aside while the check-up runs and put back after.
* :func:`unwrap_compiled`: a ``torch.compile``d module is diagnosed through ``_orig_mod``, the
  module it wraps; tracing the compiled one would recompile the graph for each traced call.
* :func:`torch_threads`: torch's intra-op thread count from the cores that are free now
  (:func:`mlplab.runtime.threads.auto_blas_threads`: on a busy 2-core machine one thread was 4x faster than
  torch's default two), set for the check-up and restored after.
* :func:`refuse_meta`: parameters on the meta device have shapes and no values: one line.
* :func:`estimate_memory`: the check-up's peak, before anything is copied or run (see its docstring).
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections import OrderedDict

from ...runtime.memory import MemoryEstimate, check_fits, format_bytes  # noqa: F401  (re-exported for the CLI)

_REPARAM_HOOKS = ("WeightNorm", "SpectralNorm", "SpectralNormLoadStateDictPreHook", "SpectralNormStateDictHook")
_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
               "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks")


def unwrap_compiled(model):
    """(the module to diagnose, a note or None): ``torch.compile(m)`` gives an OptimizedModule around m."""
    inner = getattr(model, "_orig_mod", None)
    if inner is not None and type(model).__name__ == "OptimizedModule":
        return inner, ("the model was compiled with torch.compile: it is diagnosed through the module it wraps "
                       "(_orig_mod), which computes the same function")
    return model, None


def refuse_meta(model, params: list | None = None) -> None:
    """(``params``: ``list(model.parameters())`` if the caller has it: the names are walked for only when one is
    on the meta device.)"""
    if params is not None and not any(t.is_meta for t in (*params, *model.buffers())):
        return
    meta = [n for n, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if meta:
        raise ValueError(f"the model's weights are on the meta device (shapes without values: {', '.join(meta[:3])}"
                         f"{', …' if len(meta) > 3 else ''}): materialise them first, e.g. "
                         "model.to_empty(device='cpu') then model.load_state_dict(...)")


def _is_reparam_hook(h) -> bool:
    return type(h).__name__ in _REPARAM_HOOKS


def strip_hooks(model, modules=None) -> int:
    """Remove the user's forward/backward hooks from (a copy of) ``model``; the count removed (``modules``:
    ``list(model.modules())`` if the caller has it)."""
    removed = 0
    for m in model.modules() if modules is None else modules:
        keep: set = set()
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            d = getattr(m, attr, None)
            if d:
                for k in list(d):
                    if _is_reparam_hook(d[k]):
                        keep.add(k)
                    else:
                        del d[k]
                        removed += 1
        for attr in ("_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs"):
            d = getattr(m, attr, None)
            if d:
                for k in [k for k in d if k not in keep]:
                    del d[k]
    return removed


_EMPTY_TYPES = (dict, OrderedDict, set)


def _copy_memo(torch, model, make=lambda t: t.detach().clone()) -> dict:
    """deepcopy's memo before the copy, from one walk over the modules: each non-leaf tensor held as a module
    attribute (a weight_norm weight) -> ``make(t)`` (it cannot be deep-copied), and each empty dict,
    OrderedDict or set a module holds (its dozen hook and state-dict-hook tables, mostly empty) -> a new empty one
    of the same type, which is what deepcopy makes of it, without its generic reduce-and-rebuild (about 10 µs
    each: 3 ms of a 20-layer MLP's copy, more than its forward pass)."""
    memo = {}
    tensor = torch.Tensor
    for m in model.modules():
        for v in vars(m).values():
            t = type(v)
            if t in _EMPTY_TYPES:
                if not v and not getattr(v, "__dict__", None):
                    memo[id(v)] = t()
            elif isinstance(v, tensor) and not v.is_leaf:
                memo[id(v)] = make(v)
    return memo


_ATOMIC = frozenset({type(None), int, float, bool, complex, str, bytes, type, range, type(Ellipsis),
                     type(NotImplemented)})


def _plain_module(torch, cls) -> bool:
    """Whether deepcopy copies a module of this class the generic way (``__reduce_ex__`` through nn.Module's
    ``__getstate__``, then ``__setstate__``): no ``__deepcopy__``, ``__reduce__``/``__reduce_ex__`` or
    ``__getstate__`` of its own, no copyreg entry. Such a module is copied by :func:`_deepcopy_module`."""
    import copyreg

    got = _PLAIN.get(cls)
    if got is None:
        got = _PLAIN[cls] = (getattr(cls, "__deepcopy__", None) is None and cls.__reduce_ex__ is object.__reduce_ex__
                             and cls.__reduce__ is object.__reduce__
                             and cls.__getstate__ is torch.nn.Module.__getstate__
                             and cls not in copyreg.dispatch_table and cls not in copy._deepcopy_dispatch)
    return got


_PLAIN: dict = {}


def _deepcopy_module(torch, m, memo):
    """``copy.deepcopy(m, memo)`` for a module that deepcopy copies the generic way (:func:`_plain_module`), the
    same steps without its per-value dispatch: a new instance, the state (nn.Module's ``__getstate__``: the
    ``__dict__`` without ``_compiled_call_impl``) copied value by value, ``__setstate__``. Immutable values are
    kept, plain dicts (``_parameters``, ``_modules``, ...) and child modules of such classes copied here, anything
    else by ``copy.deepcopy`` with the same memo (issue 30's time budget: deepcopy's dispatch for each of a
    module's ~30 attributes was most of the working copy's time)."""
    y = memo.get(id(m))
    if y is not None:
        return y
    cls = type(m)
    if not _plain_module(torch, cls):
        return copy.deepcopy(m, memo)
    y = cls.__new__(cls)
    memo[id(m)] = y
    copy._keep_alive(m, memo)
    state = {}
    atomic, empty = _ATOMIC, _EMPTY_TYPES
    for k, v in m.__dict__.items():
        if k == "_compiled_call_impl":
            continue
        t = type(v)
        if t in atomic:  # kept, without a call
            state[k] = v
        elif t in empty and not v and not getattr(v, "__dict__", None):
            # an empty hook or state-dict-hook table (a module has a dozen): a new empty one, what deepcopy makes of
            # it (memoised: a table two attributes share stays one)
            got = memo.get(id(v))
            if got is None:
                got = memo[id(v)] = t()
            state[k] = got
        else:
            state[k] = _deepcopy_value(torch, v, memo)
    y.__setstate__(state)
    return y


def _deepcopy_value(torch, v, memo):
    y = memo.get(id(v), memo)
    if y is not memo:
        return y
    t = type(v)
    if t in _ATOMIC:
        return v
    if t is dict:
        y = memo[id(v)] = {}
        copy._keep_alive(v, memo)
        for k, x in v.items():
            y[k if type(k) is str else copy.deepcopy(k, memo)] = _deepcopy_value(torch, x, memo)
        return y
    if isinstance(v, torch.nn.Module):
        return _deepcopy_module(torch, v, memo)
    if _NON_LEAF in memo and isinstance(v, torch.Tensor) and not v.is_leaf:
        y = memo[id(v)] = memo[_NON_LEAF](v)  # (working_copy: a weight_norm weight, which deepcopy refuses)
        return y
    return copy.deepcopy(v, memo)


_NON_LEAF = "mlplab: non-leaf tensors"  # a memo key (deepcopy's are ints): how to copy a non-leaf tensor met


def working_copy(torch, model):
    """A deep copy in train mode (BatchNorm normalises by the batch), dropout off, every float parameter
    trainable so every layer gets a gradient, without the user's hooks. The user's model is never touched."""
    # one pass: the empty tables and the non-leaf tensors met as module attributes or dict values are made as the
    # copy meets them (a pass before over every module's attributes cost about a third of the copy); a non-leaf
    # tensor held elsewhere (a list) makes deepcopy raise: then the copy is made again with _copy_memo's pass first
    try:
        work = _deepcopy_module(torch, model, {_NON_LEAF: lambda t: t.detach().clone()})
    except RuntimeError:
        work = _deepcopy_module(torch, model, _copy_memo(torch, model))
    mods = list(work.modules())  # one walk for the four passes below (issue 30's time budget)
    _recompute_reparam(work, mods)
    strip_hooks(work, mods)
    train = torch.nn.Module.train
    if all(type(m).train is train and type(m.__dict__.get("training")) is bool for m in mods):
        for m in mods:  # what Module.train() sets, without its recursion and Module.__setattr__ per module
            m.__dict__["training"] = True
    else:  # a module with a train() of its own: called
        work.train()
    dropout = torch.nn.modules.dropout._DropoutNd
    seen: set = set()
    for m in mods:
        if isinstance(m, dropout):
            m.eval()
        for p in m._parameters.values():  # work.parameters(): each parameter once
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                if p.is_floating_point():
                    p.requires_grad_(True)
                    p.grad = None
    return work


def _recompute_reparam(work, modules=None) -> None:
    """The old weight_norm/spectral_norm weights of the copy, from the copy's own parameters (``modules``:
    ``list(work.modules())`` if the caller has it)."""
    for m in work.modules() if modules is None else modules:
        for h in list(m._forward_pre_hooks.values()):
            if type(h).__name__ == "WeightNorm":
                setattr(m, h.name, h.compute_weight(m))
            elif type(h).__name__ == "SpectralNorm":
                setattr(m, h.name, h.compute_weight(m, do_power_iteration=False))


_GLOBAL_HOOK_NAMES: list[str] = []


@contextlib.contextmanager
def no_global_hooks():
    """Set aside the hooks registered for every module while the check-up runs."""
    from torch.nn.modules import module as mm

    if not _GLOBAL_HOOK_NAMES:  # the names once (dir() sorts the module's ~150 names: a check-up's µs)
        _GLOBAL_HOOK_NAMES.extend(n for n in dir(mm) if n.startswith("_global_") and "hook" in n)
    names = [n for n in _GLOBAL_HOOK_NAMES if isinstance(getattr(mm, n, None), dict)]
    saved = {n: dict(getattr(mm, n)) for n in names if getattr(mm, n)}  # (the tables that hold hooks: most hold none)
    for n in saved:
        getattr(mm, n).clear()
    try:
        yield
    finally:
        for n in names:  # as they were: a hook registered meanwhile (by the model's forward) is removed too
            d = getattr(mm, n)
            if d or n in saved:
                d.clear()
                d.update(saved.get(n, {}))


@contextlib.contextmanager
def torch_threads(torch, threads: int | None = None):
    """torch's thread count for the check-up (None: from the free cores), restored after; yields (n, why)."""
    before = torch.get_num_threads()
    if threads is None or threads == 0:
        from ...runtime.threads import auto_blas_threads

        n, why = auto_blas_threads()
    else:
        n, why = int(threads), "as asked"
    torch.set_num_threads(max(1, n))
    try:
        yield n, why
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------ memory
def parse_bytes(text) -> int:
    """"4GB" -> 4e9, "512M" -> 512e6, "1e9" -> 1e9 (powers of 1000, as memory.format_bytes prints)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)i?b?\s*", str(text), flags=re.I)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--max-memory {text!r}: give a size such as 4GB, 500MB or 2e9 (bytes)")
    return int(float(m.group(1)) * 1000 ** "_kmgt".index((m.group(2) or "_").lower()))


def _nbytes(t) -> int:
    return int(t.numel()) * int(t.element_size())


def activation_bytes(torch, model, inputs) -> tuple[int | None, str]:
    """(bytes, how) the traced forward and backward keep for the whole batch, measured on the meta device:
    a copy of the model whose tensors have shapes and no storage runs the traced forward, and the tensors
    autograd saves, the traced outputs and the gradients the backward makes for them (their shapes) are added
    up (each once).
    None when the forward cannot run on the meta device (code that reads values, e.g. ``.item()``)."""
    from .io import select_output
    from .trace import grad_bytes, trace

    def meta(t):
        m = torch.empty_like(t, device="meta")
        return torch.nn.Parameter(m, requires_grad=t.requires_grad) if isinstance(t, torch.nn.Parameter) else m

    memo = {id(t): meta(t) for t in (*model.parameters(), *model.buffers())}
    memo.update(_copy_memo(torch, model, lambda t: torch.empty_like(t, device="meta")))
    seen: dict[int, int] = {}
    params = set()

    def count(t):
        if isinstance(t, torch.Tensor) and id(t) not in params:
            base = t._base if t._base is not None else t
            seen.setdefault(id(base), _nbytes(base))
        return t

    try:
        mm = copy.deepcopy(model, memo)
        _recompute_reparam(mm)
        strip_hooks(mm)
        mm.train()
        params.update(id(p) for p in mm.parameters())
        with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
            ops, out = trace(mm, inputs.map(lambda t: t.to("meta")))
            chosen, _ = select_output(torch, out, None)
            loss = chosen.float().square().mean()  # the loss itself keeps next to nothing
        for op in ops:
            count(op.out)
        forward = sum(seen.values())
        # the gradients the backward makes for the traced outputs have their shapes: counted without running the
        # backward (on the meta device it runs through Python decompositions, the slowest part of the estimate)
        grads = grad_bytes(ops)
        del loss
    except Exception as e:  # any failure of the user's code on meta tensors: no activation figure
        return None, f"the forward cannot run on the meta device ({type(e).__name__})"
    return forward + grads, "measured on the meta device"


#: below this many bytes of parameters the activations are not measured on the meta device before the check-up
#: (that pass runs every op through Python meta kernels: 50-180 ms, more than the whole rest of a small model's
#: check-up) but counted as the first pass saves them, with :func:`activation_guard` refusing on the way
META_ESTIMATE_FROM = 10_000_000


@contextlib.contextmanager
def activation_guard(torch, limit: int | None, what: str):
    """Count the bytes autograd saves in the forward run inside (each storage once; parameters are not
    counted); raise :class:`NotEnoughMemory` as soon as they pass ``limit`` (None: no limit). Yields a dict
    whose ``"saved"`` is the count and ``"seen"`` the storages counted (id -> bytes)."""
    from ...runtime.memory import NotEnoughMemory

    seen: dict[int, int] = {}
    meter = {"saved": 0, "seen": seen}
    # the hook runs inside the traced forward, where every tensor method and property (t._base, t.numel()) would
    # go through the tracer's TorchFunctionMode in Python: ~5 µs a saved tensor instead of ~1 (issue 30's time:
    # a 20-layer MLP saves 60)
    plain = torch._C.DisableTorchFunction

    def pack(t):
        if isinstance(t, torch.nn.Parameter):
            return t
        with plain():
            base = t._base
            base = t if base is None else base
            if id(base) not in seen:
                seen[id(base)] = _nbytes(base)
                meter["saved"] += seen[id(base)]
                if limit is not None and meter["saved"] > limit:
                    raise NotEnoughMemory(f"{what}: its forward pass saves more than {format_bytes(limit)} for the "
                                          "backward, more than is left; diagnose a smaller batch (or with "
                                          "--max-memory higher if the machine has it)")
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield meter


def estimate_memory(torch, model, inputs, optimizer: str, activations: bool = True,
                    params: list | None = None) -> tuple[MemoryEstimate, str]:
    """The check-up's peak in bytes, with P the bytes of the model's floating parameters:

    ==============================  ============================================================
    working copy                    ``P`` (the deep copy the check-up trains)
    gradients                       ``P``
    optimizer state                 ``P`` per array the optimizer keeps (SGD 0, Adam 2)
    weights kept for update sizes   ``3·P``: the weights before the steps and before the last
                                    step (torch), and the statistics' NumPy copy
    statistics in float64           ``16·W``: W the largest weight's element count; the theory's
                                    float64 copy of one weight matrix and its square (the check-up's
                                    own statistics accumulate in float64 without copies)
    activations                     ``2·A``: A, what the traced forward and backward keep for
                                    the batch (:func:`activation_bytes`), held by the first
                                    trace while the steps build their own graph
    ==============================  ============================================================

    The overfit probe (``--overfit-batch``) runs on a second copy after the first is freed: no more.
    ``activations=False``: the parameters' parts only (the check-up then counts A as its first pass runs);
    ``params``: ``list(model.parameters())`` if the caller has it. Returns (estimate, a few words on how the
    activations were found)."""
    floats = [t for t in (model.parameters() if params is None else params) if t.is_floating_point()]
    p = sum(_nbytes(t) for t in floats)
    k = {"sgd": 0, "adam": 2}.get(optimizer, 2)
    w = max((t.numel() for t in floats if t.ndim >= 2), default=0)
    parts = {"working copy": p, "gradients": p, f"{optimizer} state": k * p, "weights kept for update sizes": 3 * p,
             "statistics in float64": 16 * w}
    act, how = activation_bytes(torch, model, inputs) if activations else (None, "counted as the first pass runs")
    if act is not None:
        parts["activations"] = 2 * act
    return MemoryEstimate({k: int(v) for k, v in parts.items() if v}), how
