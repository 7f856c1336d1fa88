"""Diagnosing a user's PyTorch network: the model is left exactly as it was, layers are found whether
modules or functional code call them, verdicts equal mlplab's on the same weights, the theory matches the
measurement, normalisation is not flagged, the fix works, default-initialised models are not errors,
and the CLI reports a user's mistakes in one line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from mlplab import diagnose, nn  # noqa: E402
from mlplab import diagnose_torch as dt  # noqa: E402
from mlplab.cli import main as cli_main  # noqa: E402

ACTS = {"relu": torch.nn.ReLU, "leaky_relu": torch.nn.LeakyReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}


def mlp(sizes, act="relu", std=None, seed=0):
    """A torch MLP; ``std`` None keeps torch's default init, else N(0, std²) weights and zero biases."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b)
        if std is not None:
            torch.nn.init.normal_(lin.weight, std=std)
            torch.nn.init.zeros_(lin.bias)
        layers += [lin, ACTS[act]()] if i < len(sizes) - 2 else [lin]
    return torch.nn.Sequential(*layers)


def gauss(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------- the user's model is untouched
class Busy(torch.nn.Module):
    """BatchNorm (running stats), dropout, a frozen layer, a submodule in eval mode, a hook of the user's."""

    def __init__(self):
        super().__init__()
        self.fc1, self.bn = torch.nn.Linear(20, 32), torch.nn.BatchNorm1d(32)
        self.drop, self.fc2, self.fc3 = torch.nn.Dropout(0.5), torch.nn.Linear(32, 32), torch.nn.Linear(32, 5)
        self.fc2.weight.requires_grad_(False)
        self.drop.eval()
        self.fc3.register_forward_hook(lambda m, i, o: None)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(self.drop(F.relu(self.bn(self.fc1(x)))))))


def snapshot(model):
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "grads": {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()},
            "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
            "training": {k: m.training for k, m in model.named_modules()},
            "hooks": {k: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                      for k, m in model.named_modules()}}


def same(a, b) -> bool:
    def eq(x, y):
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            return x is not None and y is not None and torch.equal(x, y)
        return x == y
    return all(eq(a[k][n], b[k][n]) for k in a for n in a[k]) and all(a[k].keys() == b[k].keys() for k in a)


def test_user_model_left_exactly_as_it_was():
    model = Busy()
    model.fc1.weight.grad = torch.ones_like(model.fc1.weight)  # a gradient the user had
    before, rng = snapshot(model), torch.get_rng_state()
    d = dt.diagnose_torch(model, gauss(64, 20), steps=3, overfit_batch=3, threads=1)  # and the new paths:
    fixed = dt.fix_weights(model, "lsuv", gauss(64, 20))  # tokens, weight_norm, lists: test_diagnose_torch_io/_coverage
    assert len(d.layers) == 3 and fixed.keys() == model.state_dict().keys()
    assert same(before, snapshot(model)) and torch.equal(rng, torch.get_rng_state())


def test_untouched_check_can_fail():
    """The snapshot comparison sees a changed running mean, a flag, a hook, a gradient: it can fail."""
    for plant in (lambda m: m(torch.randn(8, 20)),  # train mode: BatchNorm's running stats move
                  lambda m: m.eval(), lambda m: m.fc2.weight.requires_grad_(True),
                  lambda m: m.fc1.register_forward_pre_hook(lambda *a: None),
                  lambda m: setattr(m.fc1.weight, "grad", None)):
        model = Busy()
        model.fc1.weight.grad = torch.ones_like(model.fc1.weight)
        before = snapshot(model)
        plant(model)
        assert not same(before, snapshot(model))


