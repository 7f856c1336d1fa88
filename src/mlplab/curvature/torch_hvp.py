"""Hessian-vector products for a ``torch.nn.Module`` (``mlplab[torch]``), the model left untouched.

The product is taken on copies: the parameters and buffers are cloned (cast to ``dtype`` if given) and
the model is run with ``torch.func.functional_call`` on the clones, so its parameters, their ``.grad``,
their ``requires_grad`` flags, its buffers (BatchNorm's running statistics) and its training flag are
exactly as before (as ``mlplab diagnose --torch`` promises too). The model is evaluated in the mode it
is in; a model with dropout in training mode has a random loss, so put it in ``eval()`` first.

Two methods, the same numbers:

* ``method="double_backward"``: reverse-over-reverse, g = ∂L/∂θ with ``create_graph=True``, then
  H v = ∂⟨g, v⟩/∂θ (what PyHessian does).
* ``method="func"``: forward-over-reverse, ``torch.func.jvp`` of ``torch.func.grad`` (Pearlmutter's
  R-operator, as mlplab's own networks use).

The loss is the mean over the data set, in chunks each weighted by its share of the examples and summed
in float64, with the losses of :mod:`mlplab.curvature.hvp` (``cross_entropy``, ``mse``, ``half_mse``).
"""

from __future__ import annotations

import functools

import numpy as np

from .hvp import LOSSES, as_operator

__all__ = ["TorchCurvature"]


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the curvature of a PyTorch model needs torch: pip install 'mlplab[torch]'") from None
    return torch


class TorchCurvature:
    """v ↦ H v of ``loss`` over (X, y) for a torch module at its current weights, on float64 vectors."""

    def __init__(self, model, X, y, loss="cross_entropy", chunk_size=2000, dtype=None, method="double_backward"):
        torch = _torch()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if method not in ("double_backward", "func"):
            raise ValueError(f"method must be 'double_backward' or 'func', got {method!r}")
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive number of examples, got {chunk_size}")
        self.model, self.loss, self.method, self.chunk_size = model, loss, method, int(chunk_size)
        named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the model has no trainable parameters: its loss has no Hessian")
        self.names = [k for k, _ in named]
        with torch.no_grad():
            self.params = {k: p.detach().clone().to(dtype or p.dtype) for k, p in named}
            self.buffers = {k: b.detach().clone().to(dtype) if dtype is not None and b.is_floating_point()
                            else b.detach().clone() for k, b in model.named_buffers()}
            frozen = {k: p.detach().clone().to(dtype or p.dtype) for k, p in model.named_parameters()
                      if not p.requires_grad}
        self.buffers.update(frozen)
        self.dtype = next(iter(self.params.values())).dtype
        self.X = torch.as_tensor(np.asarray(X)).to(self.dtype if np.asarray(X).dtype.kind == "f" else torch.long)
        y = np.asarray(y)
        self.y = torch.as_tensor(y).to(torch.long if y.dtype.kind in "iu" else self.dtype)
        if len(self.X) != len(self.y) or len(self.X) == 0:
            raise ValueError(f"X has {len(self.X)} examples and y {len(self.y)}: they must match and not be empty")
        self.n = len(self.X)
        self.shapes = [tuple(self.params[k].shape) for k in self.names]
        self.sizes = [int(self.params[k].numel()) for k in self.names]
        self.n_params = sum(self.sizes)
        self.blocks, start = [], 0
        for k, s in zip(self.names, self.sizes):
            self.blocks.append((k, slice(start, start + s)))
            start += s

    def _loss(self, params, X, y):
        """The chunk's share of the whole set's mean loss."""
        torch = _torch()
        out = torch.func.functional_call(self.model, {**self.buffers, **params}, (X,))
        w = len(X) / self.n
        if self.loss == "cross_entropy":
            return torch.nn.functional.cross_entropy(out, y) * w
        Y = torch.nn.functional.one_hot(y, out.shape[-1]).to(out.dtype) if y.dtype == torch.long else y
        d = out - Y
        if self.loss == "mse":
            return (d * d).mean() * w
        return 0.5 * (d * d).sum() / self.n

    def _unflatten(self, v):
        torch = _torch()
        t = torch.as_tensor(np.asarray(v, dtype=np.float64)).to(self.dtype)
        return dict(zip(self.names, (c.reshape(s) for c, s in zip(torch.split(t, self.sizes), self.shapes))))

    def _flat(self, tensors):
        return np.concatenate([tensors[k].detach().to("cpu").double().numpy().ravel() for k in self.names])

    def _chunks(self):
        for start in range(0, self.n, self.chunk_size):
            yield self.X[start:start + self.chunk_size], self.y[start:start + self.chunk_size]

    def hvp(self, v) -> np.ndarray:
        torch = _torch()
        v = np.asarray(v, dtype=np.float64).ravel()
        if v.shape != (self.n_params,):
            raise ValueError(f"v has {v.size} entries; the model has {self.n_params} trainable parameters")
        V = self._unflatten(v)
        total = np.zeros(self.n_params)
        for X, y in self._chunks():
            if self.method == "func":
                grad_fn = torch.func.grad(functools.partial(self._loss, X=X, y=y))
                _, hv = torch.func.jvp(grad_fn, (self.params,), (V,))
            else:
                with torch.enable_grad():
                    p = {k: t.detach().requires_grad_(True) for k, t in self.params.items()}
                    loss = self._loss(p, X, y)
                    grads = torch.autograd.grad(loss, [p[k] for k in self.names], create_graph=True)
                    dot = sum((gi * V[k]).sum() for gi, k in zip(grads, self.names))
                    hv = dict(zip(self.names, torch.autograd.grad(dot, [p[k] for k in self.names],
                                                                  allow_unused=True)))
                    hv = {k: (torch.zeros_like(p[k]) if t is None else t) for k, t in hv.items()}
            total += self._flat(hv)
        return total

    def loss_and_grad(self):
        torch = _torch()
        value, total = 0.0, np.zeros(self.n_params)
        for X, y in self._chunks():
            with torch.enable_grad():
                p = {k: t.detach().requires_grad_(True) for k, t in self.params.items()}
                loss = self._loss(p, X, y)
                grads = torch.autograd.grad(loss, [p[k] for k in self.names], allow_unused=True)
            value += float(loss.detach())
            total += self._flat({k: (torch.zeros_like(p[k]) if g is None else g) for k, g in zip(self.names, grads)})
        return value, total

    def operator(self):
        return as_operator(self.hvp, self.n_params)
