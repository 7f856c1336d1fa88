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

# each function's formula (TeX), where it starts, how many steps and the settings its optimizers open
# with: the lab's, except SGD kept below 2/λ_max at the start (0.18 < 2/9.5 and 2/10; 0.3 < 2/4.88 on
# the saddle); on
# Rosenbrock (λ_max ≈ 1400 at the start, ≈ 1000 at the minimum) step sizes that converge, and more
# steps along its flat valley (tests/test_live_explain.py runs each from its start: none diverges)
FORMULAS = {
    "f1": r"f(x, y) = x^2 + y^2",
    "f2": r"f(x, y) = \tfrac{1}{20}x^2 + y^2",
    "quadratic": r"f(\theta) = \tfrac12\theta^\top\!\begin{pmatrix}5 & 4.5\\ 4.5 & 5\end{pmatrix}\!\theta"
                 r" + \begin{pmatrix}1\\ -2\end{pmatrix}^{\!\top}\!\theta",
    "rosenbrock": r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
    "saddle": r"f(x, y) = \tfrac14x^4 - \tfrac12x^2 + 0.1\,x + \tfrac12y^2",
    "eigen": r"f(x, y) = \tfrac12(\lambda_1 x^2 + \lambda_2 y^2)",
}
FUNCTION_HP = {
    "quadratic": {"sgd": {"lr": 0.18}},
    "eigen": {"sgd": {"lr": 0.18}},
    "saddle": {"sgd": {"lr": 0.3}},
    "rosenbrock": {"sgd": {"lr": 0.001}, "momentum": {"lr": 0.001}, "nesterov": {"lr": 0.0008},
                   "adagrad": {"lr": 0.5}, "rmsprop": {"lr": 0.03}, "adam": {"lr": 0.1}},
}
FUNCTION_STEPS = {"rosenbrock": 500}
DIVERGED = 1e6  # a coordinate past this (or not finite): the path has diverged, as the page draws it


def function_defaults(name: str) -> dict:
    """What the page opens ``name`` with: formula, start point, steps, each optimizer's settings."""
    fn = make_function(name)
    (x0, x1), (y0, y1) = fn.xlim, fn.ylim
    start = [-7.0, 2.0] if name in ("f1", "f2", "eigen") else [x0 + 0.15 * (x1 - x0), y0 + 0.85 * (y1 - y0)]
    hp = {m: {k: v for k, v in {**METHODS[m][1], **FUNCTION_HP.get(name, {}).get(m, {})}.items()
              if k in METHODS[m][2]} for m in METHODS}
    return {"formula": FORMULAS[name], "start": start, "steps": FUNCTION_STEPS.get(name, 200), "hp": hp,
            "quadratic": isinstance(fn, Quadratic)}


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


def lr_bound(method: str, hp: dict, lam_max: float):
    """The largest stable step size for gradient steps on a quadratic whose Hessian's largest
    eigenvalue is ``lam_max``, with its formula; None for the adaptive methods (their step is
    divided by a running gradient size, so no fixed η bound applies).

    Along an eigenvector with eigenvalue λ each method is a linear recursion; with h = ηλ:
    SGD θ' = (1 − h)θ is stable for h < 2; heavy-ball momentum (v ← μv − ηg, θ ← θ + v) has
    characteristic polynomial z² − (1 + μ − h)z + μ, stable (Jury: 1 + T + D > 0) for h < 2 + 2μ;
    Nesterov (b ← μb + g, θ ← θ − η(g + μb)) has trace 1 + μ − h(1 + μ) and determinant μ(1 − h),
    stable for h < (2 + 2μ)/(1 + 2μ); Newton's step α·H⁻¹g scales every direction by 1 − α, stable
    for α < 2 whatever λ is (Goh, "Why Momentum Really Works", Distill 2017, for the first two)."""
    if not (lam_max > 0):
        return None
    mu = float(hp.get("momentum", 0.9))
    if method == "sgd":
        return 2 / lam_max, r"2/\lambda_{\max}"
    if method == "momentum":
        return (2 + 2 * mu) / lam_max, r"(2+2\mu)/\lambda_{\max}"
    if method == "nesterov":
        return (2 + 2 * mu) / ((1 + 2 * mu) * lam_max), r"(2+2\mu)/((1+2\mu)\lambda_{\max})"
    if method == "newton":
        return 2.0, "2"
    return None


def rate(method: str, hp: dict, lam: float) -> float | None:
    """The factor by which the error along an eigen-direction of eigenvalue ``lam`` shrinks per step
    (the spectral radius of the method's 2×2 recursion; > 1: it grows), None for adaptive methods."""
    eta, mu = float(hp.get("lr", 0.0)), float(hp.get("momentum", 0.9))
    h = eta * lam
    if method == "sgd":
        return abs(1 - h)
    if method == "newton":
        return abs(1 - eta)
    if method == "momentum":
        m = np.array([[1 + mu - h, -mu], [1.0, 0.0]])
    elif method == "nesterov":
        m = np.array([[1 - h * (1 + mu), -eta * mu * mu], [lam, mu]])
    else:
        return None
    return float(max(abs(np.linalg.eigvals(m))))


