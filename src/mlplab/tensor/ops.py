"""The ops the Tensor class does not call, each a primitive with its VJP: the fused layer :func:`linear`
(``x @ W + b``, optionally with its ReLU, one node), :func:`maximum`, the functional forms of the methods
(:func:`relu`, :func:`exp`, ...), and the losses: :func:`log_softmax`, :func:`softmax` and the fused, stable
softmax cross-entropy (:func:`softmax_cross_entropy`, :func:`cross_entropy`).
"""

from __future__ import annotations

import numpy as np

from .core import Tensor, _as_tensor, _broadcast_error, _data, _exp, matmul
from .graph import _make
from .shapes import _swap, unbroadcast


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
