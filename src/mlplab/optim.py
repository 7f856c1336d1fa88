"""Parameter-update rules, each written like its formula.

Every optimizer is a small class with two methods of pure math, in the notation of the source
texts: ``init_state(θ)`` creates the per-parameter state (zeros like θ) and ``update(g, state, θ)``
advances that state in place and returns the change Δθ. The base class :class:`Optimizer` does
everything else, identically for all of them:

1. gradient clipping, by value (``clip_value``: g ← clip(g, −c, c)) and/or by global norm
   (``clip_norm``: g ← g · min(1, c / (‖g‖ + 1e-6)) over all parameters together, the formula of
   ``torch.nn.utils.clip_grad_norm_``);
2. L2 weight decay ``g ← g + λθ`` (the gradient of λ/2‖θ‖², as torch's ``weight_decay``), or the
   decoupled form ``θ ← θ − ηλθ`` for :class:`AdamW`;
3. the step count ``t`` (per parameter, starting at 1 on its first update), then
   ``p.data += Δθ`` **in place** (parameters may be views into a larger array, so ``p.data`` is
   never rebound). ``p.grad`` is never modified: clipping and weight decay make new arrays.

Parameters whose ``grad`` is None are skipped. ``lr`` is a plain attribute that schedules
(:mod:`mlplab.schedules`) overwrite between steps. ``state_dict()`` holds the hyperparameters, the
step counts and copies of every state array, so a run resumed from it continues exactly.

How the forms relate (η = lr; the tests check every equality listed here against torch.optim)::

    classic Momentum  v ← μv − ηg, θ ← θ + v       = torch SGD(momentum=μ) while η is constant
    EMA momentum      u ← βu + (1−β)g, θ ← θ − ηu  = torch SGD(lr=η(1−β), momentum=β), any η_t
                      and, at constant η, = classic Momentum with lr η(1−β)
    Nesterov          b ← μb + g, θ ← θ − η(g + μb) = torch SGD(momentum=μ, nesterov=True)
    NesterovEMA       the texts' look-ahead form (gradient at θ − ηu); see its docstring
    Adam with β1 = 0  = RMSProp(alpha=β2, bias_correction=True)
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from .activations import normalize_name
from .schedules import SCHEDULES, CosineLR, ExponentialLR, InverseTimeLR, Schedule, StepLR, WarmupCosineLR, get_schedule
from .tensor import Tensor, enable_grad
from .tensor import grad as _autograd
from .tensor import hessian as _hessian

__all__ = [
    "Optimizer", "SGD", "Momentum", "EMAMomentum", "Nesterov", "NesterovEMA", "AdaGrad", "RMSProp",
    "Adam", "AdamW", "NAdam", "Newton", "OPTIMIZERS", "OPTIMIZER_ALIASES", "DEFAULT_HPARAMS", "get_optimizer",
    "canonical_optimizer", "optimizer_defaults", "optimizer_info", "optimizer_settings",
    # learning-rate schedules (defined in mlplab.schedules)
    "Schedule", "StepLR", "ExponentialLR", "InverseTimeLR", "CosineLR", "WarmupCosineLR", "SCHEDULES",
    "get_schedule",
]


# ------------------------------------------------------------------------------ validation
def _at_least_zero(name, value):
    if not value >= 0:  # written this way so that NaN fails too
        raise ValueError(f"Invalid {name}: {value} (must be >= 0)")
    return float(value)


def _positive(name, value):
    if not value > 0:
        raise ValueError(f"Invalid {name}: {value} (must be > 0)")
    return float(value)


def _unit_interval(name, value):
    if not 0 <= value < 1:
        raise ValueError(f"Invalid {name}: {value} (must be in [0, 1))")
    return float(value)


def _betas(betas):
    b1, b2 = betas
    return _unit_interval("beta1 (betas[0])", b1), _unit_interval("beta2 (betas[1])", b2)


# ------------------------------------------------------------------------------ the base class
class Optimizer:
    """Base class: clipping, weight decay, step counts, in-place mutation and state handling.

    Args:
        params: an iterable of Tensors (or an object with ``.parameters()``, such as a Module).
        lr: learning rate η >= 0 (readable and writable: schedules set it).
        weight_decay: L2 coefficient λ >= 0, added to the gradient as λθ.
        clip_value: if given (> 0), clip each gradient component to [−clip_value, clip_value].
        clip_norm: if given (> 0), rescale all gradients together so their global L2 norm is at
            most clip_norm (applied after clip_value).

    Subclasses set ``hparams`` (their extra constructor arguments, saved by ``state_dict``) and
    implement ``init_state(theta) -> dict`` and ``update(g, state, theta) -> Δθ``. ``update`` may
    modify the arrays in ``state`` but never ``g`` or ``theta``; ``state['t']`` is the step number.
    """

    hparams: tuple[str, ...] = ()
    decoupled_weight_decay = False

    def __init__(self, params, lr, weight_decay=0.0, clip_value=None, clip_norm=None):
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors; wrap a "
                            "single Tensor in a list")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: params[{i}] is a {type(p).__name__}, not a Tensor")
        self.lr = lr
        self.weight_decay = _at_least_zero("weight_decay", weight_decay)
        self.clip_value = None if clip_value is None else _positive("clip_value", clip_value)
        self.clip_norm = None if clip_norm is None else _positive("clip_norm", clip_norm)
        self.t = 0  # number of step() calls
        self.state: list[dict | None] = [None] * len(self.params)

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _at_least_zero("learning rate lr", value)

    # -------------------------------------------------------------- the math (subclasses)
    def init_state(self, theta) -> dict:
        return {}

    def update(self, g, state, theta):  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------- the mechanics
    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _clipped_grads(self):
        grads = [p.grad for p in self.params]
        if self.clip_value is not None:
            c = self.clip_value
            grads = [None if g is None else np.clip(g, -c, c) for g in grads]
        if self.clip_norm is not None:
            total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads if g is not None))
            coef = self.clip_norm / (total + 1e-6)
            if coef < 1.0:
                grads = [None if g is None else g * coef for g in grads]
        return grads

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional) recomputes
        the loss and the gradients (zero_grad, forward, backward) and its value is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        lr, wd = self._lr, self.weight_decay
        for i, (p, g) in enumerate(zip(self.params, self._clipped_grads())):
            if g is None:
                continue
            state = self.state[i]
            if state is None:
                state = self.state[i] = {"t": 0, **self.init_state(p.data)}
            state["t"] += 1
            if wd:
                if self.decoupled_weight_decay:
                    p.data *= 1.0 - lr * wd
                else:
                    g = g + wd * p.data
            p.data += self.update(g, state, p.data)
        self.t += 1
        return loss

    def iterates(self):
        """The iterate θ_t of the update rule for each parameter (copies). This is ``p.data``
        except for :class:`NesterovEMA`, whose parameters hold the look-ahead point."""
        return [p.data.copy() for p in self.params]

    # -------------------------------------------------------------- saving and resuming
    def _hparam_dict(self):
        names = ("lr", "weight_decay", "clip_value", "clip_norm") + self.hparams
        return {n: getattr(self, n) for n in names}

    def state_dict(self):
        """Plain Python/NumPy values (picklable): hyperparameters, ``t`` and per-parameter state
        (by parameter index; arrays are copies)."""
        state = {i: {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for i, s in enumerate(self.state) if s is not None}
        return {"optimizer": type(self).__name__, "hparams": self._hparam_dict(), "t": self.t,
                "state": state}

    def load_state_dict(self, d):
        name = type(self).__name__
        if d.get("optimizer") != name:
            raise ValueError(f"load_state_dict: state of a {d.get('optimizer')} cannot be loaded into a {name}")
        new_state: list[dict | None] = [None] * len(self.params)
        for i, s in d["state"].items():
            i = int(i)
            if not 0 <= i < len(self.params):
                raise ValueError(f"load_state_dict: state for parameter {i}, but the optimizer has "
                                 f"{len(self.params)} parameters")
            p = self.params[i]
            new = {}
            for k, v in s.items():
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.shape:
                        raise ValueError(f"load_state_dict: state '{k}' of parameter {i} has shape "
                                         f"{v.shape}, the parameter {p.shape}")
                    v = np.array(v, dtype=p.dtype)
                elif isinstance(v, np.ndarray | np.generic):
                    v = v.item()
                new[k] = v
            new_state[i] = new
        for k, v in d["hparams"].items():
            setattr(self, k, v)
        self.t = int(d["t"])
        self.state = new_state

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self._hparam_dict().items() if v is not None)
        return f"{type(self).__name__}({args})"


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
            s = np.sqrt(v * c - (m * c) ** 2)
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
        m̂ = m / (1 − β1ᵗ),  v̂ = v / (1 − β2ᵗ)      (bias correction; off: m̂ = m, v̂ = v)
        v̂ ← max(v̂_max, v̂)                         (amsgrad only; the running maximum)
        θ ← θ − η m̂ / (√v̂ + ε)

    001_ writes it without bias correction (``bias_correction=False`` gives that form).
    Defaults lr 0.001, betas (0.9, 0.999), eps 1e-8 added after the square root of the
    *corrected* v̂: equals ``torch.optim.Adam``. Keras adds its eps (1e-7) to √v before the
    correction, i.e. to √v̂ · √(1 − β2ᵗ), which is larger early on. With β1 = 0 this is
    RMSProp(alpha=β2, bias_correction=True). Reference: Kingma & Ba, ICLR 2015; AMSGrad: Reddi,
    Kale, Kumar, ICLR 2018.
    """

    hparams = ("betas", "eps", "amsgrad", "bias_correction")

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, amsgrad=False,
                 bias_correction=True, **common):
        super().__init__(params, lr, **common)
        self.betas = _betas(betas)
        self.eps = _positive("eps", eps)
        self.amsgrad = bool(amsgrad)
        self.bias_correction = bool(bias_correction)

    def init_state(self, theta):
        state = {"m": np.zeros_like(theta), "v": np.zeros_like(theta)}
        if self.amsgrad:
            state["v_max"] = np.zeros_like(theta)
        return state

    def update(self, g, state, theta):
        (b1, b2), m, v, t = self.betas, state["m"], state["v"], state["t"]
        # m ← β1 m + (1 − β1) g, written m += (1 − β1)(g − m) (torch's lerp); in place, one temporary
        d = np.subtract(g, m)
        d *= 1.0 - b1
        m += d
        # v ← β2 v + (1 − β2) g²
        np.multiply(g, g, out=d)
        d *= 1.0 - b2
        v *= b2
        v += d
        if self.amsgrad:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        # Δθ = −η m̂ / (√v̂ + ε) with m̂ = m / c1, √v̂ = √v / c2 (c1 = 1 − β1ᵗ, c2 = √(1 − β2ᵗ)),
        # computed as −(η c2 / c1) · m / (√v + ε c2): the same value, one pass over the arrays less
        c1, c2 = (1.0 - b1 ** t, math.sqrt(1.0 - b2 ** t)) if self.bias_correction else (1.0, 1.0)
        np.sqrt(v, out=d)
        d += self.eps * c2
        np.divide(m, d, out=d)
        d *= -self.lr * c2 / c1
        return d


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


