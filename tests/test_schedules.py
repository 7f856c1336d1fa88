"""Learning-rate schedules: against torch.optim.lr_scheduler, against their formulas, and driving any optimizer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from optim_problem import make_params

from mlplab import optim
from mlplab.optim import SGD, get_optimizer
from mlplab.tensor import Tensor

P = [Tensor(np.zeros(2), requires_grad=True)]


# ------------------------------------------------------------------------------ schedules
TORCH_SCHEDULES = [
    (lambda o: optim.StepLR(o, step_size=7, gamma=0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.3)),
    (lambda o: optim.ExponentialLR(o, gamma=0.95), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.95)),
    (lambda o: optim.CosineLR(o, total_steps=30, eta_min=0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30, eta_min=0.01)),
]


@pytest.mark.parametrize("ours, theirs", TORCH_SCHEDULES, ids=["step", "exponential", "cosine"])
def test_schedules_match_torch(ours, theirs):
    opt = SGD(make_params(), lr=0.3)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    s, ts = ours(opt), theirs(topt)
    for _ in range(30):
        assert math.isclose(opt.lr, topt.param_groups[0]["lr"], rel_tol=1e-12, abs_tol=1e-15)
        topt.step()
        s.step()
        ts.step()


def test_schedule_formulas():
    lrs = lambda s, n: [s.lr_at(t) for t in range(n)]
    assert lrs(optim.InverseTimeLR(SGD(P, lr=0.3), k=0.5), 3) == [0.3, 0.3 / 1.5, 0.3 / 2.0]
    w = optim.WarmupCosineLR(SGD(P, lr=0.4), warmup_steps=4, total_steps=14, eta_min=0.01)
    np.testing.assert_allclose(lrs(w, 5), [0.1, 0.2, 0.3, 0.4, 0.4])
    assert math.isclose(w.lr_at(9), 0.01 + 0.39 * 0.5)  # half way through the cosine
    assert w.lr_at(14) == w.lr_at(100) == 0.01
    c = optim.CosineLR(SGD(P, lr=0.4), total_steps=10)
    assert c.lr_at(10) == c.lr_at(50) == 0.0  # stays at eta_min after T (torch would rise again)


def test_schedule_drives_any_optimizer_and_validates():
    for name in ("sgd", "adam", "rmsprop", "nesterov_ema"):
        opt = get_optimizer(name, make_params(), lr=0.2)
        s = optim.get_schedule("1/t", opt, k=1.0)
        s.step()
        assert opt.lr == 0.1
    with pytest.raises(ValueError, match="valid names: step, exponential"):
        optim.get_schedule("poly", SGD(P))
    with pytest.raises(ValueError, match="total_steps"):
        optim.WarmupCosineLR(SGD(P), warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match="gamma"):
        optim.StepLR(SGD(P), step_size=3, gamma=0.0)
