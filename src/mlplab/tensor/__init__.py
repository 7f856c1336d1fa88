"""Reverse-mode automatic differentiation over NumPy arrays.

A :class:`Tensor` wraps an ``ndarray``. Every primitive below computes its value with NumPy and
records, next to it, a *vector-Jacobian product* (VJP): given the gradient ``g`` of the final
scalar with respect to the primitive's output, it returns the gradients with respect to its
inputs (the chain rule, one link). ``backward()`` sorts the graph topologically and runs the
VJPs in reverse order, summing the contributions that reach each node.

Second derivatives are exact: every VJP is written with operators and methods that NumPy arrays
and Tensors share (``*``, ``@``, ``.sum``, ``.reshape``, ...). An ordinary ``backward()`` runs
them on plain arrays (fast); ``grad(..., create_graph=True)`` runs the *same* code on Tensors,
so the gradient is itself a differentiable Tensor. :func:`hessian` differentiates each
component of that gradient once more (Newton's method needs it).

Broadcasting is undone in one place, :func:`unbroadcast`, and axes are normalized in one place,
:func:`_axes`. dtypes are preserved: a float32 graph stays float32, float64 stays float64, and
mixing the two is an error. Adding an op (the VJP contract, the helpers, the tests it gets):
``docs/adding-an-op.md``.

Where mlplab deliberately differs from torch (each op's docstring says so too):
``transpose`` takes a full permutation, as NumPy (torch's ``permute``), and ``swapaxes`` is
torch's ``transpose``; ``axis=()`` reduces nothing, as NumPy (torch's ``dim=()`` reduces every
axis); ``max`` shares the gradient among tied maxima, as ``torch.amax``; Python floats (and lists
of them) become float32 tensors, not float64 as ``numpy.asarray`` would make them.

The package, one concept per file (``mlplab.tensor`` re-exports every name, so ``from mlplab.tensor import
...`` is unchanged): :mod:`.mode` (grad mode), :mod:`.shapes` (unbroadcast, axes, dtypes), :mod:`.graph` (the
tape: a node recorded, and the reverse pass), :mod:`.core` (the Tensor, its operators and methods, and the
binary primitives they are), :mod:`.ops` (linear, maximum, the functional forms, the losses) and
:mod:`.derivatives` (grad, hessian). Each imports only those listed before it.
"""

from __future__ import annotations

# every name of the one module this was, private ones too (the tests use _make and _data; docs/adding-an-op.md)
from .core import (  # noqa: F401
    DEFAULT_DTYPE,
    Tensor,
    _as_tensor,
    _broadcast_error,
    _broadcast_to,
    _data,
    _exp,
    _log,
    _scatter,
    _where,
    _zeros_like,
    add,
    div,
    matmul,
    mul,
    power,
    sub,
    tensor,
    where,
)
from .derivatives import grad, hessian
from .graph import _backprop, _creation, _make, _seed  # noqa: F401
from .mode import _grad_mode, _state, enable_grad, is_grad_enabled, no_grad  # noqa: F401
from .ops import (
    cross_entropy,
    exp,
    leaky_relu,
    linear,
    log,
    log_softmax,
    logsumexp,
    maximum,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    tanh,
)
from .shapes import _as_same_dtype, _axes, _swap, unbroadcast  # noqa: F401

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad", "hessian",
    "unbroadcast", "matmul", "linear", "relu", "leaky_relu", "sigmoid", "tanh", "exp", "log",
    "where", "maximum", "power", "logsumexp", "log_softmax", "softmax", "softmax_cross_entropy",
    "cross_entropy",
]
