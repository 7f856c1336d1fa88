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


def test_mlplab_recommendation_quotes_a_hidden_fan_in():
    """A xavier tanh 784-256-10 network's Diagnosis said "Var z grows 3.06x per layer": layer 2's std (1/16)
    was read at the input's fan-in 784 instead of 256 (two layers: the theory note does not apply)."""
    model = nn.MLP([784, 256, 10], activation="tanh", weight_init="xavier", rng=0)
    X = np.random.default_rng(0).normal(size=(32, 784)).astype(np.float32)
    rec = from_result(checkup(model, X, steps=1)).recommendation
    assert "n = 256" in rec and "grows" not in rec


def test_readme_quotes_the_note():
    """The README's example sentence is what note() says for tanh at (1.0, 0.05) and 30 layers."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert " ".join(f"theory: {note('tanh', 1.0, 0.05, 30)['sentence']}".split()) in " ".join(readme.split())


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


def _tanh_chain(torch, seed, depth, n_in, width, out, sw2, bias_std):
    """``depth`` Linear+Tanh layers of ``width`` (weights N(0, sw2/fan_in), biases N(0, bias_std²)), then a Linear
    to ``out`` logits at torch's default init."""
    torch.manual_seed(seed)
    layers = []
    for i in range(depth):
        lin = torch.nn.Linear(width if i else n_in, width)
        torch.nn.init.normal_(lin.weight, std=math.sqrt(sw2 / lin.in_features))
        torch.nn.init.normal_(lin.bias, std=bias_std)
        layers += [lin, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, out))


def test_torch_mlp_diagnosis_cites_the_theory():
    torch = pytest.importorskip("torch")
    from mlplab.diagnose.pytorch import diagnose_torch

    model = _tanh_chain(torch, 0, depth=12, n_in=20, width=128, out=3, sw2=4.0, bias_std=math.sqrt(0.05))
    d = diagnose_torch(model, torch.randn(64, 20), steps=1)
    assert d.theory["applies"] and d.theory["phase"] == "chaotic"
    assert d.theory["sigma_w2"] == pytest.approx(4.0, rel=0.03)
    assert "chaotic phase" in d.summary


def test_torch_note_reads_the_network_as_given():
    """The note describes the network it was given (its initialization, as the mlplab network's note does): σ_w²
    and σ_b² both from the weights and biases before the check-up's optimizer steps. Adam at lr 0.1 moves every
    bias by about 0.1 a step (its step is ~lr whatever the gradient's size): after the 3 steps the median variance
    the note read was 0.057 against the initial 0.037, when it read the biases after the steps and the weights
    before them."""
    torch = pytest.importorskip("torch")
    from mlplab.diagnose.pytorch import diagnose_torch

    model = _tanh_chain(torch, 1, depth=6, n_in=16, width=64, out=4, sw2=1.5, bias_std=0.2)
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    inner = linear[1:-1]  # the layers whose input is a hidden activation
    sb2 = float(np.median([np.var(m.bias.detach().double().numpy()) for m in inner]))
    sw2 = float(np.median([m.in_features * np.var(m.weight.detach().double().numpy()) for m in inner]))
    d = diagnose_torch(model, torch.randn(128, 16), torch.randint(0, 4, (128,)), steps=3, optimizer="adam",
                       lr=0.1)
    assert d.steps["steps"] == 3 and d.steps["loss_after"] != d.steps["loss_before"]
    assert d.theory["applies"]
    assert d.theory["sigma_b2"] == pytest.approx(sb2, rel=1e-12)
    assert d.theory["sigma_w2"] == pytest.approx(sw2, rel=1e-6)  # (Var W of the float32 copy, in float64)
    assert d.theory["chi_1"] == pytest.approx(float(theory.chi_1(sw2, sb2, "tanh")), rel=1e-5)


# ---------------------------------------------------------------------------- --fix critical
def _pair_correlations(layers, c0=0.5, pairs=200, n=96):
    """Two inputs at correlation c0 through a torch chain: their mean cosine after every Linear layer."""
    import torch

    g = torch.Generator().manual_seed(5)
    h1 = torch.randn(pairs, n, generator=g)
    h2 = c0 * h1 + math.sqrt(1 - c0**2) * torch.randn(pairs, n, generator=g)
    out = []
    with torch.no_grad():
        for mod in layers:
            h1, h2 = mod(h1), mod(h2)
            if isinstance(mod, torch.nn.Linear):
                out.append(float(((h1 * h2).sum(1) / (h1.norm(dim=1) * h2.norm(dim=1))).mean()))
    return np.array(out)


