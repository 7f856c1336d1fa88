"""diagnose and mlplab.theory are one home for the formulas (issue 26 §1, §3): the check-up's per-layer
predictions are the theory's maps, its large-variance moments are accurate, GELU is torch's default, and the
diagnosis cites the phase, χ₁ and ξ_c of a plain fully-connected chain."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from mlplab import nn, theory
from mlplab.diagnose import statistics as dg
from mlplab.diagnose.network import checkup
from mlplab.diagnose.pytorch.result import from_result
from mlplab.diagnose.theory_note import note, note_for_chain
from mlplab.diagnose.verdicts import recommendation

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "diagnosis.schema.json").read_text())
ACTS = ("tanh", "sigmoid", "gelu", "silu", "elu", "erf", "relu", "leaky_relu", "identity")


@pytest.mark.parametrize("act", ACTS)
def test_predictions_are_the_theory_maps(act):
    """Var z_l = length_map(Var z_{l-1}) and E[(∂L/∂z_l)²]/E[(∂L/∂z_{l+1})²] = σ_w² E[φ′(z_l)²] (χ₁ at q = Var z_l),
    layer by layer; started at q*, every layer sits at q* and the gradient shrinks by exactly theory's χ₁."""
    n, L, sw2, sb2 = 256, 8, 1.3 if act not in ("relu", "leaky_relu", "identity") else 0.9, 0.05
    pred = dg.predict_signal([n] * L, [n] * L, sw2 / n, [act] * L, input_sq=0.7, bias_var=sb2, output_grad_sq=1.0)
    for lay in range(1, L):
        assert pred.pre_var[lay] == pytest.approx(float(theory.length_map(pred.pre_var[lay - 1], sw2, sb2, act)),
                                                  rel=1e-12)
    for lay in range(L - 1):
        chi = float(theory.chi_1(sw2, sb2, act, q=pred.pre_var[lay]))
        assert pred.grad_sq[lay] / pred.grad_sq[lay + 1] == pytest.approx(chi, rel=1e-12)
    q = float(theory.q_star(sw2, sb2, act))
    at = dg.predict_signal([n] * L, [n] * L, sw2 / n, [act] * L, input_sq=float(theory.mean_square(act, q)),
                           bias_var=sb2, output_grad_sq=1.0)
    assert np.allclose(at.pre_var, q, rtol=1e-9)
    assert at.grad_sq[0] / at.grad_sq[1] == pytest.approx(float(theory.chi_1(sw2, sb2, act)), rel=1e-9)


def _adaptive(f, q):
    s = math.sqrt(q)
    return quad(lambda u: f(u) * math.exp(-u * u / (2 * q)) / math.sqrt(2 * math.pi * q), -40 * s, 40 * s,
                points=[-20, -5, -1, 0, 1, 5, 20], limit=1000, epsabs=0, epsrel=1e-13)[0]


@pytest.mark.parametrize("act", ("tanh", "sigmoid", "gelu", "silu"))
def test_large_variance_moments_against_adaptive_quadrature(act):
    """An exploding network's q of 1e3 … 1e12: E[φ²] and E[φ′²] to 1e-9 (Gauss–Hermite capped at 8001 nodes was
    25x off in tanh's E[φ′²] at q = 1e6: its nodes step over tanh's bend)."""
    ta = theory.theory_activation(act)
    for q in (1e3, 1e6, 1e12):
        ref2 = _adaptive(lambda u: float(ta.phi(np.float64(u)) ** 2), q)
        refd = _adaptive(lambda u: float(ta.dphi(np.float64(u)) ** 2), q)
        assert dg.second_moment(act, q) == pytest.approx(ref2, rel=1e-9)
        assert dg.derivative_moment(act, q) == pytest.approx(refd, rel=1e-9)


def test_gelu_is_torchs_default():
    """nn.GELU() computes x Φ(x) (approximate='none'): diagnose predicts that one (the tanh form was 5e-4 off)."""
    torch = pytest.importorskip("torch")
    x = np.linspace(-6, 6, 2001)
    phi, dphi = dg.activation_fn("GELU")
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = torch.nn.GELU()(xt)
    y.sum().backward()
    assert np.max(np.abs(phi(x) - y.detach().numpy())) < 1e-12
    assert np.max(np.abs(dphi(x) - xt.grad.numpy())) < 1e-12


@pytest.mark.parametrize("spec", ("critical(bias_var=0.05)", "critical(bias_var=0.05, weights='orthogonal')",
                                  "critical(q_star=0.015625)"))
def test_init_table_calls_the_critical_init_matched(spec):
    """The critical init was advised against (\"grows 1.76x per layer; use xavier_normal\")."""
    r = recommendation("tanh", spec, 256, depth=30)
    assert r["family"] == "critical" and r["matched"] is True
    assert "critical line" in r["advice"] and "use xavier" not in r["advice"]


