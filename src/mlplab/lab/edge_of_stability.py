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

import math
from pathlib import Path

import numpy as np

from ..curvature import NetworkCurvature, sharpness
from ..curvature.stability import gd_limit, heavy_ball_limit
from .base import Context, Figure, Study, array, parallel_map, shared
from .plots import save, subplots


def _data(settings, ctx):
    from .. import data

    X, y = data.load(settings["dataset"], "train")
    rows = ctx.rng(0).choice(len(X), size=settings["examples"], replace=False)
    X = np.asarray(X[rows], dtype=np.float64)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return X.astype(np.float32), np.asarray(y[rows])


class _Tracker:
    """The sharpness every ``every`` steps, each Lanczos run warm-started from the last eigenvector."""

    def __init__(self, curv, every, lanczos_steps, seed):
        self.curv, self.every, self.m = curv, every, lanczos_steps
        self.v = np.random.default_rng(seed).standard_normal(curv.n_params)
        self.steps, self.values = [], []

    def __call__(self, step):
        lam, self.v = sharpness(self.curv.hvp, self.curv.n_params, v0=self.v, steps=self.m)
        self.steps.append(step)
        self.values.append(lam)
        return lam


def _run(curv, theta0, lr, steps, tracker, beta=0.0, snap_every=None):
    """GD (β = 0) or heavy ball; returns the per-step loss and {step: θ} every ``snap_every`` steps (float32
    copies, for the distance to gradient flow; none if ``snap_every`` is None)."""
    curv.set_theta(theta0)
    theta, v = theta0.copy(), np.zeros_like(theta0)
    losses, thetas = [], {}
    for s in range(steps + 1):
        loss, g = curv.loss_and_grad()
        losses.append(loss)
        if not math.isfinite(loss):
            break
        if s % tracker.every == 0:
            tracker(s)
        if snap_every and s % snap_every == 0:
            thetas[s] = theta.astype(np.float32)
        if s == steps:
            break
        v = beta * v - lr * g
        theta = theta + v
        curv.set_theta(theta)
    return np.array(losses), thetas


def _flow(curv, theta0, times, dt_frac, every, seed):
    """θ(t) of gradient flow at the given increasing times, RK4 with dt = dt_frac/λ₁ (λ₁ re-measured every
    ``every`` RK steps); returns the states, the number of RK steps and the largest sharpness met."""
    tracker = _Tracker(curv, 1, 12, seed)

    def grad(th):
        curv.set_theta(th)
        return curv.loss_and_grad()[1]

    theta, t, out, k = theta0.copy(), 0.0, [], 0
    curv.set_theta(theta)
    lam = tracker(0)
    for target in times:
        while t < target - 1e-12:
            if k % every == 0 and k:
                curv.set_theta(theta)
                lam = tracker(k)
            h = min(dt_frac / max(lam, 1e-8), target - t)
            k1 = -grad(theta)
            k2 = -grad(theta + 0.5 * h * k1)
            k3 = -grad(theta + 0.5 * h * k2)
            k4 = -grad(theta + h * k3)
            theta = theta + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            t += h
            k += 1
        out.append(theta.astype(np.float32))
    return out, k, float(max(tracker.values))


