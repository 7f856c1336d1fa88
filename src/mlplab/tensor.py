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
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import operator
import threading

import numpy as np

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad", "hessian",
    "unbroadcast", "matmul", "linear", "relu", "leaky_relu", "sigmoid", "tanh", "exp", "log",
    "where", "maximum", "power", "logsumexp", "log_softmax", "softmax", "softmax_cross_entropy",
    "cross_entropy",
]

DEFAULT_DTYPE = np.float32

_state = threading.local()
_creation = itertools.count()  # sequence numbers: a node is always newer than its inputs


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.enabled = enabled
    try:
        yield
    finally:
        _state.enabled = previous


def no_grad():
    """Context manager: operations inside record no graph (evaluation, optimizer updates)."""
    return _grad_mode(False)


def enable_grad():
    return _grad_mode(True)


# --------------------------------------------------------------------------- helpers shared by VJPs
# These work on both ndarrays and Tensors, which is what makes the VJPs differentiable.

def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _exp(x):
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


def _log(x):
    return x.log() if isinstance(x, Tensor) else np.log(x)


def _where(cond, x, y):
    return where(cond, x, y) if isinstance(x, Tensor) or isinstance(y, Tensor) else np.where(cond, x, y)


def _zeros_like(x):
    return Tensor(np.zeros(x.shape, dtype=x.dtype)) if isinstance(x, Tensor) else np.zeros(x.shape, dtype=x.dtype)


