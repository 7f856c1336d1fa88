"""`mlplab diagnose`: known-bad initializations get the right verdict, known-good ones are healthy,
measurements agree with the theory, and the CLI prints a table or JSON and refuses bad options."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from mlplab import diagnose
from mlplab.cli import diagnose as cli_diagnose
from mlplab.cli import main as cli_main

WIDE = "784,256,256,10"  # the example, on MNIST
SMALL = "256,128,128,10"


def run(layers=SMALL, activation="relu", init="he", input_std=1.0, **kw):
    """Diagnose a fresh network on Gaussian input (fast, no data needed)."""
    kw.setdefault("batch_size", 96)
    kw.setdefault("steps", 3)
    return diagnose.diagnose_config(layers, activation, init, input_std=input_std, **kw)


def deep(n_hidden, width=64):
    return ",".join(["128"] + [str(width)] * n_hidden + ["10"])


def verdicts(result):
    return [r["verdict"] for r in result["layers"]]


# ---------------------------------------------------------------------------- known bad
def test_sigmoid_std1_saturates():
    r = run(activation="sigmoid", init="std=1")
    assert r["verdict"] == "saturating"
    assert verdicts(r)[:2] == ["saturating", "saturating"]
    assert r["layers"][0]["saturated"] > 0.7  # Var z = 256 on unit-variance input: |z| > 4.6 77% of the time
    assert "xavier_normal" in r["recommendation"] and "flat tails" in r["recommendation"]


def test_relu_std001_vanishes():
    r = run(init="std=0.01")
    assert r["verdict"] == "vanishing"
    # the logits are small too, which is desirable at initialisation: the output layer is not judged for it
    assert verdicts(r)[1:] == ["vanishing", "healthy"] and r["layers"][2]["signal_gain"] < 0.1
    # the theory's factor n σ² / 2 = 128e-4 / 2 per layer, and the measured std follows it
    assert r["init_table"]["factor"] == pytest.approx(128 * 1e-4 / 2)
    ratio = r["layers"][1]["act_std"] / r["layers"][0]["act_std"]
    assert ratio == pytest.approx(np.sqrt(128 * 1e-4 / 2), rel=0.15)
    assert "use he" in r["recommendation"] and "shrinks" in r["recommendation"]


def test_relu_50_layers_3_over_n_explodes():
    r = run(deep(49), init="variance_scaling(scale=3, distribution=normal)", batch_size=64)
    assert r["verdict"] == "exploding"
    assert r["init_table"]["factor"] == pytest.approx(1.5)
    gains = [x["signal_gain"] for x in r["layers"]]
    assert gains[-2] > 1e3 * gains[0]  # 1.5^48 in variance
    assert "grows 1.5x per layer" in r["recommendation"] and "use he" in r["recommendation"]
    assert "exploding" in verdicts(r)[0] or r["layers"][0]["grad_gain"] > 100  # gradients blow up going back


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_zero_init_is_symmetric(activation):
    r = run(activation=activation, init="zeros")
    assert r["verdict"] == "symmetric"
    assert all(v == "symmetric" for v in verdicts(r))
    assert "symmetry never breaks" in r["recommendation"]
    hidden = r["layers"][:-1]
    # after the steps every hidden layer still has a single distinct unit
    assert all(x["distinct_units"] == 1 for x in hidden)
    if activation != "sigmoid":  # φ(0) = 0: no gradient reaches any weight
        assert all(x["weight_grad_norm"] == 0 for x in r["layers"])


def test_constant_nonzero_init_is_symmetric_after_steps():
    r = run(layers="64,32,32,10", activation="tanh", init="constant(0.01)")
    assert r["verdict"] == "symmetric"
    assert r["layers"][0]["decided_by"] == "weights"


def test_negative_bias_kills_relus():
    r = run(bias_init="constant(-3)")
    assert r["verdict"] == "dead" and r["layers"][0]["verdict"] == "dead"
    assert r["layers"][0]["zero"] > 0.9 and r["layers"][1]["dead"] > 0.5  # z ~ N(-3, 2): almost never > 0
    assert "leaky_relu" in r["recommendation"]


def test_deep_sigmoid_gradients_vanish():
    r = run(deep(20), activation="sigmoid", init="xavier", steps=2, batch_size=64)
    assert r["verdict"] == "vanishing"
    # the measured update ratios say it: the first layer moves far slower than the fastest one
    assert r["layers"][0]["grad_gain"] < 1e-3 and r["layers"][0]["decided_by"] == "update"
    assert r["layers"][0]["update_ratio"] < r["layers"][-1]["update_ratio"] / 30
    assert "‖∂L/∂z‖ changes" in r["reason"]


# ---------------------------------------------------------------------------- known good
@pytest.mark.parametrize("activation,init", [("relu", "he"), ("tanh", "xavier"), ("leaky_relu", "he_normal"),
                                             ("tanh", "book")])
def test_matched_inits_are_healthy(activation, init):
    r = run(activation=activation, init=init)
    assert r["verdict"] == "healthy", r["reason"]
    assert all(v == "healthy" for v in verdicts(r))
    assert r["init_table"]["matched"]
    assert all(x["update_ratio"] is not None and 0 < x["update_ratio"] < 0.1 for x in r["layers"])
    assert r["steps"]["steps"] == 3 and r["steps"]["diverged"] is None


def test_deep_relu_he_is_healthy():
    r = run(deep(30), steps=2, batch_size=64)
    assert r["verdict"] == "healthy", r["reason"]


def test_tanh_with_he_gets_the_table_advice():
    r = run(activation="tanh", init="he")
    assert r["verdict"] == "healthy"  # three layers survive it ...
    assert not r["init_table"]["matched"]  # ... but the init does not match the activation
    assert r["recommendation"].startswith("tanh with He init: variance grows 2x per layer")
    assert "use xavier_normal" in r["recommendation"]
    assert "does not match" in r["reason"]


# ---------------------------------------------------------------------------- theory beside measurement
def test_measurements_agree_with_theory():
    r = run(activation="relu", init="he", batch_size=256, steps=1)
    for x in r["layers"]:
        assert x["act_std"] == pytest.approx(x["theory"]["act_std"], rel=0.2)
    for x in r["layers"][:-1]:  # the 10 logits' mean is one random offset per unit, not an average
        assert x["act_mean"] == pytest.approx(x["theory"]["act_mean"], rel=0.2)
    s = run(activation="sigmoid", init="std=1", steps=1)
    for x in s["layers"][:2]:
        assert x["saturated"] == pytest.approx(x["theory"]["saturated"], abs=0.08)
    t = run(activation="tanh", init="xavier", steps=1)
    assert t["theory_basis"] == "init xavier"
    assert all(x["theory"]["weight_std"] > 0 for x in t["layers"])


def test_pure_function_on_any_model():
    from mlplab import nn

    model = nn.MLP([20, 16, 16, 3], activation="tanh", weight_init="xavier", rng=1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 20)).astype(np.float32), rng.integers(0, 3, 64)
    r = diagnose.checkup(model, X, y, steps=2, optimizer="adam", lr=1e-3)
    assert r["theory_basis"] == "measured weight variance" and r["steps"]["optimizer"] == "adam"
    assert [x["fan_out"] for x in r["layers"]] == [16, 16, 3] and r["verdict"] in diagnose.VERDICTS
    json.dumps(r, allow_nan=False)  # JSON-ready: NaN became null


def test_init_family_and_table():
    fam = diagnose.init_family
    assert fam("he") == fam("he_uniform") == fam("kaiming_normal") == "he"
    assert fam("xavier_normal(gain=1.66)") == fam("glorot_uniform") == "xavier"
    assert fam("std=0.01") == fam("normal(0, 1)") == "fixed"
    assert fam("zeros") == fam("0.5") == fam("constant(1)") == "constant"
    assert fam("book", "relu") == "he" and fam("book", "tanh") == "lecun" and fam("torch") == "torch"
    rec = diagnose.recommendation("relu", "xavier", 256)
    assert not rec["matched"] and "use he" in rec["advice"]
    assert diagnose.recommendation("relu", "he", 256)["matched"]


# ---------------------------------------------------------------------------- real data, run dirs, CLI
@pytest.mark.mnist
def test_mnist_example_is_complete(mnist_dir, capsys):
    assert cli_main(["diagnose", "--layers", WIDE, "--activation", "tanh", "--init", "he"]) == 0
    out = capsys.readouterr().out
    for needle in ("784→256", "act std", "‖∂L/∂W‖", "‖ΔW‖/‖W‖ @5", "verdict: healthy",
                   "recommendation: tanh with He init: variance grows 2x per layer", "5 sgd steps"):
        assert needle in out, needle


@pytest.mark.mnist
def test_cli_json_is_json_only(mnist_dir, capsys):
    assert cli_main(["diagnose", "--layers", WIDE, "--activation", "sigmoid", "--init", "std=1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)  # nothing but JSON on stdout
    assert r["verdict"] == "saturating" and r["config"]["dataset"] == "mnist"
    assert {"act_mean", "act_std", "saturated", "dead", "weight_grad_norm", "update_ratio", "theory", "verdict",
            "reason"} <= set(r["layers"][0])
    assert r["input"]["examples"] == 256


@pytest.mark.mnist
def test_run_dir_of_mlplab_train(mnist_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert cli_main(["train", "--layers", "784,32,32,10", "--iterations", "5", "--subset", "600",
                     "--out", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    assert cli_main(["diagnose", str(run_dir), "--json", "--steps", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["config"]["source"].endswith("model.npz") and r["config"]["init"] == "he"
    assert r["theory_basis"] == "measured weight variance" and r["steps"]["optimizer"] == "adam"
    # a trained network is measured, not judged as an initialization (issue 12)
    assert r["trained"] and r["verdict"] == "measured" and r["init_table"]["matched"]
    assert {row["verdict"] for row in r["layers"]} == {"measured"} and "not judged" in r["reason"]
    assert "mlplab diagnose --layers 784,32,32,10 --activation relu --init he" in r["recommendation"]
    assert r["diagnosis"]["overall"] == "ok" and {x["problem"] for x in r["diagnosis"]["layers"]} == {"measured"}
    jsonschema = pytest.importorskip("jsonschema")  # the same schema as a fresh network's and a torch model's
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "diagnosis.schema.json").read_text())
    jsonschema.validate(r["diagnosis"], schema)
    (run_dir / "model.npz").unlink()  # only the checkpoint left
    r2 = diagnose.diagnose_run(run_dir, steps=1)
    assert r2["config"]["source"].endswith("checkpoint.npz")
    assert r2["layers"][0]["act_std"] == pytest.approx(r["layers"][0]["act_std"])


@pytest.mark.parametrize("argv,message", [
    (["--activation", "swish"], "unknown activation"),
    (["--init", "nonsense"], "unknown initializer"),
    (["--layers", "784,x,10"], "comma-separated integers"),
    (["--layers", "100,10"], "does not fit mnist"),
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--input-std", "-1"], "--input-std must be positive"),
    (["--optimizer", "newton"], "unknown optimizer"),
    (["/nonexistent/run"], "no config.json"),
])
def test_cli_usage_errors(argv, message, capsys):
    assert cli_main(["diagnose", *argv]) == 2
    assert message in capsys.readouterr().err


def test_main_with_namespace(capsys):
    ns = argparse.Namespace(run_dir=None, layers="784,64,64,10", activation="relu", init="std=0.01", bias_init=None,
                            dataset=None, input_std=1.0, batch_size=64, steps=2, optimizer=None, lr=None, seed=3,
                            json=True)
    assert cli_diagnose.main(ns) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["verdict"] == "vanishing" and r["config"]["seed"] == 3 and r["config"]["input_std"] == 1.0