# ------------------------------------------------------------------------------ second order
class Newton(Optimizer):
    """Newton's method (the *Deep Learning Systems* lecture on optimization) with the exact Hessian::

        θ ← θ − α (∇²L(θ) + δ I)⁻¹ ∇L(θ)

    α = ``lr`` (1.0: the full Newton step, which minimizes a quadratic in one step; α < 1:
    damped Newton), δ = ``damping`` >= 0 (Levenberg-style; 0 is plain Newton). L2 weight decay λ
    adds λθ to the gradient and λI to the Hessian. The Hessian comes from
    :func:`mlplab.tensor.hessian` over all parameters flattened together, so ``step`` needs a
    ``closure`` that recomputes and returns the scalar loss from the current parameters (as
    torch's LBFGS). ``.grad`` is neither read nor written.

    If ∇²L + δI is not positive definite (a saddle, a maximum, a flat direction), the Newton
    step need not descend. ``on_indefinite`` decides:

    - ``"error"`` (default): raise ValueError naming the smallest eigenvalue;
    - ``"regularize"``: replace each eigenvalue λ of the Hessian by max(|λ|, τ), τ = 1e-3 ·
      max(1, |λ|_max), keeping the eigenvectors (eigenvalue modification, Nocedal & Wright §3.4;
      "saddle-free Newton", Dauphin et al. 2014). Along a direction of negative curvature the
      step then goes downhill by g/|λ| instead of uphill toward the saddle or maximum;
    - ``"gradient"``: take a gradient step θ ← θ − α∇L instead.

    The Hessian has n² entries and costs n extra backward passes, so construction refuses more
    than ``max_params`` parameters (default 4096: a 128 MiB float64 Hessian). ``clip_value`` and
    ``clip_norm`` clip the step α H⁻¹∇L (not the gradient, which would not bound the step).
    """

    hparams = ("damping", "max_params", "on_indefinite")
    _indefinite_modes = ("error", "regularize", "gradient")

    def __init__(self, params, lr=1.0, damping=0.0, max_params=4096, on_indefinite="error", **common):
        super().__init__(params, lr, **common)
        self.damping = _at_least_zero("damping", damping)
        if on_indefinite not in self._indefinite_modes:
            raise ValueError(f"Invalid on_indefinite: {on_indefinite!r} (must be one of {self._indefinite_modes})")
        self.on_indefinite = on_indefinite
        self.max_params = int(max_params)
        n = sum(p.size for p in self.params)
        if n > self.max_params:
            raise ValueError(
                f"Newton: {n} parameters would need a {n}x{n} Hessian ({n * n * 8 / 2**30:.2f} GiB in "
                f"float64) and {n} extra backward passes per step; the limit is max_params="
                f"{self.max_params}. Use a first-order optimizer (sgd, momentum, adam, ...) for networks, "
                "or raise max_params if the memory is there.")
        for i, p in enumerate(self.params):
            if not p.requires_grad:
                raise ValueError(f"Newton: params[{i}] does not require grad")

    def step(self, closure=None):
        if closure is None:
            raise ValueError("Newton.step() needs a closure that recomputes and returns the scalar loss "
                             "from the current parameters, e.g. opt.step(lambda: loss_fn(model(x), y))")
        params = self.params
        with enable_grad():
            loss = closure()
            g = np.concatenate([gi.data.ravel() for gi in _autograd(loss, params)]).astype(np.float64)
            H = _hessian(lambda *ps: closure(), params).astype(np.float64)
        theta = np.concatenate([p.data.ravel() for p in params]).astype(np.float64)
        n = g.size
        if self.weight_decay:
            g += self.weight_decay * theta
        shift = self.damping + self.weight_decay
        if shift:
            H[np.diag_indices(n)] += shift
        try:
            direction = np.linalg.solve(H, g) if _positive_definite(H) else None
        except np.linalg.LinAlgError:
            direction = None
        if direction is None:
            direction = self._indefinite(H, g)
        delta = -self.lr * direction
        if self.clip_value is not None:
            delta = np.clip(delta, -self.clip_value, self.clip_value)
        if self.clip_norm is not None:
            norm = float(np.linalg.norm(delta))
            if norm > self.clip_norm:
                delta *= self.clip_norm / norm
        offset = 0
        for p in params:
            p.data += delta[offset:offset + p.size].reshape(p.shape).astype(p.dtype, copy=False)
            offset += p.size
        self.t += 1
        return loss

    def _indefinite(self, H, g):
        eig, vecs = np.linalg.eigh(H)
        lam_min = float(eig[0])
        if self.on_indefinite == "error":
            raise ValueError(
                f"Newton: the Hessian (+ damping {self.damping}) is not positive definite at step {self.t + 1} "
                f"(smallest eigenvalue {lam_min:.4g}), so the Newton step need not descend. Pass damping > "
                f"{max(-lam_min, 0.0):.4g}, or on_indefinite='regularize' or 'gradient'.")
        if self.on_indefinite == "gradient":
            return g
        modified = np.maximum(np.abs(eig), 1e-3 * max(1.0, float(np.max(np.abs(eig)))))
        return vecs @ ((vecs.T @ g) / modified)