# ---------------------------------------------------------------------------- finding the layers
class Mixed(torch.nn.Module):
    """Activations as modules, functions and tensor methods; conv1d/conv2d; things not analysed."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = torch.nn.Conv2d(3, 8, 3), torch.nn.Conv1d(8, 4, 5)
        self.pool, self.soft = torch.nn.MaxPool2d(2), torch.nn.Softplus()
        self.l1, self.l2, self.l3 = torch.nn.Linear(4 * 5, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
        self.l4, self.l5, self.l6 = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, 3)
        self.gelu, self.leaky = torch.nn.GELU(), torch.nn.LeakyReLU(0.2)
        self.w = torch.nn.Parameter(torch.randn(16, 16) / 4)

    def forward(self, x):
        h = self.pool(F.elu(self.c1(x)))  # (B, 8, 3, 3)
        h = h.flatten(2)[:, :, :9]  # (B, 8, 9)
        h = self.c2(h).sigmoid()  # (B, 4, 5)
        h = self.gelu(self.l1(h.flatten(1)))
        h = self.leaky(self.l2(h))
        h = F.silu(self.l3(h))
        h = self.l4(h).tanh()
        h = self.soft(h) @ self.w  # a custom matmul: not analysed
        return self.l6(torch.relu(self.l5(h)))


def test_layers_modules_and_functional():
    d = dt.diagnose_torch(Mixed(), gauss(16, 3, 8, 8))
    got = [(x.name, x.kind, x.activation) for x in d.layers]
    assert got == [("c1", "Conv2d", "elu"), ("c2", "Conv1d", "sigmoid"), ("l1", "Linear", "gelu"),
                   ("l2", "Linear", "leaky_relu"), ("l3", "Linear", "silu"), ("l4", "Linear", "tanh"),
                   ("l5", "Linear", "relu"), ("l6", "Linear", "identity")]
    assert [x.shape for x in d.layers[:2]] == ["27→8", "40→4"]  # fan-in C·k·k and C·k
    assert {(s["where"], s["what"]) for s in d.not_analysed} >= {("pool", "MaxPool2d"), ("soft", "Softplus")}
    assert all(x.verdict in dt.LEVELS for x in d.layers) and d.overall in dt.LEVELS
    # a conv's units are its channels: all 8 dead when its input is negative everywhere
    dead = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 36, 2))
    with torch.no_grad():
        dead[0].weight.uniform_(0.5, 1.0)
        dead[0].bias.fill_(-1e3)
    r = dt.diagnose_torch(dead, np.abs(gauss(32, 1, 8, 8)))
    assert r.layers[0].measured["dead"] == 1.0 and r.layers[0].problem == "dead"


def test_nothing_to_diagnose_and_odd_models_do_not_crash():
    with pytest.raises(ValueError, match="no Linear/Conv1d/Conv2d"):
        dt.diagnose_torch(torch.nn.Sequential(torch.nn.ReLU()), gauss(4, 3))
    rnn = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh())
    d = dt.diagnose_torch(torch.nn.ModuleDict({"a": rnn}).a, gauss(8, 6))  # one output: MSE to random targets
    assert len(d.layers) == 1
    with pytest.raises(TypeError):
        dt.diagnose_torch(nn.MLP([4, 3]), gauss(4, 4))


# ---------------------------------------------------------------------------- same verdicts as mlplab
SAMPLE = [("relu", 1.0), ("relu", 0.01), ("tanh", 1.0), ("sigmoid", 0.05), ("leaky_relu", "he"), ("tanh", "xavier"),
          ("relu", 0.0), ("sigmoid", "const")]


@pytest.mark.parametrize("act,init", SAMPLE)
def test_same_verdicts_as_mlplab(act, init):
    sizes, rng = [64, 48, 48, 48, 10], np.random.default_rng(1)
    ws = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        std = {"he": np.sqrt(2 / a), "xavier": np.sqrt(2 / (a + b))}.get(init, init)
        ws.append(np.full((a, b), 0.01, np.float32) if init == "const" else
                  (rng.standard_normal((a, b)) * std).astype(np.float32))
    net = nn.MLP(sizes, activation=act, weight_init="zeros", bias_init="zeros")
    for lin, w in zip(net.linears, ws):
        lin.weight.data[...] = w
    tnet = mlp(sizes, act)
    with torch.no_grad():
        for lin, w in zip([m for m in tnet if isinstance(m, torch.nn.Linear)], ws):
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.zero_()
    X, y = gauss(96, 64, seed=2), np.random.default_rng(3).integers(0, 10, 96)
    with np.errstate(all="ignore"):
        mine = dt.from_result(diagnose.diagnose_model(net, X, y, steps=3, activation=act))
    theirs = dt.diagnose_torch(tnet, X, y, steps=3)
    assert [(x.verdict, x.problem) for x in mine.layers] == [(x.verdict, x.problem) for x in theirs.layers]
    assert (mine.overall, mine.problem) == (theirs.overall, theirs.problem)
    for a, b in zip(mine.layers, theirs.layers):
        for k in ("act_std", "weight_grad_norm", "signal_gain"):
            if a.measured[k] is not None and np.isfinite(a.measured[k]) and 1e-8 < abs(a.measured[k]) < 1e30:
                assert b.measured[k] == pytest.approx(a.measured[k], rel=1e-3, abs=1e-12), k


# ---------------------------------------------------------------------------- theory and verdicts
def test_theory_matches_measurement_and_verdicts():
    x = gauss(512, 256)
    d = dt.diagnose_torch(mlp([256] + [256] * 6 + [10], "relu", std=np.sqrt(2 / 256)), x)
    assert d.overall == "ok"
    for lay in d.layers[:-1]:  # He: the std stays put, as Var z_{l+1} = n σ² E[φ²] says
        assert lay.measured["act_std"] == pytest.approx(lay.predicted["act_std"], rel=0.15)
        assert lay.predicted["variance_factor"] != lay.predicted["variance_factor"] or \
            lay.predicted["variance_factor"] == pytest.approx(1.0, rel=0.1)
    small = dt.diagnose_torch(mlp([256] + [256] * 6 + [10], "relu", std=0.01), x)
    assert small.overall == "error" and small.problem == "vanishing"
    f = small.layers[2].predicted["variance_factor"]
    assert f == pytest.approx(256 * 1e-4 / 2, rel=0.02)  # n σ² / 2 per layer
    ratio = small.layers[2].measured["act_std"] / small.layers[1].measured["act_std"]
    assert ratio == pytest.approx(np.sqrt(f), rel=0.15)
    sat = dt.diagnose_torch(mlp([256, 128, 128, 10], "tanh", std=1.0), x)
    assert sat.problem == "saturating" and sat.layers[0].verdict == "error"
    assert sat.layers[0].measured["saturated"] == pytest.approx(sat.layers[0].predicted["saturated"], abs=0.03)
    zero = dt.diagnose_torch(mlp([256, 64, 10], "relu", std=0.0), x)
    assert zero.overall == "error" and zero.problem == "symmetric"


@pytest.mark.parametrize("row,level,problem", [
    ({"signal_gain": 1, "grad_gain": 0.5}, "ok", "healthy"),
    ({"weight_std0": 0.0, "fan_out": 4}, "error", "symmetric"),
    ({"act_std": float("nan")}, "error", "exploding"),
    ({"dead": 0.6}, "error", "dead"),
    ({"zero": 0.95, "dead": 0.2}, "warning", "dead"),
    ({"saturated": 0.45}, "error", "saturating"),
    ({"signal_gain": 20, "grad_gain": 1}, "error", "exploding"),
    ({"signal_gain": 0.05, "grad_gain": 1}, "warning", "vanishing"),
    ({"signal_gain": 0.01, "grad_gain": 1}, "error", "vanishing"),
    ({"signal_gain": 1, "grad_gain": 0.05}, "ok", "healthy"),
    ({"signal_gain": 1, "grad_gain": 0.02}, "error", "vanishing"),  # no update ratios: the gradient gain stands in
    ({"signal_gain": 1, "grad_gain": 20}, "ok", "healthy"),  # 20x: SGD survives it (3/n tanh nets train)
    ({"dead": 0.5, "signal_gain": 1, "grad_gain": 1}, "ok", "healthy")])  # was "error" with problem "healthy"
def test_severity_of_a_lone_row(row, level, problem):
    """dt._severity of a row judged alone (no network-level update ratios): mlplab.diagnose.verdicts.RULES decides."""
    got = dt._severity(row)
    assert got[:2] == (level, problem)


def test_100_layer_relu_layers_agree_with_the_summary():
    """Issue 30: a 100-layer ReLU net showed "healthy" on every layer while the summary said "error" (dead units
    at exactly 0.5 were "> 0.5" in one rule, "≥ 0.5" in another). Every layer's problem now comes from the same
    rules as its level: an error layer names its problem, an ok layer is healthy."""
    torch.manual_seed(0)
    layers = []
    for i in range(100):
        layers += [torch.nn.Linear(64 if i else 32, 64), torch.nn.ReLU()]
    d = dt.diagnose_torch(torch.nn.Sequential(*layers, torch.nn.Linear(64, 256)), gauss(256, 32))
    assert d.overall == "error" and d.problem != "healthy"
    for lay in d.layers:
        assert (lay.verdict == "ok") == (lay.problem == "healthy"), (lay.index, lay.verdict, lay.problem)
        if lay.measured["dead"] is not None and lay.measured["dead"] == 0.5:
            assert lay.problem != "dead"  # one boundary: exactly half is not "more than half"
    assert any(lay.measured["dead"] == 0.5 for lay in d.layers)


def test_normalization_resets_the_variance_and_is_not_flagged():
    def net(bn):
        torch.manual_seed(0)
        layers = []
        for _ in range(12):
            lin = torch.nn.Linear(64, 64)
            torch.nn.init.normal_(lin.weight, std=0.01)
            layers += [lin, torch.nn.BatchNorm1d(64), torch.nn.ReLU()] if bn else [lin, torch.nn.ReLU()]
        return torch.nn.Sequential(*layers, torch.nn.Linear(64, 10))

    x = gauss(128, 64)
    plain, normed = dt.diagnose_torch(net(False), x), dt.diagnose_torch(net(True), x)
    assert plain.overall == "error" and plain.problem == "vanishing"
    assert normed.overall != "error"
    assert all(x.normalization == "batch_norm" for x in normed.layers[:-1])
    assert all(x.problem not in ("vanishing", "exploding") or x.measured["signal_gain"] > 0.1
               for x in normed.layers[:-1])
    assert sum("resets the variance" in n for n in normed.notes) == 12
    assert all(x.predicted["reset"] for x in normed.layers[:-1])


# ---------------------------------------------------------------------------- the fix
@pytest.mark.parametrize("act,std,method", [("tanh", 1.0, "xavier"), ("relu", 0.01, "he"), ("tanh", 1.0, "lsuv"),
                                            ("relu", 1.0, "lsuv")])
def test_fix_changes_the_verdict(act, std, method):
    model, x = mlp([128, 96, 96, 96, 10], act, std=std), gauss(256, 128)
    assert dt.diagnose_torch(model, x).overall == "error"
    state = dt.fix_weights(model, method, x, seed=1)
    fixed = mlp([128, 96, 96, 96, 10], act)
    fixed.load_state_dict(state)
    assert dt.diagnose_torch(fixed, x).overall == "ok"
    lin = [m for m in fixed if isinstance(m, torch.nn.Linear)]
    w = lin[1].weight.detach().numpy()
    if method == "xavier":  # N(0, g² 2/(n_in + n_out)), tanh's g = 5/3
        assert w.std() == pytest.approx(5 / 3 * np.sqrt(2 / 192), rel=0.05)
    if method == "he":
        assert w.std() == pytest.approx(np.sqrt(2 / 96), rel=0.05)
    if method == "lsuv":  # each layer's output has variance 1 on the batch; the weights are scaled orthonormal rows
        with torch.no_grad():
            h = torch.from_numpy(x)
            for m in fixed:
                h = m(h)
                if isinstance(m, torch.nn.Linear):
                    assert float(h.var()) == pytest.approx(1.0, rel=0.02)
        g = w @ w.T
        assert np.allclose(g / g[0, 0], np.eye(96), atol=1e-4)
    assert all(float(m.bias.abs().max()) == 0 for m in lin)


def test_fix_keeps_other_state():
    model = Busy()
    state = dt.fix_weights(model, "he", gauss(32, 20))
    assert torch.equal(state["bn.running_var"], model.bn.running_var) and torch.equal(state["bn.weight"],
                                                                                      model.bn.weight)
    assert not torch.equal(state["fc1.weight"], model.fc1.weight)
    with pytest.raises(ValueError, match="valid: he, xavier, lsuv"):
        dt.fix_weights(model, "orthogonal", gauss(32, 20))


# ---------------------------------------------------------------------------- standard models are not errors
class TutorialCNN(torch.nn.Module):
    """The CNN of PyTorch's MNIST example."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 32, 3, 1), torch.nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = torch.nn.Dropout(0.25), torch.nn.Dropout(0.5)
        self.fc1, self.fc2 = torch.nn.Linear(9216, 128), torch.nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.relu(self.fc1(torch.flatten(self.dropout1(x), 1)))
        return F.log_softmax(self.fc2(self.dropout2(x)), dim=1)


