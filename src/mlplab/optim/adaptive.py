"""Adaptive rules that scale each coordinate by its gradient history: AdaGrad, RMSProp, Adam,
AdamW and NAdam (*Deep Learning from Scratch* ch. 6; the papers cited in each class).
"""

from __future__ import annotations

import math

import numpy as np

from .base import Optimizer, _at_least_zero, _betas, _positive, _unit_interval


class AdaGrad(Optimizer):
    """AdaGrad (*Deep Learning from Scratch*, ch. 6): per-component step sizes that shrink with the
    gradients seen so far::

        h ← h + ∇L ⊙ ∇L            (h₀ = initial_accumulator_value)
        θ ← θ − η ∇L / (√h + ε)

    h sums every squared gradient ever seen, so η/√h only shrinks: on a long run the steps go
    to zero (RMSProp's moving average forgets instead). The book's formula has η/√h without ε; its
    code adds ε = 1e-7 (``AdaGrad(lr, eps=1e-7)`` reproduces it step for step).
    Defaults lr 0.01 (the book's), eps 1e-10 and initial accumulator 0 (torch's; equals
    ``torch.optim.Adagrad``). Keras uses initial_accumulator_value 0.1 and eps 1e-7; the source
    book uses eps 1e-7. Reference: Duchi, Hazan, Singer, JMLR 2011.
    """

    hparams = ("eps", "initial_accumulator_value")

    def __init__(self, params, lr=0.01, eps=1e-10, initial_accumulator_value=0.0, **common):
        super().__init__(params, lr, **common)
        self.eps = _positive("eps", eps)
        self.initial_accumulator_value = _at_least_zero("initial_accumulator_value", initial_accumulator_value)

    def init_state(self, theta):
        return {"h": np.full_like(theta, self.initial_accumulator_value)}

    def update(self, g, state, theta):
        h = state["h"]
        h += g * g
        return -self.lr * g / (np.sqrt(h) + self.eps)


class RMSProp(Optimizer):
    """RMSProp: AdaGrad with a moving average that forgets old gradients::

        v ← α v + (1 − α) ∇L²                       (v₀ = 0)
        m ← α m + (1 − α) ∇L        if centered      (m₀ = 0)
        v̂, m̂ = v / (1 − αᵗ), m / (1 − αᵗ)  if bias_correction, else v, m
        s = √(v̂ − m̂²) + ε   (centered)   or   √v̂ + ε
        b ← μ b + ∇L / s,  θ ← θ − η b    if momentum μ > 0,  else  θ ← θ − η ∇L / s

    Defaults lr 0.01, alpha 0.99, eps 1e-8 (added after the square root), bias_correction off:
    equals ``torch.optim.RMSprop``. Keras (``rho`` 0.9, lr 0.001) adds ε *inside* the square
    root, √(v + ε); *Deep Learning from Scratch* uses eps 1e-7 outside (``RMSProp(lr, alpha=0.99,
    eps=1e-7)`` reproduces its RMSprop step for step). ``bias_correction=True`` (not in
    torch) makes RMSProp equal to Adam with β1 = 0. Reference: Hinton, Coursera lecture 6e (2012);
    centered: Graves, arXiv:1308.0850.
    """

    hparams = ("alpha", "eps", "centered", "momentum", "bias_correction")

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, centered=False, momentum=0.0,
                 bias_correction=False, **common):
        super().__init__(params, lr, **common)
        self.alpha = _unit_interval("alpha", alpha)
        self.eps = _positive("eps", eps)
        self.centered = bool(centered)
        self.momentum = _unit_interval("momentum", momentum)
        self.bias_correction = bool(bias_correction)

    def init_state(self, theta):
        state = {"v": np.zeros_like(theta)}
        if self.centered:
            state["m"] = np.zeros_like(theta)
        if self.momentum > 0:
            state["b"] = np.zeros_like(theta)
        return state

    def update(self, g, state, theta):
        alpha, v = self.alpha, state["v"]
        np.multiply(v, alpha, out=v)
        v += (1.0 - alpha) * (g * g)
        c = 1.0 / (1.0 - alpha ** state["t"]) if self.bias_correction else 1.0
        if self.centered:
            m = state["m"]
            np.multiply(m, alpha, out=m)
            m += (1.0 - alpha) * g
            # v̂ − m̂² is a variance, ≥ 0 in exact arithmetic; with bias correction and a near-constant
            # gradient both terms equal g² and rounding can leave −1 ulp, whose square root is NaN
            s = np.sqrt(np.maximum(v * c - (m * c) ** 2, 0.0))
        else:
            s = np.sqrt(v * c) if c != 1.0 else np.sqrt(v)
        s += self.eps
        if self.momentum > 0:
            b = state["b"]
            np.multiply(b, self.momentum, out=b)
            b += g / s
            return -self.lr * b
        return -self.lr * g / s


