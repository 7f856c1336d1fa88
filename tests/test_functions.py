"""2-D test functions: analytic gradients and Hessians against autodiff and finite differences,
their critical points, and the path driver."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.functions import F1, F2, FUNCTIONS, Quadratic, Rosenbrock, Saddle, get_function, run_optimizer
from mlplab.optim import SGD, StepLR
from mlplab.tensor import Tensor, grad, hessian

ALL = [pytest.param(name, id=name) for name in FUNCTIONS]
POINTS = [np.array([0.3, -1.2]), np.array([-2.0, 0.7]), np.array([1.5, 2.5])]


def fd_grad(f, xy, h=1e-6):
    e = np.eye(len(xy)) * h
    return np.array([(f(xy + ei) - f(xy - ei)) / (2 * h) for ei in e])


def grad_is_consistent(f, g, xy):
    return np.allclose(fd_grad(f, xy), g(xy), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_autodiff_gradient_and_hessian_equal_the_analytic_ones(name):
    fn = get_function(name)
    for xy in POINTS:
        t = Tensor(xy.copy(), requires_grad=True)
        value = fn(t)
        assert abs(value.item() - fn.f(xy)) <= 1e-12 * max(1.0, abs(fn.f(xy)))
        np.testing.assert_allclose(grad(value, t).data, fn.grad(xy), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(hessian(fn, t), fn.hessian(xy), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_analytic_derivatives_agree_with_finite_differences(name):
    fn = get_function(name)
    for xy in POINTS:
        assert grad_is_consistent(fn.f, fn.grad, xy)
        columns = np.array([fd_grad(lambda p, i=i: fn.grad(p)[i], xy) for i in range(2)])
        np.testing.assert_allclose(columns, fn.hessian(xy), rtol=1e-6, atol=1e-5)


def test_the_finite_difference_check_catches_a_wrong_gradient():
    fn = Rosenbrock()
    wrong = lambda xy: fn.grad(xy) * np.array([1.0, 1.001])  # 0.1 % off in y
    assert not grad_is_consistent(fn.f, wrong, POINTS[0])


@pytest.mark.parametrize("name", ALL)
def test_minima_are_critical_points_with_positive_definite_hessians(name):
    fn = get_function(name)
    for m in fn.minima:
        np.testing.assert_allclose(fn.grad(m), 0.0, atol=1e-12)
        assert np.linalg.eigvalsh(fn.hessian(m)).min() > 0
    assert fn.f_min == pytest.approx(fn.f(fn.minimum))
    lo_x, hi_x = fn.xlim
    lo_y, hi_y = fn.ylim
    assert lo_x < fn.minimum[0] < hi_x and lo_y < fn.minimum[1] < hi_y


@pytest.mark.parametrize("fn, xy, value", [
    (F1(), [3.0, 4.0], 25.0),
    (F2(), [-7.0, 2.0], 0.05 * 49 + 4),
    (Rosenbrock(), [1.0, 1.0], 0.0),
    (Rosenbrock(), [-1.2, 1.0], 24.2),
    (Rosenbrock(a=2.0, b=10.0), [0.0, 0.0], 4.0),
    (Saddle(), [1.0, 2.0], 0.25 - 0.5 + 0.1 + 2.0),
    (Quadratic([[2.0, 1.0], [1.0, 4.0]], [1.0, -1.0]), [1.0, 2.0], 0.5 * (2 + 4 + 16) + 1 - 2),
], ids=["F1", "F2", "rosen_min", "rosen_start", "rosen_ab", "saddle", "quadratic"])
def test_known_values(fn, xy, value):
    assert fn.f(np.array(xy)) == pytest.approx(value, rel=1e-14)


def test_functions_evaluate_grids():
    X, Y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-2, 2, 7))
    grid = np.stack([X, Y], -1)
    for name in FUNCTIONS:
        fn = get_function(name)
        Z = fn.f(grid)
        assert Z.shape == (7, 5)
        assert Z[3, 1] == pytest.approx(fn.f(grid[3, 1]))
        assert fn.grad(grid).shape == (7, 5, 2)


def test_quadratic_minimizer_lambda_max_and_n_dimensions():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    P, q = A @ A.T + np.eye(4), rng.normal(size=4)
    quad = Quadratic(P, q)
    np.testing.assert_allclose(quad.minimizer, -np.linalg.solve(P, q))
    assert quad.lambda_max == pytest.approx(np.linalg.eigvalsh(P).max())
    np.testing.assert_allclose(quad.grad(quad.minimizer), 0.0, atol=1e-12)
    x = rng.normal(size=4)
    t = Tensor(x.copy(), requires_grad=True)
    np.testing.assert_allclose(hessian(quad, t), P, atol=1e-12)
    assert F2().lambda_max == 2.0 and F2().condition_number == pytest.approx(20.0)
    with pytest.raises(ValueError, match="symmetric"):
        Quadratic([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="Unknown function 'himmelblau'; valid names: f1"):
        get_function("himmelblau")


def test_saddle_critical_points():
    s = Saddle()
    np.testing.assert_allclose(s.global_minimum, [-1.0466805, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.saddle_point, [0.1010313, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.local_minimum, [0.9456493, 0.0], atol=1e-6)
    np.testing.assert_allclose(s.grad(s.saddle_point), 0.0, atol=1e-12)
    eig = np.linalg.eigvalsh(s.hessian(s.saddle_point))
    assert eig[0] < 0 < eig[1]  # a saddle: down along x, up along y
    assert s.f(s.global_minimum) < s.f(s.local_minimum) < s.f(s.saddle_point)


# ------------------------------------------------------------------------------ the driver
def test_run_optimizer_path_is_the_sgd_iteration():
    fn, lr = F2(), 0.3
    path = run_optimizer(fn, "sgd", [-7.0, 2.0], 10, lr=lr)
    assert path.shape == (11, 2)
    theta = np.array([-7.0, 2.0])
    for k in range(11):
        np.testing.assert_allclose(path[k], theta, atol=1e-14)
        theta = theta - lr * fn.grad(theta)


def test_run_optimizer_accepts_a_factory_and_a_schedule():
    fn = F1()
    a = run_optimizer(fn, SGD, [3.0, 4.0], 6, lr=0.1, schedule=lambda o: StepLR(o, step_size=3, gamma=0.5))
    factors = [1 - 2 * 0.1] * 3 + [1 - 2 * 0.05] * 3  # F1's gradient is 2θ
    np.testing.assert_allclose(a[-1], np.array([3.0, 4.0]) * np.prod(factors), atol=1e-14)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        run_optimizer(fn, "lbfgs", [1.0, 1.0], 1)


@pytest.mark.parametrize("factor, converges", [(0.5, True), (1.9, True), (2.1, False)])
def test_gradient_descent_diverges_beyond_2_over_lambda_max(factor, converges):
    quad = get_function("quadratic")
    path = run_optimizer(quad, "sgd", [3.0, -4.0], 400, lr=factor / quad.lambda_max)
    err = np.linalg.norm(path[-1] - quad.minimizer)
    assert (err < 1e-3) if converges else (not np.isfinite(err) or err > 1e3)


@pytest.mark.parametrize("name", ["f1", "f2", "quadratic"])
def test_newton_lands_on_the_minimum_in_one_step(name):
    fn = get_function(name)
    path = run_optimizer(fn, "newton", [-7.0, 2.0], 1)
    np.testing.assert_allclose(path[1], fn.minimum, atol=1e-12)


SADDLE_STORY = [  # start, optimizer, hyperparameters, where it ends
    ([2.0, 1.0], "sgd", {"lr": 0.01}, "local_minimum"),
    ([2.0, 1.0], "sgd", {"lr": 0.1}, "local_minimum"),
    ([2.0, 1.0], "momentum", {"lr": 0.01, "momentum": 0.9}, "global_minimum"),
    ("saddle_x", "sgd", {"lr": 0.1}, "saddle_point"),
]


@pytest.mark.parametrize("start, name, hp, end", SADDLE_STORY)
def test_gradient_descent_stalls_where_momentum_carries_through(start, name, hp, end):
    s = Saddle()
    start = [s.saddle_point[0], 1.5] if start == "saddle_x" else start
    path = run_optimizer(s, name, start, 1000, **hp)
    np.testing.assert_allclose(path[-1], getattr(s, end), atol=1e-3)


def test_unbiased_momentum_takes_full_steps_early():
    fn = get_function("quadratic")
    plain = run_optimizer(fn, "ema_momentum", [3.0, -4.0], 1, lr=0.05, momentum=0.9)
    unbiased = run_optimizer(fn, "ema_momentum", [3.0, -4.0], 1, lr=0.05, momentum=0.9, bias_correction=True)
    sgd = run_optimizer(fn, "sgd", [3.0, -4.0], 1, lr=0.05)
    np.testing.assert_allclose(unbiased[1], sgd[1], atol=1e-14)  # û₁ = g₁: a full gradient step
    np.testing.assert_allclose(plain[1] - plain[0], 0.1 * (sgd[1] - sgd[0]), atol=1e-14)  # u₁ = (1−β) g₁


def test_nesterov_ema_path_records_theta():
    fn = F2()
    path = run_optimizer(fn, "nesterov_ema", [-7.0, 2.0], 3, lr=0.5, momentum=0.5)
    theta, u, lr, b = np.array([-7.0, 2.0]), np.zeros(2), 0.5, 0.5
    for k in range(1, 4):
        u = b * u + (1 - b) * fn.grad(theta - lr * u)
        theta = theta - lr * u
        np.testing.assert_allclose(path[k], theta, atol=1e-14)