def _adam(curv, model, theta0, settings, ctx):
    """Full-batch Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8, η = ``adam_lr``); its preconditioned sharpness
    λ₁(P⁻¹H) every ``eig_every`` steps against 38/η.

    λ₁(P⁻¹H) has no value at θ₀ (P needs a step). After one step P₁ = |g₁| + ε is the first gradient's
    magnitudes, which makes λ₁(P₁⁻¹H) tens of times what it is a few steps later, once v averages
    gradients of several sizes; it is recorded (``step1_preconditioned``) but the protocol's "initial"
    value is the first tracked one, at step ``eig_every``: η is a setting whose 38/η lies above it
    (``initial_below_limit`` checks it, as the paper's protocol needs)."""
    from .. import optim
    from ..curvature import preconditioned_hvp, preconditioner
    from ..curvature.stability import adam_limit

    curv.set_theta(theta0)
    params = model.parameters()
    sizes = np.cumsum([p.size for p in params])[:-1]
    lr = float(settings["adam_lr"])
    opt = optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    v = ctx.rng(7).standard_normal(curv.n_params)
    losses, ks, lams, lam1 = [], [], [], None
    for s in range(1, settings["steps"] + 1):
        loss, g = curv.loss_and_grad()
        losses.append(loss)
        if not math.isfinite(loss):
            break
        for p, gi in zip(params, np.split(g, sizes)):
            p.grad = gi.reshape(p.shape).astype(p.dtype)
        opt.step()
        if s == 1:
            lam1 = sharpness(preconditioned_hvp(curv.hvp, preconditioner(opt)), curv.n_params, steps=30,
                             rng=ctx.rng(6))[0]
        if s % settings["eig_every"] == 0:
            lam, v = sharpness(preconditioned_hvp(curv.hvp, preconditioner(opt)), curv.n_params, v0=v,
                               steps=settings["lanczos_steps"])
            ks.append(s)
            lams.append(lam)
    curv.set_theta(theta0)
    return {"lr": lr, "beta1": 0.9, "limit": adam_limit(lr, 0.9), "step1_preconditioned": lam1,
            "loss": np.array(losses), "sharpness_steps": ks, "sharpness": np.array(lams)}


def _setup(settings, seed):
    """The data, the network at θ₀ and its curvature operator; the same in every worker (seeded)."""
    from .. import nn

    ctx = Context(seed=seed)
    X, y = _data(settings, ctx)
    model = nn.MLP(settings["sizes"], activation="tanh", weight_init="torch", bias_init="torch_bias",
                   rng=ctx.rng(1), dtype=np.float32)
    return ctx, model, NetworkCurvature(model, X, y, loss="half_mse", chunk_size=settings["examples"])


def _task(job):
    """One independent run (a worker process may take it): GD at the i-th η, heavy ball, Adam, or the flow."""
    kind, i = job
    settings, seed, lam0, lrs, horizon, times = shared()
    ctx, model, curv = _setup(settings, seed)
    theta0 = curv.theta()
    every, steps = settings["eig_every"], settings["steps"]
    if kind == "gd":
        lr = lrs[i]
        tr = _Tracker(curv, every, settings["lanczos_steps"], [seed, 3, i])
        # θ every flow_every steps for the largest η (the flow comparison's main series), every eig_every else
        losses, snaps = _run(curv, theta0, lr, steps, tr, snap_every=settings["flow_every"] if lr == max(lrs)
                             else every)
        return ({"lr": lr, "limit": gd_limit(lr), "loss": losses, "sharpness_steps": tr.steps,
                 "sharpness": np.array(tr.values)}, {s: th for s, th in snaps.items() if s * lr <= horizon + 1e-9})
    if kind == "hb":
        beta = settings["beta"]
        lr = 2.0 / (settings["hb_limit_over_initial"] * lam0) * (1 + beta)  # (2+2β)/η = c·λ₀
        tr = _Tracker(curv, every, settings["lanczos_steps"], [seed, 4])
        losses, _ = _run(curv, theta0, lr, steps, tr, beta=beta)
        return {"lr": lr, "beta": beta, "limit": heavy_ball_limit(lr, beta), "loss": losses,
                "sharpness_steps": tr.steps, "sharpness": np.array(tr.values)}
    if kind == "adam":
        return _adam(curv, model, theta0, settings, ctx)
    return _flow(curv, theta0, times, settings["flow_dt"], settings["flow_eig_every"], [seed, 5])


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


BAND = (0.9, 1.15)
"""The band λ₁/limit must stay in after the crossing (the issue's statement of "hovers at 2/η")."""


def _crossing(steps, values, limit):
    above = [s for s, v in zip(steps, values) if v >= limit]
    return above[0] if above else None


def _band(steps, values, limit, cross, settle):
    """λ₁/limit at the measurements after step cross + settle: how many, the fraction inside BAND, the
    median, the lowest and the peak."""
    if cross is None:
        return {"after_step": None, "measurements": 0, "inside_band_fraction": None, "median": None, "min": None,
                "peak": None}
    r = np.array([v / limit for s, v in zip(steps, values) if s > cross + settle], dtype=float)
    if not len(r):
        return {"after_step": cross + settle, "measurements": 0, "inside_band_fraction": None, "median": None,
                "min": None, "peak": None}
    return {"after_step": cross + settle, "measurements": len(r),
            "inside_band_fraction": float(((r >= BAND[0]) & (r <= BAND[1])).mean()), "median": float(np.median(r)),
            "min": float(r.min()), "peak": float(r.max())}


