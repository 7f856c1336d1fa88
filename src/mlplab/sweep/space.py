"""Search spaces and the points a sweep tries in them: grid, random, quasi-random (Sobol).

A :class:`Space` belongs to one optimizer: a few dimensions (:class:`LogRange` for a learning rate
or ε, :class:`Range` for momentum or a β, :class:`Choice` for a discrete list) and the fixed
hyperparameters every point keeps. A point is a plain dict ``{"lr": 0.003, "momentum": 0.9}``.

* ``grid``: ``n`` values per continuous dimension, ends included (on a log scale for LogRange:
  lrᵢ = lo · (hi/lo)^(i/(n−1))), times every Choice; the product of all of them.
* ``random``: ``n`` independent uniform draws in the unit cube from ``np.random.default_rng(seed)``,
  mapped to each dimension (log-uniform for LogRange).
* ``sobol``: the first ``n`` points of a scrambled Sobol sequence (``scipy.stats.qmc.Sobol`` with
  ``seed``): low-discrepancy, so n points cover the cube more evenly than n random ones.

A :class:`LogComplement` dimension searches 1 − x on a log scale (a momentum or a β: 1 − β₁ from
10⁻³ to 1 puts as many points between 0.9 and 0.99 as between 0.99 and 0.999, and reaches β₁ = 0,
where Adam's first moment is the gradient itself). The dimensions ``beta1`` and ``beta2`` are
written into Adam's ``betas`` pair.

Named spaces (:func:`named_space`, ``mlplab sweep --space``): ``lr`` the learning rate only;
``lr+momentum`` the learning rate and the momentum (Momentum, Nesterov) or β₁ (Adam, AdamW, NAdam);
``choi`` as Choi et al. (2019, *On Empirical Comparisons of Optimizers for Deep Learning*) tune every
hyperparameter of the update rule on log scales: the learning rate, 1 − momentum or 1 − β₁, 1 − β₂
and ε (AdaGrad and RMSProp: ε; SGD: the learning rate alone). The ranges are ours, chosen to
contain each optimizer's special cases: momentum 0 (SGD inside Momentum), β₁ = 0 and a large ε
(ε = 1: Adam's step ≈ η·m̂, a momentum method) with learning rates up to 1, so SGD ⊆ Momentum ⊆ Adam
holds *inside* the searched spaces, as the inclusion argument needs.

Values are rounded to 6 significant digits, so a point's JSON (and the trial key built from it)
reads cleanly and is the same on every machine. The Deep Learning Tuning Playbook treats the learning
rate as the nuisance parameter to tune per optimizer, on a log scale; the default ranges below span
about three decades around the source book's value.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LogRange", "LogComplement", "Range", "Choice", "Space", "METHODS", "SPACES", "DEFAULT_LR_RANGE",
           "default_space", "named_space", "points", "round_sig", "canonical_hparams"]

METHODS = ("grid", "random", "sobol")
SPACES = ("lr", "lr+momentum", "choi")

#: learning-rate ranges searched by default (log scale), chosen to contain the book's value with
#: room on both sides: SGD 0.01, Momentum 0.01, AdaGrad 0.01, Adam 0.001.
DEFAULT_LR_RANGE = {
    "sgd": (1e-3, 1.0), "momentum": (1e-4, 0.3), "nesterov": (1e-4, 0.3), "adagrad": (1e-3, 1.0),
    "rmsprop": (1e-5, 3e-2), "adam": (1e-5, 3e-2), "adamw": (1e-5, 3e-2), "nadam": (1e-5, 3e-2),
    "ema_momentum": (1e-3, 3.0), "momentum_ema": (1e-3, 3.0), "nesterov_ema": (1e-3, 3.0),
}


def round_sig(x: float, digits: int = 6) -> float:
    """``x`` rounded to ``digits`` significant digits (0 stays 0)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(round(x, digits - 1 - int(math.floor(math.log10(abs(x))))))


