"""Learning-rate schedules that work with any optimizer.

A schedule is a pure function ``lr_at(t)`` of the step count t = 0, 1, 2, ... and the base rate
η₀ (the optimizer's ``lr`` when the schedule is created), plus a little bookkeeping: creating it
sets ``optimizer.lr = lr_at(0)``; each ``step()`` (call it after ``optimizer.step()``, as in
torch) advances t and sets ``optimizer.lr = lr_at(t)``. ``state_dict()`` / ``load_state_dict()``
save and restore t and η₀, so a resumed run gets the same rates::

    opt = Adam(params, lr=1e-3)
    sched = WarmupCosineLR(opt, warmup_steps=100, total_steps=2000)
    for batch in data:
        ...; opt.step(); sched.step()
"""

from __future__ import annotations

import math

from .activations import normalize_name

__all__ = ["Schedule", "StepLR", "ExponentialLR", "InverseTimeLR", "CosineLR", "WarmupCosineLR",
           "SCHEDULES", "get_schedule", "schedule_for_run"]


def _check(name, ok, value, rule):
    if not ok:
        raise ValueError(f"Invalid {name}: {value} ({rule})")


class Schedule:
    """Base class: subclasses set ``hparams`` and implement ``lr_at(t)``."""

    hparams: tuple[str, ...] = ()

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.t = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, t: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self):
        """Advance one step and set the optimizer's lr; returns the new lr."""
        self.t += 1
        self.optimizer.lr = lr = self.lr_at(self.t)
        return lr

    def state_dict(self):
        return {"schedule": type(self).__name__, "t": self.t, "base_lr": self.base_lr,
                **{k: getattr(self, k) for k in self.hparams}}

    def load_state_dict(self, d):
        if d.get("schedule") != type(self).__name__:
            raise ValueError(f"load_state_dict: state of a {d.get('schedule')} cannot be loaded into a "
                             f"{type(self).__name__}")
        for k in self.hparams:
            setattr(self, k, d[k])
        self.t, self.base_lr = int(d["t"]), float(d["base_lr"])
        self.optimizer.lr = self.lr_at(self.t)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)}" for k in ("base_lr",) + self.hparams)
        return f"{type(self).__name__}({args}, t={self.t})"


class StepLR(Schedule):
    """η_t = η₀ · γ^⌊t / step_size⌋  (as ``torch.optim.lr_scheduler.StepLR``)."""

    hparams = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check("step_size", step_size >= 1, step_size, "must be >= 1")
        _check("gamma", gamma > 0, gamma, "must be > 0")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** (t // self.step_size)


class ExponentialLR(Schedule):
    """η_t = η₀ · γ^t  (as ``torch.optim.lr_scheduler.ExponentialLR``)."""

    hparams = ("gamma",)

    def __init__(self, optimizer, gamma):
        _check("gamma", gamma > 0, gamma, "must be > 0")
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr * self.gamma ** t


class InverseTimeLR(Schedule):
    """η_t = η₀ / (1 + k t)  (the 1/t decay of stochastic approximation; Keras' InverseTimeDecay
    with decay_steps 1)."""

    hparams = ("k",)

    def __init__(self, optimizer, k=1.0):
        _check("k", k >= 0, k, "must be >= 0")
        self.k = float(k)
        super().__init__(optimizer)

    def lr_at(self, t):
        return self.base_lr / (1.0 + self.k * t)


class CosineLR(Schedule):
    """η_t = η_min + (η₀ − η_min)(1 + cos(π t / T)) / 2 for t <= T, then η_min.

    torch's CosineAnnealingLR uses the same curve up to T but keeps following the cosine after
    T (the rate rises again); here it stays at η_min. Reference: Loshchilov & Hutter, SGDR (2017).
    """

    hparams = ("total_steps", "eta_min")

    def __init__(self, optimizer, total_steps, eta_min=0.0):
        _check("total_steps", total_steps >= 1, total_steps, "must be >= 1")
        _check("eta_min", eta_min >= 0, eta_min, "must be >= 0")
        self.total_steps, self.eta_min = int(total_steps), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, t):
        frac = min(t, self.total_steps) / self.total_steps
        return self.eta_min + (self.base_lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * frac))


class WarmupCosineLR(Schedule):
    """Linear warm-up, then cosine decay:

        η_t = η₀ (t + 1) / W                                             for t < W
        η_t = η_min + (η₀ − η_min)(1 + cos(π (t − W) / (T − W))) / 2      for W <= t <= T, then η_min

    W = warmup_steps, T = total_steps (> W). The first step already moves (η₀/W), and the rate
    reaches η₀ at t = W − 1 and t = W.
    """

    hparams = ("warmup_steps", "total_steps", "eta_min")

    def __init__(self, optimizer, warmup_steps, total_steps, eta_min=0.0):
        _check("warmup_steps", warmup_steps >= 0, warmup_steps, "must be >= 0")
        _check("total_steps", total_steps > warmup_steps, total_steps, f"must be > warmup_steps = {warmup_steps}")
        _check("eta_min", eta_min >= 0, eta_min, "must be >= 0")
        self.warmup_steps, self.total_steps, self.eta_min = int(warmup_steps), int(total_steps), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, t):
        W, T = self.warmup_steps, self.total_steps
        if t < W:
            return self.base_lr * (t + 1) / W
        frac = (min(t, T) - W) / (T - W)
        return self.eta_min + (self.base_lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * frac))


SCHEDULES = {
    "step": StepLR,
    "exponential": ExponentialLR,
    "inverse_time": InverseTimeLR,
    "cosine": CosineLR,
    "warmup_cosine": WarmupCosineLR,
}


def get_schedule(name, optimizer, **kwargs):
    """Build the schedule registered as ``name`` (step, exponential, inverse_time, cosine,
    warmup_cosine) on ``optimizer``."""
    key = normalize_name(name)
    if key in ("1/t", "inverse"):
        key = "inverse_time"
    if key not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; valid names: {', '.join(SCHEDULES)}")
    return SCHEDULES[key](optimizer, **kwargs)


def schedule_for_run(name, optimizer, total_steps: int):
    """The schedule ``name`` fitted to a run of ``total_steps`` steps, as ``mlplab train --schedule``
    and the live lab use it: step divides lr by 10 at 1/3 and 2/3 of the run; exponential reaches
    lr/100 at the end; inverse_time η0 / (1 + 10 t / T); cosine over the whole run; warmup_cosine
    warms up over the first 5 %."""
    total = max(1, int(total_steps))
    settings = {"step": {"step_size": max(1, total // 3), "gamma": 0.1},
                "exponential": {"gamma": 0.01 ** (1 / total)},
                "inverse_time": {"k": 10 / total},
                "cosine": {"total_steps": total},
                "warmup_cosine": {"warmup_steps": max(1, total // 20), "total_steps": total}}
    key = normalize_name(name)
    key = "inverse_time" if key in ("1/t", "inverse") else key
    if key not in settings:
        raise ValueError(f"Unknown schedule {name!r}; valid names: {', '.join(SCHEDULES)}")
    return get_schedule(key, optimizer, **settings[key])