def _broadcast_to(x, shape):
    return x.broadcast_to(shape) if isinstance(x, Tensor) else np.broadcast_to(x, shape)


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


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    ``data`` is the ndarray, ``grad`` the accumulated gradient (an ndarray of the same shape, or
    None), ``requires_grad`` whether gradients flow to it. Float data keeps its dtype; Python
    numbers and lists become float32 unless ``dtype`` is given.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_vjp", "_op", "_retain", "_seq", "name")
    __array_priority__ = 1000  # so ndarray (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            data = np.asarray(data, dtype=dtype)
        elif isinstance(data, np.ndarray):
            pass
        else:
            arr = np.asarray(data)  # Python floats (and lists of them) become float32
            data = arr.astype(DEFAULT_DTYPE) if arr.dtype == np.float64 and not isinstance(
                data, np.generic) else arr
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._vjp = None
        self._op = None
        self._retain = False
        self._seq = next(_creation)
        self.name = name

    # ----------------------------------------------------------------- basic properties
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    T = property(lambda self: self.swapaxes(-1, -2))

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        extra = f", grad_fn={self._op}" if self._op else (", requires_grad=True" if self.requires_grad else "")
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{extra})"

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def detach(self):
        """A new leaf Tensor sharing this data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True):
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate result after backward() (for diagnostics)."""
        self._retain = True
        return self

    def astype(self, dtype):
        """A copy in another dtype (an explicit conversion, differentiable)."""
        dtype = np.dtype(dtype)
        src = self.dtype
        return _make(self.data.astype(dtype), (self,), lambda g, out, a: (g.astype(src),), "astype")

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    # comparisons give plain boolean arrays: they have no gradient
    def __gt__(self, other):
        return self.data > _data(other)

    def __lt__(self, other):
        return self.data < _data(other)

    def __ge__(self, other):
        return self.data >= _data(other)

    def __le__(self, other):
        return self.data <= _data(other)

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- arithmetic
    def _other(self, other, op):
        if isinstance(other, Tensor):
            if other.dtype != self.dtype:
                raise TypeError(
                    f"{op}: mixed dtypes {self.dtype} {self.shape} and {other.dtype} {other.shape}; "
                    "convert one explicitly with .astype()"
                )
            return other
        return Tensor(_as_same_dtype(other, self.dtype, op))

    def __add__(self, other):
        return add(self, self._other(other, "add"))

    def __radd__(self, other):
        return add(self._other(other, "add"), self)

    def __sub__(self, other):
        return sub(self, self._other(other, "sub"))

    def __rsub__(self, other):
        return sub(self._other(other, "sub"), self)

    def __mul__(self, other):
        return mul(self, self._other(other, "mul"))

    def __rmul__(self, other):
        return mul(self._other(other, "mul"), self)

    def __truediv__(self, other):
        return div(self, self._other(other, "div"))

    def __rtruediv__(self, other):
        return div(self._other(other, "div"), self)

    def __neg__(self):
        return _make(-self.data, (self,), lambda g, out, a: (-g,), "neg")

    def __pow__(self, p):
        """``self ** p``. A number p is a constant exponent: d/dx xᵖ = p xᵖ⁻¹, and for p = 0 the
        gradient is 0 everywhere, x = 0 included (p xᵖ⁻¹ would be 0·∞ = NaN there; torch gives 0).
        A Tensor or array p is differentiated too: see :func:`power`."""
        if isinstance(p, Tensor) or np.ndim(p) > 0:
            return power(self, self._other(p, "pow"))
        p = float(p)
        if p == 0:  # x⁰ = 1 is a constant
            vjp = lambda g, out, a: (_zeros_like(g),)
        else:
            vjp = lambda g, out, a: (g * p * a ** (p - 1),)
        return _make(self.data ** self.dtype.type(p), (self,), vjp, "pow")

    def __rpow__(self, base):
        """``base ** self`` for a number or array base: see :func:`power`."""
        return power(self._other(base, "pow"), self)

    def __matmul__(self, other):
        return matmul(self, self._other(other, "matmul"))

    def __rmatmul__(self, other):
        return matmul(self._other(other, "matmul"), self)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        shape = self.shape
        return _make(self.data[index], (self,),
                     lambda g, out, a: (_scatter(g, index, shape),), "getitem")

    # ----------------------------------------------------------------- elementwise functions
    def exp(self):
        return _make(np.exp(self.data), (self,), lambda g, out, a: (g * out,), "exp")

    def log(self):
        return _make(np.log(self.data), (self,), lambda g, out, a: (g / a,), "log")

    def tanh(self):
        return _make(np.tanh(self.data), (self,), lambda g, out, a: (g * (1 - out * out),), "tanh")

    def sigmoid(self):
        """σ(x) = 1 / (1 + e⁻ˣ), accurate to the last bit on both tails.

        With e = e^−|x| ∈ (0, 1] (never overflows): σ(x) = 1/(1 + e) for x ≥ 0 and e/(1 + e) for
        x < 0, so the left tail keeps its relative accuracy (σ(−40) ≈ 4e−18, not 0, in float64; the
        form ½(1 + tanh(x/2)) rounds it to 0 and log σ(x) to −inf). The derivative is written
        σ'(x) = σ(x) σ(−x) rather than σ(1 − σ): on the right tail 1 − σ(x) cancels to 0 while
        σ(−x) keeps its digits. In first order σ(−x) comes from the forward pass; in second order
        it is the node ``(−x).sigmoid()``, so it is differentiated too.
        """
        x = self.data
        e = np.exp(-np.abs(x))
        pos = x >= 0
        d = 1 + e
        s = np.where(pos, 1, e) / d
        s_neg = np.where(pos, e, 1) / d  # σ(−x) = 1 − σ(x), without the cancellation

        def vjp(g, out, a):
            return (g * out * ((-a).sigmoid() if isinstance(a, Tensor) else s_neg),)

        return _make(s, (self,), vjp, "sigmoid")

    def relu(self):
        # The mask is taken from the output: out > 0 exactly where x > 0, so the gradient at
        # x == 0 is 0 (as in PyTorch). Second derivative: 0 almost everywhere (the mask is a constant).
        return _make(np.maximum(self.data, 0), (self,), lambda g, out, a: (g * (_data(out) > 0),), "relu")

    def leaky_relu(self, negative_slope=0.01):
        slope = self.dtype.type(negative_slope)
        factor = np.where(self.data > 0, self.dtype.type(1), slope)
        return _make(self.data * factor, (self,), lambda g, out, a: (g * factor,), "leaky_relu")

    # ----------------------------------------------------------------- reductions and shapes
    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis``: None sums everything; an int or a tuple of axes, negative ones counting
        from the end; ``()`` sums nothing, as NumPy (torch's ``dim=()`` sums everything)."""
        shape = self.shape
        axes = _axes(axis, self.ndim, "sum")
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape))  # the keepdims shape

        def vjp(g, out, a):  # every summed element receives the gradient of the sum
            return (_broadcast_to(g if keepdims else g.reshape(kept), shape),)

        return _make(np.sum(self.data, axis=axes, keepdims=keepdims), (self,), vjp, "sum")

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis`` (as :meth:`sum`). Over no elements it is NaN, as in NumPy and torch."""
        axes = _axes(axis, self.ndim, "mean")
        n = math.prod(self.shape[a] for a in axes)
        # the sum, then a scale by the constant 1/n (no node for the constant operand); 0·NaN = NaN
        return self.sum(axis=axes, keepdims=keepdims)._scale(1.0 / n if n else math.nan)

    def _scale(self, c):
        """Multiply by a Python constant (no second operand node)."""
        c = self.dtype.type(c)
        return _make(self.data * c, (self,), lambda g, out, a: (g * c,), "scale")

    def max(self, axis=None, keepdims=False):
        """Maximum over ``axis`` (as :meth:`sum`). At ties the gradient is shared equally among the
        maxima, as ``torch.amax`` does (``torch.max(x, dim)`` instead gives it all to one index)."""
        axes = _axes(axis, self.ndim, "max")
        m = np.max(self.data, axis=axes, keepdims=True)
        mask = (self.data == m).astype(self.dtype)
        mask /= mask.sum(axis=axes, keepdims=True)
        shape = self.shape

        def vjp(g, out, a):
            g = g.reshape(m.shape) if not keepdims else g
            return (_broadcast_to(g, shape) * mask,)

        val = m if keepdims else m.reshape(tuple(n for i, n in enumerate(shape) if i not in axes))
        return _make(val, (self,), vjp, "max")

    def logsumexp(self, axis=None, keepdims=False):
        """log Σ exp(x) over ``axis`` (as :meth:`sum`), computed as m + log Σ exp(x − m) with m the
        maximum, so nothing overflows or underflows (inputs of size 1e10 are fine). Its gradient
        is the softmax over the same axes, exp(x − logsumexp): in first order taken from the
        forward pass (exact), in second order differentiated as that expression. Over no
        elements it is −inf (log 0), as in torch.
        """
        x, shape = self.data, self.shape
        axes = _axes(axis, self.ndim, "logsumexp")
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
        if x.size:
            m = np.max(x, axis=axes, keepdims=True)
            m = np.where(np.isfinite(m), m, 0)  # all −inf (or an inf): no shift, the sum says it
        else:
            m = np.zeros(kept, dtype=x.dtype)
        e = np.exp(x - m)
        s = e.sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):  # log 0 = −inf over no elements
            lse = np.log(s) + m

        def vjp(g, out, a):
            g = g if keepdims else g.reshape(kept)
            if isinstance(a, Tensor):
                return (g * (a - (out if keepdims else out.reshape(kept))).exp(),)
            return (g * (e / s),)

        return _make(lse if keepdims else lse.reshape(tuple(n for i, n in enumerate(shape) if i not in axes)),
                     (self,), vjp, "logsumexp")

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        src = self.shape
        return _make(self.data.reshape(shape), (self,), lambda g, out, a: (g.reshape(src),), "reshape")

    def transpose(self, *axes):
        """Permute the axes, as ``numpy.transpose``: ``axes`` is a full permutation (negative
        entries count from the end, none reverses the axes), like torch's ``permute``. torch's
        ``transpose(a, b)``, which swaps two axes, is :meth:`swapaxes` here. The gradient is
        transposed back by the inverse permutation, taken of the normalized axes."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        perm = _axes(axes, self.ndim, "transpose") if axes else tuple(reversed(range(self.ndim)))
        if len(perm) != self.ndim:
            raise ValueError(f"transpose: axes {axes} are not a permutation of the tensor's {self.ndim} axes "
                             "(use swapaxes(a, b) to swap two axes, as torch's transpose)")
        inverse = tuple(np.argsort(perm))
        return _make(self.data.transpose(perm), (self,), lambda g, out, a: (g.transpose(inverse),),
                     "transpose")

    def swapaxes(self, a1, a2):
        """Swap two axes (torch's ``transpose(a1, a2)``); its own inverse, negative axes included."""
        return _make(self.data.swapaxes(a1, a2), (self,), lambda g, out, a: (g.swapaxes(a1, a2),),
                     "swapaxes")

    def broadcast_to(self, shape):
        src = self.shape
        return _make(np.broadcast_to(self.data, shape), (self,), lambda g, out, a: (unbroadcast(g, src),),
                     "broadcast_to")

    # ----------------------------------------------------------------- backward
    def backward(self, gradient=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad (no parameter reaches it)")
        seed = _seed(self, gradient)
        _backprop(self, seed, create_graph=False, inputs=None)


def tensor(data, dtype=None, requires_grad=False):
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _make(data, parents, vjp, op):
    """Wrap a primitive's result; record its parents and VJP when a gradient will be needed."""
    out = Tensor.__new__(Tensor)
    out.data = data
    out.grad = None
    out._retain = False
    out._seq = next(_creation)
    out.name = None
    needed = False
    for p in parents:
        if p.requires_grad:
            needed = True
            break
    if needed and getattr(_state, "enabled", True):
        out.requires_grad = True
        out._parents = parents
        out._vjp = vjp
        out._op = op
    else:
        out.requires_grad = False
        out._parents = ()
        out._vjp = None
        out._op = None
    return out


def _broadcast_error(op, a, b):
    return ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together")


# ------------------------------------------------------------------------------ binary primitives
def add(a, b):
    try:
        value = a.data + b.data
    except ValueError:
        raise _broadcast_error("add", a, b) from None
    sa, sb = a.shape, b.shape
    return _make(value, (a, b), lambda g, out, x, y: (unbroadcast(g, sa), unbroadcast(g, sb)), "add")


def sub(a, b):
    try:
        value = a.data - b.data
    except ValueError:
        raise _broadcast_error("sub", a, b) from None
    sa, sb = a.shape, b.shape
    return _make(value, (a, b), lambda g, out, x, y: (unbroadcast(g, sa), unbroadcast(-g, sb)), "sub")


def mul(a, b):
    try:
        value = a.data * b.data
    except ValueError:
        raise _broadcast_error("mul", a, b) from None
    sa, sb = a.shape, b.shape
    return _make(value, (a, b),
                 lambda g, out, x, y: (unbroadcast(g * y, sa), unbroadcast(g * x, sb)), "mul")


def div(a, b):
    try:
        value = a.data / b.data
    except ValueError:
        raise _broadcast_error("div", a, b) from None
    sa, sb = a.shape, b.shape
    return _make(value, (a, b),
                 lambda g, out, x, y: (unbroadcast(g / y, sa), unbroadcast(-g * x / (y * y), sb)), "div")


def power(a, b):
    """``a ** b`` elementwise with broadcasting (``Tensor ** Tensor``, ``number ** Tensor``).

    ∂/∂a = b a^(b−1) and ∂/∂b = a^b ln a, with torch's conventions at the edges: ∂/∂a = 0 where
    b = 0 (a⁰ = 1 for every a, a = 0 included) and ∂/∂b = 0 where a = 0 and b ≥ 0 (the limit of
    a^b ln a as a → 0⁺). To get those without 0·∞ the VJP evaluates the formulas at a = 1 where
    they are masked, which keeps second derivatives free of NaN too. A negative base has no real
    logarithm: its ∂/∂b is NaN, as in torch.
    """
    a = _as_tensor(a, b if isinstance(b, Tensor) else None)
    b = _as_tensor(b, a)
    if a.dtype != b.dtype:
        raise TypeError(f"pow: mixed dtypes {a.dtype} and {b.dtype}")
    try:
        value = a.data ** b.data
    except ValueError:
        raise _broadcast_error("pow", a, b) from None
    sa, sb = a.shape, b.shape
    need_a, need_b = a.requires_grad, b.requires_grad

    def vjp(g, out, x, y):
        xd, yd = _data(x), _data(y)
        ga = unbroadcast(g * y * _where(yd == 0, 1, x) ** (y - 1), sa) if need_a else None
        gb = unbroadcast(g * out * _log(_where((xd == 0) & (yd >= 0), 1, x)), sb) if need_b else None
        return ga, gb

    return _make(value, (a, b), vjp, "pow")


def _as_tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    if like is not None:
        return Tensor(_as_same_dtype(x, like.dtype, "op"))
    return Tensor(x)


def matmul(a, b):
    """``a @ b`` with NumPy's rules: stacks of matrices broadcast over leading axes; 1-D operands
    are promoted to a row (left) or column (right) vector and the added axis is dropped after."""
    a, b = _as_tensor(a), _as_tensor(b)
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: mixed dtypes {a.dtype} {a.shape} and {b.dtype} {b.shape}")
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"(inner dimensions {a.shape[-1:]} vs {b.shape[-2:-1] or b.shape})")
    sa, sb = a.shape, b.shape
    a2 = sa if len(sa) > 1 else (1,) + sa
    b2 = sb if len(sb) > 1 else sb + (1,)
    out2 = np.broadcast_shapes(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    need_a, need_b = a.requires_grad, b.requires_grad

    def vjp(g, out, x, y):
        g = g.reshape(out2)
        x, y = x.reshape(a2), y.reshape(b2)
        ga = unbroadcast(g @ _swap(y), a2).reshape(sa) if need_a else None
        gb = unbroadcast(_swap(x) @ g, b2).reshape(sb) if need_b else None
        return ga, gb

    return _make(a.data @ b.data, (a, b), vjp, "matmul")


def linear(x, weight, bias=None, activation=None):
    """``x @ weight + bias`` as one node, optionally followed by ``activation="relu"``.

    Fused for speed: the bias is added and the ReLU applied in place in the product's fresh
    buffer (one array, one tape node per layer), and the backward pass skips the input gradient
    when x needs none. The ReLU's derivative is the mask ``out > 0`` of the output, so nothing
    else is kept. weight has shape (in, out), or (K, in, out) for a stack of K networks; x has shape
    (..., in), or (in,) for one unbatched example (the output then has no batch axis, as torch's).
    """
    x = _as_tensor(x, weight)
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} does not match weight dtype {weight.dtype}")
    if x.ndim == 0:
        raise ValueError("linear: the input is a scalar; it needs at least one axis (the features)")
    if x.shape[-1] != weight.shape[-2]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1]} features, "
                         f"but the weight {weight.shape} expects {weight.shape[-2]}")
    if activation not in (None, "relu"):
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    if x.ndim == 1:  # one unbatched example (as torch): a batch of one row, that axis dropped after
        y = linear(x.reshape(1, -1), weight, bias, activation)
        return y.reshape(y.shape[:-2] + y.shape[-1:])
    relu = activation == "relu"
    if bias is None and not relu:
        return matmul(x, weight)
    out = x.data @ weight.data
    if bias is not None:
        try:
            out += bias.data
        except ValueError:
            raise ValueError(f"linear: bias of shape {bias.shape} does not fit output {out.shape}") from None
    if relu:
        np.maximum(out, 0, out=out)
    sx, sw = x.shape, weight.shape
    sb = None if bias is None else bias.shape
    need_x = x.requires_grad

    def vjp(g, out, xv, w, b=None):
        if relu:  # d relu = 1 where the output is positive (0 at 0, as in PyTorch)
            g = g * (_data(out) > 0)
        gx = unbroadcast(g @ _swap(w), sx) if need_x else None
        gw = unbroadcast(_swap(xv) @ g, sw)
        return (gx, gw) if sb is None else (gx, gw, unbroadcast(g, sb))

    parents = (x, weight) if bias is None else (x, weight, bias)
    return _make(out, parents, vjp, "linear_relu" if relu else "linear")