@dataclass(frozen=True)
class LogRange:
    """A positive value searched on a log scale between ``low`` and ``high`` (both included)."""

    low: float
    high: float

    def __post_init__(self):
        if not 0 < self.low <= self.high:
            raise ValueError(f"a log range needs 0 < low <= high, got [{self.low}, {self.high}]")

    def at(self, u: float) -> float:  # u in [0, 1]
        return round_sig(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))


@dataclass(frozen=True)
class LogComplement:
    """A value x < 1 (a momentum, a β) searched through 1 − x on a log scale: 1 − x from ``low`` to ``high``."""

    low: float
    high: float

    def __post_init__(self):
        if not 0 < self.low <= self.high <= 1:
            raise ValueError(f"a log range of 1 − x needs 0 < low <= high <= 1, got [{self.low}, {self.high}]")

    def at(self, u: float) -> float:
        return round_sig(1.0 - math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))


@dataclass(frozen=True)
class Range:
    """A value searched on a linear scale between ``low`` and ``high``."""

    low: float
    high: float

    def __post_init__(self):
        if not self.low <= self.high:
            raise ValueError(f"a range needs low <= high, got [{self.low}, {self.high}]")

    def at(self, u: float) -> float:
        return round_sig(self.low + u * (self.high - self.low))


@dataclass(frozen=True)
class Choice:
    """One of a few listed values (tried in full on a grid, drawn uniformly otherwise)."""

    values: tuple

    def __post_init__(self):
        if not self.values:
            raise ValueError("a choice needs at least one value")

    def at(self, u: float):
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]


@dataclass
class Space:
    """The dimensions searched for one optimizer and the hyperparameters held fixed."""

    optimizer: str
    dims: dict = field(default_factory=dict)  # name -> LogRange | Range | Choice
    fixed: dict = field(default_factory=dict)

    def __post_init__(self):
        clash = set(self.dims) & set(self.fixed)
        if clash:
            raise ValueError(f"{self.optimizer}: {sorted(clash)} both searched and fixed")
        if not self.dims:
            raise ValueError(f"{self.optimizer}: nothing to search (give at least one dimension, e.g. lr)")

    def point(self, u) -> dict:
        """The point at unit-cube coordinates ``u`` (one per dimension, in ``dims`` order)."""
        return _betas({**self.fixed, **{name: d.at(float(ui)) for (name, d), ui in zip(self.dims.items(), u)}})


def _betas(pt: dict) -> dict:
    """``beta1``/``beta2`` written into the ``betas`` pair Adam takes (the other from ``betas`` or 0.9/0.999)."""
    if "beta1" not in pt and "beta2" not in pt:
        return pt
    pt = dict(pt)
    b1, b2 = pt.pop("betas", (0.9, 0.999))
    b1, b2 = pt.pop("beta1", b1), pt.pop("beta2", b2)
    return {**pt, "betas": [b1, b2]}


def default_space(optimizer: str, lr_range: tuple[float, float] | None = None, **fixed) -> Space:
    """The learning rate on a log scale (``DEFAULT_LR_RANGE`` unless given), other settings fixed."""
    lo, hi = lr_range or DEFAULT_LR_RANGE.get(optimizer, (1e-4, 1.0))
    return Space(optimizer, {"lr": LogRange(lo, hi)}, dict(fixed))


#: the learning-rate ranges of the ``choi`` space where they differ from ``DEFAULT_LR_RANGE``: Adam with
#: ε = 1 steps η·m̂ (a momentum method), which needs the momentum's learning rates.
#: Momentum's reaches SGD's (1e-3 to 1), so momentum 0 with any of SGD's learning rates is inside it.
CHOI_LR_RANGE = {"adam": (1e-5, 1.0), "adamw": (1e-5, 1.0), "nadam": (1e-5, 1.0), "rmsprop": (1e-5, 1.0),
                 "adagrad": (1e-3, 3.0), "momentum": (1e-4, 1.0), "nesterov": (1e-4, 1.0)}