def _hover(steps, values, limit, settle):
    """The crossing and the band statistics with no settling window and with ``settle`` steps of it."""
    cross = _crossing(steps, values, limit)
    now, later = _band(steps, values, limit, cross, 0), _band(steps, values, limit, cross, settle)
    return {"first_crossing_step": cross, "after_crossing": now, "after_settling": later,
            "after_crossing_min": now["min"], "after_crossing_max": now["peak"],
            "hovers_after_settling": bool(later["measurements"] and later["inside_band_fraction"] == 1.0)}


def claims(numbers) -> dict:
    """Each claim of the paper as numbers, from the series alone (the report and a test read these).

    "Hovers at the limit" is measured at the tracked steps after the first one with λ₁ ≥ limit: the
    fraction of them inside BAND·limit, their median and peak; once with every such step, once after a
    settling window of ``settle_steps`` steps (the paper's figures show a short overshoot above 2/η right
    after the crossing, before the sharpness settles)."""
    out = {"per_lr": {}}
    lam0 = numbers["initial_sharpness"]
    settle = numbers.get("settle_steps", 0)
    for key, r in numbers["series"]["gd"].items():
        steps, lam, limit = list(r["sharpness_steps"]), array(r["sharpness"]), r["limit"]
        loss = array(r["loss"])
        hov = _hover(steps, lam, limit, settle)
        cross = hov["first_crossing_step"]
        inc = np.diff(loss)
        row = {"lr": r["lr"], "two_over_lr": limit, "initial_below_limit": bool(lam0 < limit),
               "progressive_sharpening": float(lam.max() / lam0), **hov,
               "after_crossing_within_0.9_1.15": bool(hov["after_crossing"]["measurements"]
                                                       and hov["after_crossing"]["inside_band_fraction"] == 1.0),
               "loss_start": float(loss[0]), "loss_end": float(loss[-1]),
               "loss_decreased": bool(loss[-1] < loss[0]), "loss_increases": int((inc > 0).sum()),
               "non_monotone": bool((inc > 0).any())}
        fs, fd, ft = list(r["flow_steps"]), array(r["flow_distance"]), array(r["flow_travel"])
        if cross is not None and fs:
            before = [d / max(t, 1e-12) for s, d, t in zip(fs, fd, ft) if s <= cross]
            later = [d / max(t, 1e-12) for s, d, t in zip(fs, fd, ft) if s > cross]
            row["flow_relative_distance_before_crossing"] = float(max(before)) if before else None
            row["flow_relative_distance_after_crossing"] = float(max(later)) if later else None
            if later:
                at = max(i for i, s in enumerate(fs) if s <= cross)
                row["flow_departure"] = {
                    "crossing_step": fs[at], "distance_at_crossing": float(fd[at]), "end_step": fs[-1],
                    "distance_at_end": float(fd[-1]), "travel_at_crossing": float(ft[at]),
                    "travel_at_end": float(ft[-1]),
                    "growth_after_crossing": float(fd[-1] / max(fd[at], 1e-12)),
                    "growth_of_travel_after_crossing": float(ft[-1] / max(ft[at], 1e-12))}
        out["per_lr"][key] = row
    hb = numbers["series"]["heavy_ball"]
    steps, lam = list(hb["sharpness_steps"]), array(hb["sharpness"])
    out["heavy_ball"] = {"lr": hb["lr"], "beta": hb["beta"], "limit": hb["limit"],
                         "initial_over_limit": float(lam0 / hb["limit"]),
                         "progressive_sharpening": float(np.nanmax(lam) / lam0) if len(lam) else None,
                         **_hover(steps, lam, hb["limit"], settle),
                         "diverged": bool(not np.all(np.isfinite(array(hb["loss"]))))}
    out["heavy_ball"]["last_over_limit"] = float(lam[-1] / hb["limit"]) if len(lam) else None
    out["heavy_ball"]["last_over_two_over_lr"] = float(lam[-1] * hb["lr"] / 2) if len(lam) else None
    ad = numbers["series"].get("adam")
    if ad is not None:
        steps, lam = list(ad["sharpness_steps"]), array(ad["sharpness"])
        loss = array(ad["loss"])
        out["adam"] = {"lr": ad["lr"], "limit": ad["limit"],
                       "step1_over_limit": float(ad["step1_preconditioned"] / ad["limit"]),
                       "initial_step": steps[0] if steps else None,
                       "initial_over_limit": float(lam[0] / ad["limit"]) if len(lam) else None,
                       "initial_below_limit": bool(len(lam) and lam[0] < ad["limit"]),
                       **_hover(steps, lam, ad["limit"], settle),
                       "loss_start": float(loss[0]), "loss_end": float(loss[-1])}
    rows = out["per_lr"].values()
    out["all_cross"] = all(r["first_crossing_step"] is not None for r in rows)
    out["all_hover"] = all(r["after_crossing_within_0.9_1.15"] for r in rows)
    out["all_hover_after_settling"] = all(r["hovers_after_settling"] for r in rows)
    out["all_loss_decreased_non_monotone"] = all(r["loss_decreased"] and r["non_monotone"] for r in rows)
    return out


