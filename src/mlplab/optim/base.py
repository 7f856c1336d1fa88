"""The optimizer base class: hyperparameter validation, clipping, weight decay, step counts,
in-place mutation and ``state_dict``. Subclasses write only the math (``init_state``/``update``);
see :mod:`mlplab.optim` for the order in which the base class applies each part.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, enable_grad


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
        args = ", ".join(f"{k}={v!r}" for k, v in self._hparam_dict().items() if v is not None)
        return f"{type(self).__name__}({args})"