class LeNet(torch.nn.Module):
    """The CNN of PyTorch's CIFAR-10 tutorial."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(3, 6, 5), torch.nn.Conv2d(6, 16, 5)
        self.pool = torch.nn.MaxPool2d(2, 2)
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(400, 120), torch.nn.Linear(120, 84), torch.nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(self.pool(F.relu(self.conv1(x))))))
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))))


@pytest.mark.parametrize("make,shape", [
    (lambda: mlp([784, 512, 512, 10]), (784,)),  # the quickstart's network
    (lambda: mlp([784, 128, 64, 10]), (784,)), (lambda: mlp([784, 256, 256, 256, 10], "tanh"), (784,)),
    (TutorialCNN, (1, 28, 28)), (LeNet, (3, 32, 32))])
def test_default_initialised_models_are_not_errors(make, shape):
    torch.manual_seed(0)
    d = dt.diagnose_torch(make(), gauss(128, *shape))
    assert d.overall != "error", d.summary


# ---------------------------------------------------------------------------- results, dispatch, no torch
def test_result_formats_and_dispatch():
    model = mlp([32, 16, 4], "relu", std=0.5)
    d = diagnose.diagnose_model(model, gauss(64, 32))  # the one entry point
    assert isinstance(d, dt.Diagnosis)
    blob = json.dumps(d.to_dict(), allow_nan=False)
    back = json.loads(blob)
    assert back["overall"] == d.overall and len(back["layers"]) == 2
    assert {"act_std", "grad_gain", "update_ratio"} <= back["layers"][0]["measured"].keys()
    page = d._repr_html_()
    assert page.count("<tr><td>") == 2 and "<table class=\"numbers\">" in page and d.overall in page
    assert str(d).splitlines()[0].startswith("layer")
    assert d.steps["steps"] == 3 and d.layers[0].measured["update_ratio"] > 0


def test_without_torch_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if not installed
    with pytest.raises(ImportError, match=r"pip install mlplab\[torch\]"):
        dt.diagnose_torch(object(), None)
    assert not dt.is_torch_module(object())
    f = tmp_path / "m.py"
    f.write_text("def make():\n    return None\n")
    assert cli_main(["diagnose", "--torch", f"{f}:make", "--input-shape", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install mlplab[torch]" in err


# ---------------------------------------------------------------------------- the CLI
MODEL_PY = """
import torch