def _scatter(g, index, shape):
    """The adjoint of ``a[index]``: a zero array of ``shape`` with g added at ``index``."""
    if isinstance(g, Tensor):
        return _make(_scatter(g.data, index, shape), (g,), lambda h, out, x: (h[index],), "scatter")
    z = np.zeros(shape, dtype=g.dtype)
    np.add.at(z, index, g)
    return z


def where(cond, a, b):
    """Elementwise ``a if cond else b``; cond is a boolean array (no gradient)."""
    cond = np.asarray(_data(cond), dtype=bool)
    a = _as_tensor(a, b if isinstance(b, Tensor) else None)
    b = _as_tensor(b, a)
    if a.dtype != b.dtype:
        raise TypeError(f"where: mixed dtypes {a.dtype} and {b.dtype}")
    sa, sb = a.shape, b.shape
    ca, cb = cond.astype(a.dtype), (~cond).astype(a.dtype)
    return _make(np.where(cond, a.data, b.data), (a, b),
                 lambda g, out, x, y: (unbroadcast(g * ca, sa), unbroadcast(g * cb, sb)), "where")


def maximum(a, b):
    """Elementwise maximum; at ties each side receives half the gradient (as torch.maximum)."""
    a = _as_tensor(a, b if isinstance(b, Tensor) else None)
    b = _as_tensor(b, a)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _broadcast_error("maximum", a, b) from None
    wa = (a.data > b.data).astype(a.dtype) + 0.5 * (a.data == b.data).astype(a.dtype)
    wb = 1 - wa
    sa, sb = a.shape, b.shape
    return _make(np.maximum(a.data, b.data), (a, b),
                 lambda g, out, x, y: (unbroadcast(g * wa, sa), unbroadcast(g * wb, sb)), "maximum")


