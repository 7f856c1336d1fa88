"""Diagnosing PyTorch models (issue 30): coverage said, not implied: modules never reached by the forward,
unregistered, frozen, shared and re-parametrized weights, ReLU6 as a saturating ReLU, an in-place relu_.
(Split from test_diagnose_torch_io.py; its helpers are imported from there.)
"""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from test_diagnose_torch import Busy, gauss, mlp  # noqa: E402
from test_diagnose_torch_io import diag  # noqa: E402

from mlplab import diagnose_torch as dt  # noqa: E402


# ---------------------------------------------------------------------------- coverage
class EarlyExit(torch.nn.Module):
    """A data-dependent exit: stops once the activations are small (here after 7 of 20 layers)."""

    def __init__(self, n=20):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(n))
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x):
        for i, lay in enumerate(self.layers):
            x = torch.relu(lay(x))
            if i == 6:  # stands for `if x.norm() < tol: break`
                break
        return self.head(x)


def test_never_reached_modules_are_said():
    d = diag(EarlyExit(), gauss(32, 16))
    cov = d.coverage
    assert cov["never_reached"] == [f"layers.{i}" for i in range(7, 20)] and cov["layers_traced"] == 8
    assert cov["modules_with_parameters"] == 21 and cov["modules_traced"] == 8
    assert "13 of 21 modules with parameters never reached by the forward, so not diagnosed (layers.7–19)" in d.summary


