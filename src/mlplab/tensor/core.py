"""The Tensor: an ndarray that remembers how it was computed, with its operators and methods, each a primitive
whose VJP sits beside it, and the binary primitives those operators are (:func:`add`, :func:`sub`,
:func:`mul`, :func:`div`, :func:`power`, :func:`matmul`, :func:`where`). The ops the class does not use
(``linear``, ``maximum``, the losses) are in :mod:`.ops`; the tape and the reverse pass in :mod:`.graph`.
"""

from __future__ import annotations

import math

import numpy as np

from .graph import _backprop, _creation, _make, _seed
from .shapes import _as_same_dtype, _axes, _swap, unbroadcast

DEFAULT_DTYPE = np.float32


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