# ------------------------------------------------------------------------------ functional forms
def relu(x):
    return x.relu()


def leaky_relu(x, negative_slope=0.01):
    return x.leaky_relu(negative_slope)


def sigmoid(x):
    return x.sigmoid()


def tanh(x):
    return x.tanh()


def exp(x):
    return x.exp()


def log(x):
    return x.log()


def logsumexp(x, axis=None, keepdims=False):
    return x.logsumexp(axis, keepdims)


def log_softmax(x, axis=-1):
    """x - logsumexp(x), computed after subtracting the maximum so exp never overflows."""
    xs = x.data - np.max(x.data, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis is fine
    out = xs - np.log(np.sum(np.exp(xs), axis=axis, keepdims=True))
    # d/dx: g - softmax(x) * sum(g)
    return _make(out, (x,), lambda g, o, a: (g - _exp(o) * g.sum(axis=axis, keepdims=True),), "log_softmax")


def softmax(x, axis=-1):
    return log_softmax(x, axis).exp()


def softmax_cross_entropy(logits, target, mean=False):
    """Per-example loss -log softmax(logits)[target], fused for numerical stability and speed
    (``mean=True``: their mean, as the same single node).

    logits has shape (..., C); target holds class indices of shape (...) or any shape that
    broadcasts to it (a stack of K networks shares one label vector). The gradient with respect
    to the logits is ``softmax - onehot``: computed from the forward pass's probabilities, with
    no exp/log round trip.
    """
    t = np.asarray(_data(target))
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got {t.dtype}")
    lead = logits.shape[:-1]
    try:
        t = (t if t.shape == lead else np.broadcast_to(t, lead))[..., None]
    except ValueError:
        raise ValueError(f"cross_entropy: targets of shape {np.shape(_data(target))} do not match "
                         f"logits of shape {logits.shape}") from None
    C = logits.shape[-1]
    if t.size and (t.min() < 0 or t.max() >= C):
        raise ValueError(f"cross_entropy: target classes must lie in [0, {C}), got {t.min()}..{t.max()}")
    # flat positions of the target logits: one fancy index instead of take/put_along_axis (faster)
    flat = np.arange(0, t.size * C, C).reshape(t.shape) + t
    z = logits.data - np.max(logits.data, axis=-1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=-1, keepdims=True)
    loss = (np.log(s) - z.reshape(-1)[flat])[..., 0]
    n = t.size
    inv_n = logits.dtype.type(1.0 / max(n, 1))
    if mean:  # the mean over no examples is NaN, as in NumPy and PyTorch
        loss = np.asarray(loss.sum() * inv_n if n else np.nan, dtype=logits.dtype)

    def vjp(g, out, x):
        # d loss_i / d logits_i = softmax_i - onehot_i; the mean divides every row's share by n
        if isinstance(x, Tensor):  # differentiable form, for second derivatives
            onehot = np.zeros(x.shape, dtype=x.dtype)
            onehot.reshape(-1)[flat] = 1
            share = g._scale(inv_n) if mean else g.reshape(lead + (1,))
            return (share * (softmax(x) - onehot),)
        g = g * inv_n if mean else g[..., None]
        p = e / s
        p *= g
        p.reshape(-1)[flat] -= g
        return (p,)

    return _make(loss, (logits,), vjp, "softmax_cross_entropy_mean" if mean else "softmax_cross_entropy")


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy; reduction 'mean' (over all examples), 'sum' or 'none'."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if reduction == "mean":  # one node: the mean's 1/n is folded into the fused gradient
        return softmax_cross_entropy(logits, target, mean=True)
    loss = softmax_cross_entropy(logits, target)
    return loss.sum() if reduction == "sum" else loss


# ------------------------------------------------------------------------------ the backward pass
def _seed(out, gradient):
    if gradient is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"backward(): the output has shape {out.shape}; pass a gradient of that shape "
                "(or reduce it to a scalar first, e.g. loss.sum())")
        return np.ones_like(out.data)
    gradient = np.asarray(_data(gradient), dtype=out.dtype)
    if gradient.shape != out.shape:
        raise ValueError(f"backward(): gradient of shape {gradient.shape} does not match output {out.shape}")
    return gradient


