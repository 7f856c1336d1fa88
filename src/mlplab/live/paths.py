"""The Paths view's computation: every optimizer's path on a 2-D test function, from one start.

The paths are :func:`mlplab.functions.run_optimizer` with the library's own optimizer classes
(Newton's method included, with ``on_indefinite="regularize"`` so a saddle or a non-convex
valley gives a step rather than an error); the page only draws what comes back. The function's
values on a grid (for the contour lines) are sent once per function, not with every drag.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..functions import Quadratic, get_function, run_optimizer
from ..optim import Newton
from ..tensor import Tensor
from .validate import SettingsError

# name -> (label, the lab's hyperparameters, the hyperparameters a page may set)
METHODS = {
    "sgd": ("SGD", {"lr": 0.95}, ("lr",)),
    "momentum": ("Momentum", {"lr": 0.1, "momentum": 0.9}, ("lr", "momentum")),
    "nesterov": ("Nesterov", {"lr": 0.1, "momentum": 0.9}, ("lr", "momentum")),
    "adagrad": ("AdaGrad", {"lr": 1.5}, ("lr",)),
    "rmsprop": ("RMSProp", {"lr": 0.3, "alpha": 0.9}, ("lr", "alpha")),
    "adam": ("Adam", {"lr": 0.3}, ("lr", "beta1", "beta2")),
    "newton": ("Newton", {"lr": 1.0, "on_indefinite": "regularize"}, ("lr", "damping")),
}
FUNCTIONS = ("f1", "f2", "quadratic", "rosenbrock", "saddle", "eigen")
MAX_STEPS = 1000
GRID = 90


def make_function(name: str, eig=(1.0, 10.0), angle: float = 0.0):
    """A test function by name; ``eigen`` is ½θᵀPθ with P's eigenvalues ``eig`` along axes turned by ``angle``."""
    if name not in FUNCTIONS:
        raise SettingsError(f"unknown function {name!r}; valid: {', '.join(FUNCTIONS)}")
    if name != "eigen":
        return get_function(name)
    lam = [float(v) for v in eig]
    if len(lam) != 2 or not all(math.isfinite(v) and v > 0 for v in lam):
        raise SettingsError(f"eigenvalues must be two positive numbers, got {eig}")
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s], [s, c]])
    return Quadratic(R @ np.diag(lam) @ R.T, name=f"eigenvalues {lam[0]:g}, {lam[1]:g}",
                     xlim=(-10.0, 10.0), ylim=(-10.0, 10.0))


def hyperparameters(name: str, given: dict) -> dict:
    """The lab's settings for ``name`` overridden by what the page sent (only names it may set)."""
    label, hp, allowed = METHODS[name]
    hp = dict(hp)
    for key, value in (given or {}).items():
        if key not in allowed:
            raise SettingsError(f"{label}: unknown setting {key!r}; valid: {', '.join(allowed)}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{label}: {key} must be a number, got {value!r}") from None
        if not math.isfinite(v):
            raise SettingsError(f"{label}: {key} must be finite, got {value!r}")
        hp[key] = v
    if "beta1" in hp or "beta2" in hp:
        hp["betas"] = (hp.pop("beta1", 0.9), hp.pop("beta2", 0.999))
    return hp


def newton_path(fn, start, steps: int, **hp) -> np.ndarray:
    """Newton's method (the library's :class:`~mlplab.optim.Newton`) on ``fn`` from ``start``,
    given the function's closed-form gradient and Hessian instead of differentiating ``fn``
    twice by autodiff: the same path as ``run_optimizer(fn, "newton", ...)`` up to rounding,
    ~25x faster (200 autodiff Hessians take ~0.1 s, past a drag's frame budget).

    Newton's step is a function of θ alone (no state), so once θ_k equals an earlier θ_j bit for
    bit, the path repeats with period k − j (a fixed point, or rounding cycling in the last
    digits): the rest is filled in, identical to computing it."""
    x = Tensor(np.array(start, dtype=np.float64), requires_grad=True)
    opt = Newton([x], **hp)
    path = np.empty((steps + 1, x.size))
    path[0] = x.data
    seen = {path[0].tobytes(): 0}
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            opt.step(grad_and_hessian=lambda: (fn.grad(x.data), fn.hessian(x.data)))
            path[k] = x.data
            j = seen.setdefault(path[k].tobytes(), k)
            if j != k:
                for m in range(k + 1, steps + 1):
                    path[m] = path[j + (m - j) % (k - j)]
                break
    return path


def _clean(a: np.ndarray) -> list:
    """Rows as lists, non-finite numbers as None (JSON has no inf). ``tolist`` when all are finite
    (the usual case: 10x faster than a Python loop, which a drag pays 14 times)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    if np.isfinite(a).all():
        return a.tolist()
    return [[float(v) if math.isfinite(v) else None for v in row] for row in a]


def compute_paths(function: str, start, steps: int = 200, methods: dict | None = None, eig=(1.0, 10.0),
                  angle: float = 0.0) -> dict:
    """Paths of the chosen ``methods`` (name -> hyperparameters the page set) from ``start``:
    {"paths": {name: [[x, y], ...]}, "f": {name: [f, ...]}, "f_min": ..., "errors": {name: message}}."""
    t0 = time.perf_counter()
    fn = make_function(function, eig, angle)
    try:
        x0 = [float(v) for v in start]
    except (TypeError, ValueError):
        raise SettingsError(f"start must be two numbers, got {start!r}") from None
    if len(x0) != 2 or not all(math.isfinite(v) for v in x0):
        raise SettingsError(f"start must be two finite numbers, got {start!r}")
    if not 1 <= int(steps) <= MAX_STEPS:
        raise SettingsError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    methods = {k: {} for k in METHODS} if methods is None else methods
    paths, values, errors = {}, {}, {}
    for name, given in methods.items():
        if name not in METHODS:
            raise SettingsError(f"unknown optimizer {name!r}; valid: {', '.join(METHODS)}")
        hp = hyperparameters(name, given)
        try:
            path = (newton_path(fn, x0, int(steps), **hp) if name == "newton"
                    else run_optimizer(fn, name, x0, int(steps), **hp))
        except (ValueError, np.linalg.LinAlgError) as e:  # e.g. a negative learning rate
            errors[name] = f"{METHODS[name][0]}: {e}"
            continue
        with np.errstate(all="ignore"):
            f = fn.f(path)
        paths[name], values[name] = _clean(path), _clean(f)[0]
    f_min = fn.f_min if fn.minima else None
    return {"paths": paths, "f": values, "f_min": f_min, "errors": errors,
            "minima": _clean(np.array(fn.minima)) if fn.minima else [], "compute_ms": (time.perf_counter() - t0) * 1e3}


def function_grid(function: str, eig=(1.0, 10.0), angle: float = 0.0, n: int = GRID) -> dict:
    """f on an n×n grid over the function's plotting range (row j is y_j, column i is x_i)."""
    fn = make_function(function, eig, angle)
    xs = np.linspace(*fn.xlim, n)
    ys = np.linspace(*fn.ylim, n)
    X, Y = np.meshgrid(xs, ys)
    F = fn.f(np.stack([X, Y], -1))
    return {"name": fn.name, "xlim": list(fn.xlim), "ylim": list(fn.ylim), "n": n,
            "values": [float(v) for v in F.ravel()], "f_min": fn.f_min if fn.minima else float(F.min()),
            "minima": _clean(np.array(fn.minima)) if fn.minima else []}
