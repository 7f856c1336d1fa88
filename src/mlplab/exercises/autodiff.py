"""The autodiff exercises: forward passes and VJPs (tanh, sigmoid, softmax cross-entropy, x W + b), the Linear
layer as a class, the central-difference gradient check and one training step. Each solution is mlplab's own
backward pass (:mod:`mlplab.tensor`, :class:`mlplab.nn.Linear`), but for the central difference, which the
library does not offer its users (the book's ch. 4 writes it)."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, cross_entropy, linear
from .base import DLSYS, REGISTRY, SAITO4, SAITO5, Exercise, _dtype, _shape, register

_BEFORE = set(REGISTRY)


# ----------------------------------------------------------------------------- activations and their VJPs
def _vjp_unary(method):
    def solution(x, g):
        t = Tensor(x, requires_grad=True)
        y = getattr(t, method)()
        y.backward(g)
        return y.data, t.grad
    return solution


def _activation_cases(rng, hidden):
    out = []
    for k in range(4 if hidden else 2):
        dt = _dtype(rng, hidden)
        shape = _shape(rng, hidden, public=[(5,), (2, 3)][k % 2])
        scale = 3.0 if k % 2 else 1.0
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"x": (scale * rng.standard_normal(shape)).astype(dt), "g": rng.standard_normal(shape).astype(dt)}))
    return out


register(Exercise(
    "tanh", "function", "tanh: forward and VJP", SAITO5,
    "def tanh(x, g):",
    """Forward y = tanh(x) and the vector-Jacobian product with the upstream gradient g:

        y = tanh(x),     dL/dx = g ⊙ (1 − y²)

    Return (y, dx), both with x's shape and dtype; do not modify x or g.""",
    _vjp_unary("tanh"),
    {"derivative 1 − y instead of 1 − y²": lambda x, g: (np.tanh(x), g * (1 - np.tanh(x))),
     "derivative written with the input: 1 − x² instead of 1 − y²": lambda x, g: (np.tanh(x), g * (1 - x * x)),
     "upstream gradient g not multiplied in": lambda x, g: (np.tanh(x), (1 - np.tanh(x) ** 2).astype(x.dtype)),
     "sign flipped: 1 + y²": lambda x, g: (np.tanh(x), g * (1 + np.tanh(x) ** 2))},
    _activation_cases))


def _sig(x):
    return 1 / (1 + np.exp(-x))


register(Exercise(
    "sigmoid", "function", "sigmoid: forward and VJP", SAITO5,
    "def sigmoid(x, g):",
    """Forward y = σ(x) = 1 / (1 + exp(−x)) and the vector-Jacobian product (the book's Sigmoid layer):

        dL/dx = g ⊙ y (1 − y)

    Return (y, dx), both with x's shape and dtype; do not modify x or g.""",
    _vjp_unary("sigmoid"),
    {"derivative y instead of y (1 − y)": lambda x, g: (_sig(x), g * _sig(x)),
     "derivative written with the input: x (1 − x)": lambda x, g: (_sig(x), g * x * (1 - x)),
     "upstream gradient g not multiplied in": lambda x, g: (_sig(x), _sig(x) * (1 - _sig(x))),
     "sign of the exponent flipped: 1 / (1 + exp(x))": lambda x, g: (_sig(-x), g * _sig(-x) * (1 - _sig(-x)))},
    _activation_cases))


# ----------------------------------------------------------------------------- softmax cross-entropy
def softmax_ce_solution(logits, labels):
    t = Tensor(logits, requires_grad=True)
    loss = cross_entropy(t, labels)
    loss.backward()
    return loss.data, t.grad


def _ce_wrong(shift=True, mean_grad=True, onehot=True, mean_loss=True):
    def f(logits, labels):
        with np.errstate(all="ignore"):
            z = logits - logits.max(axis=-1, keepdims=True) if shift else logits
            e = np.exp(z)
            p = e / e.sum(axis=-1, keepdims=True)
            n = logits.shape[0]
            rows = np.arange(n)
            losses = -np.log(p[rows, labels])
            loss = losses.mean() if mean_loss else losses.sum()
            d = p.copy()
            if onehot:
                d[rows, labels] -= 1
            if mean_grad:
                d /= n
        return np.asarray(loss, dtype=logits.dtype), d.astype(logits.dtype)
    return f