_MOMENTUM = ("momentum", "nesterov", "ema_momentum", "nesterov_ema")
_ADAM = ("adam", "adamw", "nadam")


def named_space(optimizer: str, kind: str = "lr", lr_range: tuple[float, float] | None = None) -> Space:
    """The space ``kind`` (``SPACES``, see the module docstring) for ``optimizer``."""
    if kind not in SPACES:
        raise ValueError(f"unknown search space {kind!r}; valid: {', '.join(SPACES)}")
    if kind == "lr":
        return default_space(optimizer, lr_range)
    if lr_range is None and kind == "choi":
        lr_range = CHOI_LR_RANGE.get(optimizer)
    lo, hi = lr_range or DEFAULT_LR_RANGE.get(optimizer, (1e-4, 1.0))
    dims = {"lr": LogRange(lo, hi)}
    if optimizer in _MOMENTUM:
        dims["momentum"] = LogComplement(1e-3, 1.0)  # momentum 0 … 0.999
    elif optimizer in _ADAM:
        dims["beta1"] = LogComplement(1e-3, 1.0)  # β₁ 0 … 0.999
    if kind == "choi":
        if optimizer in _ADAM:
            dims["beta2"] = LogComplement(1e-4, 1e-1)  # β₂ 0.9 … 0.9999
        if optimizer in _ADAM + ("adagrad", "rmsprop"):
            dims["eps"] = LogRange(1e-10, 1.0)
    return Space(optimizer, dims, {})


def canonical_hparams(optimizer: str, hparams: dict) -> tuple:
    """``hparams`` as the optimizer will see them, comparable by value: every constructor default filled
    in, numbers as floats rounded to 9 significant digits (0.0099999999 and 1e-2 alike), pairs as tuples."""
    from ..optim.registry import OPTIMIZERS, _signature_defaults, canonical_optimizer

    full = {**_signature_defaults(OPTIMIZERS[canonical_optimizer(optimizer)]), **_betas(dict(hparams))}

    def canon(v):
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, (int, float)):
            return round_sig(float(v), 9)
        if isinstance(v, (list, tuple)):
            return tuple(canon(x) for x in v)
        return repr(v)

    return tuple(sorted((k, canon(v)) for k, v in full.items()))


def _grid_axis(d, n: int) -> list:
    if isinstance(d, Choice):
        return list(d.values)
    if n == 1:
        return [d.at(0.5)]
    return [d.at(i / (n - 1)) for i in range(n)]


def points(space: Space, method: str = "grid", n: int = 8, seed: int = 0) -> list[dict]:
    """The points of ``space`` to try: see the module docstring. Duplicates (after rounding) are
    dropped, keeping the first; the order is deterministic given ``seed``."""
    if method not in METHODS:
        raise ValueError(f"unknown search method {method!r}; valid: {', '.join(METHODS)}")
    if int(n) != n or n < 1:
        raise ValueError(f"the number of points must be a positive integer, got {n!r}")
    n = int(n)
    if method == "grid":
        axes = [_grid_axis(d, n) for d in space.dims.values()]
        pts = [_betas({**space.fixed, **dict(zip(space.dims, combo))}) for combo in itertools.product(*axes)]
    else:
        k = len(space.dims)
        if method == "random":
            U = np.random.default_rng(seed).random((n, k))
        else:
            import warnings

            from scipy.stats import qmc

            with warnings.catch_warnings():  # scipy warns when n is not a power of 2: balance is then approximate
                warnings.simplefilter("ignore", UserWarning)
                U = qmc.Sobol(d=k, scramble=True, seed=seed).random(n)
        pts = [space.point(u) for u in U]
    seen, out = set(), []
    for p in pts:
        key = tuple(sorted((k, repr(v)) for k, v in p.items()))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
