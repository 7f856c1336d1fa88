"""The initialization studies' claims, checked numerically on their quick variants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlplab.diagnose import statistics as D
from mlplab.nn import MLP


def _run(name, quick_study):
    """The study's quick variant (run once per session by tests/lab_quick.py, seed 0): its numbers."""
    result = quick_study(name)
    out = result.directory
    for fig in result.figures:
        assert (out / fig.file).stat().st_size > 10_000, fig.file
    assert (out / "numbers.json").exists() and (out / "section.md").read_text().strip()
    return result.numbers


def test_activations(quick_study):
    n = _run("activations", quick_study)
    assert n["sigmoid"]["std_1"]["saturated"][-1] > 0.40  # piles at 0 and 1
    assert np.max(n["sigmoid"]["std_0.01"]["std"]) < 0.05  # collapses around 0.5
    he = n["relu"]["he"]["std"]
    assert 0.5 < he[-1] / he[0] < 2.0  # He keeps ReLU's spread
    xav = n["relu"]["xavier"]["std"]
    assert np.all(np.diff(xav) < 0)  # Xavier shrinks layer by layer under ReLU
    # the measurement follows Var z_{l+1} = n σ² E[φ(z_l)²] (one weight draw of width 100: sigmoid's mean of
    # 0.5 makes each unit's column sum shift all examples alike, so its layers fluctuate more)
    for act, tol in (("sigmoid", 0.25), ("tanh", 0.1), ("relu", 0.15)):
        for key in ("xavier", "he"):
            s = n[act][key]
            np.testing.assert_allclose(s["std"], s["predicted_std"], rtol=tol)


def test_init_mnist(quick_study, mnist_dir):
    c = _run("init-mnist", quick_study)["claims"]
    assert abs(c["book_std001_final_minus_ln10"]) < 0.05  # std 0.01 never leaves ln 10
    assert c["book_he_final"] < math.log(10) - 1.0  # He falls well below
    assert c["book_he_final"] < c["book_xavier_final"]
    assert c["dlai_zero_max_abs_dev_from_ln10"] < 0.02  # zero init stays at ln 10
    np.testing.assert_allclose(c["dlai_uniform_std_ratio"], 1 / math.sqrt(3), rtol=0.05)
    assert c["dlai_normal_initial_loss"] > 10
    assert c["dlai_best"] == "xavier"


def test_depth(quick_study, mnist_dir):
    c = _run("depth", quick_study)["claims"]
    assert c["grad_ratio_3n_over_1n_min"] > 1e8
    assert 0.1 < c["act_norm_last_over_first"]["2/n"] < 10
    assert c["act_norm_last_over_first"]["1/n"] < 1e-5 and c["act_norm_last_over_first"]["3/n"] > 1e2
    assert c["diverged_3n"]
    assert c["max_relative_change_2n"] < 0.5


def test_linear_chain(quick_study):
    n = _run("linear-chain", quick_study)
    for key, g in (("1.5", 1.5), ("0.5", 0.5), ("1.0", 1.0)):
        np.testing.assert_allclose(n[key]["act_ratio"], g, rtol=0.01)
        np.testing.assert_allclose(n[key]["grad_ratio"], g, rtol=0.01)  # ∂L/∂a_{l-1} = γ ∂L/∂a_l
    assert n["1.5"]["diverged_at"] is not None
    assert n["1.0"]["final_loss"] < 1e-3
    assert n["0.5"]["final_loss"] > 0.9 * n["zero_prediction_cost"]


def test_symmetry(quick_study, mnist_dir):
    n = _run("symmetry", quick_study)
    z = n["zeros"]
    assert all(g == 0.0 for g in z["grad_norm_step0"][:-1]) and z["grad_norm_step0"][-1] > 0
    assert n["claims"]["zeros_step0_nonzero_layers"] == [3]
    assert n["claims"]["constant_distinct_units_final"] == [1, 1]  # after 100 steps
    assert n["claims"]["zeros_distinct_units_final"] == [1, 1]
    assert n["claims"]["random_distinct_units_final"] == [50, 50]
    assert n["constant"]["steps"][-1] == 100


@pytest.mark.parametrize("init", ["zeros", "0.05"])
def test_symmetry_directly_with_the_library(init):
    """Without the lab: a constant or zero net trained 100 steps keeps identical hidden units, and a
    zero net's hidden weight gradients are exactly zero."""
    from mlplab.optim import SGD
    from mlplab.train import Trainer

    rng = np.random.default_rng(0)
    X = rng.random((200, 20)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    net = MLP([20, 8, 8, 3], activation="sigmoid", weight_init=init, rng=0)
    if init == "zeros":
        g = [s.weight_grad_norm for s in D.layer_stats(net, X, y)]
        assert g[0] == 0.0 and g[1] == 0.0 and g[2] > 0
    Trainer(net, SGD(net.parameters(), lr=0.5)).fit(X, y, iterations=100, batch_size=20, rng=0)
    acts = D.probe(net, X, keep_activations=True).activations
    assert [D.count_distinct_units(a) for a in acts[:2]] == [1, 1]


# What the figures were drawn with (quick_study.drawn: the kernel drew them, so this is the report's redraw of each,
# tests/lab_quick.py). Last in the file: in a session that checks every redraw, each study's redraw starts in the
# drawing process as soon as its study has run, and draws while the tests above run the next studies' notebooks
# (asked for right after its study, it kept this process waiting for the redraw with a core idle).
def test_activation_histograms_are_one_outline_per_panel(quick_study):
    patches = {f: d["max_patches"] for f, d in quick_study.drawn("activations").items()}
    # a histogram is one filled outline per panel: 30 bars a panel, 1800 a figure, made the quick run's drawing slow
    assert all(patches[f"hist_{act}.png"] == 1 for act in ("sigmoid", "tanh", "relu")), patches


def test_symmetry_heat_maps_say_what_their_colour_measures(quick_study, mnist_dir):
    # every axis label of the figures, colour bars included
    labels = {f: d["ylabels"] for f, d in quick_study.drawn("symmetry").items()}
    assert "activation sigmoid(z)" in labels["symmetry.png"]  # the heat maps' colour says what it measures
