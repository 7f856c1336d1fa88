"""What a torch model is called with and what it returns, as users have them.

Inputs (:func:`as_inputs`): a tensor or array, a tuple/list of them (``model(*x)``) or a dict
(``model(**x)``; to pass one dict as a single argument give ``(d,)``). Floating inputs take the
model's floating dtype (bfloat16 and float16 included) and device; integer and boolean inputs keep
their type (token ids for an ``Embedding``/``EmbeddingBag`` are never cast to float).

Outputs (:func:`select_output`): a tensor; a tuple or list (default: its first tensor, so a
``(logits, loss)`` pair gives the logits); a dict or a ``ModelOutput`` (default: its ``"logits"``,
else its first tensor). ``output=KEY|INDEX`` chooses another; the choice is said in the report. An
output with one element (a scalar) is taken as the model's own loss.

The loss (:class:`Loss`): cross-entropy with the labels (random ones from the seed when none are
given), or ½·mean squared error for float labels or a single output. A sequence model's
``(B, T, V)`` logits on integer tokens are classified at each position over the last axis (V
classes), as a language model is trained. The loss is computed in float32 whatever the model's dtype.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np


def _one_line(e: BaseException) -> str:
    """An exception of the user's code as "Type: message" on one line (300 characters at most)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}" + ("…" if len(text) > 300 else "")


@dataclass
class Inputs:
    """The forward's arguments and what is known about them."""

    args: tuple
    kwargs: dict
    batch: int
    tokens: bool  # some input is integer (token ids)
    float_input: object = None  # the single floating tensor input, if that is what the model takes
    description: str = ""
    dtypes: list = field(default_factory=list)

    def map(self, fn) -> Inputs:
        """The same inputs with ``fn`` applied to every tensor (e.g. moved to the meta device)."""
        def f(t):
            return fn(t) if hasattr(t, "shape") else t
        fi = f(self.float_input) if self.float_input is not None else None
        return Inputs(tuple(f(a) for a in self.args), {k: f(v) for k, v in self.kwargs.items()}, self.batch,
                      self.tokens, fi, self.description, self.dtypes)


def model_dtype_device(torch, model):
    # the first floating tensor, parameters first: the walk stops there (not two lists of every tensor)
    p = next((q for q in itertools.chain(model.parameters(), model.buffers()) if q.is_floating_point()), None)
    return (p.dtype, p.device) if p is not None else (torch.float32, torch.device("cpu"))


def _tensor(torch, v, dtype, device, where):
    if isinstance(v, torch.Tensor):
        t = v.detach()
    else:
        try:
            a = np.asarray(v)
        except Exception as e:  # a ragged list, an object
            raise ValueError(f"input {where} cannot be made a tensor ({type(e).__name__}); give a tensor or an "
                             "array") from None
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise ValueError(f"input {where} holds {a.dtype} values; give numbers (a tensor or an array)")
        t = torch.as_tensor(a)
    if t.is_floating_point():
        return t.to(device=device, dtype=dtype)
    if t.is_complex():
        raise ValueError(f"input {where} is complex ({t.dtype}); diagnose takes real inputs")
    return t.to(device=device)  # token ids and masks keep their integer/bool type


def as_inputs(torch, model, x) -> Inputs:
    """``x`` (tensor/array, tuple/list of them, or dict) as the forward's arguments."""
    dtype, device = model_dtype_device(torch, model)
    def value(v, where):  # flags and sizes (return_dict=True, n=3) stay what they are
        return v if v is None or isinstance(v, (bool, int, float, str)) else _tensor(torch, v, dtype, device, where)

    if isinstance(x, dict):
        if not x:
            raise ValueError("the input dict is empty")
        kwargs = {str(k): value(v, f"{k!r}") for k, v in x.items()}
        args, what = (), "a dict (" + ", ".join(kwargs) + ")"
    elif isinstance(x, (tuple, list)) and x and all(isinstance(v, (torch.Tensor, np.ndarray)) for v in x):
        args = tuple(_tensor(torch, v, dtype, device, f"[{i}]") for i, v in enumerate(x))
        kwargs, what = {}, f"a tuple of {len(args)}"
    else:
        args, kwargs, what = (_tensor(torch, x, dtype, device, "x"),), {}, "a tensor"
    tensors = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
    if not tensors or tensors[0].dim() == 0:
        raise ValueError("the input needs a batch axis: give a batch of examples (shape (B, ...))")
    batch = int(tensors[0].shape[0])
    tokens = any(not t.is_floating_point() and t.dtype != torch.bool for t in tensors)
    floats = [t for t in tensors if t.is_floating_point()]
    single = floats[0] if len(tensors) == 1 and floats else None
    desc = what + ": " + ", ".join(f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"
                                   if isinstance(t, torch.Tensor) else repr(t) for t in (*args, *kwargs.values()))
    return Inputs(args, kwargs, batch, tokens, single, desc, [str(t.dtype).replace("torch.", "") for t in tensors])