def rate_map(method: str, eigenvalues, n_eta: int = 72, n_mu: int = 50) -> dict:
    """Distill's picture ("Why Momentum Really Works") for ``method`` (momentum or nesterov) on a
    quadratic with Hessian eigenvalues ``eigenvalues``: over step sizes η (log-spaced, the slider's
    10⁻³..10) and momenta μ (0..0.99), the factor the error shrinks by per step (the largest root
    modulus over the eigen-directions; >= 1: divergent) and the kind of the slowest direction's
    decay: 0 monotone (a positive real root), 1 oscillating (complex or negative roots), 2
    divergent. The roots are those of z² − T z + D with T, D the trace and determinant of the
    method's 2×2 recursion (see :func:`lr_bound`). Rows are μ, columns η."""
    eta = np.logspace(-3, 1, n_eta)
    mu = np.linspace(0.0, 0.99, n_mu)
    E, M = np.meshgrid(eta, mu)
    worst = np.zeros_like(E)
    kind = np.zeros(E.shape, dtype=int)
    for lam in np.asarray(eigenvalues, dtype=np.float64):
        h = E * lam
        if method == "momentum":
            T, D = 1 + M - h, M
        elif method == "nesterov":
            T, D = 1 + M - h * (1 + M), M * (1 - h)
        else:
            raise SettingsError(f"a rate map is drawn for momentum and nesterov, not {method!r}")
        disc = T * T - 4 * D
        sq = np.sqrt(disc.astype(complex))
        roots = np.stack([(T + sq) / 2, (T - sq) / 2])
        r = np.abs(roots).max(axis=0)
        dominant = np.take_along_axis(roots, np.abs(roots).argmax(axis=0)[None], 0)[0]
        k = np.where((disc < 0) | (dominant.real < 0), 1, 0)
        kind = np.where(r > worst, k, kind)
        worst = np.maximum(worst, r)
    kind = np.where(worst >= 1, 2, kind)
    return {"eta": eta.tolist(), "mu": mu.tolist(), "rate": worst.round(6).tolist(), "kind": kind.tolist()}


