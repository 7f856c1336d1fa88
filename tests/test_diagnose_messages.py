"""diagnose's messages that must not mislead (issue 12): trained runs, width-1 layers, damaged files."""

import json

import pytest

from mlplab import diagnose, nn
from mlplab.diagnose.network import _as_trained, _layer_verdict


def row(**kw):
    base = {"weight_std0": 0.1, "weight_mean0": 0.0, "fan_in": 4, "fan_out": 4, "dead": 0.0, "zero": 0.3,
            "saturated": None, "act_std": 1.0, "weight_grad_norm": 1.0, "signal_gain": 1.0, "grad_gain": 1.0,
            "activation": "relu", "distinct_units": 4}
    return {**base, **kw}


def test_zero_gradient_is_said_in_words_not_as_a_ratio():
    verdict, reason, _ = _layer_verdict(row(grad_gain=0.0), hidden=True)
    assert verdict == "vanishing" and "no gradient reaches this layer" in reason and ")x" not in reason


def test_a_single_unit_cannot_be_symmetric():
    assert _layer_verdict(row(weight_std0=0.0, fan_in=1, fan_out=1), hidden=True)[0] != "symmetric"
    assert _layer_verdict(row(weight_std0=0.0), hidden=True)[0] == "symmetric"


def test_trained_statistics_get_no_initialization_verdict():
    result = {"layers": [{**row(signal_gain=40.0), "layer": 1, "verdict": "exploding", "reason": "x",
                          "decided_by": "signal"},
                         {**row(), "layer": 2, "verdict": "healthy", "reason": "ok", "decided_by": "-"}],
              "verdict": "exploding", "reason": "layer 1: x", "recommendation": "scale the weights down"}
    out = _as_trained(result, {"epochs": 5, "layers": "784,100,10", "init": "he"})
    assert [r["verdict"] for r in out["layers"]] == ["measured", "measured"]
    assert out["verdict"] == "measured" and "scale the weights down" not in out["recommendation"]
    assert "signal gain 40x" in out["layers"][0]["reason"] and "trained for 5 epochs" in out["reason"]
    dead = {"layers": [{**row(dead=0.8), "layer": 1, "verdict": "dead", "reason": "80% dead", "decided_by": "dead"}],
            "verdict": "dead", "reason": "", "recommendation": "r"}
    assert _as_trained(dead, {})["verdict"] == "dead"  # dead units still mean something after training


@pytest.mark.parametrize("content", [b"junk", b"PK\x03\x04" + b"\0" * 40])
def test_damaged_model_file_is_named_without_numpy_pickle_hints(tmp_path, content):
    (tmp_path / "config.json").write_text(json.dumps({"layers": "784,8,10", "activation": "relu"}))
    (tmp_path / "model.npz").write_bytes(content)
    with pytest.raises(ValueError) as e:
        diagnose.diagnose_run(tmp_path, input_std=1.0, steps=1)
    msg = str(e.value)
    assert "model.npz cannot be read as this run's network" in msg and "pickle" not in msg


def test_model_of_another_network_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"layers": "784,8,10", "activation": "relu"}))
    nn.MLP([784, 9, 10], rng=0).save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="damaged or from another run"):
        diagnose.diagnose_run(tmp_path, input_std=1.0, steps=1)
    (tmp_path / "config.json").write_text("{\"layers\": ")
    with pytest.raises(ValueError, match="config.json is damaged"):
        diagnose.diagnose_run(tmp_path, input_std=1.0, steps=1)
