"""The verdict rules (mlplab.diagnose.verdicts.RULES): one definition each, every boundary tested on both sides, the
layer's problem and its level from the same table (no "healthy" layer in an "error" network), the output
layer's small logits not judged, and the optimizer an error assumes said."""

from __future__ import annotations

import math

import pytest

from mlplab.diagnose.verdicts import LEVELS, RULE, RULES, VERDICTS, judge, judge_rows


def healthy(**kw):
    """A row every rule passes: a 64-unit ReLU layer with unit gains that moved like its neighbours."""
    base = {"layer": 2, "fan_in": 64, "fan_out": 64, "activation": "relu", "weight_std0": 0.1, "weight_mean0": 0.0,
            "act_std": 1.0, "weight_grad_norm": 1.0, "dead": 0.1, "zero": 0.5, "saturated": None,
            "signal_gain": 1.0, "grad_gain": 1.0, "update_ratio": 1e-3, "distinct_units": 64}
    return {**base, **kw}


def test_a_healthy_row_is_ok():
    j = judge(healthy(), fastest=1e-3)
    assert (j["problem"], j["level"], j["broken"]) == ("healthy", "ok", [])


# (rule, field, value just inside the boundary, value just beyond it, level beyond)
EPS = 1e-9
BOUNDARIES = [
    ("dead_units", "dead", 0.5, 0.5 + EPS, "error"),
    ("zero_outputs", "zero", 0.9, 0.9 + EPS, "warning"),
    ("saturated", "saturated", 0.4, 0.4 + EPS, "error"),
    ("signal_high", "signal_gain", 10.0, 10.0 + EPS, "error"),
    ("grad_high", "grad_gain", 100.0, 100.0 + EPS, "warning"),
    ("signal_low", "signal_gain", 0.1, 0.1 - EPS, "warning"),
    ("signal_low", "signal_gain", 0.02, 0.02 - EPS, "error"),
]


@pytest.mark.parametrize("rule,field,inside,beyond,level", BOUNDARIES)
def test_each_boundary_on_both_sides(rule, field, inside, beyond, level):
    row_in = healthy(**{field: inside})
    if rule == "signal_low" and inside == 0.02:  # at exactly 0.02 the warning boundary (0.1) is still crossed
        assert judge(row_in, fastest=1e-3)["level"] == "warning"
    else:
        assert rule not in judge(row_in, fastest=1e-3)["broken"]
    j = judge(healthy(**{field: beyond}), fastest=1e-3)
    assert j["rule"] == rule and j["level"] == level and j["problem"] == RULE[rule].problem


def test_learning_speed_reads_the_measured_update_ratios():
    """"Learns 30x slower" is the layer's ‖ΔW‖/‖W‖ over the fastest layer's, not the gradient gain: a layer with
    a 50x smaller ‖∂L/∂z‖ that moves as fast as the others (LeNet-5's conv1 after average pooling) is ok."""
    fastest = 3e-3
    assert judge(healthy(update_ratio=fastest / 30), fastest=fastest)["level"] == "ok"
    j = judge(healthy(update_ratio=fastest / 30 * (1 - 1e-6)), fastest=fastest)
    assert j["rule"] == "slow_learning" and j["level"] == "error" and "learns about 30" in j["reason"]
    lenet_conv1 = healthy(grad_gain=0.0203, update_ratio=2.09e-4, activation="tanh", saturated=0.0)
    assert judge(lenet_conv1, fastest=4.61e-4)["level"] == "ok"
    # a weak gradient is an error only when the update ratios confirm it (under 0.1x the fastest) ...
    assert judge(healthy(grad_gain=0.02, update_ratio=0.1 * fastest), fastest=fastest)["level"] == "ok"
    j = judge(healthy(grad_gain=0.02, update_ratio=0.1 * fastest * (1 - 1e-6)), fastest=fastest)
    assert j["rule"] == "weak_gradient" and j["level"] == "error"
    assert judge(healthy(grad_gain=0.03, update_ratio=1e-5), fastest=fastest)["rule"] != "weak_gradient"
    # ... or when no steps were taken (no update ratios): then the gradient gain stands in for them
    assert judge(healthy(grad_gain=0.02, update_ratio=float("nan")))["level"] == "error"
    assert judge(healthy(grad_gain=0.04, update_ratio=float("nan")))["level"] == "ok"


