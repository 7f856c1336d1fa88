"""Second order: Newton's method with the exact Hessian from :func:`mlplab.tensor.hessian`."""

from __future__ import annotations

import numpy as np

from ..tensor import enable_grad
from ..tensor import grad as _autograd
from ..tensor import hessian as _hessian
from .base import Optimizer, _at_least_zero


# ------------------------------------------------------------------------------ second order
class Newton(Optimizer):
    """Newton's method (the *Deep Learning Systems* lecture on optimization) with the exact Hessian::

        θ ← θ − α (∇²L(θ) + δ I)⁻¹ ∇L(θ)

    α = ``lr`` (1.0: the full Newton step, which minimizes a quadratic in one step; α < 1:
    damped Newton), δ = ``damping`` >= 0 (Levenberg-style; 0 is plain Newton). L2 weight decay λ
    adds λθ to the gradient and λI to the Hessian. The Hessian comes from
    :func:`mlplab.tensor.hessian` over all parameters flattened together, so ``step`` needs a
    ``closure`` that recomputes and returns the scalar loss from the current parameters (as
    torch's LBFGS). ``.grad`` is neither read nor written.

    If ∇²L + δI is not positive definite (a saddle, a maximum, a flat direction), the Newton
    step need not descend. ``on_indefinite`` decides:

    - ``"error"`` (default): raise ValueError naming the smallest eigenvalue;
    - ``"regularize"``: replace each eigenvalue λ of the Hessian by max(|λ|, τ), τ = 1e-3 ·
      max(1, |λ|_max), keeping the eigenvectors (eigenvalue modification, Nocedal & Wright §3.4;
      "saddle-free Newton", Dauphin et al. 2014). Along a direction of negative curvature the
      step then goes downhill by g/|λ| instead of uphill toward the saddle or maximum;
    - ``"gradient"``: take a gradient step θ ← θ − α∇L instead.

    The Hessian has n² entries and costs n extra backward passes, so construction refuses more
    than ``max_params`` parameters (default 4096: a 128 MiB float64 Hessian). ``clip_value`` and
    ``clip_norm`` clip the step α H⁻¹∇L (not the gradient, which would not bound the step).
    """

    hparams = ("damping", "max_params", "on_indefinite")
    _indefinite_modes = ("error", "regularize", "gradient")

    def __init__(self, params, lr=1.0, damping=0.0, max_params=4096, on_indefinite="error", **common):
        super().__init__(params, lr, **common)
        self.damping = _at_least_zero("damping", damping)
        if on_indefinite not in self._indefinite_modes:
            raise ValueError(f"Invalid on_indefinite: {on_indefinite!r} (must be one of {self._indefinite_modes})")
        self.on_indefinite = on_indefinite
        self.max_params = int(max_params)
        n = sum(p.size for p in self.params)
        if n > self.max_params:
            raise ValueError(
                f"Newton: {n} parameters would need a {n}x{n} Hessian ({n * n * 8 / 2**30:.2f} GiB in "
                f"float64) and {n} extra backward passes per step; the limit is max_params="
                f"{self.max_params}. Use a first-order optimizer (sgd, momentum, adam, ...) for networks, "
                "or raise max_params if the memory is there.")
        for i, p in enumerate(self.params):
            if not p.requires_grad:
                raise ValueError(f"Newton: params[{i}] does not require grad")

    def step(self, closure=None, grad_and_hessian=None):
        """One Newton step. ``grad_and_hessian``, instead of a closure, returns (∇L, ∇²L) at the
        current parameters in closed form (the 2-D test functions have them): no autodiff."""
        params = self.params
        if grad_and_hessian is not None:
            g, H = (np.array(a, dtype=np.float64) for a in grad_and_hessian())
            g, H, loss = g.ravel(), H.reshape(g.size, g.size), None
        elif closure is None:
            raise ValueError("Newton.step() needs a closure that recomputes and returns the scalar loss "
                             "from the current parameters, e.g. opt.step(lambda: loss_fn(model(x), y))")
        else:
            with enable_grad():
                loss = closure()
                g = np.concatenate([gi.data.ravel() for gi in _autograd(loss, params)]).astype(np.float64)
                H = _hessian(lambda *ps: closure(), params).astype(np.float64)
        theta = np.concatenate([p.data.ravel() for p in params]).astype(np.float64)
        n = g.size
        if self.weight_decay:
            g += self.weight_decay * theta
        shift = self.damping + self.weight_decay
        if shift:
            H[np.diag_indices(n)] += shift
        try:
            direction = np.linalg.solve(H, g) if _positive_definite(H) else None
        except np.linalg.LinAlgError:
            direction = None
        if direction is None:
            direction = self._indefinite(H, g)
        delta = -self.lr * direction
        if self.clip_value is not None:
            delta = np.clip(delta, -self.clip_value, self.clip_value)
        if self.clip_norm is not None:
            norm = float(np.linalg.norm(delta))
            if norm > self.clip_norm:
                delta *= self.clip_norm / norm
        offset = 0
        for p in params:
            p.data += delta[offset:offset + p.size].reshape(p.shape).astype(p.dtype, copy=False)
            offset += p.size
        self.t += 1
        return loss

    def _indefinite(self, H, g):
        eig, vecs = np.linalg.eigh(H)
        lam_min = float(eig[0])
        if self.on_indefinite == "error":
            raise ValueError(
                f"Newton: the Hessian (+ damping {self.damping}) is not positive definite at step {self.t + 1} "
                f"(smallest eigenvalue {lam_min:.4g}), so the Newton step need not descend. Pass damping > "
                f"{max(-lam_min, 0.0):.4g}, or on_indefinite='regularize' or 'gradient'.")
        if self.on_indefinite == "gradient":
            return g
        modified = np.maximum(np.abs(eig), 1e-3 * max(1.0, float(np.max(np.abs(eig)))))
        return vecs @ ((vecs.T @ g) / modified)


def _positive_definite(H):
    try:
        np.linalg.cholesky(H)
        return True
    except np.linalg.LinAlgError:
        return False