@pytest.mark.parametrize("weights", ("normal", "orthogonal"))
def test_fix_critical_torch(weights):
    """torch's default init of a 30-layer tanh chain is deep in the ordered phase (σ_w² = 1/3): correlations merge
    to 1 and the gradient vanishes. --fix critical puts σ_w² on χ₁ = 1 for the measured σ_b² (theory), leaves the
    model as it was, and then (measured) two inputs' correlation follows the theory's c-map over the 30 layers and
    the gradient reaches layer 1."""
    torch = pytest.importorskip("torch")
    from mlplab.diagnose.pytorch import diagnose_torch, fix_weights

    torch.manual_seed(0)
    L, n = 30, 96

    def make():
        mods = []
        for _ in range(L - 1):
            mods += [torch.nn.Linear(n, n), torch.nn.Tanh()]
        return torch.nn.Sequential(*mods, torch.nn.Linear(n, 10))

    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(64, n)
    state = fix_weights(model, "critical", x, seed=1, weights=weights)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    fixed = make()
    fixed.load_state_dict(state)
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    sb2 = float(np.median([float(m.bias.detach().double().var(unbiased=False)) for m in linear[:-1]]))
    assert len(state.critical) == L
    for c, m, m0 in zip(state.critical[:-1], [m for m in fixed if isinstance(m, torch.nn.Linear)], linear):
        assert c["sigma_b2"] == pytest.approx(sb2, rel=1e-12)
        assert float(theory.chi_1(c["sigma_w2"], c["sigma_b2"], "tanh")) == pytest.approx(1.0, abs=1e-9)
        tol = 0.06 if weights == "normal" else 1e-3
        assert n * float(m.weight.detach().double().var()) == pytest.approx(c["sigma_w2"], rel=tol)
        assert torch.equal(m.bias, m0.bias)  # the biases are kept: their σ_b² chose σ_w²
    if weights == "orthogonal":
        w = fixed[2].weight.double()
        assert torch.allclose(w @ w.T, torch.eye(n, dtype=torch.float64) * state.critical[1]["sigma_w2"], atol=1e-5)
    c_before, c_after = _pair_correlations(model), _pair_correlations(fixed)
    sw2 = state.critical[1]["sigma_w2"]
    q1 = sw2 + sb2  # the first pre-activations: unit-variance inputs, correlation 0.5
    _, c_theory = theory.iterates(q1, (0.5 * sw2 + sb2) / q1, sw2, sb2, "tanh", L - 2)
    assert c_before[-2] > 0.999  # ordered: the two inputs have merged
    # width 96 lags the infinite-width c-map by up to ~0.12 at depth 30 (measured): the claim is the survival
    assert np.max(np.abs(c_after[:10] - c_theory[:10])) < 0.05 and np.max(np.abs(c_after[:-1] - c_theory)) < 0.15
    assert c_after[-2] < 0.8
    d = diagnose_torch(fixed, x, steps=1)
    assert d.theory["phase"] == "critical" and 0.1 < d.layers[0].measured["grad_gain"] < 10
    xg = x.clone()
    model(xg).square().sum().backward()  # the default init's gradient at layer 1 against the last layer's
    first, last = linear[0], linear[-1]
    assert float(first.weight.grad.norm()) < 1e-6 * float(last.weight.grad.norm())


def test_fix_critical_mlplab_network_and_cli(tmp_path, capsys):
    """An mlplab tanh network at σ_w² = 1, σ_b² = 0.05: fix_network gives χ₁ = 1 at its measured σ_b² (theory), the
    network is untouched, and `mlplab diagnose --fix critical --fix-out` prints JSON (schema-valid) whose fixed
    diagnosis is critical and saves weights that load."""
    jsonschema = pytest.importorskip("jsonschema")
    from mlplab.cli import main as cli_main
    from mlplab.diagnose.fix import fix_network

    model = nn.MLP([32] + [128] * 6 + [10], activation="tanh", weight_init="lecun",
                   bias_init=f"std={math.sqrt(0.05)}", rng=3)
    w_before = [p.data.copy() for p in model.parameters()]
    fixed, notes = fix_network(model, "critical")
    assert all(np.array_equal(a, p.data) for a, p in zip(w_before, model.parameters()))
    for c in notes[:-1]:
        assert float(theory.chi_1(c["sigma_w2"], c["sigma_b2"], "tanh")) == pytest.approx(1.0, abs=1e-9)
        assert c["sigma_w2"] == pytest.approx(1.761, rel=0.05)  # σ_b² ≈ 0.05 measured
    assert notes[-1]["activation"] == "identity" and notes[-1]["sigma_w2"] == 1.0
    out = tmp_path / "fixed.npz"
    argv = ["diagnose", "--layers", "32," + ",".join(["128"] * 6) + ",10", "--activation", "tanh", "--init", "lecun",
            "--bias-init", f"std={math.sqrt(0.05)}", "--input-std", "1", "--batch-size", "32", "--steps", "1",
            "--fix", "critical", "--fix-weights", "orthogonal", "--fix-out", str(out), "--json"]
    assert cli_main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    jsonschema.validate(r["fix"]["diagnosis"], SCHEMA)
    assert r["diagnosis"]["theory"]["phase"] == "ordered" and r["fix"]["diagnosis"]["theory"]["phase"] == "critical"
    assert r["fix"]["weights"] == "orthogonal" and out.is_file()
    back = nn.MLP([32] + [128] * 6 + [10], activation="tanh", weight_init="zeros")
    back.load(out)
    w = back.parameters()[2].data.astype(np.float64)
    sw2 = r["fix"]["critical"][1]["sigma_w2"]
    assert np.allclose(w.T @ w, sw2 * np.eye(128), atol=1e-4)  # gain·Q: the same variance σ_w²/n, W Wᵀ = σ_w² I