def test_logit_layer_small_signal_is_not_judged():
    """Small logits at initialisation are desirable: the output layer gets no "vanishing" for them (a hidden
    layer with the same numbers does), but exploding logits are still an error."""
    row = healthy(signal_gain=0.015, activation="identity", dead=None, zero=None)
    assert judge(row, last=True, fastest=1e-3)["level"] == "ok"
    assert judge(row, last=False, fastest=1e-3)["level"] == "error"
    assert judge(healthy(signal_gain=11.0, activation="identity"), last=True, fastest=1e-3)["level"] == "error"


def test_error_says_which_optimizer_it_assumes():
    """A low signal is an error with SGD; with Adam (per-parameter scaling) a warning, and the reason says so."""
    row = healthy(signal_gain=0.015)
    sgd, adam = judge(row, fastest=1e-3, optimizer="sgd"), judge(row, fastest=1e-3, optimizer="adam")
    assert (sgd["level"], sgd["assumes"]) == ("error", "sgd") and "Adam's per-parameter scaling" in sgd["reason"]
    assert (adam["level"], adam["assumes"]) == ("warning", "sgd") and "with adam a warning" in adam["reason"]
    assert judge(healthy(dead=0.9), fastest=1e-3, optimizer="adam")["level"] == "error"  # not optimizer-dependent
    # an error read from the update ratios holds for the optimizer whose steps measured them
    slow = healthy(update_ratio=1e-6)
    assert judge(slow, fastest=1e-3, optimizer="sgd")["assumes"] == "sgd"
    assert judge(slow, fastest=1e-3, optimizer="adam")["assumes"] == "adam"
    assert judge(healthy(update_ratio=float("nan"), grad_gain=0.01))["assumes"] == "sgd"  # the gradient-gain proxy
    # a weak gradient (VGG-11-BN's N(0, 0.01) classifier starves the convolutions) stops SGD, not Adam
    weak = healthy(grad_gain=0.0005, update_ratio=0.057e-3)
    assert judge(weak, fastest=1e-3, optimizer="sgd")["level"] == "error"
    j = judge(weak, fastest=1e-3, optimizer="adam")
    assert (j["level"], j["rule"], j["assumes"]) == ("warning", "weak_gradient", "sgd")


def test_not_registered_and_not_moving():
    """A layer measured not to move is never ok. Unregistered weights are an error (never updated, and state_dict
    does not save them: the saved model is not the trained one) even where the rest of the network still learns
    on their random features (a 6-layer MLP with 4 unregistered layers reaches 84 % with Adam); a registered
    weight with a gradient that did not change is a warning."""
    j = judge(healthy(registered=False, update_ratio=0.0), fastest=1e-3)
    assert (j["problem"], j["level"], j["rule"]) == ("not_updated", "error", "not_registered")
    assert judge(healthy(registered=True), fastest=1e-3)["level"] == "ok"
    assert judge(healthy(registered=None), fastest=1e-3)["level"] == "ok"  # not a leaf: not asked
    j = judge(healthy(update_ratio=0.0), fastest=1e-3)
    assert (j["problem"], j["level"], j["rule"]) == ("not_updated", "warning", "not_moving")
    # no gradient at all is the vanishing rule's, not "not updated"
    assert judge(healthy(update_ratio=0.0, grad_gain=0.0, weight_grad_norm=0.0), fastest=1e-3)["rule"] == "no_gradient"


