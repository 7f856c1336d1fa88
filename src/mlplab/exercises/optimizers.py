"""The optimizer exercises (SGD, classic/EMA/Nesterov momentum, AdaGrad, RMSProp, Adam in the paper's and the
book's forms). An optimizer's solution *is* the library's class (:mod:`mlplab.optim`); each wrong variant is a
subclass whose ``update`` makes the mistake. Graded by the trajectory of θ over six steps on given gradients."""

from __future__ import annotations

import math

import numpy as np

from .. import optim
from ..tensor import Tensor
from .base import DLSYS, REGISTRY, SAITO, Exercise, _dtype, _shape, register

_BEFORE = set(REGISTRY)


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


def _scaled_step(lr, g, acc, eps, kind):
    """−η g / (√acc + ε), the step AdaGrad, RMSProp and Adam share, or one of its known mistakes: ε inside the
    square root ("inside": −η g / √(acc + ε)) or the square root missing ("nosqrt": −η g / (acc + ε))."""
    if kind == "inside":
        return -lr * g / np.sqrt(acc + eps)
    if kind == "nosqrt":
        return -lr * g / (acc + eps)
    return -lr * g / (np.sqrt(acc) + eps)


def _accumulating_update(key, accumulate, kind):
    """The wrong ``update`` of an accumulator optimizer: ``accumulate(self, acc, g, kind)`` advances
    ``state[key]`` in place, then :func:`_scaled_step` makes the step in the form ``kind``."""
    def update(self, g, state, theta):
        accumulate(self, state[key], g, kind)
        return _scaled_step(self.lr, g, state[key], self.eps, kind)
    return update


def _adagrad_accumulate(self, h, g, kind):
    if kind == "noacc":
        h[...] = g * g
    else:
        h += g * g


def _adagrad_update(kind):
    return _accumulating_update("h", _adagrad_accumulate, kind)


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


def _rms_accumulate(self, v, g, kind):
    a = self.alpha
    if kind == "swap":
        v[...] = (1 - a) * v + a * g * g
    elif kind == "sum":
        v += g * g
    else:
        v[...] = a * v + (1 - a) * g * g


def _rms_update(kind):
    return _accumulating_update("v", _rms_accumulate, kind)


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
        if kind == "book":     # ε on the uncorrected √v, the corrections folded into the step size
            return -(self.lr * math.sqrt(c2) / c1) * m / (np.sqrt(v) + self.eps)
        if kind == "nosqrt":
            return -(self.lr * c2 / c1) * m / (np.sqrt(v) + self.eps)
        return _scaled_step(self.lr, m / c1, v / c2, self.eps, "inside" if kind == "inside" else "")
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


NAMES = [n for n in REGISTRY if n not in _BEFORE]  # this topic's exercises, in the order written
