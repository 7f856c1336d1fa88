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

__all__ = ["LogRange", "Range", "Choice", "Space", "METHODS", "DEFAULT_LR_RANGE", "default_space", "points",
           "round_sig"]

METHODS = ("grid", "random", "sobol")

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
        return {**self.fixed, **{name: d.at(float(ui)) for (name, d), ui in zip(self.dims.items(), u)}}


def default_space(optimizer: str, lr_range: tuple[float, float] | None = None, **fixed) -> Space:
    """The learning rate on a log scale (``DEFAULT_LR_RANGE`` unless given), other settings fixed."""
    lo, hi = lr_range or DEFAULT_LR_RANGE.get(optimizer, (1e-4, 1.0))
    return Space(optimizer, {"lr": LogRange(lo, hi)}, dict(fixed))


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
        pts = [{**space.fixed, **dict(zip(space.dims, combo))} for combo in itertools.product(*axes)]
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
