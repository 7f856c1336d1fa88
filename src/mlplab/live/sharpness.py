"""The Train view's sharpness chart: the loss's top Hessian eigenvalue while it trains, against 2/η.

Gradient descent on a quadratic is stable only while the sharpness λ₁(H) stays below 2/η; on real
networks training drives λ₁ up to that limit and keeps it there (Cohen, Kaur, Li, Kolter, Talwalkar
2021, *Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability*). The chart
shows λ₁ against the limit of the run's update rule at its current step size
(:mod:`mlplab.curvature.stability`):

=================== ========================== ================================================
optimizer           what is measured           limit
=================== ========================== ================================================
sgd                 λ₁(H)                      2/η
momentum (μ)        λ₁(H)                      (2 + 2μ)/η           (heavy ball)
nesterov (μ)        λ₁(H)                      (2 + 2μ)/((1 + 2μ)η) (torch's form; see live.paths)
adam (β₁)           λ₁(P⁻¹H), P its            (2 + 2β₁)/((1 − β₁)η) = 38/η at β₁ = 0.9
                    preconditioner now         (Cohen et al. 2022, *Adaptive Gradient Methods at
                                               the Edge of Stability*)
rmsprop (μ = 0)     λ₁(P⁻¹H)                   2/η
any other           λ₁(H)                      none drawn
=================== ========================== ================================================

H is the Hessian of the training loss (cross-entropy, the Trainer's) over a fixed batch of the first
``BATCH`` training examples, so successive values compare like with like. λ₁ comes from
:func:`mlplab.curvature.sharpness`: ``STEPS_COLD`` Lanczos steps the first time, then ``STEPS_WARM``
started from the previous top eigenvector (H moves little in a few hundred steps, so a few steps
recover λ₁), each step one Hessian-vector product (:class:`mlplab.curvature.NetworkCurvature`). One
more product gives the residual ‖Hv − λv‖, which bounds the error of λ (|λ − λ_i| ≤ ‖r‖ for some
eigenvalue λ_i of the symmetric H).

It runs in the frame worker (:mod:`mlplab.live.framer`), never in the training thread: the training
thread's part is to decide that a measurement is due (every ``EVERY`` steps, and no more than
``SHARE`` of the wall time as the last one took) and, for Adam and RMSProp, to copy the
preconditioner P (one elementwise pass over the parameters). The worker copies the asking frame's
W and b into a network of its own and measures in a thread of its own while it goes on making
frames (the products are BLAS calls, which release the GIL); the value rides on the first frame
after it is done, labelled with the step it was measured at. ``SHARE`` keeps the worker's time
on it to 5 %: for the book's network (784-100-100-100-100-10) a warm measurement is 9 products
on 256 examples, about 0.1 s on a free core, so one comes every 2 s or so (some 700 steps); a toy
network's takes a few ms and comes every ``EVERY`` steps. A frame that waits more than
5 s gets the worker given up (:data:`mlplab.live.framer.REPLY_TIMEOUT`), so a network with more than
``MAX_WORK`` / ``BATCH`` parameters (about 1.2 million) gets no sharpness, and a measurement that
takes more than ``BUDGET`` seconds all the same (a busy machine) is stopped after its current
product and dropped; the next comes no sooner than ``BUDGET`` / ``SHARE`` = 40 s later, and after
``TRIES`` in a row the run measures no more (the chart says why). Runs whose frames are made inline (one
core, or the worker not started or given up) have no sharpness chart.
"""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["EVERY", "BATCH", "STEPS_COLD", "STEPS_WARM", "SHARE", "BUDGET", "TRIES", "MAX_WORK", "TooSlow", "limit_for",
           "preconditioner_of", "Tracker"]

EVERY = 200  # steps between two measurements (at least)
BATCH = 256  # examples in the fixed curvature batch
STEPS_COLD, STEPS_WARM = 20, 8  # Lanczos steps (Hessian-vector products): the first time, warm-started after
SHARE = 0.05  # a measurement is due no sooner than its last cost / SHARE seconds after the last one
BUDGET = 2.0  # seconds a measurement may take in the worker; past it, it is dropped (retried TRIES times)
TRIES = 3  # measurements in a row past BUDGET after which the run measures no more
MAX_WORK = 3e8  # parameters × batch above which no sharpness is measured (a product would take seconds)


