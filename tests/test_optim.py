"""Optimizers: every row of the table is checked against a hand-written NumPy transcription of
its formula, against torch.optim where torch has the method, for convergence, for leaving .grad
alone, and for resuming exactly from a state_dict."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from optim_problem import SHAPES, THETA0, flat, grad_fn, make_params, set_grads

from mlplab import optim
from mlplab.functions import Quadratic, Rosenbrock, run_optimizer
from mlplab.optim import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    EMAMomentum,
    Momentum,
    NAdam,
    Nesterov,
    NesterovEMA,
    RMSProp,
)
from mlplab.tensor import Tensor

# the problem (a deterministic gradient of two parameters) is tests/optim_problem.py; Newton, the validation and
# registry, the schedules and the book's optimizers are test_optim_newton.py, test_optim_registry.py,
# test_schedules.py and test_optim_book.py.


# ------------------------------------------------------------------------------ formulas by hand
# rule(θ, g, s, t, η, hp) -> new θ; s is this parameter's state dict, t counts from 1.
def r_sgd(th, g, s, t, lr, hp):
    return th - lr * g


def r_momentum(th, g, s, t, lr, hp):
    s["v"] = hp["momentum"] * s.get("v", 0.0) - lr * g
    return th + s["v"]


def r_ema(th, g, s, t, lr, hp):
    b = hp["momentum"]
    s["u"] = b * s.get("u", 0.0) + (1 - b) * g
    u_hat = s["u"] / (1 - b ** t) if hp.get("bias_correction") else s["u"]
    return th - lr * u_hat


def r_nesterov(th, g, s, t, lr, hp):
    mu = hp["momentum"]
    s["b"] = mu * s.get("b", 0.0) + g
    return th - lr * (g + mu * s["b"])


def r_nesterov_ema(th, g, s, t, lr, hp):  # g was evaluated at the look-ahead point (see ahead_ema)
    b = hp["momentum"]
    s["u"] = b * s.get("u", 0.0) + (1 - b) * g
    s["lr"] = lr
    return th - lr * s["u"]


def ahead_ema(th, s):  # θ − η u, η the lr of the previous step
    return th - s.get("lr", 0.0) * s.get("u", 0.0)


def r_adagrad(th, g, s, t, lr, hp):
    s["h"] = s.get("h", hp.get("initial_accumulator_value", 0.0)) + g * g
    return th - lr * g / (np.sqrt(s["h"]) + hp.get("eps", 1e-10))


def r_rmsprop(th, g, s, t, lr, hp):
    a, eps, mu = hp.get("alpha", 0.99), hp.get("eps", 1e-8), hp.get("momentum", 0.0)
    s["v"] = a * s.get("v", 0.0) + (1 - a) * g ** 2
    s["m"] = a * s.get("m", 0.0) + (1 - a) * g
    corr = 1 - a ** t if hp.get("bias_correction") else 1.0
    v_hat, m_hat = s["v"] / corr, s["m"] / corr
    denom = (np.sqrt(v_hat - m_hat ** 2) if hp.get("centered") else np.sqrt(v_hat)) + eps
    if mu > 0:
        s["b"] = mu * s.get("b", 0.0) + g / denom
        return th - lr * s["b"]
    return th - lr * g / denom


def r_adam(th, g, s, t, lr, hp):
    (b1, b2), eps = hp.get("betas", (0.9, 0.999)), hp.get("eps", 1e-8)
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g ** 2
    v = s["v"]
    if hp.get("amsgrad"):
        s["vmax"] = v = np.maximum(s.get("vmax", 0.0), v)
    c1, c2 = (1 - b1 ** t, 1 - b2 ** t) if hp.get("bias_correction", True) else (1.0, 1.0)
    if hp.get("eps_on", "v_hat") == "v":  # ε on the uncorrected √v, corrections in the step size
        return th - lr * np.sqrt(c2) / c1 * s["m"] / (np.sqrt(v) + eps)
    m_hat, v_hat = s["m"] / c1, v / c2
    return th - lr * m_hat / (np.sqrt(v_hat) + eps)


def r_nadam(th, g, s, t, lr, hp):
    (b1, b2), eps, psi = hp.get("betas", (0.9, 0.999)), hp.get("eps", 1e-8), 4e-3
    mu_t = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    s["prod"] = s.get("prod", 1.0) * mu_t
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g ** 2
    v_hat = s["v"] / (1 - b2 ** t)
    step = (1 - mu_t) / (1 - s["prod"]) * g + mu_next / (1 - s["prod"] * mu_next) * s["m"]
    return th - lr * step / (np.sqrt(v_hat) + eps)


def run_reference(rule, hp, lrs, ahead=None, decoupled=False):
    """K steps of ``rule`` on the problem above; lrs[k] is the learning rate of step k+1."""
    thetas = [t.copy() for t in THETA0]
    states = [{} for _ in thetas]
    wd = hp.get("weight_decay", 0.0)
    path = [flat(thetas)]
    for t, lr in enumerate(lrs, start=1):
        points = [ahead(th, s) for th, s in zip(thetas, states)] if ahead else thetas
        grads = grad_fn(points)
        for i, (th, g) in enumerate(zip(thetas, grads)):
            if decoupled:
                th = th * (1 - lr * wd)
            else:
                g = g + wd * points[i]  # L2 decay: the gradient of λ/2‖θ‖² where the gradient is taken
            thetas[i] = rule(th, g, states[i], t, lr, hp)
        path.append(flat(thetas))
    return np.array(path)


def run_ours(cls, hp, lrs):
    params = make_params()
    opt = cls(params, **{**hp, "lr": lrs[0]})
    path = [flat(opt.iterates())]
    for lr in lrs:
        opt.lr = lr
        set_grads(params)
        opt.step()
        path.append(flat(opt.iterates()))
    return np.array(path)


def lr_sequence(lr, k=30, change_at=15, factor=0.5):
    return [lr if i < change_at else lr * factor for i in range(k)]


# ------------------------------------------------------------------------------ the table
# id, class, hyperparameters (weight decay on in most rows), rule, look-ahead
TABLE = [
    ("sgd", SGD, {"lr": 0.1, "weight_decay": 0.01}, r_sgd, None),
    ("momentum", Momentum, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, r_momentum, None),
    ("ema_momentum", EMAMomentum, {"lr": 0.2, "momentum": 0.8, "weight_decay": 0.01}, r_ema, None),
    ("ema_momentum_unbiased", EMAMomentum, {"lr": 0.2, "momentum": 0.8, "bias_correction": True}, r_ema, None),
    ("nesterov", Nesterov, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, r_nesterov, None),
    ("nesterov_ema", NesterovEMA, {"lr": 0.2, "momentum": 0.8, "weight_decay": 0.01}, r_nesterov_ema, ahead_ema),
    ("adagrad", AdaGrad, {"lr": 0.3, "weight_decay": 0.01}, r_adagrad, None),
    ("adagrad_init", AdaGrad, {"lr": 0.3, "initial_accumulator_value": 0.1, "eps": 1e-7}, r_adagrad, None),
    ("rmsprop", RMSProp, {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.01}, r_rmsprop, None),
    ("rmsprop_centered_momentum", RMSProp,
     {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 0.01}, r_rmsprop, None),
    ("rmsprop_unbiased", RMSProp, {"lr": 0.01, "alpha": 0.9, "bias_correction": True}, r_rmsprop, None),
    ("adam", Adam, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.01}, r_adam, None),
    ("adam_amsgrad", Adam, {"lr": 0.05, "betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.01}, r_adam, None),
    ("adam_texts", Adam, {"lr": 0.05, "bias_correction": False}, r_adam, None),
    ("adam_eps_on_v", Adam, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-3, "eps_on": "v", "weight_decay": 0.01},
     r_adam, None),
    ("adam_eps_on_v_amsgrad", Adam, {"lr": 0.05, "eps": 1e-3, "eps_on": "v", "amsgrad": True}, r_adam, None),
    ("adamw", AdamW, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1}, r_adam, None),
    ("nadam", NAdam, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.01}, r_nadam, None),
]
ROWS = [pytest.param(cls, hp, rule, ahead, id=name) for name, cls, hp, rule, ahead in TABLE]
CLASS_ROWS = [pytest.param(cls, hp, id=name) for name, cls, hp, _, _ in TABLE]


@pytest.mark.parametrize("cls, hp, rule, ahead", ROWS)
def test_trajectory_matches_formula(cls, hp, rule, ahead):
    lrs = lr_sequence(hp["lr"])  # the lr is halved after 15 of 30 steps
    ref = run_reference(rule, hp, lrs, ahead, decoupled=cls.decoupled_weight_decay)
    ours = run_ours(cls, hp, lrs)
    assert np.abs(ours[-1] - ours[0]).max() > 1e-2  # the parameters really moved
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_reference_check_can_fail():
    """The transcription test is sensitive: a rule with a slightly different constant fails it."""
    lrs = lr_sequence(0.05)
    wrong = lambda th, g, s, t, lr, hp: r_momentum(th, g, s, t, lr * (1 + 1e-6), hp)
    ref = run_reference(wrong, {"momentum": 0.9}, lrs)
    assert np.abs(run_ours(Momentum, {"lr": 0.05, "momentum": 0.9}, lrs) - ref).max() > 1e-9


# ------------------------------------------------------------------------------ torch parity
@pytest.fixture
def torch_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps NAdam's μ-product in the default dtype
    yield
    torch.set_default_dtype(previous)


WD = 0.01
# id, our optimizer, torch optimizer from (params, lr), torch lr for step t given our lr
TORCH_TABLE = [
    ("sgd", lambda p: SGD(p, lr=0.1, weight_decay=WD),
     lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=WD), None),
    ("ema_momentum", lambda p: EMAMomentum(p, lr=0.2, momentum=0.8, weight_decay=WD),
     lambda p: torch.optim.SGD(p, lr=0.2 * 0.2, momentum=0.8, weight_decay=WD), lambda lr, t: lr * (1 - 0.8)),
    ("ema_momentum_unbiased", lambda p: EMAMomentum(p, lr=0.2, momentum=0.8, bias_correction=True, weight_decay=WD),
     lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.8, weight_decay=WD),
     lambda lr, t: lr * (1 - 0.8) / (1 - 0.8 ** t)),
    ("nesterov", lambda p: Nesterov(p, lr=0.05, momentum=0.9, weight_decay=WD),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=WD), None),
    ("adagrad", lambda p: AdaGrad(p, lr=0.3, weight_decay=WD),
     lambda p: torch.optim.Adagrad(p, lr=0.3, weight_decay=WD), None),
    ("adagrad_init", lambda p: AdaGrad(p, lr=0.3, initial_accumulator_value=0.1, eps=1e-7, weight_decay=WD),
     lambda p: torch.optim.Adagrad(p, lr=0.3, initial_accumulator_value=0.1, eps=1e-7, weight_decay=WD), None),
    ("rmsprop", lambda p: RMSProp(p, lr=0.01, weight_decay=WD),
     lambda p: torch.optim.RMSprop(p, lr=0.01, weight_decay=WD), None),
    ("rmsprop_centered_momentum",
     lambda p: RMSProp(p, lr=0.01, alpha=0.9, eps=1e-6, centered=True, momentum=0.5, weight_decay=WD),
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, centered=True, momentum=0.5, weight_decay=WD),
     None),
    ("adam", lambda p: Adam(p, lr=0.05, weight_decay=WD),
     lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=WD), None),
    ("adam_amsgrad", lambda p: Adam(p, lr=0.05, betas=(0.8, 0.99), amsgrad=True, weight_decay=WD),
     lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), amsgrad=True, weight_decay=WD), None),
    ("adamw", lambda p: AdamW(p, lr=0.05, weight_decay=0.1),
     lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1), None),
    ("nadam", lambda p: NAdam(p, lr=0.05, weight_decay=WD),
     lambda p: torch.optim.NAdam(p, lr=0.05, weight_decay=WD), None),
]


def run_pair(ours_factory, torch_factory, lr_map, steps=100, schedule=True):
    """Same gradient sequence on both sides; our StepLR and torch's StepLR halve the lr at 40, 80."""
    params = make_params()
    tparams = [torch.tensor(t, requires_grad=True) for t in THETA0]
    opt, topt = ours_factory(params), torch_factory(tparams)
    sched = optim.StepLR(opt, step_size=40, gamma=0.5) if schedule else None
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=40, gamma=0.5) if schedule and lr_map is None else None
    for t in range(1, steps + 1):
        set_grads(params)
        for tp, g in zip(tparams, grad_fn([tp.detach().numpy() for tp in tparams])):
            tp.grad = torch.from_numpy(g)
        if lr_map is not None:
            topt.param_groups[0]["lr"] = lr_map(opt.lr, t)
        opt.step()
        topt.step()
        if sched:
            sched.step()
        if tsched:
            tsched.step()
    return flat([p.data for p in params]), flat([tp.detach().numpy() for tp in tparams])