def diverged_at(path: np.ndarray) -> int | None:
    """The first step at which the path left the plane (a coordinate not finite or past DIVERGED)."""
    bad = ~np.isfinite(path).all(axis=1) | (np.abs(np.nan_to_num(path, nan=np.inf)) > DIVERGED).any(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def explain(fn, name: str, start, hp: dict, results: dict, steps: int) -> dict:
    """The Hessian at the start point, each method's step-size bound, and what happened, in words.

    Exact for the quadratics (the Hessian is the same everywhere); elsewhere the eigenvalues, and
    so the bounds, hold near the start only."""
    H = np.asarray(fn.hessian(np.asarray(start, dtype=np.float64)), dtype=np.float64)
    lam = np.linalg.eigvalsh((H + H.T) / 2)
    exact = isinstance(fn, Quadratic)
    lam_max = float(lam[-1])
    words, bounds = {}, {}
    for m, r in results.items():
        label = METHODS[m][0]
        b = lr_bound(m, hp[m], lam_max)
        if b is not None:
            bounds[m] = {"lr": b[0], "formula": b[1]}
        k = r["diverged"]
        if k is not None:
            words[m] = f"{label}: diverged at step {k}" + (f" (η = {hp[m]['lr']:.3g} > {b[0]:.3g}, the stable limit)"
                                                          if b is not None and hp[m]["lr"] > b[0] else "")
            continue
        line = f"{label}: f − f* = {r['gap']:.2g} after {steps} steps"
        if exact and b is not None:
            rates = [rate(m, hp[m], float(v)) for v in lam]
            worst = max(rates)
            if worst < 1:
                line += f"; the error shrinks ×{worst:.3g} per step along the slowest direction"
                if m == "sgd" and hp[m]["lr"] * lam_max > 1:
                    line += " and oscillates along the steepest (ηλ_max > 1)"
            else:
                line += "; unstable (η past the bound): it will diverge given more steps"
        words[m] = line
    return {"eigenvalues": [float(v) for v in lam], "exact": exact, "bounds": bounds, "words": words}


def eigen_split(fn, paths: dict) -> dict:
    """The error θ_k − θ* of each path split along the Hessian's eigenvectors (Distill's *Why Momentum
    Really Works*, Goh 2017): on a quadratic ½θᵀPθ + qᵀθ with P = U diag(λ) Uᵀ, every method that is a
    linear recursion in the gradient acts on each coordinate c_i = u_iᵀ(θ − θ*) on its own, so
    |c_i| over the steps shows which direction converges slowly (small λ: small steps), which
    oscillates (ηλ > 1 for SGD; complex roots for momentum) and which diverges (AdaGrad, RMSProp and
    Adam divide by a running gradient size, so for them the coordinates are the same but interact). Returns the
    eigenvalues (ascending), the eigenvectors (rows), per method the |c_i| per step (None where the
    path left the plane) and each component's behaviour in a word: "diverges" (it leaves the plane),
    "grows" (it ends larger than it started: an adaptive method's steps that do not shrink),
    "oscillates" (its sign flips twice or more before it reaches rounding: a sum of two decaying
    real powers a·r₁ᵏ + b·r₂ᵏ with r₁, r₂ > 0 changes sign at most once, so two flips mean a
    negative or complex root), "monotone" (otherwise)."""
    lam, U = np.linalg.eigh(fn.P)
    x_star = np.asarray(fn.minima[0], dtype=np.float64)
    comps, words = {}, {}
    for name, path in paths.items():
        with np.errstate(all="ignore"):
            C = (np.asarray(path, dtype=np.float64) - x_star) @ U  # (steps + 1, 2): c_k = Uᵀ(θ_k − θ*)
        A = np.abs(C)
        A[~np.isfinite(A) | (A > DIVERGED)] = np.nan
        comps[name] = [_clean(A[:, i])[0] for i in range(A.shape[1])]
        kinds = []
        for i in range(C.shape[1]):
            c = C[:, i]
            above = np.isfinite(c) & (np.abs(c) > 1e-12 * max(1.0, abs(c[0]) if np.isfinite(c[0]) else 1.0))
            signs = np.sign(c[above])  # (steps at rounding level, or exactly 0, have no sign to flip)
            if not np.isfinite(c).all() or (np.abs(c) > DIVERGED).any():
                kinds.append("diverges")
            elif abs(c[-1]) > abs(c[0]) and abs(c[-1]) > 1e-9:
                kinds.append("grows")
            elif np.count_nonzero(signs[1:] != signs[:-1]) >= 2:
                kinds.append("oscillates")
            else:
                kinds.append("monotone")
        words[name] = kinds
    return {"eigenvalues": lam.tolist(), "vectors": U.T.tolist(), "components": comps, "behaviour": words}


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
    paths, values, errors, results, used, raw = {}, {}, {}, {}, {}, {}
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
        paths[name], values[name], raw[name] = _clean(path), _clean(f)[0], path
        k = diverged_at(path)
        gap = float(f[-1] - fn.f_min) if fn.minima and k is None else (float(f[-1]) if k is None else None)
        results[name], used[name] = {"diverged": k, "gap": gap}, hp
    f_min = fn.f_min if fn.minima else None
    info = explain(fn, function, x0, used, results, int(steps))
    if isinstance(fn, Quadratic) and fn.minima:
        eigen, no_eigen = eigen_split(fn, {k: np.array(v, dtype=np.float64) for k, v in raw.items()}), None
    else:
        eigen, no_eigen = None, (f"{fn.name} is not a quadratic: its Hessian changes from point to point, so no "
                                 "fixed eigen-directions split the error (the split is exact on the quadratics: f1, "
                                 "f2, quadratic and the chosen eigenvalues)")
    return {"paths": paths, "f": values, "f_min": f_min, "errors": errors,
            "minima": _clean(np.array(fn.minima)) if fn.minima else [], "diverged": {k: r["diverged"]
                                                                                   for k, r in results.items()},
            "hessian": {"eigenvalues": info["eigenvalues"], "exact": info["exact"]}, "bounds": info["bounds"],
            "words": info["words"], "eigen": eigen, "eigen_absent": no_eigen,
            "compute_ms": (time.perf_counter() - t0) * 1e3}


def function_grid(function: str, eig=(1.0, 10.0), angle: float = 0.0, n: int = GRID) -> dict:
    """f on an n×n grid over the function's plotting range (row j is y_j, column i is x_i)."""
    fn = make_function(function, eig, angle)
    xs = np.linspace(*fn.xlim, n)
    ys = np.linspace(*fn.ylim, n)
    X, Y = np.meshgrid(xs, ys)
    F = fn.f(np.stack([X, Y], -1))
    out = {"name": fn.name, "xlim": list(fn.xlim), "ylim": list(fn.ylim), "n": n,
           "values": [float(v) for v in F.ravel()], "f_min": fn.f_min if fn.minima else float(F.min()),
           "minima": _clean(np.array(fn.minima)) if fn.minima else []}
    if isinstance(fn, Quadratic):  # the Hessian is the same everywhere: the (η, μ) picture is exact
        lam = np.linalg.eigvalsh(fn.P)
        if lam[0] > 0:
            out["eigenvalues"] = lam.tolist()
            out["rate_maps"] = {m: rate_map(m, lam) for m in ("momentum", "nesterov")}
    return out
