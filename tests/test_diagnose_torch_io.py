"""Diagnosing PyTorch models as practitioners have them (issue 30): token, tuple and dict inputs, any
float dtype, the meta device refused; tuple/dict/(logits, loss) outputs; coverage said (never reached,
unregistered, frozen, shared, re-parametrized, ReLU6, in-place relu_); the user's hooks, prints, RNG,
threads and memory left alone; torch.compile; the initial-loss and overfit-one-batch checks; NaN weights.
"""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from test_diagnose_torch import Busy, gauss, mlp, same, snapshot  # noqa: E402

from mlplab import diagnose_torch as dt  # noqa: E402
from mlplab.cli import main as cli_main  # noqa: E402

THREADS = 1  # the tests pass a count: the free-core sample (0.1 s) is tested once, below


def diag(model, x, **kw):
    return dt.diagnose_torch(model, x, threads=kw.pop("threads", THREADS), **kw)


def tokens(*shape, vocab=50, seed=0):
    return torch.as_tensor(np.random.default_rng(seed).integers(0, vocab, size=shape))


# ---------------------------------------------------------------------------- inputs
class BagClassifier(torch.nn.Module):
    """The EmbeddingBag text classifier of PyTorch's text tutorial (offsets omitted: fixed-length bags)."""

    def __init__(self, vocab=50, dim=16, classes=4):
        super().__init__()
        self.embedding = torch.nn.EmbeddingBag(vocab, dim, mode="mean")
        self.fc = torch.nn.Linear(dim, classes)

    def forward(self, text):
        return self.fc(self.embedding(text))


class CharMLP(torch.nn.Module):
    """makemore's MLP (Bengio et al. 2003): embed a context of 8 characters, a tanh layer, logits over 27."""

    def __init__(self, vocab=27, ctx=8, dim=10, hidden=64):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, dim)
        self.fc1, self.fc2 = torch.nn.Linear(ctx * dim, hidden), torch.nn.Linear(hidden, vocab)

    def forward(self, idx):
        return self.fc2(torch.tanh(self.fc1(self.wte(idx).flatten(1))))


class TokenLM(torch.nn.Module):
    """A per-position language model: (B, T) ids -> (B, T, V) logits, and (logits, loss) given targets."""

    def __init__(self, vocab=27, dim=16):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, dim)
        self.fc, self.head = torch.nn.Linear(dim, 32), torch.nn.Linear(32, vocab)

    def forward(self, idx, targets=None):
        logits = self.head(F.gelu(self.fc(self.wte(idx))))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def test_integer_tokens_are_not_cast_to_float():
    for model, x in ((BagClassifier(), tokens(64, 12)), (CharMLP(), tokens(64, 8, vocab=27))):
        d = diag(model, x)  # before: the LongTensor became float and the Embedding raised
        assert "int64" in d.input["description"] and all(math.isfinite(lay.measured["act_std"]) for lay in d.layers)
        assert any(s["what"] in ("Embedding", "EmbeddingBag") for s in d.not_analysed)
        # with token input the signal gain is taken against layer 1's input (the embedding's output)
        with torch.no_grad():
            emb = model.embedding(x) if hasattr(model, "embedding") else model.wte(x).flatten(1)
        assert d.input["std"] == pytest.approx(float(emb.std()), rel=1e-3)


def test_token_lm_per_position_loss_and_tuple_output():
    torch.manual_seed(0)
    d = diag(TokenLM(), tokens(32, 10, vocab=27))
    assert "[0] of a tuple of 2" in d.notes[0] and "27 classes at each of the 10 positions" in d.notes[0]
    chk = d.checks["initial_loss"]
    assert chk["classes"] == 27 and chk["expected"] == pytest.approx(math.log(27)) and chk["verdict"] == "ok"
    # (logits, loss) with targets: output=1 trains on the model's own loss
    idx = tokens(32, 10, vocab=27)
    own = diag(TokenLM(), (idx, torch.roll(idx, -1, 1)), output=1)
    assert "the model's own loss" in " ".join(own.notes) and own.checks["initial_loss"]["verdict"] == "not applicable"
    assert own.steps["loss_after"] < own.steps["loss_before"]


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = torch.nn.Linear(6, 8), torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)

    def forward(self, x, side, mask=None, scale=1.0):
        h = F.relu(self.a(x) * scale + self.b(side))
        return self.out(h if mask is None else h * mask)


