"""The optimizer studies of the lab: each study's claim, checked on the numbers its quick variant
returns, plus direct checks of the same claims with the library's public API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlplab.functions import F2, get_function, run_optimizer


def _run(name, quick_study):
    """The study's quick variant (run once per session by tests/lab_quick.py, seed 0): its numbers."""
    result = quick_study(name)
    out = result.directory
    for fig in result.figures:
        png = out / fig.file
        assert png.exists(), png
        assert png.stat().st_size > 20_000, f"{png} looks empty"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert fig.file in result.markdown, f"the section never refers to {fig.file}"
    for f in ("numbers.json", "section.md", "meta.json"):
        assert (out / f).exists()
    assert json.loads((out / "numbers.json").read_text())  # valid JSON
    assert not result.markdown.lstrip().startswith("#"), "sections are heading-less"
    assert "|---" in result.markdown, "sections carry a table of the numbers"
    return result.numbers


# --------------------------------------------------------------------------- paths
@pytest.fixture(scope="module")
def paths_numbers(quick_study):
    return _run("paths", quick_study)


def test_paths_sgd_zigzags_on_f2_and_ends_farther_than_adagrad(paths_numbers):
    f2 = paths_numbers["F2"]
    assert f2["sgd"]["y_sign_changes"] >= 20  # lr 0.95: y ← −0.9 y every step
    assert f2["adagrad"]["y_sign_changes"] <= 2
    assert f2["sgd"]["final_distance"] > f2["adagrad"]["final_distance"]


def test_paths_newton_reaches_minimum_in_one_step(paths_numbers):
    for fn in ("F1", "F2"):
        assert paths_numbers[fn]["newton"]["distance_after_1"] < 1e-9
        assert paths_numbers[fn]["newton"]["steps_to_tol"] == 1
    path = run_optimizer(F2(), "newton", (-7.0, 2.0), 1)
    np.testing.assert_allclose(path[1], [0.0, 0.0], atol=1e-12)


def test_paths_adagrad_step_shrinks_rmsprop_does_not(paths_numbers):
    eff = paths_numbers["effective_step"]
    a, r = eff["adagrad"], eff["rmsprop"]
    for axis in (0, 1):
        assert a["final"][axis] < 0.5 * a["step_10"][axis]  # AdaGrad: η/√(Σg²) keeps falling
        assert r["final"][axis] > 3 * a["final"][axis]  # RMSProp's moving average forgets


# --------------------------------------------------------------------------- quadratic
@pytest.fixture(scope="module")
def quad_numbers(quick_study):
    return _run("quadratic", quick_study)


def test_quadratic_step_size_limit(quad_numbers):
    gd = quad_numbers["gd"]
    assert gd["diverging"]["diverged"] and gd["diverging"]["fraction_of_limit"] > 1
    for kind in ("slow", "no_overshoot", "oscillating"):
        assert not gd[kind]["diverged"] and gd[kind]["fraction_of_limit"] < 1
    # directly, just either side of 2/λ_max
    fn = get_function("quadratic")
    limit = 2.0 / fn.lambda_max
    gap = lambda lr: fn.f(run_optimizer(fn, "sgd", (1.0, 1.0), 300, lr=lr)[-1]) - fn.f_min  # noqa: E731
    assert gap(0.99 * limit) < 1e-3
    assert gap(1.01 * limit) > 1e3


def test_quadratic_newton_one_step(quad_numbers):
    assert quad_numbers["newton"]["full"]["distance_after_1"] < 1e-9
    assert quad_numbers["newton"]["damped"]["distance_after_1"] > 1.0  # α = 0.5 only halves the error
    fn = get_function("quadratic")
    start = np.random.default_rng(0).normal(size=2) * 5
    path = run_optimizer(fn, "newton", start, 1, lr=1.0)
    np.testing.assert_allclose(path[1], -np.linalg.solve(fn.P, fn.q), atol=1e-10)


def test_quadratic_unbiased_momentum_first_step_is_larger(quad_numbers):
    m = quad_numbers["momentum"]
    ema, unb = m["ema_momentum"]["first_step"], m["unbiased_momentum"]["first_step"]
    assert unb > ema
    np.testing.assert_allclose(unb / ema, 1 / (1 - 0.9), rtol=1e-9)  # bias correction divides by 1 − β
    np.testing.assert_allclose(unb, m["gd"]["first_step"], rtol=1e-9)  # = a plain gradient step