class Adam(Optimizer):
    """Adam: momentum (first moment) scaled by an RMS of the gradients (second moment)::

        m ← β1 m + (1 − β1) ∇L                     (m₀ = 0)
        v ← β2 v + (1 − β2) ∇L²                    (v₀ = 0)
        v ← max(v_max, v)                          (amsgrad only; the running maximum)
        m̂ = m / (1 − β1ᵗ),  v̂ = v / (1 − β2ᵗ)      (bias correction; off: m̂ = m, v̂ = v)

        eps_on="v_hat" (default):  θ ← θ − η m̂ / (√v̂ + ε)
        eps_on="v":                θ ← θ − η_t m / (√v + ε),   η_t = η √(1 − β2ᵗ) / (1 − β1ᵗ)

    The two forms differ only in where ε enters. ``"v_hat"`` adds it to the corrected √v̂: the
    paper's Algorithm 1 and ``torch.optim.Adam`` (equal to it with the defaults). ``"v"`` is the
    form of *Deep Learning from Scratch* (ch. 6, its ``Adam`` class, with ε = 1e-7) and of Keras:
    the bias corrections are folded into the step size η_t and ε is added to the *uncorrected*
    √v. Written in m̂ and v̂ that is θ ← θ − η m̂ / (√v̂ + ε / √(1 − β2ᵗ)): early on, while
    1 − β2ᵗ is small, the effective ε is much larger (×31.6 at t = 1 with β2 = 0.999), which
    damps the first steps of parameters whose gradients are comparable to ε. Without bias
    correction the two forms coincide.

    The *Deep Learning Systems* lecture writes Adam without bias correction (``bias_correction=False``
    gives that form). Defaults lr 0.001, betas (0.9, 0.999), eps 1e-8,
    eps_on "v_hat": equals ``torch.optim.Adam``; the book's optimizer is
    ``Adam(lr=0.001, eps=1e-7, eps_on="v")``. With β1 = 0 this is
    RMSProp(alpha=β2, bias_correction=True). Reference: Kingma & Ba, ICLR 2015; AMSGrad: Reddi,
    Kale, Kumar, ICLR 2018.
    """

    hparams = ("betas", "eps", "amsgrad", "bias_correction", "eps_on")
    _eps_forms = ("v_hat", "v")

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, amsgrad=False,
                 bias_correction=True, eps_on="v_hat", **common):
        super().__init__(params, lr, **common)
        self.betas = _betas(betas)
        self.eps = _positive("eps", eps)
        self.amsgrad = bool(amsgrad)
        self.bias_correction = bool(bias_correction)
        if eps_on not in self._eps_forms:
            raise ValueError(f"Invalid eps_on: {eps_on!r} (must be 'v_hat', ε added to the corrected √v̂ as in "
                             "torch, or 'v', ε added to √v as in Deep Learning from Scratch)")
        self.eps_on = eps_on

    def init_state(self, theta):
        state = {"m": np.zeros_like(theta), "v": np.zeros_like(theta)}
        if self.amsgrad:
            state["v_max"] = np.zeros_like(theta)
        return state

    def update(self, g, state, theta):
        (b1, b2), m, v, t = self.betas, state["m"], state["v"], state["t"]
        m *= b1                    # m ← β1 m + (1 − β1) g   (in place: the moments live in the state)
        m += (1.0 - b1) * g
        v *= b2                    # v ← β2 v + (1 − β2) g²
        v += (1.0 - b2) * (g * g)
        if self.amsgrad:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        c1, c2 = (1.0 - b1 ** t, 1.0 - b2 ** t) if self.bias_correction else (1.0, 1.0)
        # The step is computed in two fresh buffers (its numerator and its denominator), in the
        # order of the formula, so the result is bit-identical to writing it in one expression
        # while a 4M-parameter step allocates two arrays instead of six.
        if self.eps_on == "v":     # the book's form: the corrections go into the step size
            lr_t = self.lr * math.sqrt(c2) / c1
            step, denom = -lr_t * m, np.sqrt(v)          # −η_t m  and  √v + ε
            denom += self.eps
            step /= denom
            return step
        m_hat = m / c1                                   # m̂ = m / (1 − β1ᵗ)
        v_hat = v / c2                                   # v̂ = v / (1 − β2ᵗ)
        denom = np.sqrt(v_hat, out=v_hat)                # √v̂ + ε  (in v̂'s buffer)
        denom += self.eps
        m_hat *= -self.lr                                # −η m̂ / (√v̂ + ε)
        m_hat /= denom
        return m_hat


