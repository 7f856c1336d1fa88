"""Test functions for optimizers, with exact gradients and Hessians, and a driver that records paths.

Each function is an object with

- ``f(xy)``, ``grad(xy)``, ``hessian(xy)``: NumPy, exact; ``xy`` has its coordinates on the last
  axis, so ``f`` also evaluates whole grids (``f(np.stack([X, Y], -1))``) for contour plots;
- ``fn(tensor)``: the same function written with Tensor operations, so autodiff (and
  :func:`mlplab.tensor.hessian`, which Newton's method uses) works on it;
- ``minima`` (global minimizer first), ``f_min``, ``name``, and a plotting range ``xlim``/``ylim``.

:func:`run_optimizer` moves a single Tensor point with any optimizer of :mod:`mlplab.optim` (the
real classes, not copies of their rules) and returns the path.
"""

from __future__ import annotations

import numpy as np

from .activations import normalize_name
from .optim import Newton, get_optimizer
from .tensor import Tensor

__all__ = ["TestFunction", "Quadratic", "F1", "F2", "Rosenbrock", "Saddle", "FUNCTIONS", "get_function",
           "run_optimizer"]


class TestFunction:
    """Base class: subclasses define ``f``, ``grad``, ``hessian``, ``__call__`` and ``minima``."""

    __test__ = False  # not a pytest test class
    name = "function"
    xlim = ylim = (-10.0, 10.0)
    minima: list[np.ndarray] = []

    @property
    def minimum(self):
        """The global minimizer."""
        return self.minima[0]

    @property
    def f_min(self):
        return float(self.f(self.minimum))

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


class Quadratic(TestFunction):
    """f(θ) = ½ θᵀPθ + qᵀθ in any dimension n (CMU *Deep Learning Systems*, the optimization lecture).

    ∇f = Pθ + q (P symmetric), ∇²f = P. If P is positive definite, the unique minimizer is
    θ* = −P⁻¹q, and gradient descent converges iff 0 < η < 2/λ_max (``lambda_max``), fastest near
    η = 2/(λ_min + λ_max); Newton with α = 1 lands on θ* in one step.
    """

    def __init__(self, P, q=None, name="quadratic", xlim=None, ylim=None):
        P = np.array(P, dtype=np.float64)
        if P.ndim != 2 or P.shape[0] != P.shape[1] or not np.allclose(P, P.T):
            raise ValueError(f"Quadratic: P must be a symmetric square matrix, got {P.shape}")
        self.P = P
        self.q = np.zeros(len(P)) if q is None else np.array(q, dtype=np.float64)
        if self.q.shape != (len(P),):
            raise ValueError(f"Quadratic: q must have shape ({len(P)},), got {self.q.shape}")
        self.name = name
        eig = np.linalg.eigvalsh(P)
        self.lambda_min, self.lambda_max = float(eig[0]), float(eig[-1])
        self.minima = [np.linalg.solve(P, -self.q)] if self.lambda_min > 0 else []
        c = self.minima[0] if self.minima else np.zeros(len(P))
        self.xlim = xlim or (c[0] - 5.0, c[0] + 5.0)
        self.ylim = ylim or ((c[1] - 5.0, c[1] + 5.0) if len(c) > 1 else self.xlim)

    @property
    def minimizer(self):
        """θ* = −P⁻¹q."""
        return self.minimum

    @property
    def condition_number(self):
        return self.lambda_max / self.lambda_min

    def f(self, xy):
        xy = np.asarray(xy, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", xy, self.P, xy) + xy @ self.q

    def grad(self, xy):
        return np.asarray(xy, dtype=np.float64) @ self.P + self.q  # P symmetric: θᵀP = (Pθ)ᵀ

    def hessian(self, xy):
        xy = np.asarray(xy)
        return np.broadcast_to(self.P, xy.shape[:-1] + self.P.shape).copy()

    def __call__(self, t):
        P, q = self.P.astype(t.dtype), self.q.astype(t.dtype)
        return 0.5 * (t @ (P @ t)) + (t * q).sum()


def F1():
    """F1(x, y) = x² + y² (*Deep Learning from Scratch* ch. 6): round bowl, every gradient points at
    the minimum (0, 0)."""
    return Quadratic(2.0 * np.eye(2), name="F1", xlim=(-10.0, 10.0), ylim=(-10.0, 10.0))


def F2():
    """F2(x, y) = 0.05 x² + y² = x²/20 + y² (*Deep Learning from Scratch* ch. 6): an elongated bowl;
    the gradient barely points along x (curvatures 0.1 and 2, condition number 20), so SGD zig-zags
    in y and crawls in x."""
    return Quadratic(np.diag([0.1, 2.0]), name="F2", xlim=(-10.0, 10.0), ylim=(-10.0, 10.0))


class Rosenbrock(TestFunction):
    """f(x, y) = (a − x)² + b (y − x²)²: a curved, flat-bottomed valley; minimum 0 at (a, a²)."""

    def __init__(self, a=1.0, b=100.0):
        self.a, self.b = float(a), float(b)
        self.name = "rosenbrock"
        self.minima = [np.array([self.a, self.a ** 2])]
        self.xlim, self.ylim = (-2.0, 2.0), (-1.0, 3.0)

    def f(self, xy):
        x, y = np.moveaxis(np.asarray(xy, dtype=np.float64), -1, 0)
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2

    def grad(self, xy):
        x, y = np.moveaxis(np.asarray(xy, dtype=np.float64), -1, 0)
        r = y - x * x
        return np.stack([-2 * (self.a - x) - 4 * self.b * x * r, 2 * self.b * r], -1)

    def hessian(self, xy):
        x, y = np.moveaxis(np.asarray(xy, dtype=np.float64), -1, 0)
        hxx = 2 - 4 * self.b * (y - x * x) + 8 * self.b * x * x
        hxy = -4 * self.b * x
        hyy = np.full_like(x, 2 * self.b)
        return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)

    def __call__(self, t):
        x, y = t[0], t[1]
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2