def good():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))

def bad():
    m = good()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.001)
    return m

def boom():
    raise RuntimeError("needs a GPU")

def not_a_module():
    return 42
"""


@pytest.fixture
def model_py(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL_PY)
    (tmp_path / "broken.py").write_text("import torch\ndef (:\n")
    torch.save(mlp([20, 7, 5]).state_dict(), tmp_path / "other.pt")
    return tmp_path


@pytest.mark.parametrize("args,message", [
    (["--torch", "nothere.py:good"], "no such file 'nothere.py'"),
    (["--torch", "model.py"], "give FILE.py:FACTORY"),
    (["--torch", "model.py:missing"], "has no function 'missing'; it defines bad, boom, good, not_a_module"),
    (["--torch", "model.py:boom"], "boom() raised RuntimeError: needs a GPU"),
    (["--torch", "model.py:not_a_module"], "returned a int, not a torch.nn.Module"),
    (["--torch", "broken.py:good"], "importing 'broken.py' raised SyntaxError"),
    (["--torch", "model.py:good", "--input-shape", "21"], "forward pass failed on a tensor: (256, 21) float32"),
    (["--torch", "model.py:good", "--input-shape", "twenty"], "--input-shape 'twenty'"),
    (["--torch", "model.py:good", "--state-dict", "other.pt"], "--state-dict 'other.pt' does not fit good()"),
    (["--torch", "model.py:good", "--state-dict", "model.py"], "--state-dict 'model.py' cannot be read as weights "
                                                               "saved by torch.save"),
    (["--torch", "model.py:good", "--fix", "he", "--fix-out", "no/such/dir/w.pt"],
     "--fix-out 'no/such/dir/w.pt': the folder 'no/such/dir' does not exist"),
    (["--torch", "model.py:good", "--steps", "-1"], "--steps must be a whole number >= 0, got -1"),
    (["--torch", "model.py:good", "--layers", "3,4"], "--layers describe an mlplab network"),
    (["--torch", "model.py:good", "--optimizer", "newton"], "a torch model takes sgd or adam"),
    (["--fix", "lsuv"], "--fix lsuv rescales on a traced torch forward: it needs --torch")])
def test_cli_errors_are_one_line(model_py, capsys, args, message):
    if "--input-shape" not in args and args[0] == "--torch":
        args = [*args, "--input-shape", "20"]
    assert cli_main(["diagnose", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_fail_on_fix_and_json(model_py, capsys):
    base = ["diagnose", "--torch", "model.py:bad", "--input-shape", "20", "--batch-size", "64"]
    assert cli_main([*base, "--fail-on", "error"]) == 1
    assert "verdict: error" in capsys.readouterr().out
    assert cli_main(["diagnose", "--torch", "model.py:good", "--input-shape", "20", "--fail-on", "error"]) == 0
    capsys.readouterr()
    assert cli_main([*base, "--fix", "he", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["diagnosis"]["overall"] == "error" and out["fix"]["diagnosis"]["overall"] == "ok"
    saved = torch.load(model_py / out["fix"]["saved_to"], weights_only=True)
    assert out["fix"]["saved_to"] == "model_bad_he.pt" and set(saved) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    # the saved weights load with --state-dict and diagnose as ok
    assert cli_main([*base, "--state-dict", "model_bad_he.pt", "--fail-on", "warning"]) == 0