def test_tuple_and_dict_inputs():
    x, side = gauss(32, 6), gauss(32, 4, seed=1)
    d1 = diag(TwoInputs(), (x, side))  # before: np.asarray of a tuple of arrays, a NumPy error
    d2 = diag(TwoInputs(), {"x": torch.from_numpy(x), "side": side, "mask": torch.ones(32, 8, dtype=torch.bool),
                            "scale": 1.0})  # a plain number stays a number
    assert [lay.name for lay in d1.layers] == ["a", "b", "out"] == [lay.name for lay in d2.layers]
    assert "a dict (x, side, mask, scale)" in d2.input["description"] and "bool" in d2.input["description"]
    with pytest.raises(ValueError, match="holds <U1 values"):
        diag(TwoInputs(), (x, np.array(["a"])))


def test_bfloat16_statistics_in_float32():
    model = mlp([64, 48, 48, 10], "tanh")
    x = gauss(128, 64)
    ref = diag(model, x)
    d = diag(mlp([64, 48, 48, 10], "tanh").to(torch.bfloat16), x)  # before: blamed on --input-shape
    assert "bfloat16" in d.input["description"]
    for a, b in zip(ref.layers, d.layers):
        assert b.measured["act_std"] == pytest.approx(a.measured["act_std"], rel=0.03)
        assert b.verdict == a.verdict


def test_meta_device_refused_in_one_line(tmp_path, monkeypatch, capsys):
    with torch.device("meta"):
        model = mlp([20, 8, 3])
    with pytest.raises(ValueError, match="on the meta device"):
        diag(model, gauss(8, 20))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("import torch\ndef make():\n    with torch.device('meta'):\n"
                                   "        return torch.nn.Sequential(torch.nn.Linear(20, 3))\n")
    assert cli_main(["diagnose", "--torch", "m.py:make", "--input-shape", "20"]) == 2
    err = capsys.readouterr().err
    assert "meta device" in err and "--input-shape" not in err and err.count("\n") == 1


# ---------------------------------------------------------------------------- outputs
class DictOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.aux = torch.nn.Linear(10, 16), torch.nn.Linear(16, 4), torch.nn.Linear(16, 1)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        return {"features": h, "logits": self.fc2(h), "aux": self.aux(h)}


def test_dict_output_logits_by_default_and_chosen():
    d = diag(DictOut(), gauss(32, 10))  # before: "internal error" on a dict
    assert "'logits' of a dict" in d.notes[0] and d.checks["initial_loss"]["classes"] == 4
    assert d.coverage["no_gradient"] == ["aux.weight", "aux.bias"]  # the head the loss does not use, said
    aux = diag(DictOut(), gauss(32, 10), output="aux")
    assert "'aux'" in aux.notes[0] and "squared error" in aux.notes[0]
    with pytest.raises(ValueError, match="keys 'features', 'logits', 'aux'"):
        diag(DictOut(), gauss(32, 10), output="nope")


# ---------------------------------------------------------------------------- the user's process
def test_user_hooks_do_not_fire_and_rng_threads_are_kept():
    calls = []
    model = Busy()
    model.fc1.register_forward_hook(lambda m, i, o: calls.append("fc1"))
    model.register_forward_pre_hook(lambda m, i: calls.append("pre"))
    h = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: calls.append("global"))
    try:
        before_threads = torch.get_num_threads()
        rng = torch.get_rng_state()
        diag(model, gauss(32, 20), threads=1, overfit_batch=2)  # before: every hook fired at each forward
        assert calls == [] and torch.get_num_threads() == before_threads and torch.equal(rng, torch.get_rng_state())
    finally:
        h.remove()
    model(torch.randn(4, 20))
    assert "fc1" in calls and "pre" in calls  # the hooks are still the user's, and still fire


class CountThreads(torch.nn.Module):
    seen: list = []

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        CountThreads.seen.append(torch.get_num_threads())
        return self.fc(x)


def test_threads_from_the_free_cores(monkeypatch):
    from mlplab.runtime import threads

    monkeypatch.setattr(threads, "auto_blas_threads", lambda interval=0.1: (1, "1 of 2 cores idle"))
    before = torch.get_num_threads()
    CountThreads.seen = []
    d = dt.diagnose_torch(CountThreads(), gauss(16, 8))
    assert set(CountThreads.seen) == {1} and torch.get_num_threads() == before
    assert d.input["threads"] == "1 (1 of 2 cores idle)"