def _ce_cases(rng, hidden):
    out = []
    for k in range(4 if hidden else 2):
        dt = _dtype(rng, hidden)
        n, c = (int(rng.integers(2, 9)), int(rng.integers(2, 7))) if hidden else [(4, 3), (3, 5)][k]
        scale = 300.0 if k % 2 else 1.0  # large logits: exp overflows unless shifted
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"logits": (scale * rng.standard_normal((n, c))).astype(dt), "labels": rng.integers(0, c, n)}))
    return out


register(Exercise(
    "softmax_cross_entropy", "function", "softmax cross-entropy: loss and gradient", SAITO5 + "; " + DLSYS,
    "def softmax_cross_entropy(logits, labels):",
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient (the book's
    SoftmaxWithLoss layer):

        p = softmax(z) = exp(z − max z) / Σ exp(z − max z)      (shift by the row's max: no overflow)
        L = −(1/N) Σ_n log p[n, labels[n]]
        dL/dz = (p − onehot(labels)) / N

    logits: (N, C) floats, labels: (N,) ints. Return (L as a 0-d array, dz with logits' shape and dtype).""",
    softmax_ce_solution,
    {"softmax not shifted by the row maximum (overflows on large logits)": _ce_wrong(shift=False),
     "gradient not divided by the batch size N": _ce_wrong(mean_grad=False),
     "one-hot not subtracted from the gradient (p instead of p − y)": _ce_wrong(onehot=False),
     "loss summed over the batch instead of averaged": _ce_wrong(mean_loss=False)},
    _ce_cases, tol={"nan_equal": True}))


# ----------------------------------------------------------------------------- x @ W + b and its VJP
def linear_solution(x, W, b, g):
    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, W, b))
    y = linear(tx, tw, tb)
    y.backward(g)
    return tx.grad, tw.grad, tb.grad


def _linear_cases(rng, hidden):
    out = []
    for k in range(4 if hidden else 2):
        dt = _dtype(rng, hidden)
        n, i, o = (int(v) for v in rng.integers(2, 7, 3)) if hidden else [(4, 3, 3), (2, 3, 5)][k]
        if hidden and k == 0:
            o = i  # a square weight: the missing transpose of dx still gives a result
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"x": rng.standard_normal((n, i)).astype(dt), "W": rng.standard_normal((i, o)).astype(dt),
                     "b": rng.standard_normal(o).astype(dt), "g": rng.standard_normal((n, o)).astype(dt)}))
    return out


register(Exercise(
    "linear_backward", "function", "x @ W + b: the VJP with broadcasting", SAITO5 + "; " + DLSYS,
    "def linear_backward(x, W, b, g):",
    """The backward pass of the affine layer y = x W + b (x: (N, in), W: (in, out), b: (out,) broadcast over
    the N rows), given the upstream gradient g = dL/dy of shape (N, out):

        dL/dx = g Wᵀ,      dL/dW = xᵀ g,      dL/db = Σ_n g[n, :]   (summed over the broadcast axis)

    Return (dx, dW, db) with the shapes of x, W and b.""",
    linear_solution,
    {"bias gradient not summed over the broadcast (batch) axis": lambda x, W, b, g: (g @ W.T, x.T @ g, g),
     "bias gradient summed over the wrong axis": lambda x, W, b, g: (g @ W.T, x.T @ g, g.sum(axis=1)),
     "missing transpose in dW: gᵀ x instead of xᵀ g": lambda x, W, b, g: (g @ W.T, g.T @ x, g.sum(axis=0)),
     "missing transpose in dx: g W instead of g Wᵀ": lambda x, W, b, g: (g @ W, x.T @ g, g.sum(axis=0)),
     "bias gradient averaged instead of summed": lambda x, W, b, g: (g @ W.T, x.T @ g, g.mean(axis=0))},
    _linear_cases))


# ----------------------------------------------------------------------------- the Linear layer, as a class
class LinearLayer:
    """The book's Affine layer (ch. 5.6) computed by mlplab's own :class:`mlplab.nn.Linear`: ``forward`` through
    the module, ``backward`` by the library's autodiff; ``dW`` and ``db`` are the module's gradients."""

    def __init__(self, W, b):
        from ..nn import Linear

        self.W, self.b = W, b
        self._module = Linear(W.shape[0], W.shape[1], rng=0, dtype=W.dtype)
        self._module.weight.data = np.array(W, copy=True)
        self._module.bias.data = np.array(b, copy=True)

    def forward(self, x):
        self._x = Tensor(x, requires_grad=True)
        self._y = self._module(self._x)
        return self._y.data

    def backward(self, dy):
        self._y.backward(dy)
        self.dW, self.db = self._module.weight.grad, self._module.bias.grad
        return self._x.grad