def test_problem_and_level_never_disagree():
    """The 100-layer ReLU net of issue 30: a layer with exactly 50 % dead units and a low signal was "healthy"
    in one rule (dead > 0.5) and "error" in another (dead ≥ 0.5). Now the boundary is one: 0.5 is not dead, and
    the layer's problem comes from the rules it does break."""
    row = healthy(dead=0.5, signal_gain=0.044)
    j = judge(row, fastest=1e-3, optimizer="sgd")
    assert j["broken"] == ["signal_low"] and (j["problem"], j["level"]) == ("vanishing", "warning")
    j = judge(healthy(dead=0.5 + 1 / 64, signal_gain=0.044), fastest=1e-3)
    assert (j["problem"], j["level"]) == ("dead", "error")
    # the first rule broken names the problem, and a later one that makes it an error is said too
    j = judge(healthy(zero=0.95, dead=0.2, signal_gain=0.015), fastest=1e-3, optimizer="sgd")
    assert (j["problem"], j["level"]) == ("dead", "error") and "0.015x the input's" in j["reason"]
    for rows in ([healthy(), healthy(dead=0.5), healthy(signal_gain=0.05)], [healthy(grad_gain=0.0)]):
        judge_rows(rows, "sgd")
        for r in rows:
            assert (r["verdict"] == "healthy") == (r["level"] == "ok")


def test_the_table_is_consistent():
    assert {r.problem for r in RULES} <= set(VERDICTS) and LEVELS == ("ok", "warning", "error")
    assert len({r.name for r in RULES}) == len(RULES)
    for r in RULES:
        assert r.op in ("<", ">", "==", "is") and r.meaning
        if r.warning is not None and r.error is not None and not isinstance(r.error, bool):
            # the error boundary lies beyond the warning one
            assert (r.error < r.warning) if r.op == "<" else (r.error > r.warning)
    assert all(math.isfinite(r.error) for r in RULES if isinstance(r.error, float))


def test_reference_excludes_normalised_layers():
    """A layer followed by BatchNorm is scale-invariant: tiny weights give huge relative updates, which must not
    make the un-normalised output layer look 30x slower."""
    rows = [healthy(layer=i + 1, update_ratio=1.0, normalization="batch_norm") for i in range(3)]
    rows.append(healthy(layer=4, update_ratio=1e-3, activation="identity"))
    judge_rows(rows, "sgd")
    assert [r["level"] for r in rows] == ["ok"] * 4


def test_one_use_of_a_shared_weight_is_not_judged_by_its_own_gradient():
    """A weight used by several layers (makemore's GRU cell over 8 steps) learns from the sum of its uses'
    gradients: the first step's use, where h = 0 and the reset gate gets no gradient, is not "no gradient"."""
    row = healthy(grad_gain=0.0, shared_uses=8)
    assert judge(row, fastest=1e-3)["level"] == "ok"
    assert judge(healthy(grad_gain=0.0), fastest=1e-3)["rule"] == "no_gradient"
    assert judge(healthy(update_ratio=1e-6, shared_uses=8), fastest=1e-3)["rule"] == "slow_learning"  # still read


def test_no_label_signal_boundary_on_both_sides_and_only_for_the_output_layer():
    """Under 0.1 is an error with SGD (the steps follow noise: a plateau) and a warning with Adam; 0.1 itself
    passes; a hidden layer is never judged by it."""
    rule = RULE["no_label_signal"]
    assert rule.scope == "output" and rule.error == 0.1 and rule.error_with == "sgd"
    out = dict(fan_out=10, signal_gain=0.05)  # an output layer: its small signal is not judged either
    assert "no_label_signal" not in judge(healthy(label_signal=0.1, **out), last=True, fastest=1e-3)["broken"]
    j = judge(healthy(label_signal=0.1 - EPS, **out), last=True, fastest=1e-3, optimizer="sgd")
    assert (j["rule"], j["level"], j["problem"], j["assumes"]) == ("no_label_signal", "error", "no_signal", "sgd")
    assert judge(healthy(label_signal=0.02, **out), last=True, fastest=1e-3, optimizer="adam")["level"] == "warning"
    assert judge(healthy(label_signal=0.02), last=False, fastest=1e-3)["level"] == "ok"