def test_compiled_model_diagnosed_through_its_module():
    model = mlp([20, 32, 5])
    compiled = torch.compile(model)  # nothing compiles until it is called
    t0 = time.perf_counter()
    diag(model, gauss(32, 20))
    t1 = time.perf_counter()
    d = diag(compiled, gauss(32, 20))
    t2 = time.perf_counter()
    assert t2 - t1 < 3 * (t1 - t0) + 1.0  # before: every traced call recompiled (88 s instead of 1.2 s)
    assert [lay.name for lay in d.layers] == ["0", "2"]  # before: "_orig_mod.0", traced through dynamo
    assert "torch.compile" in d.notes[0]
    assert [lay.measured["act_std"] for lay in d.layers] == [lay.measured["act_std"]
                                                             for lay in diag(model, gauss(32, 20)).layers]


def test_memory_estimate_and_refusal(monkeypatch):
    from mlplab.runtime.memory import NotEnoughMemory

    model = mlp([256, 512, 512, 10])
    with pytest.raises(NotEnoughMemory, match=r"diagnosing this model \(399,370 parameters\) on a batch of 64 needs "
                                               r"about .*--max-memory"):
        diag(model, gauss(64, 256), max_memory="100KB")
    d = diag(model, gauss(64, 256))
    p = 399370 * 4
    assert d.input["memory_estimate"] >= 5 * p  # the copy, its gradients and the weights kept for update sizes
    assert dt.parse_bytes("4GB") == 4_000_000_000 and dt.parse_bytes("1.5m") == 1_500_000
    with pytest.raises(ValueError, match="--max-memory 'lots'"):
        dt.parse_bytes("lots")


# ---------------------------------------------------------------------------- the expert's first checks
def test_initial_loss_against_ln_classes():
    ok = diag(mlp([64, 64, 10]), gauss(256, 64))  # torch's default init: small logits
    chk = ok.checks["initial_loss"]
    assert chk["verdict"] == "ok" and chk["loss"] == pytest.approx(math.log(10), rel=0.1)
    hot = mlp([64, 64, 10])
    with torch.no_grad():
        hot[2].weight.mul_(30)  # confident logits at init
    chk = diag(hot, gauss(256, 64)).checks["initial_loss"]
    assert chk["verdict"] == "high" and chk["ratio"] > 1.2 and "scale the last layer" in chk["sentence"]
    reg = diag(mlp([8, 16, 1]), gauss(64, 8)).checks["initial_loss"]
    assert reg["verdict"] == "not applicable"


def test_one_entry_point_takes_the_torch_options():
    from mlplab import nn
    from mlplab.diagnose import diagnose_model

    d = diagnose_model(DictOut(), gauss(32, 10), output="logits", overfit_batch=2, threads=1)
    assert d.checks["overfit_batch"]["steps"] == 2 and "'logits'" in d.notes[0]
    with pytest.raises(TypeError, match="output: options of a torch model"):
        diagnose_model(nn.MLP([10, 4]), gauss(32, 10), output="logits")


def test_overfit_one_batch():
    good = diag(mlp([32, 64, 64, 10]), gauss(32, 32), optimizer="adam", lr=0.01, overfit_batch=60)
    probe = good.checks["overfit_batch"]
    assert probe["verdict"] == "driven down" and probe["loss_end"] < 0.1 * probe["loss_start"] and probe["steps"] == 60
    dead = mlp([32, 64, 64, 10], "relu", std=0.0)  # zero weights: only the last bias can move
    stuck = diag(dead, gauss(32, 32), optimizer="adam", lr=0.01, overfit_batch=60).checks["overfit_batch"]
    assert stuck["verdict"] == "not driven down" and stuck["loss_end"] > 0.5 * stuck["loss_start"]


# ---------------------------------------------------------------------------- issue 23 §4: the diagnose row
def test_nan_weights_named_without_warnings():
    model = mlp([20, 16, 3])
    with torch.no_grad():
        model[0].weight[0, :3] = float("nan")
        model[2].bias[0] = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: torch's UserWarning (float() of a tensor needing grad) leaked
        d = diag(model, gauss(32, 20))
    assert d.overall == "error" and d.problem == "nonfinite"
    assert "the weights are not finite: 0.weight (3 NaN), 2.bias (1 inf)" in d.summary
    assert "overflowed" not in d.summary and "exploding" not in d.summary


