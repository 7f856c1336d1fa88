"""What the live page says about what it shows, checked against the library's own runs.

Train and Compare: the "what to look for" sentences (mlplab.live.explain) from real runs, each
naming the number the run measured (saturation, vanishing and uneven updates, the mean-field
prediction, the He-vs-Xavier spread at initialization and now).

Paths: the Hessian's eigenvalues (exact on the quadratics), each method's stable step-size bound
(against the library's optimizers run just below and just above it), the contraction rate per step,
"diverged" in words, and every function's own default settings converging from its start.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.functions import run_optimizer
from mlplab.live import explain
from mlplab.live import paths as live_paths
from mlplab.live.compare import CompareGroup
from mlplab.live.session import TrainSession


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


# ------------------------------------------------------------------------------------ train and compare
def _run(fps=50, **settings):
    """A real live run to its end; its last frame and its newest frame with ‖ΔW‖/‖W‖."""
    s = TrainSession({"dataset": "spirals", "iterations": 200, "batch_size": 16, "seed": 1, "optimizer": "sgd",
                      "lr": 0.1, **settings}, fps=fps)
    try:
        s.start()
        s.thread.join(120)
        frames = [f for f in s.frames if f["kind"] == "frame"]
        with_ratio = [f for f in frames if any(lay["update_ratio"] for lay in f["layers"])]
        return s, frames[-1], with_ratio[-1]
    finally:
        s.close()


def test_a_deep_sigmoid_network_is_told_its_first_layers_barely_learn():
    s, frame, rf = _run(layers="2," + "64," * 8 + "3", activation="sigmoid", init="xavier")
    notes = explain.train_notes(s.settings, s.predicted_pre_std, frame, rf)
    assert notes[0].startswith("Sigmoid saturates: its slope σ′(z) is at most 1/4")
    ratios = [lay["update_ratio"] for lay in rf["layers"]]
    lo = min((r, i) for i, r in enumerate(ratios) if r)
    assert ratios[-1] / lo[0] > 1e3  # the readings themselves: the first layers' updates vanish
    vanishing = next(n for n in notes if n.startswith("Vanishing updates"))
    assert f"layer {lo[1] + 1} changes by ‖ΔW‖/‖W‖ = {explain._f(lo[0])} per step" in vanishing
    assert any(n.startswith(f"Uneven updates: layer {lo[1] + 1} moves") and f"than layer {len(ratios)}" in n
               for n in notes)


def test_saturation_and_the_mean_field_prediction_are_the_runs_numbers():
    s, frame, rf = _run(layers="2,64,64,64,3", activation="tanh", init="std=1")
    notes = explain.train_notes(s.settings, s.predicted_pre_std, frame, rf)
    sat = [lay["saturated"] for lay in frame["layers"][:-1]]
    k = int(np.argmax(sat))
    assert sat[k] > 0.5  # N(0, 1) weights on 64 inputs: z of std ~8 in the hidden layers, tanh pinned at ±1
    assert f"Saturation now: {sat[k]:.0%} of layer {k + 1}'s units sit on the flat ends of tanh" in " ".join(notes)
    pred = s.predicted_pre_std
    assert (f"std of z grows from {explain._f(pred[0])} in layer 1 to {explain._f(pred[-2])} in layer 3, the last "
            "hidden layer") in " ".join(notes)
    assert any(n.startswith("A fixed std (std=1) ignores the width") for n in notes)
    assert "saturating" in next(n for n in notes if n.startswith("mlplab diagnose says"))


@pytest.mark.parametrize("activation, init, says, not_says", [
    ("tanh", "xavier", "Why Xavier suits tanh: tanh′(0) = 1", "Sigmoid"),
    ("tanh", "he", "He's Var W = 2/n_in is made for ReLU", "Why Xavier"),
    ("relu", "he", "He's Var W = 2/n_in doubles it back", "shrinks by about 1/√2"),
    ("relu", "xavier", "the spread of z shrinks by about 1/√2 per layer", "doubles it back"),
])
def test_the_setting_decides_what_is_said(activation, init, says, not_says):
    notes = " ".join(explain.setting_notes({"activation": activation, "init": init}))
    assert says in notes and not_says not in notes


def test_a_comparison_says_how_the_he_xavier_spread_moved_since_initialization():
    group = CompareGroup({"dataset": "spirals", "layers": "2,64,64,64,64,3", "iterations": 150, "batch_size": 16,
                          "seed": 1, "activation": "relu"}, [{"init": "he"}, {"init": "xavier"}], fps=50)
    try:
        group.start()
        for m in group.members:
            m.thread.join(120)
        members = [(label, m.settings, m.predicted_pre_std, [f for f in m.frames if f["kind"] == "frame"][-1])
                   for label, m in zip(["He", "Xavier"], group.members)]
    finally:
        group.close()
    notes = explain.compare_notes(members)
    he, xa = members[0][2][-2], members[1][2][-2]
    assert he / xa == pytest.approx(4.0)  # Var W twice Xavier's: ×√2 in std per layer, 4 layers deep
    assert notes[0] == (f"At initialization the mean-field prediction puts the std of z in layer 4 (the last hidden "
                        f"layer) at {explain._f(he)} for He vs {explain._f(xa)} for Xavier: a spread of "
                        f"×{explain._f(he / xa)}.")
    now = [m[3]["layers"][3]["z_std"] for m in members]
    ratio = now[0] / now[1]
    assert notes[1].startswith(f"Measured now: {explain._f(now[0])} vs {explain._f(now[1])}, ×{explain._f(ratio)}")
    trend = "grown" if ratio > 1.25 * he / xa else "shrunk" if ratio < he / xa / 1.25 else "about"
    assert trend in notes[1]
    assert any(n.startswith("Xavier: With ReLU") for n in notes) and any(n.startswith("He: ReLU zeroes") for n in notes)


@pytest.mark.parametrize("method", ["momentum", "nesterov"])
def test_the_rate_map_over_eta_and_mu_is_the_per_step_rate_and_its_bound(method):
    """Distill's (η, μ) picture on F2: each cell is :func:`rate` (checked itself against the library's
    runs above), worst over F2's eigenvalues 0.1 and 2; the divergent region is exactly past the
    stable bound (2 + 2μ)/λ_max (Nesterov: over (1 + 2μ) more); oscillation (complex roots) for
    heavy-ball momentum between the critical-damping curves (1 ∓ √μ)²/λ of the slow direction."""
    grid = live_paths.function_grid("f2")
    assert grid["eigenvalues"] == pytest.approx([0.1, 2.0])
    m = grid["rate_maps"][method]
    rng = np.random.default_rng(0)
    for i, j in zip(rng.integers(0, len(m["mu"]), 40), rng.integers(0, len(m["eta"]), 40)):
        hp = {"lr": m["eta"][j], "momentum": m["mu"][i]}
        assert m["rate"][i][j] == pytest.approx(max(live_paths.rate(method, hp, lam) for lam in (0.1, 2.0)), abs=1e-6)
    for i, mu in enumerate(m["mu"]):
        bound = live_paths.lr_bound(method, {"momentum": mu}, 2.0)[0]
        for j, eta in enumerate(m["eta"]):
            if abs(eta / bound - 1) > 0.02:
                assert (m["kind"][i][j] == 2) == (eta > bound), (mu, eta, bound)
    if method == "momentum":  # μ = 0.81: the slow direction (λ = 0.1) oscillates for 0.1 < η < 36.1
        i = min(range(len(m["mu"])), key=lambda k: abs(m["mu"][k] - 0.81))
        mu = m["mu"][i]
        lo, hi = (1 - mu ** 0.5) ** 2 / 0.1, (1 + mu ** 0.5) ** 2 / 2.0  # hi: the fast direction diverges first
        for j, eta in enumerate(m["eta"]):
            if 1.05 * lo < eta < 0.95 * min(hi, live_paths.lr_bound(method, {"momentum": mu}, 2.0)[0]):
                assert m["kind"][i][j] == 1, eta
            elif eta < 0.95 * lo and eta < (1 - mu ** 0.5) ** 2 / 2.0:
                assert m["kind"][i][j] == 0, eta
    assert "rate_maps" not in live_paths.function_grid("rosenbrock")  # exact for quadratics only