def _backprop(root, seed, create_graph, inputs):
    """Run the VJPs from ``root`` back to the leaves.

    Every Tensor gets an increasing sequence number when it is created, so a node's number is
    larger than its parents'. Popping nodes from a max-heap on that number therefore visits each
    node after all the nodes that consumed it: a topological order found on the fly, without
    recursion (a 1000-layer network is fine) and without a separate sorting pass.
    """
    grads = {root: Tensor(seed) if create_graph else seed}
    heap = [(-root._seq, root)]
    wanted = None if inputs is None else set(inputs)
    found = {}
    with _grad_mode(create_graph):
        while heap:
            node = heapq.heappop(heap)[1]
            g = grads.pop(node)
            if wanted is not None and node in wanted:
                found[node] = g
            vjp = node._vjp
            if vjp is None or node._retain:
                if wanted is None:
                    gd = _data(g)
                    if not gd.flags.writeable:  # a broadcast view: give the leaf its own array
                        gd = np.array(gd)
                    node.grad = gd if node.grad is None else node.grad + gd
                if vjp is None:
                    continue
            parents = node._parents
            if create_graph:
                gs = vjp(g, node, *parents)
            else:
                gs = vjp(g, node.data, *[p.data for p in parents])
            for p, gp in zip(parents, gs):
                if gp is None or not p.requires_grad:
                    continue
                if p in grads:
                    grads[p] = grads[p] + gp
                else:
                    grads[p] = gp
                    heapq.heappush(heap, (-p._seq, p))
    return found


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
