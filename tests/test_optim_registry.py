"""Optimizer hyperparameters checked (one message naming the setting and its range), the learning-rate setter,
and the registry: names, aliases, defaults read from the constructors."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.optim import (
    DEFAULT_HPARAMS,
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    EMAMomentum,
    Momentum,
    NAdam,
    Nesterov,
    Newton,
    RMSProp,
    get_optimizer,
)
from mlplab.tensor import Tensor

# ------------------------------------------------------------------------------ validation and registry
P = [Tensor(np.zeros(2), requires_grad=True)]
INVALID = [
    (SGD, {"lr": -0.1}, r"learning rate lr: -0.1 \(must be >= 0\)"),
    (Momentum, {"momentum": 1.0}, r"momentum: 1.0 \(must be in \[0, 1\)\)"),
    (Momentum, {"momentum": -0.1}, r"momentum: -0.1 \(must be in \[0, 1\)\)"),
    (Nesterov, {"momentum": 1.5}, r"momentum: 1.5"),
    (EMAMomentum, {"momentum": 1.0}, r"momentum"),
    (Adam, {"betas": (1.0, 0.999)}, r"beta1 \(betas\[0\]\): 1.0 \(must be in \[0, 1\)\)"),
    (Adam, {"betas": (0.9, 1.0)}, r"beta2 \(betas\[1\]\): 1.0"),
    (Adam, {"eps": 0.0}, r"eps: 0.0 \(must be > 0\)"),
    (Adam, {"eps_on": "sqrt_v"}, r"eps_on: 'sqrt_v' \(must be 'v_hat'"),
    (AdamW, {"eps_on": None}, r"eps_on: None"),
    (AdaGrad, {"eps": -1e-8}, r"eps"),
    (RMSProp, {"alpha": 1.0}, r"alpha: 1.0 \(must be in \[0, 1\)\)"),
    (RMSProp, {"momentum": 1.0}, r"momentum"),
    (NAdam, {"betas": (0.9, -0.1)}, r"beta2"),
    (SGD, {"weight_decay": -1.0}, r"weight_decay: -1.0 \(must be >= 0\)"),
    (SGD, {"clip_norm": 0.0}, r"clip_norm: 0.0 \(must be > 0\)"),
    (SGD, {"clip_value": -1.0}, r"clip_value"),
    (SGD, {"lr": float("nan")}, r"learning rate"),
    (Newton, {"on_indefinite": "ignore"}, r"on_indefinite: 'ignore'"),
    (Newton, {"damping": -1.0}, r"damping"),
]


@pytest.mark.parametrize("cls, kwargs, message", INVALID)
def test_invalid_hyperparameters_raise(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(P, **kwargs)


def test_lr_setter_validates_and_bad_params_raise():
    opt = SGD(P, lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = -1.0
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a Tensor"):
        SGD([np.zeros(2)], lr=0.1)


def test_registry():
    assert set(DEFAULT_HPARAMS) == set(OPTIMIZERS)
    for name in OPTIMIZERS:
        opt = get_optimizer(name, [Tensor(np.zeros(2), requires_grad=True)])
        assert isinstance(opt, OPTIMIZERS[name])
        assert opt.lr == DEFAULT_HPARAMS[name]["lr"]
    assert DEFAULT_HPARAMS["sgd"]["lr"] == 0.01 and DEFAULT_HPARAMS["adagrad"]["lr"] == 0.01
    assert DEFAULT_HPARAMS["momentum"] == {"lr": 0.01, "momentum": 0.9} and DEFAULT_HPARAMS["adam"]["lr"] == 0.001
    assert get_optimizer("Adam", P, lr=0.5).lr == 0.5
    with pytest.raises(ValueError, match="valid names: sgd, momentum"):
        get_optimizer("adamax", P)
    with pytest.raises(ValueError, match="cannot be loaded into a SGD"):
        SGD(P).load_state_dict(Adam(P).state_dict())