class AdamW(Adam):
    """Adam with decoupled weight decay::

        θ ← θ − η λ θ                    (before the Adam step; not added to the gradient)
        θ ← θ − η m̂ / (√v̂ + ε)          (the Adam rule on the raw gradient)

    With L2 decay in Adam (``Adam(weight_decay=λ)``) the decay term is divided by √v̂ like the
    gradient, so parameters with large gradients are hardly decayed; AdamW decays all alike.
    Defaults as Adam, weight_decay 0.01: equals ``torch.optim.AdamW``.
    Reference: Loshchilov & Hutter, ICLR 2019.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                 amsgrad=False, **common):
        super().__init__(params, lr, betas=betas, eps=eps, amsgrad=amsgrad, weight_decay=weight_decay,
                         **common)


class NAdam(Optimizer):
    """Adam with Nesterov momentum (torch's formulation, with its momentum-decay schedule)::

        μ_t = β1 (1 − ½ · 0.96^(t ψ)),  Π_t = μ_1 ⋯ μ_t       (ψ = momentum_decay)
        m ← β1 m + (1 − β1) ∇L,   v ← β2 v + (1 − β2) ∇L²
        v̂ = v / (1 − β2ᵗ)
        θ ← θ − η [ (1 − μ_t)/(1 − Π_t) ∇L + μ_{t+1}/(1 − Π_t μ_{t+1}) m ] / (√v̂ + ε)

    The gradient term is the "look-ahead": the current gradient enters the step at once instead
    of only through m. Defaults lr 0.002, betas (0.9, 0.999), eps 1e-8, momentum_decay 4e-3:
    equals ``torch.optim.NAdam``. Keras' Nadam uses the same μ schedule with eps 1e-7.
    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """

    hparams = ("betas", "eps", "momentum_decay")

    def __init__(self, params, lr=0.002, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3, **common):
        super().__init__(params, lr, **common)
        self.betas = _betas(betas)
        self.eps = _positive("eps", eps)
        self.momentum_decay = _at_least_zero("momentum_decay", momentum_decay)

    def init_state(self, theta):
        return {"m": np.zeros_like(theta), "v": np.zeros_like(theta), "mu_product": 1.0}

    def update(self, g, state, theta):
        (b1, b2), m, v, t = self.betas, state["m"], state["v"], state["t"]
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        state["mu_product"] = prod = state["mu_product"] * mu
        np.multiply(m, b1, out=m)
        m += (1.0 - b1) * g
        np.multiply(v, b2, out=v)
        v += (1.0 - b2) * (g * g)
        denom = np.sqrt(v / (1.0 - b2 ** t))
        denom += self.eps
        direction = ((1.0 - mu) / (1.0 - prod)) * g + (mu_next / (1.0 - prod * mu_next)) * m
        return -self.lr * direction / denom
