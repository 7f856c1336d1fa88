"""edge-of-stability: full-batch gradient descent drives the sharpness to 2/η and hovers there
(Cohen, Kaur, Li, Kolter, Talwalkar 2021, *Gradient Descent on Neural Networks Typically Occurs at the
Edge of Stability*; the heavy-ball limit as in its appendix).

The paper's ``fc-tanh`` setting on MNIST: a subset of training images, centred and standardized per
feature (pixels constant over the subset are left at 0), the loss ½‖f − onehot‖² averaged over the
examples (``half_mse`` of :mod:`mlplab.curvature`), a 784-200-200-10 tanh network with PyTorch's default
initialization, full-batch gradient descent θ ← θ − η∇L at several η whose 2/η lies above the initial
sharpness λ₁(H(θ₀)). The sharpness is tracked by Lanczos (:func:`mlplab.curvature.sharpness`, warm-started
from the previous eigenvector) every ``eig_every`` steps.

"Hovers at 2/η" is stated as statistics of λ₁·η/2 at the tracked steps after the first one with λ₁ ≥ 2/η:
their number, the share inside the band [0.9, 1.15], the median and the peak, once with all of them and
once after a settling window of ``settle_steps`` steps. The window is there because the crossing is
followed by a short overshoot (Cohen et al.'s figures show it; Damian, Nichani, Lee 2023, *Self-Stabilization:
The Implicit Bias of Gradient Descent at the Edge of Stability*, explain it: the component along the top
eigenvector grows like |1 − ηλ₁|ˢ from a small start, so the sharpness keeps rising for some steps before that
component is large enough to pull it back). Both statistics are recorded; the claim names the window.

Gradient flow dθ/dt = −∇L (Runge–Kutta 4 with steps dt = ``flow_dt``/λ₁, ``flow_dt`` < 1, below RK4's
stability limit 2.78/λ₁, λ₁ re-measured every ``flow_eig_every`` RK steps) from the same θ₀ is the reference
path: GD at step s is compared with the flow at time t = sη, up to the time the largest η reaches at step
``flow_until_step`` (chosen past that η's crossing of 2/η, the earliest in flow time), every ``flow_every``
steps for that η. Heavy-ball momentum v ← βv − η∇L, θ ← θ + v (β = 0.9) has the limit (2 + 2β)/η, full-batch
Adam (β₁ = 0.9) the limit 38/η on its preconditioned sharpness λ₁(P⁻¹H) (Cohen et al. 2022, *Adaptive
Gradient Methods at the Edge of Stability*; :mod:`mlplab.curvature.stability`).

The GD and heavy-ball step sizes are set from the measured initial sharpness λ₀: η = 2/(c·λ₀) for c in
``limit_over_initial`` (so every 2/η is above λ₀, as the paper's protocol needs) and (2 + 2β)/η =
``hb_limit_over_initial``·λ₀, which keeps the study meaningful on a subset or network whose λ₀ differs from
the paper's. Adam's η is a setting (``adam_lr``): its preconditioned sharpness has no value before the first
step (see :func:`_adam`).
"""

from __future__ import annotations

import numpy as np

from ...curvature import sharpness
from ..base import Context, Study, parallel_map
from .claims import BAND, claims
from .figures import draw
from .runs import _adam, _data, _flow, _run, _setup, _task, _Tracker  # noqa: F401 - importable here as before the split
from .section import write


def measure(settings: dict, ctx: Context) -> dict:
    ctx0, model, curv = _setup(settings, ctx.seed)
    theta0 = curv.theta()
    every, steps = settings["eig_every"], settings["steps"]
    lam0 = sharpness(curv.hvp, curv.n_params, steps=30, rng=ctx0.rng(2))[0]
    lrs = [2.0 / (c * lam0) for c in settings["limit_over_initial"]]
    # gradient flow up to the time the largest η reaches at step flow_until_step; it is compared with every
    # η's GD at the steps s whose time sη lies within (every flow_every steps for the largest, else eig_every)
    big = max(lrs)
    horizon = min(settings["flow_until_step"], steps) * big
    times = sorted({s * lr for lr in lrs for s in range(0, steps + 1, settings["flow_every"] if lr == big else every)
                    if s * lr <= horizon + 1e-9})
    jobs = [("flow", None)] + [("gd", i) for i in range(len(lrs))] + [("hb", None)]
    if settings.get("adam_lr"):
        jobs.append(("adam", None))
    ctx.plan(len(jobs))
    out = parallel_map(_task, jobs, shared=(settings, ctx.seed, lam0, lrs, horizon, times), workers=ctx.workers,
                       on_done=ctx.advance)
    (states, rk_steps, flow_lam), gd = out[0], out[1:1 + len(lrs)]
    heavy, adam = out[1 + len(lrs)], (out[2 + len(lrs)] if settings.get("adam_lr") else None)
    at = dict(zip(times, states))
    runs = {}
    for r, snaps in gd:
        ts = sorted(snaps)
        r["flow_steps"] = ts
        r["flow_distance"] = np.array([float(np.linalg.norm(snaps[s] - at[s * r["lr"]])) for s in ts])
        r["flow_travel"] = np.array([float(np.linalg.norm(at[s * r["lr"]] - theta0)) for s in ts])
        runs[f"{r['lr']:.4g}"] = r
    numbers = {"examples": settings["examples"], "sizes": settings["sizes"], "dataset": settings["dataset"],
               "steps": steps, "eig_every": every, "initial_sharpness": lam0, "flow_horizon": horizon,
               "flow_rk4_steps": rk_steps, "flow_max_sharpness": flow_lam, "flow_dt": settings["flow_dt"],
               "band": list(BAND), "settle_steps": settings["settle_steps"],
               "series": {"gd": runs, "heavy_ball": heavy}}
    if adam is not None:
        numbers["series"]["adam"] = adam
    numbers["claims"] = claims(numbers)
    return numbers


STUDY = Study(
    name="edge-of-stability",
    title="Gradient descent at the edge of stability",
    description="full-batch GD on MNIST: the sharpness rises to 2/η and hovers there; gradient flow; heavy ball at "
                "(2+2β)/η; Adam's preconditioned sharpness at 38/η",
    source="Cohen, Kaur, Li, Kolter, Talwalkar 2021, Gradient Descent on Neural Networks Typically Occurs at the "
           "Edge of Stability",
    works=("cohen-eos", "cohen-adaptive-eos"),
    measure=measure, draw=draw, write=write,
    reference={"dataset": "mnist", "examples": 5000, "sizes": [784, 200, 200, 10],
               "limit_over_initial": [1.25, 1.5, 2.0], "hb_limit_over_initial": 2.0, "beta": 0.9, "adam_lr": 0.002,
               "steps": 400, "eig_every": 25, "lanczos_steps": 10, "settle_steps": 75,
               "flow_until_step": 200, "flow_every": 5, "flow_dt": 0.9, "flow_eig_every": 20},
    quick={"dataset": "mnist", "examples": 300, "sizes": [784, 32, 32, 10], "limit_over_initial": [1.25, 1.5, 1.75],
           "hb_limit_over_initial": 1.25, "beta": 0.9, "adam_lr": 0.003, "steps": 800, "eig_every": 10,
           "lanczos_steps": 10, "settle_steps": 75, "flow_until_step": 240, "flow_every": 5, "flow_dt": 0.9,
           "flow_eig_every": 20},
    claims=("claims",),
)


__all__ = ["BAND", "STUDY", "claims", "draw", "measure", "write"]
