"""Newton's method: one full step solves a quadratic, damping shrinks the error by 1 − α, the step against
its formula on Rosenbrock, the modes for an indefinite Hessian, and its refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlplab.functions import Quadratic, Rosenbrock, Saddle, run_optimizer
from mlplab.optim import Newton
from mlplab.tensor import Tensor

# ------------------------------------------------------------------------------ Newton
QUADS = [
    Quadratic([[5.0, 4.5], [4.5, 5.0]], [1.0, -2.0]),
    Quadratic(np.diag([0.1, 2.0])),
    Quadratic((lambda A: A @ A.T + 0.1 * np.eye(5))(np.random.default_rng(1).normal(size=(5, 5))),
              np.random.default_rng(2).normal(size=5)),
]


@pytest.mark.parametrize("quad", QUADS, ids=["2d_rotated", "F2", "5d"])
def test_newton_full_step_solves_a_quadratic_in_one_step(quad):
    start = np.arange(1.0, quad.P.shape[0] + 1) * 3
    path = run_optimizer(quad, "newton", start, 1, lr=1.0)
    np.testing.assert_allclose(path[1], quad.minimizer, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 0.25])
def test_damped_newton_shrinks_the_error_by_1_minus_alpha(alpha):
    quad = QUADS[0]
    path = run_optimizer(quad, "newton", [3.0, -4.0], 4, lr=alpha)
    errors = path - quad.minimizer
    for k in range(5):
        np.testing.assert_allclose(errors[k], (1 - alpha) ** k * errors[0], atol=1e-10)


def test_newton_matches_formula_on_rosenbrock_with_damping_and_several_tensors():
    rosen, delta, alpha = Rosenbrock(), 0.5, 0.8
    x, y = Tensor(np.array(-1.2), requires_grad=True), Tensor(np.array(1.0), requires_grad=True)
    opt = Newton([x, y], lr=alpha, damping=delta)
    theta = np.array([-1.2, 1.0])
    for _ in range(5):
        loss = opt.step(lambda: rosen(_stack2(x, y)))
        assert math.isclose(loss.item(), rosen.f(theta), rel_tol=1e-14)
        theta = theta - alpha * np.linalg.solve(rosen.hessian(theta) + delta * np.eye(2), rosen.grad(theta))
        np.testing.assert_allclose([x.item(), y.item()], theta, atol=1e-12)
    assert x.grad is None and y.grad is None


def _stack2(x, y):
    """(x, y) as one vector Tensor built from two scalar Tensors (for the test functions)."""
    ex, ey = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    return x * ex + y * ey


def test_newton_indefinite_hessian_modes():
    saddle = Saddle()
    start = [0.2, 0.5]  # f_xx = 3x² − 1 < 0: the Hessian is indefinite here
    with pytest.raises(ValueError, match="not positive definite.*smallest eigenvalue"):
        run_optimizer(saddle, "newton", start, 1)
    g, H = saddle.grad(np.array(start)), saddle.hessian(np.array(start))
    path = run_optimizer(saddle, "newton", start, 1, lr=0.5, on_indefinite="gradient")
    np.testing.assert_allclose(path[1], start - 0.5 * g, atol=1e-14)
    lam = np.diag(H)  # the saddle's Hessian is diagonal: its eigenvalues are f_xx and f_yy
    path = run_optimizer(saddle, "newton", start, 1, on_indefinite="regularize")
    np.testing.assert_allclose(path[1], start - g / np.abs(lam), atol=1e-12)  # |λ| replaces λ
    assert saddle.f(path[1]) < saddle.f(np.array(start))
    # enough damping makes the plain Newton step legal again
    run_optimizer(saddle, "newton", start, 1, damping=-lam.min() + 0.1)


def test_newton_refuses_too_many_parameters_and_needs_a_closure():
    big = Tensor(np.zeros(5000), requires_grad=True)
    with pytest.raises(ValueError, match=r"5000 parameters.*max_params=4096"):
        Newton([big])
    Newton([big], max_params=5000)
    small = Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(ValueError, match="closure"):
        Newton([small]).step()