def limit_for(optimizer, lr) -> dict:
    """What is measured for this optimizer and its stability limit at step size ``lr``:
    ``{"preconditioned": bool, "limit": float or None, "formula": str or None}``."""
    from ..curvature import stability as st

    name = type(optimizer).__name__
    ok = isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0
    if name == "SGD":
        return {"preconditioned": False, "limit": st.gd_limit(lr) if ok else None, "formula": "2/η"}
    if name == "Momentum":
        mu = float(optimizer.momentum)
        return {"preconditioned": False, "limit": st.heavy_ball_limit(lr, mu) if ok else None,
                "formula": f"(2 + 2μ)/η, μ = {mu:g}"}
    if name == "Nesterov":
        mu = float(optimizer.momentum)
        return {"preconditioned": False, "limit": (2 + 2 * mu) / ((1 + 2 * mu) * lr) if ok else None,
                "formula": f"(2 + 2μ)/((1 + 2μ)η), μ = {mu:g}"}
    if name == "Adam":
        b1 = float(optimizer.betas[0])
        return {"preconditioned": True, "limit": st.adam_limit(lr, b1) if ok else None,
                "formula": f"(2 + 2β₁)/((1 − β₁)η), β₁ = {b1:g}"}
    if name == "RMSProp":
        plain = float(getattr(optimizer, "momentum", 0.0)) == 0.0
        return {"preconditioned": True, "limit": st.gd_limit(lr) if ok and plain else None,
                "formula": "2/η" if plain else None}
    return {"preconditioned": False, "limit": None, "formula": None}


def preconditioner_of(optimizer, params):
    """Adam's or RMSProp's diagonal P now, in the order of ``params`` (float32 to halve the message);
    None before its first step."""
    from ..curvature import preconditioner

    try:
        return preconditioner(optimizer, params).astype(np.float32)
    except ValueError:
        return None


class TooSlow(RuntimeError):
    """A measurement past its time budget."""


class Tracker:
    """λ₁ of the loss over a fixed batch, warm-started from the last eigenvector (in the worker).

    ``model`` is read at each measurement as it is then (the worker's mirror: its arrays are the
    training model's, copied into shared memory with the frame)."""

    def __init__(self, model, X, y, loss: str = "cross_entropy"):
        from scipy.linalg import eigh_tridiagonal  # noqa: F401  (imported here: a measurement's time is its own)

        from ..curvature import NetworkCurvature

        self.curv = NetworkCurvature(model, X, y, loss=loss)
        self.v0 = None
        self.preconditioned = None

    def measure(self, P=None, budget: float | None = None) -> dict:
        """``{"value", "residual", "products", "ms", "preconditioned"}``; with ``P``, λ₁(P⁻¹H).
        Raises :class:`TooSlow` once the products have taken more than ``budget`` (``BUDGET``) seconds."""
        from ..curvature import preconditioned_hvp, sharpness

        budget = BUDGET if budget is None else budget
        t0 = time.perf_counter()
        pre = P is not None
        if pre != self.preconditioned:  # another operator: its old eigenvector is no start for it
            self.v0, self.preconditioned = None, pre

        def timed(v):
            if time.perf_counter() - t0 > budget:
                raise TooSlow(f"a sharpness measurement took more than {budget:g} s here ({self.curv.n_params:,} "
                              f"parameters, {self.curv.n} examples; a busy machine?)")
            return self.curv.hvp(v)

        hvp = preconditioned_hvp(timed, np.asarray(P, dtype=np.float64)) if pre else timed
        steps = STEPS_COLD if self.v0 is None else STEPS_WARM
        with np.errstate(all="ignore"):
            value, vec = sharpness(hvp, self.curv.n_params, v0=self.v0, steps=steps, rng=0)
            residual = float(np.linalg.norm(hvp(vec) - value * vec))
        finite = math.isfinite(value) and bool(np.all(np.isfinite(vec)))
        self.v0 = vec if finite else None
        return {"value": float(value) if finite else None, "residual": residual if math.isfinite(residual) else None,
                "products": steps + 1, "ms": (time.perf_counter() - t0) * 1e3, "preconditioned": pre}