def test_nonfinite_names_the_weights_and_buffers_as_given_not_as_the_forward_leaves_them():
    """The weights are checked from the statistics' norms after the first pass (issue 30's time), the buffers
    before it: a NaN weight makes BatchNorm's running statistics NaN in that pass, and they are not blamed; a
    running variance that was inf is, after the weight (parameters first, as named_parameters then buffers)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 3))
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    d = diag(model, gauss(32, 20))
    assert d.overall == "error" and d.problem == "nonfinite"
    assert "the weights are not finite: 0.weight (1 NaN); load" in d.summary and "running" not in d.summary
    with torch.no_grad():
        model[1].running_var[2] = float("inf")
    d = diag(model, gauss(32, 20))
    assert "the weights are not finite: 0.weight (1 NaN), 1.running_var (1 inf); load" in d.summary
    with torch.no_grad():
        model[0].weight[0, 0] = 0.5
    d = diag(model, gauss(32, 20))
    assert "the weights are not finite: 1.running_var (1 inf); load" in d.summary
    assert all(math.isfinite(v) for v in model[1].running_mean.tolist())  # the user's model untouched


def test_recommendation_quotes_a_fan_in_the_network_has():
    d = diag(mlp([784, 128, 64, 10]), gauss(64, 784))  # np.median(128, 64) = 96 was quoted before
    assert "n = 96" not in d.recommendation and ("n = 128" in d.recommendation or "n = 64" in d.recommendation)
    from mlplab.diagnose import diagnose_config

    own = diagnose_config([784, 128, 64, 10], "relu", "xavier", input_std=1.0, batch_size=64, steps=1)
    assert "n = 96" not in own["recommendation"] and "n = 64" in own["recommendation"]


# ---------------------------------------------------------------------------- the model is never changed
class Everything(torch.nn.Module):
    """Tokens, weight_norm (old and new), a plain list, a frozen layer, BatchNorm, hooks, a print, RNG use."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(30, 8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.old = torch.nn.utils.weight_norm(torch.nn.Linear(8 * 5, 24))
        self.new = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(24, 24))
        self.bn = torch.nn.BatchNorm1d(24)
        self.loose = [torch.nn.Linear(24, 24)]
        self.head = torch.nn.Linear(24, 6)
        self.head.bias.requires_grad_(False)
        self.new.register_forward_hook(lambda m, i, o: None)

    def forward(self, idx):
        h = F.relu(self.old(self.emb(idx).flatten(1)))
        h = torch.relu(self.bn(self.new(h))) + 0 * torch.rand(1)  # draws from the global RNG
        return {"logits": self.head(F.relu6(self.loose[0](h)))}


def test_user_model_left_exactly_as_it_was_on_the_new_paths():
    torch.manual_seed(0)
    model = Everything()
    model.new.parametrizations.weight.original1.grad = torch.ones(24, 24)
    before, rng = snapshot(model), torch.get_rng_state()
    loose_before = model.loose[0].weight.detach().clone()
    x = tokens(32, 5, vocab=30)
    d = diag(model, x, optimizer="adam", overfit_batch=3)
    state = dt.fix_weights(model, "lsuv", x)
    assert len(d.layers) == 4 and state.keys() == model.state_dict().keys()
    assert same(before, snapshot(model)) and torch.equal(rng, torch.get_rng_state())
    assert torch.equal(model.loose[0].weight, loose_before) and model.loose[0].weight.grad is None


def test_new_paths_fit_the_json_schema():
    """Coverage, checks and the NaN case in the versioned schema (docs/diagnosis.schema.json)."""
    from pathlib import Path

    from test_diagnose_torch_coverage import ListMixer  # (its section's model)

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "diagnosis.schema.json").read_text())
    nan = mlp([20, 16, 3])
    with torch.no_grad():
        nan[0].weight[0, 0] = float("nan")
    for d in (diag(ListMixer(), gauss(32, 12), overfit_batch=2), diag(TokenLM(), tokens(16, 6, vocab=27)),
              diag(nan, gauss(16, 20))):
        blob = json.loads(json.dumps(d.to_dict(), allow_nan=False))
        jsonschema.validate(blob, schema)
        assert blob["coverage"]["layers_traced"] == len(blob["layers"]) and "initial_loss" in blob["checks"]