# --------------------------------------------------------------------------- optimizers-mnist
def test_optimizers_mnist_sgd_is_slowest(mnist_dir, quick_study):
    numbers = _run("optimizers-mnist", quick_study)
    opts = numbers["optimizers"]
    assert set(opts) >= {"sgd", "momentum", "adagrad", "adam"}
    assert all(o["n_seeds"] >= 2 for o in opts.values())  # spread over seeds
    sgd = opts["sgd"]["final_loss_mean"]
    for name in ("momentum", "adagrad", "adam"):
        assert sgd > opts[name]["final_loss_mean"], name
        # and not by luck of one seed: SGD's best seed is worse than the other's worst
        assert min(opts["sgd"]["final_loss"]) > max(opts[name]["final_loss"]), name
    assert numbers["ranking_by_final_loss"][-1] == "sgd"
    assert all(0.1 < o["test_acc_mean"] <= 1.0 for o in opts.values())  # real MNIST, actually learned


def test_optimizers_mnist_same_batches_for_every_optimizer(mnist_dir):
    """A race seeds the weights and the batch stream per seed, not per optimizer: the same seed gives the
    same SGD run bit for bit whatever else races, and every optimizer starts on the same loss."""
    from mlplab.data import load, subset
    from mlplab.lab.optimizers_mnist import race

    X, y = subset(*load("mnist", "train"), n=2000, rng=0)
    a = race(X, y, ["sgd", "adam"], 20, seed=3)
    b = race(X, y, ["sgd"], 20, seed=3)
    np.testing.assert_array_equal(a["sgd"]["loss"], b["sgd"]["loss"])
    assert a["sgd"]["loss"][0] == a["adam"]["loss"][0]  # same initial weights, same first batch
    c = race(X, y, ["sgd", "adam"], 20, seed=3, workers=2)  # two worker processes: the same numbers
    for name in ("sgd", "adam"):
        np.testing.assert_array_equal(a[name]["loss"], c[name]["loss"])


# --------------------------------------------------------------------------- batching
@pytest.fixture(scope="module")
def batching_numbers(quick_study, mnist_dir):
    return _run("batching", quick_study)


def test_batching_gradient_noise_falls_with_batch_size(batching_numbers):
    g = batching_numbers["gradient_noise"]
    v = np.asarray(g["relative_variance"])
    assert np.all(np.diff(v) < 0)
    assert -1.3 < g["fitted_slope"] < -0.7  # σ²/|B|


def test_batching_bigger_batches_are_smoother(batching_numbers):
    b = batching_numbers["batch_sizes"]
    sizes = sorted(b, key=int)
    jitter = [b[k]["batch_loss_roughness"] for k in sizes]
    assert all(x > y for x, y in zip(jitter, jitter[1:]))
    assert b[sizes[0]]["final_full_loss_mean"] > b[sizes[-1]]["final_full_loss_mean"]  # batch 1: noisiest


def test_batching_momentum_passes_the_saddle(batching_numbers):
    runs = batching_numbers["saddle"]["runs"]
    assert runs["A/gd"]["ends_in"] == "local minimum"
    assert runs["A/gd_big"]["ends_in"] == "local minimum"
    assert runs["A/momentum"]["ends_in"] == "global minimum"
    assert runs["B/gd"]["ends_in"] == "saddle"  # stalls
    assert runs["B/momentum"]["ends_in"] != "saddle"
    assert runs["B/momentum"]["steps_to_leave_saddle"] is not None


def _square_plus_shared(t):
    from mlplab.lab.base import shared

    return t * t + shared()


def test_parallel_map_keeps_order_and_shares_data():
    import os

    from mlplab.lab.base import parallel_map

    assert parallel_map(_square_plus_shared, range(7), shared=100, workers=2) == [100 + t * t for t in range(7)]
    assert parallel_map(_square_plus_shared, range(3), shared=1, workers=1) == [1, 2, 5]
    assert parallel_map(os.getpid, [], workers=2) == []
