"""One contract for mlplab networks and PyTorch models (issue 30): ``diagnose_model`` gives the same result type
(``Diagnosis``), the same vocabulary and the same versioned JSON schema (docs/diagnosis.schema.json) for both,
and leaves the user's model bit for bit as it was (an mlplab network was trained in place before)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlplab import diagnose, nn
from mlplab.diagnose.pytorch import Diagnosis
from mlplab.diagnose.verdicts import LEVELS, VERDICTS

jsonschema = pytest.importorskip("jsonschema")
torch = pytest.importorskip("torch")

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "diagnosis.schema.json").read_text())


def data(n=64, d=20, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, k, n)


def mlplab_state(model):
    return [(p.data.copy(), None if p.grad is None else np.array(p.grad, copy=True)) for p in model.parameters()]


def test_mlplab_network_is_not_trained_in_place():
    model = nn.MLP([20, 16, 16, 3], activation="tanh", weight_init="xavier", rng=1)
    X, y = data()
    model.parameters()[0].grad = np.ones_like(model.parameters()[0].data)  # a gradient the user had
    before = mlplab_state(model)
    d = diagnose.diagnose_model(model, X, y, steps=3)
    after = mlplab_state(model)
    assert d.steps["steps"] == 3 and all(lay.measured["update_ratio"] > 0 for lay in d.layers)  # the copy moved
    for (w0, g0), (w1, g1) in zip(before, after):
        assert np.array_equal(w0, w1) and w0.dtype == w1.dtype
        assert (g0 is None and g1 is None) or np.array_equal(g0, g1)
    # the dict check-up (the CLI's) works on a copy too
    diagnose.checkup(model, X, y, steps=2)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(before, mlplab_state(model)))


def test_untouched_check_can_fail():
    """The comparison above sees one step of training: it can fail."""
    from mlplab import optim
    from mlplab.train import Trainer

    model = nn.MLP([20, 16, 3], activation="tanh", weight_init="xavier", rng=1)
    X, y = data()
    before = mlplab_state(model)
    Trainer(model, optim.get_optimizer("sgd", model.parameters())).fit(X, y, iterations=1, batch_size=64, rng=0)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(before, mlplab_state(model)))


def torch_twin(model):
    """The torch network with the mlplab network's weights."""
    lins = []
    for lin in model.linears:
        t = torch.nn.Linear(lin.in_features, lin.out_features)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(lin.weight.data.T.copy()))
            t.bias.copy_(torch.from_numpy(lin.bias.data.copy()))
        lins.append(t)
    return torch.nn.Sequential(lins[0], torch.nn.Tanh(), lins[1], torch.nn.Tanh(), lins[2])


def test_same_type_vocabulary_and_schema_for_both():
    model = nn.MLP([20, 16, 16, 3], activation="tanh", weight_init="std=0.01", rng=1)
    X, y = data()
    twin = torch_twin(model)
    before = {k: v.clone() for k, v in twin.state_dict().items()}
    mine, theirs = diagnose.diagnose_model(model, X, y), diagnose.diagnose_model(twin, X, y)
    assert all(torch.equal(before[k], v) for k, v in twin.state_dict().items())
    for d in (mine, theirs):
        assert isinstance(d, Diagnosis) and d.overall in LEVELS and d.problem in VERDICTS
        assert all(lay.verdict in LEVELS and lay.problem in VERDICTS for lay in d.layers)
        blob = json.loads(json.dumps(d.to_dict(), allow_nan=False))
        jsonschema.validate(blob, SCHEMA)
        assert blob["schema"] == SCHEMA["$id"]
    assert [(a.verdict, a.problem) for a in mine.layers] == [(b.verdict, b.problem) for b in theirs.layers]
    assert (mine.overall, mine.problem) == (theirs.overall, theirs.problem)


def test_without_labels_both_draw_them():
    model = nn.MLP([20, 16, 3], activation="relu", weight_init="he", rng=1)
    X, _ = data()
    d = diagnose.diagnose_model(model, X)
    assert d.steps["steps"] == 3 and d.layers[0].measured["weight_grad_norm"] > 0


def test_schema_rejects_what_it_should():
    """The schema is not vacuous: a wrong level, a missing field, an unknown problem fail validation."""
    model = nn.MLP([20, 16, 3], activation="relu", weight_init="he", rng=1)
    blob = json.loads(json.dumps(diagnose.diagnose_model(model, *data()).to_dict()))
    jsonschema.validate(blob, SCHEMA)
    for spoil in (lambda b: b.update(overall="fine"), lambda b: b.pop("layers"),
                  lambda b: b["layers"][0].update(problem="weird"), lambda b: b.update(schema="mlplab.diagnosis/1")):
        bad = json.loads(json.dumps(blob))
        spoil(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


def test_cli_json_of_both_kinds_carries_the_same_diagnosis(tmp_path, monkeypatch, capsys):
    from mlplab.cli import main as cli_main

    assert cli_main(["diagnose", "--layers", "32,16,10", "--input-std", "1", "--steps", "2", "--batch-size", "32",
                     "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out)["diagnosis"], SCHEMA)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("import torch\ndef make():\n    torch.manual_seed(0)\n"
                                   "    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), "
                                   "torch.nn.Linear(16, 4))\n")
    assert cli_main(["diagnose", "--torch", "m.py:make", "--input-shape", "8", "--batch-size", "32", "--json"]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out)["diagnosis"], SCHEMA)