class ListMixer(torch.nn.Module):
    """An MLP whose blocks sit in a plain Python list: called, but not parameters of the model."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Linear(12, 16)
        self.blocks = [torch.nn.Linear(16, 16) for _ in range(3)]
        self.scale = torch.ones(16, requires_grad=True)  # a trainable tensor that is not a Parameter
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        h = F.gelu(self.stem(x))
        for b in self.blocks:
            h = h + F.gelu(b(h))
        return self.head(h * self.scale)


def test_unregistered_layers_are_errors_that_never_train():
    d = diag(ListMixer(), gauss(64, 12))
    loose = [lay for lay in d.layers if lay.rule == "not_registered"]
    assert [lay.name for lay in loose] == ["blocks[0]", "blocks[1]", "blocks[2]"]
    assert all(lay.verdict == "error" and lay.measured["update_ratio"] == 0 for lay in loose)
    assert d.overall == "error" and "not registered with the model" in d.summary
    assert {u["path"] for u in d.coverage["unregistered"]} == {"blocks[0]", "blocks[1]", "blocks[2]", "scale"}
    registered = ListMixer()
    registered.blocks = torch.nn.ModuleList(registered.blocks)
    assert diag(registered, gauss(64, 12)).coverage["unregistered"] == [{"path": "scale", "what": "tensor",
                                                                          "parameters": 16}]


class Tied(torch.nn.Module):
    """One Linear used three times (weight sharing) and a tied autoencoder decoder (F.linear with W^T)."""

    def __init__(self):
        super().__init__()
        self.enc, self.shared = torch.nn.Linear(20, 16), torch.nn.Linear(16, 16)
        self.dec = torch.nn.Linear(16, 20)
        self.dec.weight = torch.nn.Parameter(torch.randn(20, 16) * 0.2)
        self.alias = self.dec  # one module under two names

    def forward(self, x):
        h = torch.tanh(self.enc(x))
        for _ in range(3):
            h = torch.tanh(self.shared(h))
        return self.dec(h)


def test_frozen_and_shared_are_said():
    d = diag(Busy(), gauss(32, 20))
    assert d.coverage["frozen"] == ["fc2.weight"] and "1 parameter frozen" in d.summary
    t = diag(Tied(), gauss(32, 20))
    shared = {tuple(s["names"]): s["layers"] for s in t.coverage["shared"]}
    assert shared[("shared.weight",)] == [2, 3, 4]
    assert ("dec.weight", "alias.weight") in shared
    assert "shared.weight is used by 3 layers (2, 3, 4)" in t.summary


@pytest.mark.parametrize("wrap", ["parametrizations.weight_norm", "weight_norm", "parametrizations.spectral_norm"])
def test_reparametrized_weights_are_measured_and_fixed_through(wrap):
    fn = torch.nn.utils
    for part in wrap.split("."):
        fn = getattr(fn, part)

    def make():
        torch.manual_seed(0)
        m = mlp([32, 64, 64, 10], "relu", std=0.02)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the old weight_norm is deprecated
            m[0], m[2] = fn(m[0]), fn(m[2])
        return m

    x = gauss(128, 32)
    d = diag(make(), x)
    assert len(d.coverage["reparametrized"]) == 2 and "re-parametrized" in d.summary
    assert [e["weights"].split(" ")[0] for e in d.coverage["layer_weights"]] == ["re-parametrized"] * 2 + ["parameter"]
    assert all(lay.measured["update_ratio"] > 0 for lay in d.layers)  # before: 0 (the copy of a computed weight)
    model = make()
    state = dt.fix_weights(model, "he", x, seed=1)
    fixed = make()
    fixed.load_state_dict(state)
    fixed(torch.zeros(2, 32))  # the old weight_norm recomputes the weight at a forward
    w = fixed[2].weight.detach()
    if "spectral" in wrap:  # σ(W) = 1 whatever is written: the fix says it cannot, and leaves the layer
        assert len(state.skipped) == 2 and "spectral_norm" in state.skipped[0]
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items() if k.startswith("2.param"))
    else:  # weight_norm: g·v/‖v‖ is now He's N(0, 2/64)
        assert state.skipped == [] and float(w.std()) == pytest.approx(math.sqrt(2 / 64), rel=0.06)
        assert float(fixed[2].bias.abs().max()) == 0
        lsuv = make()
        lsuv.load_state_dict(dt.fix_weights(model, "lsuv", x))  # rescaled through g and v: Var z = 1 per layer
        h = torch.from_numpy(x)
        with torch.no_grad():
            for m in lsuv:
                h = m(h)
                if isinstance(m, torch.nn.Linear):
                    assert float(h.var()) == pytest.approx(1.0, rel=0.02)


def test_relu6_is_a_saturating_relu():
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU6(), torch.nn.Linear(64, 64),
                                torch.nn.ReLU6(inplace=True), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for m in model[::2]:
            torch.nn.init.normal_(m.weight, std=1.0)
            m.bias.zero_()
        model[2].bias.fill_(8.0)  # layer 2 starts mostly above 6
    d = diag(model, gauss(256, 64))
    assert [lay.activation for lay in d.layers] == ["relu6", "relu6", "identity"]  # before: identity, not analysed
    second = d.layers[1]
    assert second.measured["saturated"] > 0.4 and second.problem == "saturating"
    assert second.measured["dead"] is not None
    # the theory's saturated fraction P(z ≥ 5.99) for the measured pre-activation variance
    assert d.layers[0].measured["saturated"] == pytest.approx(d.layers[0].predicted["saturated"], abs=0.03)


class InPlace(torch.nn.Module):
    def __init__(self, inplace):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = torch.nn.Linear(16, 32), torch.nn.Linear(32, 32), torch.nn.Linear(32, 4)
        self.inplace = inplace

    def forward(self, x):
        h = self.a(x)
        if self.inplace:
            h.relu_()  # the caller relies on h changing in place
        else:
            h = torch.relu(h)
        return self.c(torch.tanh(self.b(h)))


def test_inplace_relu_keeps_gradient_statistics():
    x = gauss(64, 16)
    a, b = diag(InPlace(True), x), diag(InPlace(False), x)
    for la, lb in zip(a.layers, b.layers):  # before: layer 1's gradient statistics were NaN
        for k in ("pre_grad_norm", "grad_gain", "act_std", "dead", "update_ratio"):
            assert la.measured[k] == pytest.approx(lb.measured[k], rel=1e-5, nan_ok=True), k
    assert all(math.isfinite(x.measured["grad_gain"]) for x in a.layers)