def _layer_call(impl, args):
    """Build the layer on (W, b), run forward on x and backward on g: (y, dx, layer.dW, layer.db)."""
    layer = impl(args["W"], args["b"])
    y = layer.forward(args["x"])
    dx = layer.backward(args["g"])
    return y, dx, getattr(layer, "dW", None), getattr(layer, "db", None)


def _layer_wrong(bias=True, sum_db=True, mean_dw=False, transpose=True):
    class Wrong:
        def __init__(self, W, b):
            self.W, self.b = W, b

        def forward(self, x):
            self.x = x
            return x @ self.W + self.b if bias else x @ self.W

        def backward(self, dy):
            self.dW = self.x.T @ dy / (len(dy) if mean_dw else 1)
            self.db = dy.sum(axis=0) if sum_db else dy
            return dy @ (self.W.T if transpose else self.W)
    return Wrong


LINEAR_TEMPLATE = '''class Linear:
    DOC

    def __init__(self, W, b):
        self.W, self.b = W, b    # W: (in, out), b: (out,)

    def forward(self, x):
        """y = x W + b for x of shape (N, in); keep what backward needs."""
        raise NotImplementedError

    def backward(self, dy):
        """dy = dL/dy of shape (N, out): store self.dW and self.db, return dx."""
        raise NotImplementedError
'''


register(Exercise(
    "Linear", "layer", "the Linear (Affine) layer as a class: forward and backward", SAITO5 + "; " + DLSYS,
    "class Linear:",
    """The book's Affine layer: y = x W + b with the bias b broadcast over the N rows of x.

        forward(x):   y = x W + b                   x: (N, in), W: (in, out), b: (out,), y: (N, out)
        backward(dy): dx = dy Wᵀ,  self.dW = xᵀ dy,  self.db = Σ_n dy[n, :]   (summed over the broadcast axis)

    backward needs the x of the last forward: keep it. Return arrays of x's dtype; do not modify W, b, x or dy.""",
    LinearLayer,
    {"forward without the bias: y = x W": _layer_wrong(bias=False),
     "db not summed over the batch (the broadcast axis): db = dy": _layer_wrong(sum_db=False),
     "dW averaged over the batch: xᵀ dy / N": _layer_wrong(mean_dw=True),
     "dx without the transpose: dy W instead of dy Wᵀ": _layer_wrong(transpose=False)},
    _linear_cases, call=_layer_call, template=LINEAR_TEMPLATE))


