"""The shape and dtype rules every op shares, in one place each: NumPy broadcasting undone
(:func:`unbroadcast`, the adjoint of broadcasting), axes normalized (:func:`_axes`), the matrix transpose of a
stack (:func:`_swap`) and the dtype of a non-Tensor operand (:func:`_as_same_dtype`).

They work on ndarrays and on Tensors alike (``.sum``, ``.reshape``, ``.swapaxes``), which is what lets a VJP
written with them run in first order on arrays and in second order on Tensors (``docs/adding-an-op.md``).
"""

from __future__ import annotations

import operator

import numpy as np


def _swap(x):
    """Transpose the last two axes (the matrix transpose of a stack of matrices)."""
    return x.swapaxes(-1, -2)


def _axes(axis, ndim, op):
    """``axis`` (None: all; an int or a sequence; negative counts from the end) as a tuple of
    non-negative axes, in the order given. Every op that takes axes goes through here, so a VJP
    never sees a negative axis (inverting the permutation (-1, 0, 1) as given is wrong)."""
    if axis is None:
        return tuple(range(ndim))
    given = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = []
    for a in given:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of bounds for a tensor with {ndim} dimensions")
        a %= ndim
        if a in axes:
            raise ValueError(f"{op}: repeated axis in {axis}")
        axes.append(a)
    return tuple(axes)


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of NumPy broadcasting, used by every binary op.

    Broadcasting copies a value along new leading axes and along axes of length 1; the gradient
    of a copy is the sum of the copies' gradients.
    """
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def _as_same_dtype(x, dtype, op):
    """Turn a non-Tensor operand into an array of ``dtype`` (scalars and int/bool arrays only)."""
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        return np.asarray(x, dtype=dtype)
    arr = np.asarray(x)
    if arr.dtype.kind == "f" and arr.dtype != dtype:
        raise TypeError(
            f"{op}: mixed dtypes {np.dtype(dtype).name} and {arr.dtype.name}; "
            f"convert one explicitly (e.g. .astype(np.{np.dtype(dtype).name}))"
        )
    return arr.astype(dtype, copy=False)
