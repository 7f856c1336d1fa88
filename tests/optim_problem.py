"""The deterministic problem the optimizer tests share: two parameters of different shapes and a gradient
that is nonlinear in θ, so trajectories are sensitive to every detail of a rule."""

from __future__ import annotations

import numpy as np

from mlplab.tensor import Tensor

# ------------------------------------------------------------------------------ a deterministic problem
# Two parameters of different shapes; the gradient is nonlinear in θ, so trajectories are
# sensitive to every detail of a rule.
_rng = np.random.default_rng(0)
SHAPES = [(3, 4), (4,)]
THETA0 = [_rng.normal(size=s) for s in SHAPES]
_D = [_rng.uniform(0.5, 2.0, size=s) for s in SHAPES]
_C = [_rng.normal(size=s) for s in SHAPES]


def grad_fn(thetas):
    return [d * t + c + 0.3 * np.sin(2 * t) for t, d, c in zip(thetas, _D, _C)]


def make_params(dtype=np.float64):
    return [Tensor(t.astype(dtype), requires_grad=True) for t in THETA0]


def set_grads(params):
    for p, g in zip(params, grad_fn([p.data for p in params])):
        p.grad = g.astype(p.dtype)


def flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])