class Saddle(TestFunction):
    """A tilted double well: f(x, y) = x⁴/4 − x²/2 + c·x + y²/2, with c = ``tilt`` = 0.1.

    Critical points lie on y = 0 at the roots of x³ − x + c = 0. For c = 0.1:

    - global minimum  (−1.0466, 0), f = −0.3528
    - saddle point    ( 0.1010, 0), f = +0.0050  (a maximum along x, a minimum along y)
    - local minimum   ( 0.9456, 0), f = −0.1526

    From (2, 1), gradient descent (lr 0.01 or 0.1) settles in the local minimum, while momentum
    (lr 0.01, μ 0.9, the source book's setting) arrives with enough speed to cross the saddle and
    ends in the global minimum (300 steps; tested). From a start with x at the saddle's x (e.g.
    (0.1010, 1.5), ``saddle_point[0]``) the x-gradient is zero all the way and gradient descent
    stops on the saddle. (Momentum with lr 0.1 oscillates back into the local minimum: whether it
    "carries through" depends on the settings.)
    """

    def __init__(self, tilt=0.1):
        self.tilt = float(tilt)
        self.name = "saddle"
        roots = np.sort(np.roots([1.0, 0.0, -1.0, self.tilt]).real)
        if len(roots) != 3:  # pragma: no cover - only for |tilt| >= 2/(3√3)
            raise ValueError("Saddle: tilt too large, the function has a single minimum")
        lo, mid, hi = (np.array([r, 0.0]) for r in roots)
        # for tilt > 0 the left well is deeper
        self.global_minimum, self.local_minimum = (lo, hi) if self.f(lo) <= self.f(hi) else (hi, lo)
        self.saddle_point = mid
        self.minima = [self.global_minimum, self.local_minimum]
        self.xlim, self.ylim = (-2.0, 2.0), (-2.0, 2.0)

    def f(self, xy):
        x, y = np.moveaxis(np.asarray(xy, dtype=np.float64), -1, 0)
        return x ** 4 / 4 - x ** 2 / 2 + self.tilt * x + y ** 2 / 2

    def grad(self, xy):
        x, y = np.moveaxis(np.asarray(xy, dtype=np.float64), -1, 0)
        return np.stack([x ** 3 - x + self.tilt, y], -1)

    def hessian(self, xy):
        x, y = np.moveaxis(np.asarray(xy, dtype=np.float64), -1, 0)
        zero = np.zeros_like(x)
        return np.stack([np.stack([3 * x * x - 1, zero], -1), np.stack([zero, np.ones_like(y)], -1)], -2)

    def __call__(self, t):
        x, y = t[0], t[1]
        return x ** 4 * 0.25 - x * x * 0.5 + x * self.tilt + y * y * 0.5


def _example_quadratic():
    """The lab's ill-conditioned 2-D quadratic: P has eigenvalues 0.5 and 9.5 (κ = 19) along the
    diagonals, q = (1, −2); θ* = −P⁻¹q."""
    return Quadratic([[5.0, 4.5], [4.5, 5.0]], [1.0, -2.0], name="quadratic")


FUNCTIONS = {"f1": F1, "f2": F2, "quadratic": _example_quadratic, "rosenbrock": Rosenbrock, "saddle": Saddle}


def get_function(name, **kwargs):
    """A fresh test function by name: f1, f2, quadratic, rosenbrock, saddle."""
    key = normalize_name(name)
    if key not in FUNCTIONS:
        raise ValueError(f"Unknown function {name!r}; valid names: {', '.join(FUNCTIONS)}")
    return FUNCTIONS[key](**kwargs)


def run_optimizer(fn, optimizer, start, steps, schedule=None, **hparams):
    """Run an optimizer on ``fn`` from ``start`` for ``steps`` steps; return the path.

    ``optimizer`` is a registry name (``"sgd"``, ``"adam"``, ``"newton"``, ...; unspecified
    hyperparameters come from ``DEFAULT_HPARAMS``) or a factory called as
    ``optimizer([point], **hparams)`` (an optimizer class works). ``schedule``, if given, is
    called with the optimizer and must return a schedule (e.g. ``lambda o: StepLR(o, 10)``).
    The point is a float64 Tensor; first-order methods get the exact gradient ``fn.grad``, Newton
    gets a closure and differentiates ``fn`` twice by autodiff. Returns an array of shape
    (steps + 1, n): the start, then the iterate after each step (``optimizer.iterates()``, which
    for NesterovEMA is θ rather than the look-ahead point). A diverging run fills with inf/nan.
    """
    x = Tensor(np.array(start, dtype=np.float64), requires_grad=True)
    if x.ndim != 1:
        raise ValueError(f"run_optimizer: start must be a vector, got shape {x.shape}")
    opt = get_optimizer(optimizer, [x], **hparams) if isinstance(optimizer, str) else optimizer([x], **hparams)
    sched = schedule(opt) if schedule is not None else None
    path = np.empty((steps + 1, x.size))
    path[0] = x.data
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            if isinstance(opt, Newton):
                opt.step(lambda: fn(x))
            else:
                x.grad = fn.grad(x.data)
                opt.step()
            if sched is not None:
                sched.step()
            path[k] = opt.iterates()[0]
    return path