@pytest.mark.parametrize("argv, words", [
    (["--fix", "lsuv"], "needs --torch"),
    (["--fix-weights", "orthogonal"], "--fix-weights goes with --fix critical"),
    (["--fix-out", "x.npz"], "--fix-out needs --fix"),
])
def test_fix_options_refused_in_one_line(argv, words, capsys):
    from mlplab.cli import main as cli_main

    assert cli_main(["diagnose", "--input-std", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


# ---------------------------------------------------------------------------- the sharpness line (issue 27 §1)
def test_sharpness_line_mlplab_against_curvature_top_eigenvalue():
    """--sharpness on an mlplab network: λ_max by 10 Lanczos steps equals mlplab.curvature's converged top
    eigenvalue (ARPACK) on the same batch and weights, against 2/η (SGD) and (2 + 2β)/η (momentum); schema-valid."""
    jsonschema = pytest.importorskip("jsonschema")
    from mlplab import curvature

    model = nn.MLP([20, 32, 32, 4], activation="tanh", weight_init="xavier", rng=2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 20)).astype(np.float32), rng.integers(0, 4, 64)
    w0 = [p.data.copy() for p in model.parameters()]
    r = checkup(model, X, y, steps=2, lr=0.3, sharpness=True)
    assert all(np.array_equal(a, p.data) for a, p in zip(w0, model.parameters()))
    curv = curvature.NetworkCurvature(model, X, y)
    top = float(curvature.top_eigen(curv.hvp, curv.n_params, k=1)[0][0])
    s = r["sharpness"]
    assert s["sharpness"] == pytest.approx(top, rel=1e-4) and s["limit"] == pytest.approx(2 / 0.3, rel=1e-12)
    assert s["ratio"] == pytest.approx(top * 0.3 / 2, rel=1e-4) and "2/η" in s["sentence"]
    d = from_result(r)
    jsonschema.validate(d.to_dict(), SCHEMA)
    assert d.checks["sharpness"]["sharpness"] == s["sharpness"] and "sharpness λ_max(H)" in str(d)
    m = checkup(model, X, y, steps=1, optimizer="momentum", lr=0.1, sharpness=True)["sharpness"]
    assert m["limit"] == pytest.approx((2 + 2 * 0.9) / 0.1, rel=1e-12) and "(2 + 2β)/η" in m["sentence"]


def test_sharpness_line_torch_against_curvature_top_eigenvalue():
    torch = pytest.importorskip("torch")
    from mlplab import curvature
    from mlplab.curvature.torch_hvp import TorchCurvature
    from mlplab.diagnose.sharpness import for_torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 24), torch.nn.Tanh(), torch.nn.Linear(24, 5)).double()
    x = torch.randn(48, 12, dtype=torch.float64)
    s = for_torch(model, x, lr=0.1, seed=3)
    labels = np.random.default_rng([3, 2]).integers(0, 5, size=48)  # the check-up's random labels
    curv = TorchCurvature(model, x.numpy(), labels)
    top = float(curvature.top_eigen(curv.hvp, curv.n_params, k=1)[0][0])
    assert s["sharpness"] == pytest.approx(top, rel=1e-4) and s["limit"] == pytest.approx(20.0)
    assert "not measured" in for_torch(model, torch.zeros(4, 12, dtype=torch.long), lr=0.1)["sentence"]
    as_array = for_torch(model, x.numpy().astype(np.float32), lr=0.1, seed=3)  # the CLI's batch is an array
    assert as_array["sharpness"] == pytest.approx(top, rel=1e-4)


def test_cli_table_cites_the_theory(capsys):
    from mlplab.cli import main as cli_main

    assert cli_main(["diagnose", "--layers", "32,64,64,64,10", "--activation", "tanh", "--init", "lecun",
                     "--input-std", "1", "--batch-size", "32", "--steps", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "theory: tanh at σ_w² = " in out and "these 4 layers are within 6ξ_c" in out