def test_note_numbers_are_the_papers():
    """tanh at (1.0, 0.05): ordered, ξ_c = 3.63, critical σ_w² 1.761 (Schoenholz et al. 2017), 30 > 6ξ_c."""
    n = note("tanh", 1.0, 0.05, 30)
    assert n["phase"] == "ordered" and n["xi_c"] == pytest.approx(3.63, rel=1e-2)
    assert n["critical_sigma_w2"] == pytest.approx(1.761, abs=1e-3) and n["beyond"]
    assert "ordered phase" in n["sentence"] and "30 layers are beyond 6ξ_c" in n["sentence"]
    assert "critical σ_w² for this σ_b² is 1.76" in n["advice"]
    near = note("tanh", 1.5, 0.05, 30)  # ξ_c = 15.8: 30 layers are within 6ξ_c, no advice
    assert near["xi_c"] == pytest.approx(15.8, rel=1e-2) and not near["beyond"] and near["advice"] is None
    chaos = note("tanh", 4.0, 0.05, 50)
    assert chaos["phase"] == "chaotic" and chaos["xi_c"] == pytest.approx(6.98, rel=1e-2) and chaos["beyond"]
    assert note("tanh", 1.761, 0.05, 200)["phase"] == "critical"
    relu = note("relu", 2.0, 0.01, 20)  # He with biases: no fixed length
    assert relu["phase"] == "unbounded" and "zero the biases" in relu["advice"]


def test_note_applies_to_plain_chains_only():
    rng = np.random.default_rng(0)
    w = [rng.normal(size=(64, 64)) / 8 for _ in range(4)]
    b = [np.zeros(64)] * 4
    assert note_for_chain(["tanh"] * 3 + ["identity"], w, b)["applies"]
    assert not note_for_chain(["tanh", "relu", "tanh", "identity"], w, b)["applies"]
    assert "convolution" in note_for_chain(["tanh"] * 4, w, b, kinds=["Conv2d"] + ["Linear"] * 3)["why_not"]
    assert not note_for_chain(["tanh"] * 4, w, b, norms=[None, "BatchNorm1d", None, None])["applies"]
    wide = [rng.normal(size=(64, 64)), rng.normal(size=(64, 512)), rng.normal(size=(512, 64)), rng.normal(size=(64, 3))]
    assert "one width" in note_for_chain(["tanh"] * 3 + ["identity"], wide, b)["why_not"]
    assert not note_for_chain(["relu6"] * 3 + ["identity"], w, b)["applies"]


def test_mlplab_network_diagnosis_cites_the_theory():
    """A 30-layer tanh network at σ_w² = 1, σ_b² = 0.05 (drawn, then measured back from the weights): the Diagnosis
    (schema-valid), its summary and recommendation name the ordered phase, ξ_c ≈ 3.6 and the critical 1.76."""
    jsonschema = pytest.importorskip("jsonschema")
    n, L = 128, 30
    model = nn.MLP([32] + [n] * (L - 1) + [10], activation="tanh", weight_init="lecun",
                   bias_init=f"std={math.sqrt(0.05)}", rng=3)
    X = np.random.default_rng(1).normal(size=(32, 32)).astype(np.float32)
    r = checkup(model, X, steps=1)
    th = r["theory"]
    assert th["applies"] and th["phase"] == "ordered" and th["depth"] == L
    assert th["sigma_w2"] == pytest.approx(1.0, rel=0.02) and th["sigma_b2"] == pytest.approx(0.05, rel=0.1)
    assert th["xi_c"] == pytest.approx(float(theory.xi_c(th["sigma_w2"], th["sigma_b2"], "tanh")), rel=1e-9)
    assert 3.3 < th["xi_c"] < 4.0 and th["beyond"]
    d = from_result(r)
    blob = d.to_dict()
    jsonschema.validate(blob, SCHEMA)
    assert blob["theory"]["phase"] == "ordered"
    assert "theory: tanh at σ_w² = " in d.summary and "ordered phase" in d.summary
    assert "--fix critical" in d.recommendation
    assert "theory: tanh" in str(d)
    bad = json.loads(json.dumps(blob))
    bad["theory"]["phase"] = "lukewarm"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_torch_mlp_diagnosis_cites_the_theory():
    torch = pytest.importorskip("torch")
    from mlplab.diagnose.pytorch import diagnose_torch

    torch.manual_seed(0)
    layers = []
    for i in range(12):
        lin = torch.nn.Linear(128 if i else 20, 128)
        torch.nn.init.normal_(lin.weight, std=math.sqrt(4.0 / lin.in_features))
        torch.nn.init.normal_(lin.bias, std=math.sqrt(0.05))
        layers += [lin, torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(128, 3))
    d = diagnose_torch(model, torch.randn(64, 20), steps=1)
    assert d.theory["applies"] and d.theory["phase"] == "chaotic"
    assert d.theory["sigma_w2"] == pytest.approx(4.0, rel=0.03)
    assert "chaotic phase" in d.summary
