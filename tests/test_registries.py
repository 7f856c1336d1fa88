"""The registries: one canonical name per activation / initializer / optimizer, every old spelling
still accepted, metadata (gains, families, std formulas, defaults) consistent with what is drawn."""

import inspect
import math

import numpy as np
import pytest

from mlplab import init, nn, optim
from mlplab.activations import ACTIVATION_INFO, canonical_activation, normalize_name
from mlplab.tensor import Tensor

ACTIVATION_SPELLINGS = {
    "relu": ["relu", "ReLU", "RELU", " relu "], "leaky_relu": ["leaky_relu", "leaky-relu", "LeakyReLU", "Leaky ReLU"],
    "tanh": ["tanh", "Tanh"], "sigmoid": ["sigmoid", "Sigmoid", "logistic"],
    "identity": ["identity", "linear", "Identity", "Linear"],
}


@pytest.mark.parametrize("canonical,spelling", [(c, s) for c, ss in ACTIVATION_SPELLINGS.items() for s in ss])
def test_every_activation_spelling_resolves_everywhere(canonical, spelling):
    from mlplab.diagnose import statistics as diagnostics

    assert canonical_activation(spelling) == canonical
    net = nn.MLP([6, 5, 3], activation=spelling, rng=0)
    assert net.activation == canonical
    assert type(net.layers[1]) is nn.ACTIVATIONS[canonical]
    assert init.calculate_gain(spelling) == ACTIVATION_INFO[canonical].gain_for()
    phi, _ = diagnostics.activation_fn(spelling)
    assert phi(np.array([2.0]))[0] == pytest.approx(nn.ACTIVATIONS[canonical]()(Tensor(np.array([2.0]))).data[0])


def test_modules_resolve_to_their_canonical_name():
    assert canonical_activation(nn.LeakyReLU(0.2)) == "leaky_relu" and canonical_activation(nn.ReLU) == "relu"
    # the bug: a LeakyReLU module with the default ("book") init used to fail
    net = nn.MLP([50, 40, 3], activation=nn.LeakyReLU(0.1), rng=0)
    assert net.activation == "leaky_relu" and net.layers[1].negative_slope == 0.1
    assert np.std(net.layers[0].weight.data) == pytest.approx(math.sqrt(2 / 50), rel=0.1)
    with pytest.raises(ValueError, match="unknown activation 'swish'; valid: relu, leaky_relu, tanh"):
        canonical_activation("swish")
    assert normalize_name(" Leaky-ReLU ") == "leaky_relu"


def test_gains_match_torch_table():
    torch = pytest.importorskip("torch")
    for name in ("relu", "tanh", "sigmoid", "linear"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-12)
    for a in (0.01, 0.2):
        assert init.calculate_gain("leaky_relu", a) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", a))


def test_initializer_registry_has_one_entry_per_scheme():
    names = [a for s in init.SCHEMES.values() for a in (s.name, *s.aliases)]
    assert len(names) == len(set(names)) == len(init.INITIALIZERS)  # every name belongs to exactly one scheme
    for s in init.SCHEMES.values():
        assert s.family in ("he", "xavier", "lecun", "torch", "orthogonal", "identity", "constant", "fixed", "other",
                            "book", "critical") and s.formula


def sample_agrees_with_registry(name) -> bool:
    """The registry's std (what theory and `init list` say) against a large sample of the scheme."""
    kw = {"fan_in": 300} if name == "torch_bias" else {}
    shape = (300, 200) if name != "torch_bias" else (20000,)
    x = init.get_initializer(name)(shape, np.random.default_rng(0), np.float64, **kw)
    std = init.theoretical_std(name, (300, 200), **kw) if name != "torch_bias" else \
        init.SCHEMES["torch_bias"].std({"fan_in": 300})
    return x.std() == pytest.approx(std, rel=0.03, abs=1e-12)


@pytest.mark.parametrize("name", sorted(init.SCHEMES))
def test_registered_std_matches_the_samples(name):
    assert sample_agrees_with_registry(name)
    if name != "torch_bias":
        std = init.theoretical_std(name, (300, 200))
        assert init.SCHEMES[name].variance_for(300, 200) == pytest.approx(std**2, rel=1e-12)


def test_a_wrong_registered_formula_is_caught(monkeypatch):
    import dataclasses

    wrong = dataclasses.replace(init.SCHEMES["he_normal"], std=lambda p: math.sqrt(1 / p["shape"][0]))  # 1/n, not 2/n
    monkeypatch.setitem(init.SCHEMES, "he_normal", wrong)
    assert not sample_agrees_with_registry("he_normal")


def test_xavier_has_two_meanings_side_by_side():
    assert init.SCHEMES["xavier"].variance_for(300, 100) == pytest.approx(1 / 300)
    assert init.SCHEMES["xavier_normal"].variance_for(300, 100) == pytest.approx(2 / 400)
    assert init.init_family("glorot") == init.init_family("xavier") == "xavier"


def test_optimizer_defaults_live_in_the_signatures():
    for name, cls in optim.OPTIMIZERS.items():
        sig = inspect.signature(cls.__init__).parameters
        assert optim.DEFAULT_HPARAMS[name] == {k: p.default for k, p in list(sig.items())[2:]
                                               if p.default is not inspect.Parameter.empty}
        opt = optim.get_optimizer(name.upper().replace("_", "-"), [Tensor(np.zeros(2), requires_grad=True)])
        assert isinstance(opt, cls) and opt.lr == sig["lr"].default
    assert optim.canonical_optimizer("Momentum_EMA") == "ema_momentum"
    with pytest.raises(ValueError, match="adam has no momentum; its settings are lr, betas, eps"):
        optim.get_optimizer("adam", [Tensor(np.zeros(2), requires_grad=True)], momentum=0.9)


def test_schedule_names_any_spelling():
    opt = optim.SGD([Tensor(np.zeros(2), requires_grad=True)], lr=0.1)
    assert isinstance(optim.get_schedule("Warmup-Cosine", opt, warmup_steps=1, total_steps=5), optim.WarmupCosineLR)
    assert isinstance(optim.get_schedule("1/t", opt, k=0.1), optim.InverseTimeLR)


def test_formula_is_read_from_the_docstring():
    class Wrapped(optim.SGD):
        """Stochastic gradient descent (*Deep Learning from Scratch*, ch. 6; CMU 10-414/714 *Deep Learning
        Systems*, the lecture on optimization):  θ ← θ − η ∇L(θ).

        More text."""

    class Block(optim.SGD):
        """Momentum::

            v ← μ v − η g
            θ ← θ + v
        """

    assert optim._formula(Wrapped) == "θ ← θ − η ∇L(θ)"
    assert optim._formula(Block) == "v ← μ v − η g; θ ← θ + v"
    for name in optim.OPTIMIZERS:
        assert "←" in optim.optimizer_info(name)["formula"]


def test_schedule_for_run_fits_the_run_length():
    from mlplab.schedules import schedule_for_run

    opt = optim.SGD([Tensor(np.zeros(2), requires_grad=True)], lr=1.0)
    sched = schedule_for_run("exponential", opt, 100)
    for _ in range(100):
        sched.step()
    assert opt.lr == pytest.approx(0.01)  # lr / 100 at the end of the run
    opt.lr = 1.0
    sched = schedule_for_run("Step", opt, 9)
    lrs = []
    for _ in range(9):
        sched.step()
        lrs.append(opt.lr)
    assert lrs[2] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.01)  # lr / 10 at 1/3 and 2/3
    with pytest.raises(ValueError, match="Unknown schedule"):
        schedule_for_run("bogus", opt, 9)
