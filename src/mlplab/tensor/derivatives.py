"""Derivatives as values: :func:`grad` (the gradients of an output with respect to chosen inputs, as Tensors;
differentiable again with ``create_graph=True``) and :func:`hessian` (reverse-over-reverse, exact), on the
reverse pass of :mod:`.graph`. Newton's method (:mod:`mlplab.optim.second_order`) uses both.
"""

from __future__ import annotations

import numpy as np

from .core import Tensor
from .graph import _backprop, _seed
from .mode import enable_grad


def grad(output, inputs, grad_output=None, create_graph=False):
    """Gradients of ``output`` with respect to each of ``inputs`` (a Tensor or a list of them).

    Returns Tensors; with ``create_graph=True`` they are part of a new graph and can be
    differentiated again. ``.grad`` attributes are left untouched. An input that the output does
    not depend on gets a zero gradient.
    """
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if not output.requires_grad:
        raise RuntimeError("grad(): the output does not depend on any input that requires grad")
    found = _backprop(output, _seed(output, grad_output), create_graph, inputs)
    res = []
    for t in inputs:
        g = found.get(t)
        if g is None:
            g = Tensor(np.zeros_like(t.data))
        elif not isinstance(g, Tensor):
            g = Tensor(np.array(g))
        res.append(g)
    return res[0] if single else res


def hessian(f, inputs):
    """The exact Hessian of a scalar function, as an (n, n) ndarray over all inputs flattened.

    ``f`` is called as ``f(x)`` for a single Tensor ``inputs`` or ``f(*inputs)`` for a list.
    Method: reverse-over-reverse. The gradient is computed with ``create_graph=True`` (a Tensor
    graph), then row i of the Hessian is the gradient of ``<grad, e_i>``: n extra backward passes,
    each exact (no finite differences). Cost grows as n times a backward pass and memory as n²,
    which suits the small problems Newton's method is used on.
    """
    single = isinstance(inputs, Tensor)
    xs = [inputs] if single else list(inputs)
    for x in xs:
        if not x.requires_grad:
            raise ValueError("hessian(): every input must require grad")
    with enable_grad():
        out = f(xs[0]) if single else f(*xs)
        if out.data.size != 1:
            raise ValueError(f"hessian(): f must return a scalar, got shape {out.shape}")
        gs = grad(out, xs, create_graph=True)
        sizes = [x.size for x in xs]
        n = sum(sizes)
        H = np.zeros((n, n), dtype=xs[0].dtype)
        row = 0
        for gi, x in zip(gs, xs):
            for j in range(x.size):
                if gi.requires_grad:
                    e = np.zeros(x.shape, dtype=x.dtype)
                    e.flat[j] = 1
                    parts = grad((gi * e).sum(), xs)
                    H[row] = np.concatenate([p.data.ravel() for p in parts])
                row += 1
    return H