def _ratio_panel(ax, steps, lam, limit, cross, settle, color, label):
    """λ₁/limit against steps since the first crossing (from 2·settle steps before it on)."""
    if cross is None:
        return
    keep = [i for i, s in enumerate(steps) if s >= cross - 2 * max(settle, 1)]
    ax.plot([steps[i] - cross for i in keep], array(lam)[keep] / limit, color=color, lw=1.2, marker=".", ms=3,
            label=label)


def _band_axes(ax, settle, ylabel):
    ax.axhspan(*BAND, color="0.88", zorder=0, label=f"band [{BAND[0]:g}, {BAND[1]:g}]")
    ax.axhline(1.0, color="0.4", ls="--", lw=0.8)
    ax.axvline(0, color="0.4", ls=":", lw=0.8)
    if settle:
        ax.axvline(settle, color="0.2", ls=":", lw=0.8, label=f"settling window ({settle} steps)")
    ax.set_xlabel("steps since λ₁ first reached the limit")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def draw(numbers: dict, out: Path) -> list[Figure]:
    gd, cl = numbers["series"]["gd"], numbers["claims"]
    settle = numbers.get("settle_steps", 0)
    fig, axes = subplots(1, 3, size=(4.2, 3.6))
    ax_l, ax_s, ax_r = axes[0, 0], axes[0, 1], axes[0, 2]
    for i, (key, r) in enumerate(gd.items()):
        c = f"C{i}"
        ax_l.plot(array(r["loss"]), color=c, lw=1, label=f"η = {r['lr']:.3g}")
        ax_s.plot(r["sharpness_steps"], array(r["sharpness"]), color=c, lw=1.2)
        ax_s.axhline(r["limit"], color=c, ls="--", lw=0.8)
        _ratio_panel(ax_r, r["sharpness_steps"], r["sharpness"], r["limit"], cl["per_lr"][key]["first_crossing_step"],
                     settle, c, f"η = {r['lr']:.3g}")
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("training loss ½‖f − y‖² (mean)")
    ax_l.set_yscale("log")
    ax_l.set_title("train loss")
    ax_l.legend(fontsize=8)
    ax_s.set_xlabel("step")
    ax_s.set_ylabel("sharpness λ₁(H)")
    ax_s.set_title("sharpness; dashed: 2/η")
    _band_axes(ax_r, settle, "λ₁ · η/2")
    ax_r.set_title("after the crossing")
    figures = [Figure(save(fig, out / "eos_gd.png"), "Full-batch GD at three step sizes: the loss (left, log scale) "
                      "and the sharpness (middle) with each η's 2/η (dashed, same colour), as in Cohen et al. 2021, "
                      "Figure 1; right: λ₁·η/2 from the first crossing on, the band [0.9, 1.15] shaded, the short "
                      "overshoot right after the crossing, and the settling window the claim leaves out (dotted).")]
    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    ax = axes[0, 0]
    for i, (key, r) in enumerate(gd.items()):
        if len(r["flow_steps"]):
            t = array(r["flow_steps"]) * r["lr"]
            ax.plot(t, array(r["flow_distance"]), color=f"C{i}", lw=1.2, marker=".", ms=3,
                    label=f"η = {r['lr']:.3g}")
            cross = cl["per_lr"][key]["first_crossing_step"]
            if cross is not None and cross * r["lr"] <= numbers["flow_horizon"]:
                ax.axvline(cross * r["lr"], color=f"C{i}", ls=":", lw=0.8)
    ax.set_xlabel("time t = sη (GD step s)")
    ax.set_ylabel("‖θ_GD − θ_flow(t)‖")
    ax.set_title("GD vs gradient flow; dotted: λ₁ reaches 2/η")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    hb, ad = numbers["series"]["heavy_ball"], numbers["series"].get("adam")
    hov = cl["heavy_ball"]
    _ratio_panel(ax, hb["sharpness_steps"], hb["sharpness"], hb["limit"], hov["first_crossing_step"], settle, "C4",
                 f"heavy ball β = {hb['beta']:g}: λ₁ · η/(2 + 2β)")
    if ad is not None:
        _ratio_panel(ax, ad["sharpness_steps"], ad["sharpness"], ad["limit"], cl["adam"]["first_crossing_step"],
                     settle, "C5", "Adam: λ₁(P⁻¹H) · η/38")
    _band_axes(ax, settle, "sharpness / its limit")
    ax.set_title("momentum and Adam at their own limits")
    figures.append(Figure(save(fig, out / "eos_flow_momentum.png"),
                          "Left: distance between GD and gradient flow (RK4) at equal time t = sη, the time at which "
                          "λ₁ first reached 2/η dotted (the paper: small before, growing after). Right: heavy-ball "
                          "momentum's "
                          "sharpness over (2 + 2β)/η and Adam's preconditioned sharpness over 38/η from their first "
                          "crossings on (Cohen et al. 2021, appendix; Cohen et al. 2022)."))
    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    ax = axes[0, 0]
    ax.plot(hb["sharpness_steps"], array(hb["sharpness"]), color="C4", lw=1.2, label=f"heavy ball, η = {hb['lr']:.3g}")
    ax.axhline(hb["limit"], color="C4", ls="--", lw=0.8, label="(2 + 2β)/η")
    ax.axhline(2 / hb["lr"], color="0.5", ls=":", lw=0.8, label="2/η")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness λ₁(H)")
    ax.set_title(f"heavy ball β = {hb['beta']:g}")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    if ad is not None:
        ax.plot(ad["sharpness_steps"], array(ad["sharpness"]), color="C5", lw=1.2, label=f"Adam, η = {ad['lr']:.3g}")
        ax.axhline(ad["limit"], color="C5", ls="--", lw=0.8, label="38/η")
        ax.set_ylabel("preconditioned sharpness λ₁(P⁻¹H)")
        ax.set_xlabel("step")
        ax.set_title("Adam β₁ = 0.9, β₂ = 0.999")
        ax.legend(fontsize=8)
    else:
        ax.set_axis_off()
    figures.append(Figure(save(fig, out / "eos_momentum_adam.png"),
                          "Heavy-ball momentum's sharpness against (2 + 2β)/η and 2/η (left) and full-batch Adam's "
                          "preconditioned sharpness λ₁(P⁻¹H) against 38/η (right), against steps."))
    return figures


