"""diagnostics: per-layer statistics against hand computations, theory against Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.diagnose import statistics as D
from mlplab.init import theoretical_std
from mlplab.nn import MLP
from mlplab.optim import SGD
from mlplab.train import Callback, Trainer


def _tiny():
    """3-2-2 ReLU network with hand-set weights (no randomness)."""
    m = MLP([3, 2, 2], activation="relu", weight_init="zeros", rng=0, dtype=np.float64)
    m.linears[0].weight.data[...] = [[1.0, -1.0], [0.5, -2.0], [-1.0, 0.0]]
    m.linears[0].bias.data[...] = [0.1, -0.2]
    m.linears[1].weight.data[...] = [[2.0, -1.0], [1.0, 3.0]]
    m.linears[1].bias.data[...] = [0.0, 0.5]
    X = np.array([[1.0, 2.0, 0.5], [-1.0, 1.0, 1.0]])
    y = np.array([1, 0])
    return m, X, y


def _hand(m, X, y):
    """Forward and backward of the tiny network written out in NumPy."""
    W1, b1 = m.linears[0].weight.data, m.linears[0].bias.data
    W2, b2 = m.linears[1].weight.data, m.linears[1].bias.data
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    g2 = (p - np.eye(2)[y]) / len(y)  # dL/dz2
    ga1 = g2 @ W2.T
    g1 = ga1 * (z1 > 0)
    return dict(z1=z1, a1=a1, z2=z2, loss=loss, g2=g2, ga1=ga1, g1=g1, gW1=X.T @ g1, gW2=a1.T @ g2)


def test_layer_stats_match_hand_computation():
    m, X, y = _tiny()
    h = _hand(m, X, y)
    p = D.probe(m, X, y, keep_activations=True)
    s1, s2 = p.layers
    assert p.loss == pytest.approx(h["loss"], rel=1e-12)
    assert (s1.fan_in, s1.fan_out, s1.activation, s2.activation) == (3, 2, "relu", "identity")
    np.testing.assert_allclose(p.activations[0], h["a1"])
    assert s1.pre_mean == pytest.approx(h["z1"].mean())
    assert s1.pre_std == pytest.approx(h["z1"].std())
    assert s1.pre_sq == pytest.approx(np.mean(h["z1"] ** 2))
    assert s1.act_mean == pytest.approx(h["a1"].mean())
    assert s1.act_std == pytest.approx(h["a1"].std())
    assert s1.act_norm == pytest.approx(np.linalg.norm(h["a1"]))
    # a1 = [[1.6, 0], [0, 0]]: three of four outputs are zero, unit 2 is zero on both examples
    assert s1.zero == pytest.approx(0.75)
    assert s1.dead == pytest.approx(0.5)
    assert np.isnan(s1.saturated) and np.isnan(s2.dead)
    assert s1.weight_grad_norm == pytest.approx(np.linalg.norm(h["gW1"]), rel=1e-12)
    assert s2.weight_grad_norm == pytest.approx(np.linalg.norm(h["gW2"]), rel=1e-12)
    assert s2.pre_grad_norm == pytest.approx(np.linalg.norm(h["g2"]), rel=1e-12)
    assert s1.act_grad_norm == pytest.approx(np.linalg.norm(h["ga1"]), rel=1e-12)
    assert s1.pre_grad_norm == pytest.approx(np.linalg.norm(h["g1"]), rel=1e-12)
    assert s1.weight_norm == pytest.approx(np.linalg.norm(m.linears[0].weight.data))


def test_probe_leaves_parameter_grads_alone_and_without_labels_has_no_gradients():
    m, X, y = _tiny()
    for p in m.parameters():
        p.grad = np.full(p.shape, 7.0)
    s = D.layer_stats(m, X, y)
    assert all(np.all(p.grad == 7.0) for p in m.parameters())
    s0 = D.layer_stats(m, X)
    assert np.isnan(s0[0].weight_grad_norm) and s0[0].act_std == pytest.approx(s[0].act_std)


@pytest.mark.parametrize("act,z,expect", [
    ("sigmoid", [-10.0, -1.0, 0.0, 5.0], 0.5),  # sigmoid(-10) < 0.01, sigmoid(5) ≈ 0.9933 > 0.99
    ("tanh", [-3.0, -0.5, 0.5, 2.5], 0.25),  # tanh(-3) = -0.995, tanh(2.5) = 0.9866
])
def test_saturated_fraction(act, z, expect):
    m = MLP([1, 4], activation=act, output_activation=act, weight_init="zeros", rng=0, dtype=np.float64)
    m.linears[0].bias.data[...] = z
    (s,) = D.layer_stats(m, np.zeros((3, 1)))
    assert s.saturated == pytest.approx(expect)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "identity", "leaky_relu"])
@pytest.mark.parametrize("var", [0.01, 1.0, 30.0, 1e4])
def test_second_and_derivative_moments_against_monte_carlo(act, var):
    z = np.random.default_rng(1).normal(0.0, np.sqrt(var), 1_000_000)
    phi, dphi = D.activation_fn(act)
    # Monte-Carlo error of 10^6 samples is a few 1e-3 where φ' lives on a small part of the Gaussian
    assert D.second_moment(act, var) == pytest.approx(np.mean(phi(z) ** 2), rel=1e-2)
    assert D.derivative_moment(act, var) == pytest.approx(np.mean(dphi(z) ** 2), rel=1e-2, abs=1e-4)


def test_gaussian_expectation_of_polynomials_is_exact():
    assert D.gaussian_expectation(lambda z: z**2, 3.0) == pytest.approx(3.0, rel=1e-6)
    assert D.gaussian_expectation(lambda z: z**4, 2.0) == pytest.approx(3 * 4.0, rel=1e-6)
    assert D.gaussian_expectation(np.cos, 0.0) == 1.0


@pytest.mark.parametrize("act,init", [("relu", "he"), ("relu", "xavier"), ("tanh", "xavier"),
                                      ("sigmoid", "std=0.3"), ("tanh", "standard_normal")])
def test_predicted_variance_matches_wide_random_networks(act, init):
    """Var z_{l+1} = n σ² E[φ(z_l)²] on networks of width 256, averaged over 16 weight draws.

    The theory is an expectation over the weights. One layer's step is checked tightly (given the
    measured E[φ(z_l)²], and the Gaussian assumption behind E[φ(z)²] given the measured Var z);
    the whole 5-layer chain more loosely, because the per-layer fluctuations compound: with
    activations of non-zero mean (ReLU, sigmoid) each unit's column sum shifts all examples alike,
    and one draw's layer-5 variance is off by ~20% (std).
    """
    X = np.random.default_rng(0).standard_normal((100, 256))
    sums = {"pre_sq": 0.0, "act_sq": 0.0, "step": 0.0, "gauss": 0.0}
    draws = 16
    n_sigma2 = 256 * theoretical_std(init, (256, 256)) ** 2
    for seed in range(draws):
        m = MLP([256] * 6, activation=act, output_activation=act, weight_init=init, bias=False,
                rng=seed + 1, dtype=np.float64)
        c = D.columns(D.layer_stats(m, X))
        sums["pre_sq"] += c["pre_sq"] / draws
        sums["act_sq"] += c["act_sq"] / draws
        sums["step"] += c["pre_sq"][1:] / (n_sigma2 * c["act_sq"][:-1]) / draws
        sums["gauss"] += c["act_sq"] / np.array([D.second_moment(act, v) for v in c["pre_sq"]]) / draws
    # per-draw std of the one-step ratio is up to 6% for ReLU (1% for tanh): 5% is ~3.5 standard errors
    np.testing.assert_allclose(sums["step"], 1.0, rtol=0.05)
    np.testing.assert_allclose(sums["gauss"], 1.0, rtol=0.05)
    pred = D.predict_for_model(m, X, init=init)
    np.testing.assert_allclose(sums["pre_sq"], pred.pre_var, rtol=0.15)
    np.testing.assert_allclose(sums["act_sq"], pred.act_sq, rtol=0.15)
    if act == "relu":
        np.testing.assert_allclose(pred.factor[1:], n_sigma2 / 2, rtol=1e-12)


def test_predicted_gradients_match_for_a_linear_chain():
    """Identity activations, W = 1.5·I: every backward step multiplies ∂L/∂z by 1.5 exactly."""
    m = MLP([2] * 11, activation="identity", weight_init="identity(1.5)", bias=False, rng=0, dtype=np.float64)
    X = np.random.default_rng(0).standard_normal((64, 2))
    p = D.probe(m, X, np.zeros(64, dtype=np.int64))
    c = D.columns(p.layers)
    pred = D.predict_for_model(m, X, output_grad_sq=c["pre_grad_norm"][-1] ** 2 / (64 * 2))
    np.testing.assert_allclose(c["act_norm"], pred.act_norm(64), rtol=1e-9)
    np.testing.assert_allclose(c["pre_grad_norm"], pred.pre_grad_norm(64), rtol=1e-9)
    np.testing.assert_allclose(pred.factor[1:], 2.25)


def test_relative_change_and_distinct_units():
    m, X, y = _tiny()
    W0 = D.weight_arrays(m)
    m.linears[1].weight.data *= 1.1
    np.testing.assert_allclose(D.relative_change(m, W0), [0.0, 0.1], atol=1e-12)
    a = np.array([[1.0, 1.0, 2.0, 1.0 + 1e-9], [3.0, 3.0, 0.0, 3.0]])
    assert D.count_distinct_units(a) == 2
    assert D.count_distinct_units(np.zeros((5, 7))) == 1


def test_stats_recorder_records_every_n_steps_and_update_ratios():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    m = MLP([5, 8, 3], activation="tanh", rng=0)
    rec = D.StatsRecorder(X[:32], y[:32], every=3)
    snapshots = {}

    class Snap(Callback):  # the weights before step 6 (after step 5), to check the ratio of step 6
        def on_step_end(self, trainer, step, loss):
            snapshots[step] = D.weight_arrays(trainer.model)

    Trainer(m, SGD(m.parameters(), lr=0.5), callbacks=[Snap(), rec]).fit(X, y, iterations=7, batch_size=16, rng=0)
    assert rec.steps == [0, 3, 6]
    assert rec.series("act_std").shape == (3, 2)
    assert np.all(np.isnan(rec.series("update_ratio")[0]))
    W5, W6 = snapshots[5], snapshots[6]
    expect = [np.linalg.norm(b - a) / np.linalg.norm(a) for a, b in zip(W5, W6)]
    np.testing.assert_allclose(rec.series("update_ratio")[2], expect, rtol=1e-5)
    assert rec.losses[2] < rec.losses[0]


def test_count_distinct_units_fast_path_agrees():
    """All projections far apart: every unit distinct at once; a duplicated column still found (slow path)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((64, 50))
    assert D.count_distinct_units(a) == 50
    b = np.concatenate([a, a[:, :5] * (1 + 1e-7)], axis=1)  # 5 near-copies: within rtol of their originals
    assert D.count_distinct_units(b) == 50
    c = a.copy()
    c[:, 1] = c[:, 0] + 1e-3 * np.abs(c).max()  # beyond rtol: a distinct unit
    assert D.count_distinct_units(c) == 50


def test_count_distinct_units_with_dead_columns_matches_the_plain_loop():
    """Distinct columns plus groups of identical ones (dead ReLU units, copies): the same count as comparing
    every column with every representative."""
    rng = np.random.default_rng(4)
    a = np.maximum(rng.standard_normal((32, 40)), 0)
    a[:, :6] = 0.0  # six dead units: one distinct "unit"
    a[:, 10] = a[:, 11]  # a copy
    a[:, 20] = a[:, 21] = a[:, 22]  # two more copies of one column

    def plain(m, rtol=1e-5):
        tol = rtol * max(float(np.max(np.abs(m))), 1e-30)
        reps = []
        for j in range(m.shape[1]):
            if not any(np.max(np.abs(m[:, j] - r)) <= tol for r in reps):
                reps.append(m[:, j])
        return len(reps)

    assert D.count_distinct_units(a) == plain(a) == 40 - 5 - 1 - 2