def parse_output(text):
    """``--output`` as given: an index ("1") or a key ("logits")."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        raise ValueError("--output: give a key (e.g. logits) or an index (e.g. 0)")
    return int(s) if s.lstrip("-").isdigit() else s


def select_output(torch, out, output=None) -> tuple[object, str]:
    """(the tensor to diagnose on, a few words saying which it is)."""
    def first_tensor(items):
        return next(((k, v) for k, v in items if isinstance(v, torch.Tensor) and v.dim() > 0), None)

    if isinstance(out, torch.Tensor):
        if output is not None and output not in (0, "0"):
            raise ValueError(f"output {output!r}: the forward returns a single tensor, not a tuple or a dict")
        return out, "the forward's tensor"
    if isinstance(out, dict) or (hasattr(out, "keys") and hasattr(out, "__getitem__")):
        keys = list(out.keys())
        if output is None:
            key = "logits" if isinstance(out.get("logits") if hasattr(out, "get") else None, torch.Tensor) else None
            if key is None:
                found = first_tensor((k, out[k]) for k in keys)
                if found is None:
                    raise ValueError(f"the forward returns a dict without a tensor (keys {', '.join(map(str, keys))})")
                key = found[0]
            chosen = out[key]
            how = "its 'logits'" if key == "logits" else "its first tensor"
        else:
            if output not in keys:
                raise ValueError(f"output {output!r}: the forward's dict has keys {', '.join(map(repr, keys))}")
            key, chosen, how = output, out[output], "as --output/output= chose"
        if not isinstance(chosen, torch.Tensor):
            raise ValueError(f"output {key!r} is a {type(chosen).__name__}, not a tensor; choose another with "
                             f"--output KEY (keys {', '.join(map(repr, keys))})")
        return chosen, f"{key!r} of a dict with keys {', '.join(map(str, keys))} ({how}; --output KEY for another)"
    if isinstance(out, (tuple, list)):
        kind = type(out).__name__
        if output is None:
            found = first_tensor(enumerate(out))
            if found is None:
                raise ValueError(f"the forward returns a {kind} of {len(out)} without a tensor")
            i, chosen, how = found[0], found[1], "its first tensor"
        else:
            if not isinstance(output, int) or not -len(out) <= output < len(out):
                raise ValueError(f"output {output!r}: the forward returns a {kind} of {len(out)}; give an index "
                                 f"0 to {len(out) - 1}")
            i, chosen, how = output, out[output], "as --output/output= chose"
        if not isinstance(chosen, torch.Tensor):
            raise ValueError(f"output [{i}] is a {type(chosen).__name__}, not a tensor; choose another with "
                             "--output INDEX")
        what = ", ".join(type(v).__name__ if not isinstance(v, torch.Tensor) else f"tensor {tuple(v.shape)}"
                         for v in out)
        return chosen, f"[{i}] of a {kind} of {len(out)} ({what}; {how}; --output INDEX for another)"
    raise ValueError(f"the forward returns a {type(out).__name__}; diagnose needs a tensor, a tuple or a dict of "
                     "tensors")


class Loss:
    """The loss the check-up trains on, fixed at the first forward: ``loss(selected_output)``."""

    def __init__(self, torch, out, y, seed: int, tokens: bool):
        self.torch = torch
        b = int(out.shape[0]) if out.dim() else 0
        self.kind, self.classes, self.last_axis, self.labels = "ce", None, False, None
        if out.numel() == 1 and y is None:  # the model's own loss
            self.kind, self.words = "own", "the model's own loss (its output is a scalar)"
            return
        if y is not None:
            yt = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
            yt = yt.to(out.device)
            if yt.is_floating_point():
                self.kind, self.labels = "mse", yt.float()
            else:
                self.labels = yt.long()
                self.last_axis = out.dim() >= 3 and tuple(yt.shape) == tuple(out.shape[:-1])
        else:
            rng = np.random.default_rng([seed, 2])  # (only for labels it draws: the generator costs ~13 µs)
            self.last_axis = tokens and out.dim() == 3
            classes = int(out.shape[-1]) if self.last_axis else int(out.numel() // max(b, 1))
            if classes >= 2:
                shape = tuple(out.shape[:-1]) if self.last_axis else (b,)
                self.labels = torch.as_tensor(rng.integers(0, classes, size=shape), device=out.device)
            else:
                self.kind = "mse"
                self.labels = torch.as_tensor(rng.standard_normal(tuple(out.shape)), dtype=torch.float32,
                                              device=out.device)
        if self.kind == "ce":
            self.classes = int(out.shape[-1]) if self.last_axis else int(out.numel() // max(b, 1))
            where = f" at each of the {int(np.prod(out.shape[1:-1]))} positions" if self.last_axis else ""
            self.words = (f"cross-entropy over {self.classes} classes{where}, "
                          f"{'the given' if y is not None else 'random'} labels")
        else:
            self.words = f"½ mean squared error to {'the given' if y is not None else 'N(0, 1)'} targets"

    def __call__(self, out):
        torch = self.torch
        if self.kind == "own":
            return out.float().reshape(())
        out = out.float()
        if self.kind == "mse":
            return 0.5 * torch.mean((out.reshape(out.shape[0], -1) - self.labels.reshape(out.shape[0], -1)) ** 2)
        if self.last_axis:
            return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), self.labels.reshape(-1))
        return torch.nn.functional.cross_entropy(out.reshape(out.shape[0], -1), self.labels)

    @property
    def chance(self) -> float | None:
        """ln C: the cross-entropy of a network that predicts every class equally (None if not classifying)."""
        return math.log(self.classes) if self.kind == "ce" and self.classes else None
