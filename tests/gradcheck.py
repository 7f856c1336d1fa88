"""A reusable gradient checker: central differences in float64 along random directions.

For f: R^n -> R and a random unit direction v, the directional derivative computed from the
autodiff gradient, <grad f(x), v>, must match (f(x + h v) - f(x - h v)) / 2h. Checking several
directions catches any wrong component with probability one, at the cost of two evaluations each
instead of 2n (HIPS/autograd's check_grads does the same).
"""

from __future__ import annotations

import numpy as np

from mlplab.tensor import Tensor


class GradientCheckError(AssertionError):
    pass


def check_grads(f, inputs, *, rng=0, directions=4, eps=1e-6, rtol=1e-6, atol=1e-8, grads=None):
    """Check the gradients of the scalar ``f(*tensors)`` with respect to every float64 input.

    ``inputs`` are arrays (converted to float64 Tensors that require grad). ``grads``, if given,
    replaces the autodiff gradients (a test plants a wrong one to prove the checker rejects it).
    Raises GradientCheckError with the numbers when a directional derivative disagrees.
    """
    rng = np.random.default_rng(rng)
    xs = [np.array(x, dtype=np.float64) for x in inputs]
    ts = [Tensor(x.copy(), requires_grad=True) for x in xs]
    out = f(*ts)
    if out.data.size != 1:
        out = out.sum()
    out.backward()
    analytic = grads if grads is not None else [
        t.grad if t.grad is not None else np.zeros_like(t.data) for t in ts]

    def value(shifted):
        return float(np.sum(f(*[Tensor(s) for s in shifted]).data))

    for _ in range(directions):
        vs = [rng.standard_normal(x.shape) for x in xs]
        norm = np.sqrt(sum(float(np.sum(v * v)) for v in vs)) or 1.0
        vs = [v / norm for v in vs]
        numeric = (value([x + eps * v for x, v in zip(xs, vs)]) -
                   value([x - eps * v for x, v in zip(xs, vs)])) / (2 * eps)
        auto = sum(float(np.sum(np.asarray(g) * v)) for g, v in zip(analytic, vs))
        if not np.isclose(auto, numeric, rtol=rtol, atol=atol):
            raise GradientCheckError(
                f"directional derivative mismatch: autodiff {auto:.10g}, finite differences {numeric:.10g}")
    return True
