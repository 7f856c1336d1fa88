"""What the live page says about what it shows, checked against the library's own runs.

Paths: the Hessian's eigenvalues (exact on the quadratics), each method's stable step-size bound
(against the library's optimizers run just below and just above it), the contraction rate per step,
"diverged" in words, and every function's own default settings converging from its start.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.functions import run_optimizer
from mlplab.live import paths as live_paths


# ------------------------------------------------------------------------------------ paths
@pytest.mark.parametrize("function, eig, expected", [
    ("f1", None, [2.0, 2.0]), ("f2", None, [0.1, 2.0]), ("quadratic", None, [0.5, 9.5]),
    ("eigen", (3.0, 7.0), [3.0, 7.0])])
def test_the_hessian_eigenvalues_of_the_quadratics_are_exact(function, eig, expected):
    for start in ([-7.0, 2.0], [3.0, -4.0]):  # the same wherever the start is
        r = live_paths.compute_paths(function, start, 5, {"sgd": {"lr": 0.01}}, eig=eig or (1.0, 10.0))
        assert r["hessian"]["exact"] and r["hessian"]["eigenvalues"] == pytest.approx(expected, abs=1e-12)
    rosen = live_paths.compute_paths("rosenbrock", [-1.4, 2.4], 5, {"sgd": {"lr": 1e-4}})
    hxx, hxy, hyy = 2 - 400 * (2.4 - 1.96) + 800 * 1.96, 400 * 1.4, 200.0  # by hand, at (-1.4, 2.4)
    assert not rosen["hessian"]["exact"]
    assert rosen["hessian"]["eigenvalues"] == pytest.approx(np.linalg.eigvalsh([[hxx, hxy], [hxy, hyy]]))


def _distance_after(function, method, hp, steps=3000, start=(-7.0, 2.0)):
    fn = live_paths.make_function(function)
    hp = live_paths.hyperparameters(method, hp)
    path = (live_paths.newton_path(fn, list(start), steps, **hp) if method == "newton"
            else run_optimizer(fn, method, list(start), steps, **hp))
    with np.errstate(all="ignore"):
        return float(np.linalg.norm(path[-1] - fn.minimum)), float(np.linalg.norm(path[0] - fn.minimum))


@pytest.mark.parametrize("function", ["f2", "quadratic"])
@pytest.mark.parametrize("method, extra", [("sgd", {}), ("momentum", {"momentum": 0.9}),
                                           ("momentum", {"momentum": 0.5}), ("nesterov", {"momentum": 0.9}),
                                           ("nesterov", {"momentum": 0.3}), ("newton", {})])
def test_the_stable_step_size_bound_is_where_the_library_optimizer_starts_to_diverge(function, method, extra):
    """Just below the bound the library's optimizer converges, just above it the error grows."""
    bound = live_paths.compute_paths(function, [-7, 2], 5, {method: {"lr": 0.01, **extra}})["bounds"][method]["lr"]
    below, d0 = _distance_after(function, method, {"lr": 0.97 * bound, **extra})
    above, _ = _distance_after(function, method, {"lr": 1.03 * bound, **extra})
    assert below < 1e-3 * d0, (bound, below)
    assert not above < d0, (bound, above)  # grown (or gone to inf / nan)


@pytest.mark.parametrize("method, hp", [("sgd", {"lr": 0.7}), ("sgd", {"lr": 1.4}),
                                        ("momentum", {"lr": 0.3, "momentum": 0.6}),
                                        ("nesterov", {"lr": 0.2, "momentum": 0.8})])
def test_the_rate_per_step_is_the_measured_contraction(method, hp):
    """F2's error along its flat direction (λ = 0.1) shrinks by the stated factor per step."""
    fn = live_paths.make_function("f2")
    path = run_optimizer(fn, method, [-7.0, 0.0], 400, **hp)
    measured = (abs(path[400, 0]) / abs(path[200, 0])) ** (1 / 200)
    assert live_paths.rate(method, hp, 0.1) == pytest.approx(measured, rel=0.02)


def test_diverged_is_said_in_words_with_the_bound_it_passed():
    r = live_paths.compute_paths("f2", [-7, 2], 400, {"sgd": {"lr": 1.5}, "momentum": {"lr": 0.1, "momentum": 0.9}})
    assert r["diverged"]["sgd"] is not None and r["diverged"]["momentum"] is None
    assert r["words"]["sgd"].startswith(f"SGD: diverged at step {r['diverged']['sgd']}")
    assert "η = 1.5 > 1, the stable limit" in r["words"]["sgd"]
    assert "diverge" not in r["words"]["momentum"] and "shrinks ×0.949 per step" in r["words"]["momentum"]


@pytest.mark.parametrize("function", live_paths.FUNCTIONS)
def test_each_function_opens_with_settings_that_converge(function):
    """Each function's own defaults: no optimizer diverges from its start, and each ends lower than
    it started (Rosenbrock used to open with SGD, Momentum and Nesterov diverged)."""
    d = live_paths.function_defaults(function)
    r = live_paths.compute_paths(function, d["start"], d["steps"], d["hp"])
    assert set(r["paths"]) == set(live_paths.METHODS) and not r["errors"]
    assert all(k is None for k in r["diverged"].values()), r["diverged"]
    for name, f in r["f"].items():
        assert f[-1] < f[0], (name, f[0], f[-1])
    for name, b in r["bounds"].items():  # and, where a bound applies at the start, below it
        assert d["hp"][name]["lr"] < b["lr"], (function, name, d["hp"][name]["lr"], b)