def _positive_definite(H):
    try:
        np.linalg.cholesky(H)
        return True
    except np.linalg.LinAlgError:
        return False


# ------------------------------------------------------------------------------ registry
#: canonical name -> class. The defaults live in the constructors' signatures only.
OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "ema_momentum": EMAMomentum,
    "nesterov": Nesterov,
    "nesterov_ema": NesterovEMA,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
    "newton": Newton,
}
#: other accepted names -> canonical name (names are also case- and dash-insensitive)
OPTIMIZER_ALIASES = {"momentum_ema": "ema_momentum"}


def _signature_defaults(cls) -> dict:
    """The keyword defaults of ``cls.__init__`` and of the base classes it passes ``**common`` to."""
    out = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        for p in list(inspect.signature(klass.__init__).parameters.values())[2:]:
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD:
                out.setdefault(p.name, p.default)
    return out


def optimizer_defaults(name) -> dict:
    """The hyperparameters ``name``'s constructor sets itself (``lr``, ``momentum``, ``betas``, ...)
    with their defaults, read from its signature (the shared ``weight_decay``/clipping excluded,
    except where the class sets its own default, as AdamW's ``weight_decay``)."""
    cls = OPTIMIZERS[canonical_optimizer(name)]
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def optimizer_settings(name) -> list[str]:
    """Every keyword ``name`` accepts, its own first, then the base class's (weight_decay, clipping)."""
    return list(_signature_defaults(OPTIMIZERS[canonical_optimizer(name)]))


