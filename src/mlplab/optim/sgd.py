"""First-order rules without per-coordinate scaling: SGD and the momentum forms (classic,
EMA, Nesterov and the lecture's look-ahead Nesterov). How they relate to torch.optim is the table
in :mod:`mlplab.optim`'s docstring.
"""

from __future__ import annotations

import numpy as np

from .base import Optimizer, _unit_interval


# ------------------------------------------------------------------------------ first-order methods
class SGD(Optimizer):
    """Stochastic gradient descent (*Deep Learning from Scratch*, ch. 6; CMU 10-414/714 *Deep Learning
    Systems*, the lecture on optimization):  θ ← θ − η ∇L(θ).

    Default lr 0.01 (*Deep Learning from Scratch*'s). Equals ``torch.optim.SGD(lr)``.
    """

    def __init__(self, params, lr=0.01, **common):
        super().__init__(params, lr, **common)

    def update(self, g, state, theta):
        return -self.lr * g


class Momentum(Optimizer):
    """Classic momentum, the form of *Deep Learning from Scratch*, ch. 6 (and of Keras' SGD)::

        v ← μ v − η ∇L(θ)        (v₀ = 0)
        θ ← θ + v

    Defaults lr 0.01, momentum μ 0.9 (*Deep Learning from Scratch*'s). Relation to torch: ``torch.optim.SGD(
    lr=η, momentum=μ)`` keeps b ← μb + g and steps θ ← θ − ηb, so v = −ηb and the two agree
    exactly **while η is constant**. When a schedule changes η they differ: here the velocity
    keeps the steps taken at the old η, torch rescales the whole buffer by the new η at once.
    Reference: Polyak (1964); Sutskever et al., ICML 2013, eq. (1)-(2).
    """

    hparams = ("momentum",)

    def __init__(self, params, lr=0.01, momentum=0.9, **common):
        super().__init__(params, lr, **common)
        self.momentum = _unit_interval("momentum", momentum)

    def init_state(self, theta):
        return {"v": np.zeros_like(theta)}

    def update(self, g, state, theta):
        v = state["v"]
        np.multiply(v, self.momentum, out=v)
        v -= self.lr * g
        return v


class EMAMomentum(Optimizer):
    """Momentum as a moving average of gradients, optionally "unbiased" (the form of CMU 10-414/714
    *Deep Learning Systems*, the lecture on fully-connected networks, optimization and initialization)::

        u ← β u + (1 − β) ∇L(θ)          (u₀ = 0)
        û = u / (1 − βᵗ)   if bias_correction, else û = u
        θ ← θ − η û

    u is a weighted average of past gradients, so η keeps its meaning as a step size. Starting
    from u₀ = 0 makes the first steps small (u₁ = (1−β)g); bias correction divides that out, so
    the first step is a full gradient step (the lecture's "unbiased momentum"; it writes the divisor
    1 − β^{t+1} with t counted from 0, here t counts from 1).

    Defaults lr 0.1, momentum β 0.9: at constant η this equals classic :class:`Momentum` with
    lr η(1−β) = 0.01. torch: equals ``SGD(lr=η(1−β), momentum=β)`` for any η schedule (torch's
    dampening=β does *not* give this: torch starts its buffer undamped, b₁ = g₁).
    With β = 0 this is SGD.
    """

    hparams = ("momentum", "bias_correction")

    def __init__(self, params, lr=0.1, momentum=0.9, bias_correction=False, **common):
        super().__init__(params, lr, **common)
        self.momentum = _unit_interval("momentum", momentum)
        self.bias_correction = bool(bias_correction)

    def init_state(self, theta):
        return {"u": np.zeros_like(theta)}

    def update(self, g, state, theta):
        beta, u = self.momentum, state["u"]
        np.multiply(u, beta, out=u)
        u += (1.0 - beta) * g
        step = self.lr / (1.0 - beta ** state["t"]) if self.bias_correction else self.lr
        return -step * u


class Nesterov(Optimizer):
    """Nesterov momentum in torch's form::

        b ← μ b + ∇L(θ)            (b₀ = 0)
        θ ← θ − η (∇L(θ) + μ b)

    Equals ``torch.optim.SGD(lr=η, momentum=μ, nesterov=True)`` for any η schedule. It is
    Sutskever's look-ahead form  v ← μv − η∇L(θ + μv), θ ← θ + v  rewritten in the variable
    φ = θ + μv (the look-ahead point), which is what the parameters hold: the gradient is then
    taken at the parameters themselves. (Exact while η is constant.)
    Defaults lr 0.01, momentum μ 0.9. Reference: Nesterov (1983); Sutskever et al., ICML 2013.
    """

    hparams = ("momentum",)

    def __init__(self, params, lr=0.01, momentum=0.9, **common):
        super().__init__(params, lr, **common)
        self.momentum = _unit_interval("momentum", momentum)

    def init_state(self, theta):
        return {"b": np.zeros_like(theta)}

    def update(self, g, state, theta):
        mu, b = self.momentum, state["b"]
        np.multiply(b, mu, out=b)
        b += g
        return -self.lr * (g + mu * b)


class NesterovEMA(Optimizer):
    """Nesterov momentum in the look-ahead form of the *Deep Learning Systems* lecture (moving-average
    momentum)::

        u ← β u + (1 − β) ∇L(θ − η u)      (u₀ = 0)
        θ ← θ − η u

    The gradient is wanted at the look-ahead point φ = θ − ηu, so the *parameters hold φ*: the
    gradient the trainer computes is then exactly ∇L(θ − ηu). Each step recovers θ = φ + η'u
    (η' the lr of the previous step), applies the rule, and stores φ = θ − ηu again. Start:
    u₀ = 0, so φ₀ = θ₀. ``iterates()`` returns θ. With a schedule, the look-ahead uses the lr of
    the previous step (the next one is not known when φ is stored).

    Relation to torch: the lecture looks ahead by the whole previous step ηu; Sutskever/torch look
    ahead by the momentum part of the *next* step, βηu. With that look-ahead the rule would equal
    :class:`Nesterov` / torch ``SGD(lr=η(1−β), momentum=β, nesterov=True)``; with the lecture's
    look-ahead it is a (slightly more aggressive) variant with no torch counterpart.
    Defaults lr 0.1, momentum β 0.9.
    """

    hparams = ("momentum",)

    def __init__(self, params, lr=0.1, momentum=0.9, **common):
        super().__init__(params, lr, **common)
        self.momentum = _unit_interval("momentum", momentum)

    def init_state(self, theta):
        return {"u": np.zeros_like(theta), "lr_prev": 0.0}

    def update(self, g, state, theta):
        beta, u, lr = self.momentum, state["u"], self.lr
        back = state["lr_prev"] * u          # φ → θ
        np.multiply(u, beta, out=u)
        u += (1.0 - beta) * g
        state["lr_prev"] = lr
        back -= (2.0 * lr) * u               # θ ← θ − ηu, then φ ← θ − ηu
        return back

    def iterates(self):
        return [p.data.copy() if s is None else p.data + s["lr_prev"] * s["u"]
                for p, s in zip(self.params, self.state)]