@pytest.mark.parametrize("ours, theirs, lr_map", [pytest.param(*row[1:], id=row[0]) for row in TORCH_TABLE])
def test_matches_torch_with_weight_decay_and_schedule(ours, theirs, lr_map, torch_float64):
    a, b = run_pair(ours, theirs, lr_map)
    assert np.abs(a - flat(THETA0)).max() > 1e-2  # the parameters really moved
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_classic_momentum_equals_torch_while_lr_is_constant(torch_float64):
    ours = lambda p: Momentum(p, lr=0.05, momentum=0.9, weight_decay=WD)
    theirs = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=WD)
    a, b = run_pair(ours, theirs, None, schedule=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    # ... and not after a schedule changes the lr: v keeps the steps taken at the old lr (documented)
    a, b = run_pair(ours, theirs, None, schedule=True)
    assert np.abs(a - b).max() > 1e-4


def test_gradient_clipping_matches_torch_utils(torch_float64):
    for kind, c in (("clip_norm", 0.5), ("clip_value", 0.3)):
        params = make_params()
        tparams = [torch.tensor(t, requires_grad=True) for t in THETA0]
        opt = Momentum(params, lr=0.05, momentum=0.9, **{kind: c})
        topt = torch.optim.SGD(tparams, lr=0.05, momentum=0.9)
        for _ in range(20):
            set_grads(params)
            for tp, g in zip(tparams, grad_fn([tp.detach().numpy() for tp in tparams])):
                tp.grad = torch.from_numpy(g)
            if kind == "clip_norm":
                torch.nn.utils.clip_grad_norm_(tparams, c)
            else:
                torch.nn.utils.clip_grad_value_(tparams, c)
            opt.step()
            topt.step()
        np.testing.assert_allclose(flat([p.data for p in params]), flat([t.detach().numpy() for t in tparams]),
                                   rtol=0, atol=1e-12, err_msg=kind)


# ------------------------------------------------------------------------------ convergence
# name -> (hyperparameters on the parabola, on Rosenbrock from (-1.2, 1), steps on Rosenbrock)
CONVERGENCE = {
    "sgd": ({"lr": 0.1}, {"lr": 2e-3}, 20000),
    "momentum": ({"lr": 0.05, "momentum": 0.9}, {"lr": 1e-3, "momentum": 0.9}, 6000),
    "ema_momentum": ({"lr": 0.3, "momentum": 0.8}, {"lr": 1e-2, "momentum": 0.9}, 6000),
    "nesterov": ({"lr": 0.05, "momentum": 0.9}, {"lr": 1e-3, "momentum": 0.9}, 6000),
    "nesterov_ema": ({"lr": 0.3, "momentum": 0.8}, {"lr": 5e-3, "momentum": 0.9}, 6000),
    "adagrad": ({"lr": 1.0}, {"lr": 0.5}, 6000),
    "rmsprop": ({"lr": 0.01}, {"lr": 1e-3}, 6000),
    "adam": ({"lr": 0.1}, {"lr": 0.02}, 6000),
    "adamw": ({"lr": 0.1, "weight_decay": 0.0}, {"lr": 0.02, "weight_decay": 0.0}, 6000),
    "nadam": ({"lr": 0.1}, {"lr": 0.02}, 6000),
    "newton": ({"lr": 1.0}, {"lr": 1.0}, 30),
}


def test_convergence_table_covers_every_optimizer():
    assert set(CONVERGENCE) == set(OPTIMIZERS)  # canonical names; "momentum_ema" is an alias


@pytest.mark.parametrize("name", list(CONVERGENCE))
def test_converges_on_parabola_and_rosenbrock(name):
    hp_parabola, hp_rosen, steps = CONVERGENCE[name]
    parabola = Quadratic([[3.0, 1.0], [1.0, 2.0]], [1.0, -1.0])
    path = run_optimizer(parabola, name, [3.0, -4.0], 1000, **hp_parabola)
    np.testing.assert_allclose(path[-1], parabola.minimizer, atol=1e-3)
    rosen = Rosenbrock()
    path = run_optimizer(rosen, name, [-1.2, 1.0], steps, **hp_rosen)
    np.testing.assert_allclose(path[-1], [1.0, 1.0], atol=2e-2)


# ------------------------------------------------------------------------------ mechanics, every row
@pytest.mark.parametrize("cls, hp", CLASS_ROWS)
def test_gradients_untouched(cls, hp):
    params = make_params()
    opt = cls(params, **hp, clip_value=1.0, clip_norm=2.0)
    for _ in range(3):
        set_grads(params)
        grads = [p.grad for p in params]
        copies = [g.copy() for g in grads]
        opt.step()
        for p, g, c in zip(params, grads, copies):
            assert p.grad is g
            np.testing.assert_array_equal(g, c)


@pytest.mark.parametrize("cls, hp", CLASS_ROWS)
def test_state_dict_round_trip_continues_identically(cls, hp):
    params = make_params()
    opt = cls(params, **hp)
    sched = optim.StepLR(opt, step_size=7, gamma=0.5)
    for _ in range(10):
        set_grads(params)
        opt.step()
        sched.step()
    saved = pickle.loads(pickle.dumps((opt.state_dict(), sched.state_dict(), [p.data.copy() for p in params])))
    for _ in range(10):
        set_grads(params)
        opt.step()
        sched.step()
    # a fresh optimizer, built with other hyperparameters, resumes from the saved state
    resumed = [Tensor(d, requires_grad=True) for d in saved[2]]
    opt2 = cls(resumed, lr=123.0)
    sched2 = optim.StepLR(opt2, step_size=1, gamma=0.9)
    opt2.load_state_dict(saved[0])
    sched2.load_state_dict(saved[1])
    assert opt2.t == 10 and opt2.lr == opt.lr * 2  # 10 more steps crossed one lr halving (at 14)
    for _ in range(10):
        set_grads(resumed)
        opt2.step()
        sched2.step()
    for p, q in zip(params, resumed):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt2.lr == opt.lr


@pytest.mark.parametrize("cls, hp", CLASS_ROWS)
def test_updates_in_place_on_views_and_keeps_float32(cls, hp):
    stack = np.stack([THETA0[0], THETA0[0] + 1]).astype(np.float32)  # two "networks" side by side
    p = Tensor(stack[1], requires_grad=True)
    before = stack.copy()
    opt = cls([p], **hp)
    p.grad = grad_fn([p.data.astype(np.float64)])[0].astype(np.float32)
    opt.step()
    assert p.data.base is stack and p.data.dtype == np.float32
    assert not np.array_equal(stack[1], before[1])
    np.testing.assert_array_equal(stack[0], before[0])
    for s in opt.state:
        assert all(v.dtype == np.float32 for v in s.values() if isinstance(v, np.ndarray))


def test_params_without_grad_are_skipped_and_zero_grad_clears():
    params = make_params()
    opt = Adam(params, lr=0.1)
    params[0].grad = np.ones(SHAPES[0])
    opt.step()
    np.testing.assert_array_equal(params[1].data, THETA0[1])
    assert opt.state[1] is None and opt.state[0]["t"] == 1
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_accepts_a_module_like_object():
    class Net:
        def __init__(self):
            self.ps = make_params()

        def parameters(self):
            return self.ps

    net = Net()
    opt = SGD(net, lr=0.1)
    assert opt.params == net.ps


# ------------------------------------------------------------------------------ identities
def _run(opt_factory, steps=25):
    params = make_params()
    opt = opt_factory(params)
    for _ in range(steps):
        set_grads(params)
        opt.step()
    return flat([p.data for p in params])


IDENTITIES = [
    pytest.param(lambda p: EMAMomentum(p, lr=0.1, momentum=0.0), lambda p: SGD(p, lr=0.1), id="ema_beta0_is_sgd"),
    pytest.param(lambda p: EMAMomentum(p, lr=0.1, momentum=0.0, bias_correction=True), lambda p: SGD(p, lr=0.1),
                 id="unbiased_ema_beta0_is_sgd"),
    pytest.param(lambda p: Adam(p, lr=0.05, betas=(0.0, 0.9)),
                 lambda p: RMSProp(p, lr=0.05, alpha=0.9, bias_correction=True), id="adam_beta1_0_is_unbiased_rmsprop"),
    pytest.param(lambda p: EMAMomentum(p, lr=0.05 / (1 - 0.9), momentum=0.9), lambda p: Momentum(p, lr=0.05),
                 id="ema_momentum_is_classic_with_lr_scaled"),
    pytest.param(lambda p: Nesterov(p, lr=0.1, momentum=0.0), lambda p: SGD(p, lr=0.1), id="nesterov_mu0_is_sgd"),
    pytest.param(lambda p: AdamW(p, lr=0.05, weight_decay=0.0), lambda p: Adam(p, lr=0.05), id="adamw_wd0_is_adam"),
]


@pytest.mark.parametrize("a, b", IDENTITIES)
def test_identities(a, b):
    np.testing.assert_allclose(_run(a), _run(b), rtol=0, atol=1e-12)


def test_adam_identity_fails_without_bias_correction():
    a = _run(lambda p: Adam(p, lr=0.05, betas=(0.0, 0.9)))
    b = _run(lambda p: RMSProp(p, lr=0.05, alpha=0.9))
    assert np.abs(a - b).max() > 1e-3


def test_nesterov_ema_parameters_hold_the_lookahead_point():
    params = make_params()
    opt = NesterovEMA(params, lr=0.2, momentum=0.8)
    for _ in range(5):
        set_grads(params)
        opt.step()
    theta = opt.iterates()
    for p, th, s in zip(params, theta, opt.state):
        np.testing.assert_allclose(p.data, th - 0.2 * s["u"], atol=1e-15)
        assert np.abs(s["u"]).max() > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_centered_rmsprop_with_bias_correction_stays_finite_on_a_constant_gradient(dtype):
    """v̂ − m̂² is 0 for a constant gradient; rounding made it −1 ulp and the step NaN (a bug found in
    session 6). Values where the variance is positive are unchanged (the torch tests above)."""
    rng = np.random.default_rng(0)
    g = rng.normal(size=200).astype(dtype) * dtype(0.37)
    p = Tensor(np.zeros(200, dtype=dtype))
    opt = RMSProp([p], lr=0.01, alpha=0.9, centered=True, bias_correction=True)
    for _ in range(50):
        p.grad = g.copy()
        opt.step()
    assert np.isfinite(p.data).all()
    # the variance is 0, so each step is −η g / ε (clamped at 0 + ε): finite and in the gradient's direction
    assert (np.sign(p.data) == -np.sign(g)).all()