# ----------------------------------------------------------------------------- gradient check
def _coordinatewise(f, x, h, combine):
    """grad_i = combine(f(x + h e_i), f(x − h e_i), f(x)) for each coordinate i of x, perturbed in place and put
    back after each coordinate (f(x) is evaluated once, first)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    base = f(x)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        up = f(x)
        flat[i] = keep - h
        down = f(x)
        flat[i] = keep
        gflat[i] = combine(up, down, base)
    return grad


def numerical_gradient(f, x, h=1e-4):
    """Central differences, one coordinate at a time (Deep Learning from Scratch, ch. 4):
    ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h. ``x`` is restored after each coordinate."""
    return _coordinatewise(f, np.asarray(x), h, lambda up, down, base: (up - down) / (2 * h))


def _numgrad_wrong(kind):
    def f(f, x, h=1e-4):
        combine = {"forward": lambda up, down, base: (up - base) / h, "h": lambda up, down, base: (up - down) / h,
                   "sign": lambda up, down, base: (down - up) / (2 * h)}[kind]
        return _coordinatewise(f, np.array(x, copy=True), h, combine)
    return f


def _numgrad_call(impl, args):
    a = args["A"]

    def f(x):
        return float(np.sum(np.tanh(x @ a)) + 0.5 * np.sum(x ** 3))
    return impl(f, args["x"], args["h"])


def _numgrad_cases(rng, hidden):
    out = []
    for k in range(3 if hidden else 2):
        shape = (int(rng.integers(1, 5)), int(rng.integers(1, 5))) if hidden else [(3,), (2, 3)][k]
        h = float(rng.choice([1e-3, 1e-4, 1e-2])) if hidden else 1e-4
        x = rng.standard_normal(shape)
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"x": x, "A": rng.standard_normal((shape[-1], 2)), "h": h}))
    return out


register(Exercise(
    "numerical_gradient", "function", "gradient check: central differences", SAITO4,
    "def numerical_gradient(f, x, h=1e-4):",
    """The numerical gradient of a scalar function f at x (float64 array, any shape), by central differences:

        ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / (2h)

    Return an array of x's shape. Perturb one coordinate at a time and put it back: x must be unchanged
    when you return.""",
    numerical_gradient,
    {"forward difference (f(x + h) − f(x)) / h instead of the central one": _numgrad_wrong("forward"),
     "central difference divided by h instead of 2h": _numgrad_wrong("h"),
     "sign flipped: (f(x − h) − f(x + h)) / 2h": _numgrad_wrong("sign")},
    _numgrad_cases, call=_numgrad_call, tol={"rtol": 1e-7, "atol": 1e-9}))


# ----------------------------------------------------------------------------- one training step
def train_step(W1, b1, W2, b2, x, labels, lr):
    """One SGD step of the two-layer ReLU network with mlplab's own pieces: ``linear`` (fused ReLU),
    ``cross_entropy`` and :class:`mlplab.optim.SGD`."""
    from ..optim import SGD

    ps = [Tensor(a.copy(), requires_grad=True) for a in (W1, b1, W2, b2)]
    hidden = linear(Tensor(x), ps[0], ps[1], activation="relu")
    loss = cross_entropy(linear(hidden, ps[2], ps[3]), labels)
    loss.backward()
    SGD(ps, lr=lr).step()
    return (loss.data, *(p.data for p in ps))


def _step_wrong(sign=-1.0, mask=True, mean=True, loss_after=False):
    def f(W1, b1, W2, b2, x, labels, lr):
        n = x.shape[0]

        def forward(W1, b1, W2, b2):
            a = x @ W1 + b1
            h = np.maximum(a, 0)
            z = h @ W2 + b2
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            return a, h, p, -np.log(p[np.arange(n), labels]).mean()
        a, h, p, loss = forward(W1, b1, W2, b2)
        dz = p.copy()
        dz[np.arange(n), labels] -= 1
        if mean:
            dz /= n
        dW2, db2 = h.T @ dz, dz.sum(axis=0)
        dh = dz @ W2.T
        da = dh * (a > 0) if mask else dh
        dW1, db1 = x.T @ da, da.sum(axis=0)
        new = [w + sign * lr * d for w, d in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2))]
        if loss_after:
            loss = forward(*new)[3]
        return (np.asarray(loss, dtype=x.dtype), *(w.astype(x.dtype) for w in new))
    return f


def _step_cases(rng, hidden):
    out = []
    for k in range(3 if hidden else 2):
        dt = _dtype(rng, hidden)
        n, i, m, c = (int(v) for v in rng.integers(2, 7, 4)) if hidden else [(4, 3, 5, 3), (6, 2, 4, 2)][k]
        c = max(c, 2)
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"W1": rng.standard_normal((i, m)).astype(dt), "b1": (0.5 * rng.standard_normal(m)).astype(dt),
                     "W2": rng.standard_normal((m, c)).astype(dt), "b2": (0.5 * rng.standard_normal(c)).astype(dt),
                     "x": rng.standard_normal((n, i)).astype(dt), "labels": rng.integers(0, c, n),
                     "lr": round(float(rng.uniform(0.05, 0.5)), 3) if hidden else 0.1}))
    return out


register(Exercise(
    "train_step", "function", "one training step of a two-layer network", SAITO5 + "; " + DLSYS,
    "def train_step(W1, b1, W2, b2, x, labels, lr):",
    """One step of SGD on the two-layer network (the book's TwoLayerNet with ReLU, ch. 5):

        a = x W1 + b1,   h = relu(a),   z = h W2 + b2,   L = mean cross-entropy(softmax(z), labels)
        backward: dz = (softmax(z) − onehot) / N,  dW2 = hᵀ dz,  db2 = Σ_n dz,  dh = dz W2ᵀ,
                  da = dh ⊙ [a > 0],  dW1 = xᵀ da,  db1 = Σ_n da
        θ ← θ − η dθ  for θ in W1, b1, W2, b2      (η = lr)

    Return (L before the step as a 0-d array, W1', b1', W2', b2'): new arrays, the inputs left unchanged.""",
    train_step,
    {"gradient ascent: θ ← θ + η dθ": _step_wrong(sign=1.0),
     "ReLU's mask [a > 0] missing in the backward pass": _step_wrong(mask=False),
     "loss gradient not divided by the batch size N": _step_wrong(mean=False),
     "loss returned after the step instead of before": _step_wrong(loss_after=True)},
    _step_cases))


NAMES = [n for n in REGISTRY if n not in _BEFORE]  # this topic's exercises, in the order written
