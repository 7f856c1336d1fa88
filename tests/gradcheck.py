"""Reusable gradient checkers: central differences in float64 along random directions.

For f: R^n -> R and a random unit direction v, the directional derivative computed from the
autodiff gradient, <grad f(x), v>, must match (f(x + h v) - f(x - h v)) / 2h. Checking several
directions catches any wrong component with probability one, at the cost of two evaluations each
instead of 2n (HIPS/autograd's check_grads does the same).

:func:`check_second_order` does the same one level up: the gradient computed as a differentiable
graph (``grad(..., create_graph=True)``, the VJPs run on Tensors) is differentiated again and
compared with central differences of ordinary gradients.
"""

from __future__ import annotations

import numpy as np

from mlplab.tensor import Tensor, grad


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


def _unit(rng, xs):
    vs = [rng.standard_normal(x.shape) for x in xs]
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in vs)) or 1.0
    return [v / norm for v in vs]


def _scalar(out):
    return out if out.data.size == 1 else out.sum()


def check_second_order(f, inputs, *, rng=0, directions=3, eps=1e-5, rtol=1e-6, atol=1e-8):
    """Check second derivatives of the scalar ``f(*tensors)`` at float64 ``inputs``.

    For random unit directions u (where to move) and v (which mixture of the gradient to follow),
    the autodiff value <∇<∇f, v>, u> (the gradient built with ``create_graph=True``, then
    differentiated again: a Hessian-vector product) must match the central difference
    (<∇f(x + εu), v> − <∇f(x − εu), v>) / 2ε of first-order gradients. Raises
    GradientCheckError with the numbers otherwise.
    """
    rng = np.random.default_rng(rng)
    xs = [np.array(x, dtype=np.float64) for x in inputs]

    def first(points):
        ts = [Tensor(p.copy(), requires_grad=True) for p in points]
        return [g.data for g in grad(_scalar(f(*ts)), ts)]

    for _ in range(directions):
        us, vs = _unit(rng, xs), [rng.standard_normal(x.shape) for x in xs]
        ts = [Tensor(x.copy(), requires_grad=True) for x in xs]
        gs = grad(_scalar(f(*ts)), ts, create_graph=True)
        inner = sum((g * v).sum() for g, v in zip(gs, vs))
        if inner.requires_grad:
            auto = sum(float(np.sum(h.data * u)) for h, u in zip(grad(inner, ts), us))
        else:  # the gradient does not depend on x: every second derivative is 0
            auto = 0.0
        plus = first([x + eps * u for x, u in zip(xs, us)])
        minus = first([x - eps * u for x, u in zip(xs, us)])
        numeric = sum(float(np.sum((p - m) * v)) for p, m, v in zip(plus, minus, vs)) / (2 * eps)
        if not np.isclose(auto, numeric, rtol=rtol, atol=atol):
            raise GradientCheckError(
                f"second-order mismatch: autodiff {auto:.10g}, finite differences of the gradient {numeric:.10g}")
    return True