def _formula(cls) -> str:
    """The update rule from the class docstring: its indented block after "::", or else what follows
    the first colon outside parentheses in its first paragraph ("SGD (ch. 6):  θ ← θ − η ∇L(θ).")."""
    lines = (cls.__doc__ or "").splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block = []
            for nxt in lines[i + 1:]:
                if not nxt.strip():
                    if block:
                        break
                    continue
                block.append(" ".join(nxt.split()))
            return "; ".join(block)
    para = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
    depth = 0
    for j, ch in enumerate(para):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ":" and depth == 0:
            return para[j + 1:].strip().rstrip(".")
    return para.rstrip(".")


def optimizer_info(name) -> dict:
    """What ``mlplab optim list`` prints: canonical name, class, formula, defaults, settings, aliases."""
    key = canonical_optimizer(name)
    cls = OPTIMIZERS[key]
    return {"name": key, "class": cls.__name__, "formula": _formula(cls), "defaults": optimizer_defaults(key),
            "settings": optimizer_settings(key), "aliases": [a for a, k in OPTIMIZER_ALIASES.items() if k == key],
            "summary": " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split()).rstrip(":")}


def canonical_optimizer(name) -> str:
    """The registry's name for ``name`` in any spelling ("Adam", "ema-momentum", "momentum_ema")."""
    key = normalize_name(name)
    key = OPTIMIZER_ALIASES.get(key, key)
    if key not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    return key


#: Each name's defaults as its constructor's signature gives them (a view, for reading; the
#: constructors are the only place they are written). SGD, Momentum, AdaGrad and Adam use the
#: source book's settings (*Deep Learning from Scratch* ch. 6).
DEFAULT_HPARAMS = {name: optimizer_defaults(name) for name in OPTIMIZERS}


def get_optimizer(name, params, **kwargs):
    """Build the optimizer registered as ``name`` (any spelling) with its constructor's defaults
    overridden by ``kwargs``; a keyword it does not take is refused with the ones it does
    ("adam has no momentum; its settings are lr, betas, ...")."""
    key = canonical_optimizer(name)
    settings = optimizer_settings(key)
    unknown = [k for k in kwargs if k not in settings]
    if unknown:
        raise ValueError(f"{key} has no {', '.join(unknown)}; its settings are {', '.join(settings)}")
    return OPTIMIZERS[key](params, **kwargs)
