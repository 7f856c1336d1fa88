"""The exercises: each a function or optimizer class for a student to write, its formula in the source's
notation, its source, its solution and the known wrong variants the grader names.

One source for the solutions: every solution calls mlplab's own code (the VJPs of :mod:`mlplab.tensor`, the
optimizer classes of :mod:`mlplab.optim`, the schemes of :mod:`mlplab.init`, the maps of :mod:`mlplab.theory`);
an optimizer's solution *is* the library's class, and its wrong variants are subclasses that override
``update`` with the mistake. The only solution written here is the central difference (the library has no
user-facing numerical gradient; its tests' checker is not part of the package).

Each exercise draws its test cases from a Generator: two public cases (fixed seed, shown in the skeleton with
their values to 8 digits) and hidden ones drawn at grading time (other shapes, seeds, dtypes and
hyperparameters), as CS231n prints its checks and CMU 10-414/714 hides its tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import optim
from ..init import schemes
from ..tensor import Tensor, cross_entropy, linear
from ..theory import gauss, maps
from ..theory.critical import critical_line

SAITO = "Deep Learning from Scratch (Saito), ch. 6"
SAITO5 = "Deep Learning from Scratch (Saito), ch. 5 (backpropagation)"
SAITO4 = "Deep Learning from Scratch (Saito), ch. 4 (the numerical gradient) and ch. 5 (gradient check)"
DLSYS = "CMU 10-414/714 Deep Learning Systems, the lecture on fully-connected networks, optimization and initialization"
DLAI = "deeplearning.ai, Initializing neural networks"
SCHOENHOLZ = "Schoenholz et al. 2017, Deep Information Propagation (and deeplearning.ai, Initializing neural networks)"


@dataclass
class Exercise:
    """One exercise. ``kind``: "function" (compare values), "random" (compare summary statistics of a draw)
    or "optimizer" (compare the trajectory of θ over a few steps on given gradients)."""

    name: str
    kind: str
    title: str
    source: str
    signature: str           # the def/class line(s) of the skeleton, without the body
    doc: str                 # the formula in the source's notation
    solution: object         # a callable or an optimizer class: the library's code
    mistakes: dict           # label → wrong variant (same signature as the solution)
    cases: object            # cases(rng, hidden) → list of (label, dict of arguments)
    call: object = None      # call(impl, args) → output; default impl(**args)
    summary: object = None   # random kind: output → vector of statistics
    tol: dict = field(default_factory=dict)
    points: int = 10

    def run(self, impl, args):
        return (self.call or _call_kwargs)(impl, args)


def _call_kwargs(impl, args):
    return impl(**args)


REGISTRY: dict[str, Exercise] = {}


def register(ex: Exercise) -> Exercise:
    REGISTRY[ex.name] = ex
    return ex


def get(name: str) -> Exercise:
    if name not in REGISTRY:
        raise KeyError(name)
    return REGISTRY[name]


# ----------------------------------------------------------------------------- helpers for the cases
def _dtype(rng, hidden):
    return np.float32 if hidden and rng.random() < 0.5 else np.float64


def _shape(rng, hidden, public=(3, 4)):
    return tuple(int(n) for n in rng.integers(1, 9, size=2)) if hidden else public


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


# ----------------------------------------------------------------------------- gradient check
def numerical_gradient(f, x, h=1e-4):
    """Central differences, one coordinate at a time (Deep Learning from Scratch, ch. 4):
    ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h. ``x`` is restored after each coordinate."""
    x = np.asarray(x)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        up = f(x)
        flat[i] = keep - h
        down = f(x)
        flat[i] = keep
        gflat[i] = (up - down) / (2 * h)
    return grad


def _numgrad_wrong(kind):
    def f(f, x, h=1e-4):
        x = np.array(x, copy=True)
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
            gflat[i] = {"forward": (up - base) / h, "h": (up - down) / h, "sign": (down - up) / (2 * h)}[kind]
        return grad
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


# ----------------------------------------------------------------------------- optimizers
def run_optimizer(cls, args):
    """θ after each of the steps: the optimizer built on one parameter θ₀, fed the given gradients."""
    p = Tensor(args["theta"].copy(), requires_grad=True)
    opt = cls([p], **args["hparams"])
    out = []
    for g in args["grads"]:
        p.grad = g.copy()
        opt.step()
        out.append(np.array(p.data, copy=True))
    return np.stack(out)


def _opt_cases(hparams):
    """Cases for an optimizer: θ₀ and 6 gradients; ``hparams(rng, hidden, k)`` draws the hyperparameters."""
    def cases(rng, hidden):
        out = []
        for k in range(4 if hidden else 2):
            dt = _dtype(rng, hidden)
            shape = _shape(rng, hidden, public=[(3,), (2, 2)][k % 2])
            scale = float(rng.choice([0.01, 0.1, 1.0])) if hidden else [1.0, 0.05][k % 2]
            out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                        {"theta": rng.standard_normal(shape).astype(dt),
                         "grads": [(scale * rng.standard_normal(shape)).astype(dt) for _ in range(6)],
                         "hparams": hparams(rng, hidden, k)}))
        return out
    return cases


def _lr(rng, hidden, default=0.1):
    return round(float(rng.uniform(0.01, 0.5)), 4) if hidden else default


def _mom(rng, hidden, default=0.9):
    return round(float(rng.uniform(0.5, 0.95)), 4) if hidden else default


def _variant(base, update, name):
    return type(name, (base,), {"update": update, "__doc__": f"wrong variant of {base.__name__}: {name}"})


def _opt_signature(cls_name, init_line, init_body):
    return (f"class {cls_name}(Optimizer):", f"    def __init__{init_line}:\n{init_body}")


register(Exercise(
    "SGD", "optimizer", "SGD", SAITO,
    "class SGD(Optimizer):\n    def __init__(self, params, lr=0.01, **common):\n"
    "        super().__init__(params, lr, **common)",
    """Stochastic gradient descent:   θ ← θ − η ∂L/∂θ        (η = self.lr)

    update(g, state, theta) returns the change Δθ (the base class adds it to θ in place).""",
    optim.SGD,
    {"sign flipped: θ ← θ + η g (gradient ascent)": _variant(optim.SGD, lambda s, g, st, th: s.lr * g, "Ascent"),
     "learning rate not applied: θ ← θ − g": _variant(optim.SGD, lambda s, g, st, th: -g, "NoLr"),
     "step uses θ instead of the gradient": _variant(optim.SGD, lambda s, g, st, th: -s.lr * th, "Theta")},
    _opt_cases(lambda rng, hidden, k: {"lr": _lr(rng, hidden)}), call=run_optimizer))


def _momentum_update(sign=-1.0, keep=True, mu=True):
    def update(self, g, state, theta):
        v = state["v"]
        new = (self.momentum if mu else 1.0) * v + sign * self.lr * g
        if keep:
            v[...] = new
        return new
    return update


register(Exercise(
    "Momentum", "optimizer", "classic momentum", SAITO,
    "class Momentum(Optimizer):\n    def __init__(self, params, lr=0.01, momentum=0.9, **common):\n"
    "        super().__init__(params, lr, **common)\n        self.momentum = momentum",
    """Classic momentum (the book's form):

        v ← α v − η ∂L/∂θ        (v₀ = 0; α = self.momentum, η = self.lr)
        θ ← θ + v

    init_state(theta) returns the per-parameter state (a dict of arrays; the velocity); update(g, state, theta)
    updates the state in place and returns Δθ.""",
    optim.Momentum,
    {"momentum sign flipped: v ← α v + η g": _variant(optim.Momentum, _momentum_update(sign=1.0), "Up"),
     "velocity not kept between steps (state not updated: plain SGD)":
         _variant(optim.Momentum, _momentum_update(keep=False), "Forget"),
     "momentum coefficient α not applied: v ← v − η g": _variant(optim.Momentum, _momentum_update(mu=False), "NoMu")},
    _opt_cases(lambda rng, hidden, k: {"lr": _lr(rng, hidden), "momentum": _mom(rng, hidden)}), call=run_optimizer))


def _ema_update(correct="t", damp=True, swap=False):
    def update(self, g, state, theta):
        beta, u, t = self.momentum, state["u"], state["t"]
        if swap:
            u[...] = (1 - beta) * u + beta * g
        else:
            u[...] = beta * u + ((1 - beta) if damp else 1.0) * g
        step = self.lr
        if self.bias_correction and correct:
            step = self.lr / (1 - beta ** (t + 1 if correct == "t+1" else t))
        return -step * u
    return update


register(Exercise(
    "EMAMomentum", "optimizer", "momentum as a moving average (± bias correction)", DLSYS,
    "class EMAMomentum(Optimizer):\n    def __init__(self, params, lr=0.1, momentum=0.9, bias_correction=False, "
    "**common):\n        super().__init__(params, lr, **common)\n        self.momentum = momentum\n"
    "        self.bias_correction = bias_correction",
    """Momentum as an exponential moving average of the gradients (the lecture's form), optionally unbiased:

        u ← β u + (1 − β) ∇θ            (u₀ = 0; β = self.momentum)
        û = u / (1 − βᵗ)  if self.bias_correction, else û = u     (t = state["t"], counted from 1)
        θ ← θ − α û                     (α = self.lr)""",
    optim.EMAMomentum,
    {"bias correction missing": _variant(optim.EMAMomentum, _ema_update(correct=None), "NoBC"),
     "bias correction with βᵗ⁺¹ (t counted from 0 twice)": _variant(optim.EMAMomentum, _ema_update("t+1"), "BCt1"),
     "(1 − β) factor missing: u ← β u + ∇θ": _variant(optim.EMAMomentum, _ema_update(damp=False), "NoDamp"),
     "β and 1 − β swapped": _variant(optim.EMAMomentum, _ema_update(swap=True), "Swap")},
    _opt_cases(lambda rng, hidden, k: {"lr": _lr(rng, hidden), "momentum": _mom(rng, hidden),
                                       "bias_correction": bool(rng.random() < 0.7) if hidden else k % 2 == 0}),
    call=run_optimizer))


def _nesterov_update(kind):
    def update(self, g, state, theta):
        mu, b = self.momentum, state["b"]
        b[...] = mu * b + g
        if kind == "plain":
            return -self.lr * b
        if kind == "nomu":
            return -self.lr * (g + b)
        return self.lr * (g + mu * b)
    return update


register(Exercise(
    "Nesterov", "optimizer", "Nesterov momentum", DLSYS + "; " + SAITO,
    "class Nesterov(Optimizer):\n    def __init__(self, params, lr=0.01, momentum=0.9, **common):\n"
    "        super().__init__(params, lr, **common)\n        self.momentum = momentum",
    """Nesterov momentum, written in the look-ahead variable (torch's form):

        b ← μ b + ∇L(θ)            (b₀ = 0; μ = self.momentum)
        θ ← θ − η (∇L(θ) + μ b)    (η = self.lr)""",
    optim.Nesterov,
    {"no look-ahead: θ ← θ − η b (plain momentum)": _variant(optim.Nesterov, _nesterov_update("plain"), "Plain"),
     "look-ahead without μ: θ ← θ − η (g + b)": _variant(optim.Nesterov, _nesterov_update("nomu"), "NoMu"),
     "sign flipped: θ ← θ + η (g + μ b)": _variant(optim.Nesterov, _nesterov_update("sign"), "Up")},
    _opt_cases(lambda rng, hidden, k: {"lr": _lr(rng, hidden), "momentum": _mom(rng, hidden)}), call=run_optimizer))


def _eps(rng, hidden, k, default):
    return float(rng.choice([1e-8, 1e-3, 0.1])) if hidden else [default, 0.1][k]


def _adagrad_update(kind):
    def update(self, g, state, theta):
        h = state["h"]
        if kind == "noacc":
            h[...] = g * g
        else:
            h += g * g
        if kind == "inside":
            return -self.lr * g / np.sqrt(h + self.eps)
        if kind == "nosqrt":
            return -self.lr * g / (h + self.eps)
        return -self.lr * g / (np.sqrt(h) + self.eps)
    return update


register(Exercise(
    "AdaGrad", "optimizer", "AdaGrad", SAITO,
    "class AdaGrad(Optimizer):\n    def __init__(self, params, lr=0.01, eps=1e-10, **common):\n"
    "        super().__init__(params, lr, **common)\n        self.eps = eps",
    """AdaGrad (the book's form, with ε added after the square root):

        h ← h + ∂L/∂θ ⊙ ∂L/∂θ               (h₀ = 0)
        θ ← θ − η ∂L/∂θ / (√h + ε)           (η = self.lr, ε = self.eps)""",
    optim.AdaGrad,
    {"ε inside the square root: √(h + ε)": _variant(optim.AdaGrad, _adagrad_update("inside"), "Inside"),
     "h not accumulated (only the last g²)": _variant(optim.AdaGrad, _adagrad_update("noacc"), "NoAcc"),
     "square root missing: η g / (h + ε)": _variant(optim.AdaGrad, _adagrad_update("nosqrt"), "NoSqrt")},
    _opt_cases(lambda rng, hidden, k: {"lr": _lr(rng, hidden), "eps": _eps(rng, hidden, k, 1e-10)}),
    call=run_optimizer))


def _rms_update(kind):
    def update(self, g, state, theta):
        a, v = self.alpha, state["v"]
        if kind == "swap":
            v[...] = (1 - a) * v + a * g * g
        elif kind == "sum":
            v += g * g
        else:
            v[...] = a * v + (1 - a) * g * g
        if kind == "inside":
            return -self.lr * g / np.sqrt(v + self.eps)
        if kind == "nosqrt":
            return -self.lr * g / (v + self.eps)
        return -self.lr * g / (np.sqrt(v) + self.eps)
    return update


register(Exercise(
    "RMSProp", "optimizer", "RMSProp", SAITO,
    "class RMSProp(Optimizer):\n    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, **common):\n"
    "        super().__init__(params, lr, **common)\n        self.alpha = alpha\n        self.eps = eps",
    """RMSProp: AdaGrad with a moving average that forgets old gradients:

        v ← α v + (1 − α) ∂L/∂θ ⊙ ∂L/∂θ      (v₀ = 0; α = self.alpha)
        θ ← θ − η ∂L/∂θ / (√v + ε)           (η = self.lr, ε = self.eps, added after the square root)""",
    optim.RMSProp,
    {"ε inside the square root: √(v + ε)": _variant(optim.RMSProp, _rms_update("inside"), "Inside"),
     "α and 1 − α swapped": _variant(optim.RMSProp, _rms_update("swap"), "Swap"),
     "square root missing: η g / (v + ε)": _variant(optim.RMSProp, _rms_update("nosqrt"), "NoSqrt"),
     "sum instead of moving average (AdaGrad)": _variant(optim.RMSProp, _rms_update("sum"), "Sum")},
    _opt_cases(lambda rng, hidden, k: {"lr": _lr(rng, hidden, 0.01), "alpha": _mom(rng, hidden, 0.99),
                                       "eps": _eps(rng, hidden, k, 1e-8)}),
    call=run_optimizer))


def _adam_update(kind):
    def update(self, g, state, theta):
        (b1, b2), m, v, t = self.betas, state["m"], state["v"], state["t"]
        if kind == "swap":
            b1, b2 = b2, b1
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        c1, c2 = (1.0, 1.0) if kind == "nobc" else (1 - b1 ** t, 1 - b2 ** t)
        if kind == "inside":
            return -self.lr * (m / c1) / np.sqrt(v / c2 + self.eps)
        if kind == "book":     # ε on the uncorrected √v, the corrections folded into the step size
            return -(self.lr * math.sqrt(c2) / c1) * m / (np.sqrt(v) + self.eps)
        if kind == "nosqrt":
            return -(self.lr * c2 / c1) * m / (np.sqrt(v) + self.eps)
        return -self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
    return update


def _adam_hparams(default_eps):
    def hp(rng, hidden, k):
        b1 = round(float(rng.uniform(0.5, 0.95)), 3) if hidden else 0.9
        b2 = round(float(rng.uniform(0.9, 0.999)), 4) if hidden else 0.999
        return {"lr": _lr(rng, hidden, 0.01), "betas": (b1, b2), "eps": _eps(rng, hidden, k, default_eps)}
    return hp


register(Exercise(
    "Adam", "optimizer", "Adam, the paper's ε placement", "Kingma & Ba 2015, Algorithm 1; " + SAITO,
    "class Adam(Optimizer):\n    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, **common):\n"
    "        super().__init__(params, lr, **common)\n        self.betas = betas\n        self.eps = eps",
    """Adam as in the paper's Algorithm 1 (ε added to the bias-corrected √v̂):

        m ← β₁ m + (1 − β₁) g,      v ← β₂ v + (1 − β₂) g²        (m₀ = v₀ = 0; (β₁, β₂) = self.betas)
        m̂ = m / (1 − β₁ᵗ),          v̂ = v / (1 − β₂ᵗ)             (t = state["t"], from 1)
        θ ← θ − α m̂ / (√v̂ + ε)                                    (α = self.lr, ε = self.eps)""",
    optim.Adam,
    {"bias correction missing": _variant(optim.Adam, _adam_update("nobc"), "NoBC"),
     "ε inside the square root: √(v̂ + ε)": _variant(optim.Adam, _adam_update("inside"), "Inside"),
     "the book's ε placement (ε on the uncorrected √v)": _variant(optim.Adam, _adam_update("book"), "Book"),
     "β₁ and β₂ swapped": _variant(optim.Adam, _adam_update("swap"), "Swap")},
    _opt_cases(_adam_hparams(1e-8)), call=run_optimizer))


class AdamBook(optim.Adam):
    """Adam in the form of *Deep Learning from Scratch* (ε on the uncorrected √v): the library's Adam with
    ``eps_on="v"``."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-7, **common):
        super().__init__(params, lr, betas=betas, eps=eps, eps_on="v", **common)


register(Exercise(
    "AdamBook", "optimizer", "Adam, the book's ε placement", SAITO,
    "class AdamBook(Optimizer):\n    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-7, **common):\n"
    "        super().__init__(params, lr, **common)\n        self.betas = betas\n        self.eps = eps",
    """Adam as the book's code writes it: the bias corrections folded into the step size, ε added to the
    uncorrected √v:

        m ← β₁ m + (1 − β₁) g,      v ← β₂ v + (1 − β₂) g²        (m₀ = v₀ = 0)
        lr_t = α √(1 − β₂ᵗ) / (1 − β₁ᵗ)                            (t = state["t"], from 1)
        θ ← θ − lr_t m / (√v + ε)""",
    AdamBook,
    {"the paper's ε placement (ε on the corrected √v̂)": _variant(AdamBook, _adam_update("paper"), "Paper"),
     "bias correction missing": _variant(AdamBook, _adam_update("nobc"), "NoBC"),
     "ε inside the square root": _variant(AdamBook, _adam_update("inside"), "Inside"),
     "lr_t without the square root: α (1 − β₂ᵗ) / (1 − β₁ᵗ)": _variant(AdamBook, _adam_update("nosqrt"), "NoSqrt")},
    _opt_cases(_adam_hparams(1e-7)), call=run_optimizer))


# ----------------------------------------------------------------------------- initializers (random)
def _draw_summary(w):
    """(std, fraction beyond 2 std): the scale and whether the draw is normal (4.6 %) or uniform (0 %)."""
    w = np.asarray(w, dtype=np.float64)
    s = float(w.std())
    return np.array([s, float(np.mean(np.abs(w) > 2 * s)) if s > 0 else 0.0])


def _init_cases(extra, small=False):
    def cases(rng, hidden):
        out = []
        for k in range(3 if hidden else 2):
            lo, hi, public = (15, 60, [(90, 30), (24, 70)]) if small else (60, 200, [(300, 100), (80, 250)])
            fi = int(rng.integers(lo, hi))
            # fan ratios chosen so that every wrong variant's std differs from the others' by > 5 %
            fi, fo = (fi, max(2, round(fi * float(rng.choice([0.25, 0.4, 4.0, 6.0]))))) if hidden else public[k]
            out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                        {"shape": (fi, fo), "seed": int(rng.integers(2**31)), "dtype": _dtype(rng, hidden),
                         **extra(rng, hidden, k)}))
        return out
    return cases


def _random_call(impl, args):
    """Draw twice from Generators of the same seed: the two must agree (the draw uses the rng argument)."""
    kw = {k: v for k, v in args.items() if k != "seed"}
    a = impl(rng=np.random.default_rng(args["seed"]), **kw)
    b = impl(rng=np.random.default_rng(args["seed"]), **kw)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and not np.array_equal(a, b):
        raise NotReproducible()
    return a


class NotReproducible(Exception):
    """Two draws with Generators of the same seed differ: the draw did not use the ``rng`` argument."""


def _gain(rng, hidden, k):
    # gains far from √3 and 1: "gain not applied" and "the normal's std as the bound" stay distinguishable
    return {"gain": float(rng.choice([0.4, 0.7, 1.5, 3.0])) if hidden else [1.0, 2.0][k]}


register(Exercise(
    "xavier_uniform", "random", "Xavier/Glorot uniform initialization", DLAI + "; " + DLSYS,
    "def xavier_uniform(shape, rng, dtype=np.float32, gain=1.0):",
    """Xavier (Glorot) uniform initialization of a weight of shape (fan_in, fan_out):

        W ~ U(−a, a),    a = gain · √(6 / (fan_in + fan_out))     (Var W = gain² · 2 / (fan_in + fan_out))

    Draw from the Generator ``rng`` (not np.random), return an array of ``shape`` and ``dtype``.""",
    schemes.xavier_uniform,
    {"fan-in only: a = gain √(6 / fan_in)": lambda shape, rng, dtype, gain: schemes.xavier_uniform(
        shape, rng, dtype, gain, mode="fan_in") * math.sqrt(2),
     "fan-out only: a = gain √(6 / fan_out)": lambda shape, rng, dtype, gain: schemes.xavier_uniform(
        shape, rng, dtype, gain, mode="fan_out") * math.sqrt(2),
     "the normal's std used as the bound: a = gain √(2 / (fan_in + fan_out))":
         lambda shape, rng, dtype, gain: schemes.xavier_uniform(shape, rng, dtype, gain / math.sqrt(3)),
     "gain not applied": lambda shape, rng, dtype, gain: schemes.xavier_uniform(shape, rng, dtype, 1.0),
     "normal instead of uniform": lambda shape, rng, dtype, gain: schemes.xavier_normal(shape, rng, dtype, gain)},
    _init_cases(_gain), call=_random_call, summary=_draw_summary))


register(Exercise(
    "he_normal", "random", "He (Kaiming) normal initialization", DLAI + "; " + SAITO,
    "def he_normal(shape, rng, dtype=np.float32):",
    """He initialization for ReLU layers, weight of shape (fan_in, fan_out):

        W ~ N(0, 2 / fan_in)          (std √(2 / fan_in))

    Draw from the Generator ``rng`` (not np.random), return an array of ``shape`` and ``dtype``.""",
    lambda shape, rng, dtype=np.float32: schemes.he_normal(shape, rng, dtype),
    {"fan-out instead of fan-in": lambda shape, rng, dtype: schemes.he_normal(shape, rng, dtype, mode="fan_out"),
     "the 2 missing: N(0, 1 / fan_in) (LeCun/Xavier)":
         lambda shape, rng, dtype: schemes.lecun_normal(shape, rng, dtype),
     "variance used as the std: N(0, (2 / fan_in)²)": lambda shape, rng, dtype: schemes.normal(
         shape, rng, dtype, std=2.0 / shape[0]),
     "uniform instead of normal": lambda shape, rng, dtype: schemes.he_uniform(shape, rng, dtype)},
    _init_cases(lambda rng, hidden, k: {}), call=_random_call, summary=_draw_summary))


def _orth_summary(w):
    """(gain, orthogonal?) with gain = rms · √max(in, out) and 1 when the rows or columns are orthonormal
    up to that gain."""
    w = np.asarray(w, dtype=np.float64)
    n = max(w.shape)
    gain = float(np.sqrt(np.mean(w * w) * n))
    m = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    ok = gain > 0 and np.max(np.abs(m / gain**2 - np.eye(m.shape[0]))) < 1e-3
    return np.array([gain, 1.0 if ok else 0.0])


register(Exercise(
    "orthogonal", "random", "orthogonal initialization", DLAI + "; Saxe et al. 2014",
    "def orthogonal(shape, rng, dtype=np.float32, gain=1.0):",
    """A (semi-)orthogonal weight of shape (fan_in, fan_out), scaled by ``gain``:

        A ~ N(0, 1)^(fan_in × fan_out),   Q R = A (QR; fix each column's sign by sign(diag R)),   W = gain · Q
        so Wᵀ W = gain² I when fan_in ≥ fan_out, W Wᵀ = gain² I otherwise.

    Draw from the Generator ``rng`` (not np.random), return an array of ``shape`` and ``dtype``.""",
    schemes.orthogonal,
    {"not orthogonalized (a Gaussian of the same scale)": lambda shape, rng, dtype, gain: schemes.normal(
        shape, rng, dtype, std=gain / math.sqrt(max(shape))),
     "gain not applied": lambda shape, rng, dtype, gain: schemes.orthogonal(shape, rng, dtype, 1.0),
     "gain² applied instead of gain": lambda shape, rng, dtype, gain: schemes.orthogonal(shape, rng, dtype, gain**2),
     "transposed: shape (fan_out, fan_in)": lambda shape, rng, dtype, gain: schemes.orthogonal(
         shape[::-1], rng, dtype, gain)},
    _init_cases(_gain, small=True), call=_random_call, summary=_orth_summary, tol={"rtol": 0.02, "atol": [0.0, 0.1]}))


# ----------------------------------------------------------------------------- signal propagation
def layer_variances(q0, sigma_w2, sigma_b2, depth, activation):
    """q^l for l = 1..depth by the length map (mlplab.theory.maps.length_map)."""
    q, out = float(q0), []
    for _ in range(depth):
        q = float(maps.length_map(q, sigma_w2, sigma_b2, activation))
        out.append(q)
    return np.array(out)


def _lv_wrong(kind):
    def f(q0, sigma_w2, sigma_b2, depth, activation):
        q, out = float(q0), []
        for _ in range(depth):
            if kind == "first":
                out.append(q)
            if kind == "linear":
                q = sigma_w2 * q + sigma_b2
            elif kind == "point":
                phi = {"relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh}[activation]
                q = sigma_w2 * float(gauss.expect(phi, q)) ** 2 + sigma_b2
            else:
                q = float(maps.length_map(q, sigma_w2, 0.0 if kind == "nob" else sigma_b2, activation))
            if kind != "first":
                out.append(q)
        return np.array(out)
    return f


def _lv_cases(rng, hidden):
    out = []
    for k in range(4 if hidden else 2):
        act = ("relu", "tanh")[k % 2]
        out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                    {"q0": round(float(rng.uniform(0.2, 3.0)), 3) if hidden else 1.0,
                     "sigma_w2": round(float(rng.uniform(0.8, 3.0)), 3) if hidden else [2.0, 1.5][k],
                     "sigma_b2": round(float(rng.uniform(0.01, 0.5)), 3) if hidden else 0.1,
                     "depth": int(rng.integers(3, 9)) if hidden else 5, "activation": act}))
    return out


register(Exercise(
    "layer_variances", "function", "the variance recursion through a deep ReLU/tanh network", SCHOENHOLZ,
    "def layer_variances(q0, sigma_w2, sigma_b2, depth, activation):",
    """Predict the variance of each layer's pre-activations in a wide network with weights N(0, σ_w²/n) and
    biases N(0, σ_b²), from the input's q⁰ (the length map):

        q^l = σ_w² E_z[φ(√q^(l−1) z)²] + σ_b²,     z ~ N(0, 1),   l = 1..depth

    activation is "relu" (E[relu(√q z)²] = q/2) or "tanh" (compute the Gaussian expectation numerically, e.g.
    Gauss–Hermite quadrature: np.polynomial.hermite_e.hermegauss). Return the float64 array (q¹, …, q^depth).""",
    layer_variances,
    {"activation ignored (the linear network's q ← σ_w² q + σ_b²)": _lv_wrong("linear"),
     "σ_b² dropped": _lv_wrong("nob"),
     "off by one: returns q⁰ … q^(depth−1)": _lv_wrong("first"),
     "the square of the mean E[φ]² instead of the mean of the square E[φ²]": _lv_wrong("point")},
    _lv_cases, tol={"rtol": 1e-6, "atol": 1e-9}))


def critical_sigma_w2(sigma_b2):
    """σ_w² on tanh's critical line χ₁ = 1 for each σ_b² (mlplab.theory.critical.critical_line)."""
    return critical_line(np.asarray(sigma_b2, dtype=float), "tanh")[0]


def _crit_wrong(kind):
    def f(sigma_b2):
        sb2 = np.asarray(sigma_b2, dtype=float)
        if kind == "one":
            return np.ones_like(sb2)
        q = sb2 if kind == "qb" else np.ones_like(sb2)
        return 1.0 / maps.derivative_mean_square("tanh", np.maximum(q, 1e-300))
    return f


register(Exercise(
    "critical_sigma_w2", "function", "the critical σ_w² of a tanh network", SCHOENHOLZ,
    "def critical_sigma_w2(sigma_b2):",
    """The edge of chaos for tanh: for each σ_b² (a float64 array), the σ_w² with χ₁ = 1 at the fixed point q*:

        q* = σ_w² E_z[tanh(√q* z)²] + σ_b²,       χ₁ = σ_w² E_z[tanh′(√q* z)²] = 1

    (solve both together: e.g. for a trial q*, σ_w² = 1 / E[tanh′(√q* z)²] and σ_b² = q* − σ_w² E[tanh(√q* z)²];
    find the q* that gives the wanted σ_b²). Return an array of σ_b²'s shape.""",
    critical_sigma_w2,
    {"σ_b² ignored (σ_w² = 1, right only at σ_b² = 0)": _crit_wrong("one"),
     "χ₁ taken at q = σ_b² instead of the fixed point q*": _crit_wrong("qb"),
     "χ₁ taken at q = 1 instead of the fixed point q*": _crit_wrong("q1")},
    lambda rng, hidden: [(f"hidden-{k + 1}", {"sigma_b2": np.round(rng.uniform(0.01, 0.3, int(rng.integers(2, 6))), 4)})
                         for k in range(2)] if hidden else [("public-1", {"sigma_b2": np.array([0.0, 0.05, 0.2])}),
                                                            ("public-2", {"sigma_b2": np.array([0.01, 0.5])})],
    tol={"rtol": 1e-5, "atol": 1e-8}))


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