def _g(v, fmt=".3g"):
    return "—" if v is None else format(v, fmt)


def _pct(v):
    return "—" if v is None else f"{v:.0%}"


def _hover_cells(r):
    a, b = r["after_crossing"], r["after_settling"]
    return (f"{_g(r['first_crossing_step'], 'd')} | {a['measurements']}: {_pct(a['inside_band_fraction'])}, "
            f"{_g(a['median'])}, {_g(a['peak'])} | {b['measurements']}: {_pct(b['inside_band_fraction'])}, "
            f"{_g(b['median'])}, {_g(b['peak'])}")


def write(numbers: dict) -> str:
    cl = numbers["claims"]
    settle = numbers.get("settle_steps", 0)
    rows = "\n".join(
        f"| GD η = {r['lr']:.3g} | {r['two_over_lr']:.3g} | {r['progressive_sharpening']:.2f} | {_hover_cells(r)} | "
        f"{r['loss_start']:.3g} → {r['loss_end']:.3g} ({r['loss_increases']} rises) |"
        for r in cl["per_lr"].values())
    hb = cl["heavy_ball"]
    rows += (f"\n| heavy ball β = {hb['beta']:g}, η = {hb['lr']:.3g} | (2 + 2β)/η = {hb['limit']:.3g} | "
             f"{_g(hb['progressive_sharpening'], '.2f')} | {_hover_cells(hb)} | |")
    ad = cl.get("adam")
    if ad is not None:
        rows += (f"\n| Adam β₁ = 0.9, η = {ad['lr']:.3g} | 38/η = {ad['limit']:.4g} | — | {_hover_cells(ad)} | "
                 f"{ad['loss_start']:.3g} → {ad['loss_end']:.3g} |")
    flow = [(r, r["flow_departure"]) for r in cl["per_lr"].values() if r.get("flow_departure")]
    flow_text = "".join(
        f" For η = {r['lr']:.3g} the distance is {f['distance_at_crossing']:.3g} at step {f['crossing_step']} (the "
        f"crossing: the first tracked step with λ₁ ≥ 2/η; the flow had travelled {f['travel_at_crossing']:.3g}) and "
        f"{f['distance_at_end']:.3g} at step {f['end_step']}: {f['growth_after_crossing']:.1f} times larger, while "
        f"the flow's own travel grew {f['growth_of_travel_after_crossing']:.2f} times."
        for r, f in flow)
    return f"""
The same 2/λ limit as the `quadratic` study, on a real network: full-batch GD on {numbers['examples']:,}
{numbers['dataset']} images (standardized per pixel), loss ½‖f − onehot‖² averaged over the examples, a
{'-'.join(map(str, numbers['sizes']))} tanh network with PyTorch's default initialization, float32. The initial
sharpness is λ₀ = {numbers['initial_sharpness']:.3g}; each η puts 2/η above it. The sharpness λ₁(H), measured by
Lanczos every {numbers['eig_every']} steps, is expected to rise (progressive sharpening), reach 2/η, overshoot it
briefly and then hover near it while the loss keeps falling, with rises along the way (Cohen et al. 2021); the
table gives what this run did.

How closely it hovers is stated at the measurements after the first one with λ₁ ≥ limit: how many, the share
inside the band [{BAND[0]:g}, {BAND[1]:g}]·limit, the median and the peak of λ₁/limit; once with all of them, once
after a settling window of {settle} steps (the overshoot right after the crossing, which the paper's figures show
too, left out).

| run | limit | max λ₁ / λ₀ | first step with λ₁ ≥ limit | after it: n, inside band, median, peak | \
after {settle} more steps: n, inside band, median, peak | loss (rises) |
|---|---|---|---|---|---|---|
{rows}

Every η crossed: {cl['all_cross']}; every η stayed inside the band at every measurement after the crossing:
{cl['all_hover']}; after the {settle}-step settling window: {cl['all_hover_after_settling']}; every loss fell
overall but not monotonically: {cl['all_loss_decreased_non_monotone']}. Heavy ball starts at
{hb['initial_over_limit']:.2f} of its limit (2 + 2β)/η; at its end λ₁ is {_g(hb.get('last_over_limit'))} of it and
{_g(hb.get('last_over_two_over_lr'))} of 2/η.{_adam_text(cl)}

Gradient flow (RK4 with steps {numbers.get('flow_dt', 1):g}/λ₁, {numbers['flow_rk4_steps']} steps up to time
{numbers['flow_horizon']:.3g}, where its own sharpness reached {_g(numbers.get('flow_max_sharpness'))}) is the
reference path from the same θ₀: GD after s steps is compared with the flow at time sη.{flow_text}
"""


def _adam_text(cl):
    a = cl.get("adam")
    if a is None:
        return ""
    return (f" Adam (η = {a['lr']:.3g}): its preconditioned sharpness λ₁(P⁻¹H) is {_g(a['initial_over_limit'], '.2f')} "
            f"of 38/η at step {_g(a['initial_step'], 'd')} (after the first step, with P = |g₁| + ε, it was "
            f"{a['step1_over_limit']:.3g} of it); "
            + (f"it first reaches 38/η at step {a['first_crossing_step']}" if a["first_crossing_step"] is not None
               else "it never reaches 38/η")
            + " (Cohen et al. 2022, *Adaptive Gradient Methods at the Edge of Stability*, find it rising to 38/η and "
              "hovering there).")


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
