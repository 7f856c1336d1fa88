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
    NesterovEMA       the lecture's look-ahead form (gradient at θ − ηu); see its docstring
    Adam with β1 = 0  = RMSProp(alpha=β2, bias_correction=True)

The rules of *Deep Learning from Scratch* (ch. 6, its ``common/optimizer.py``) are reproduced
exactly, step for step, by: SGD(lr), Momentum(lr, momentum), AdaGrad(lr, eps=1e-7),
RMSProp(lr, alpha=0.99, eps=1e-7) and Adam(lr, eps=1e-7, eps_on="v") (the book adds ε to the
uncorrected √v; torch, and Adam's default here, add it to the corrected √v̂).
"""

from __future__ import annotations

from ..schedules import (
    SCHEDULES,
    CosineLR,
    ExponentialLR,
    InverseTimeLR,
    Schedule,
    StepLR,
    WarmupCosineLR,
    get_schedule,
)
from .adaptive import AdaGrad, Adam, AdamW, NAdam, RMSProp
from .base import Optimizer
from .registry import (
    DEFAULT_HPARAMS,
    OPTIMIZER_ALIASES,
    OPTIMIZERS,
    _formula,  # noqa: F401  (the rule parser, read by tests/test_registries.py)
    canonical_optimizer,
    get_optimizer,
    optimizer_defaults,
    optimizer_info,
    optimizer_settings,
)
from .second_order import Newton
from .sgd import SGD, EMAMomentum, Momentum, Nesterov, NesterovEMA

__all__ = [
    "Optimizer", "SGD", "Momentum", "EMAMomentum", "Nesterov", "NesterovEMA", "AdaGrad", "RMSProp",
    "Adam", "AdamW", "NAdam", "Newton", "OPTIMIZERS", "OPTIMIZER_ALIASES", "DEFAULT_HPARAMS", "get_optimizer",
    "canonical_optimizer", "optimizer_defaults", "optimizer_info", "optimizer_settings",
    # learning-rate schedules (defined in mlplab.schedules)
    "Schedule", "StepLR", "ExponentialLR", "InverseTimeLR", "CosineLR", "WarmupCosineLR", "SCHEDULES",
    "get_schedule",
]
