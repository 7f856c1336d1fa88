"""edge-of-stability: full-batch gradient descent drives the sharpness to 2/η and hovers there
(Cohen, Kaur, Li, Kolter, Talwalkar 2021, *Gradient Descent on Neural Networks Typically Occurs at the
Edge of Stability*; the heavy-ball limit as in its appendix).

The paper's ``fc-tanh`` setting on MNIST: a subset of training images, centred and standardized per
feature (pixels constant over the subset are left at 0), the loss ½‖f − onehot‖² averaged over the
examples (``half_mse`` of :mod:`mlplab.curvature`), a 784-200-200-10 tanh network with PyTorch's default
initialization, full-batch gradient descent θ ← θ − η∇L at several η whose 2/η lies above the initial
sharpness λ₁(H(θ₀)). The sharpness is tracked by Lanczos (:func:`mlplab.curvature.sharpness`, warm-started
from the previous eigenvector) every ``eig_every`` steps. Gradient flow dθ/dt = −∇L (Runge–Kutta 4 with
steps dt = ``flow_dt``/λ₁, below RK4's stability limit 2.78/λ₁) from the same θ₀ is the reference path:
GD at step s is compared with the flow at time t = sη. Heavy-ball momentum v ← βv − η∇L, θ ← θ + v
(β = 0.9) is run beside them; its limit is (2 + 2β)/η (:mod:`mlplab.curvature.stability`).

The step sizes are set from the measured initial sharpness λ₀: η = 2/(c·λ₀) for c in ``limit_over_initial``
(so every 2/η is above λ₀, as the paper's protocol needs), which keeps the study meaningful on a subset
or network whose λ₀ differs from the paper's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..curvature import NetworkCurvature, sharpness
from ..curvature.stability import gd_limit, heavy_ball_limit
from .base import Context, Figure, Study, array
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


def _run(curv, theta0, lr, steps, tracker, beta=0.0, snapshots=None, ctx=None):
    """GD (β = 0) or heavy ball; returns the per-step loss and θ at the tracker's steps."""
    curv.set_theta(theta0)
    theta, v = theta0.copy(), np.zeros_like(theta0)
    losses, thetas = [], []
    for s in range(steps + 1):
        loss, g = curv.loss_and_grad()
        losses.append(loss)
        if not math.isfinite(loss):
            break
        if s % tracker.every == 0:
            tracker(s)
            thetas.append(theta.copy())
        if s == steps:
            break
        v = beta * v - lr * g
        theta = theta + v
        curv.set_theta(theta)
    return np.array(losses), thetas


def _flow(curv, theta0, times, dt_frac, every, seed):
    """θ(t) of gradient flow at the given increasing times, RK4 with dt = dt_frac/λ₁ (λ₁ re-measured every
    ``every`` RK steps); returns the states and the sharpness along the way."""
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
        out.append(theta.copy())
    return out, k


def _adam(curv, model, theta0, settings, ctx):
    """Full-batch Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8); its preconditioned sharpness λ₁(P⁻¹H) every
    ``eig_every`` steps against 38/η. η is set from λ₁(P⁻¹H) after the first step (P needs one step):
    38/η = c·λ₁(P₁⁻¹H₁), c = ``adam_limit_over_initial``."""
    from .. import optim
    from ..curvature import preconditioned_hvp, preconditioner
    from ..curvature.stability import adam_limit

    curv.set_theta(theta0)
    params = model.parameters()
    sizes = np.cumsum([p.size for p in params])[:-1]

    def step(opt):
        loss, g = curv.loss_and_grad()
        for p, gi in zip(params, np.split(g, sizes)):
            p.grad = gi.reshape(p.shape).astype(p.dtype)
        opt.step()
        return loss

    probe = optim.Adam(params, lr=1e-12, betas=(0.9, 0.999), eps=1e-8)
    step(probe)  # a negligible step: only to set the preconditioner P₁
    lam1 = sharpness(preconditioned_hvp(curv.hvp, preconditioner(probe)), curv.n_params, steps=30,
                     rng=ctx.rng(6))[0]
    lr = 38.0 / (settings["adam_limit_over_initial"] * lam1)
    curv.set_theta(theta0)
    opt = optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    v = ctx.rng(7).standard_normal(curv.n_params)
    losses, ks, lams = [], [], []
    for s in range(1, settings["steps"] + 1):
        losses.append(step(opt))
        if s % settings["eig_every"] == 0:
            lam, v = sharpness(preconditioned_hvp(curv.hvp, preconditioner(opt)), curv.n_params, v0=v,
                               steps=settings["lanczos_steps"])
            ks.append(s)
            lams.append(lam)
    curv.set_theta(theta0)
    ctx.advance()
    return {"lr": lr, "beta1": 0.9, "limit": adam_limit(lr, 0.9), "initial_preconditioned": lam1,
            "loss": np.array(losses), "sharpness_steps": ks, "sharpness": np.array(lams)}


def measure(settings: dict, ctx: Context) -> dict:
    from .. import nn

    X, y = _data(settings, ctx)
    model = nn.MLP(settings["sizes"], activation="tanh", weight_init="torch", bias_init="torch_bias",
                   rng=ctx.rng(1), dtype=np.float32)
    curv = NetworkCurvature(model, X, y, loss="half_mse", chunk_size=settings["examples"])
    theta0 = curv.theta()
    every, steps = settings["eig_every"], settings["steps"]
    lam0 = sharpness(curv.hvp, curv.n_params, steps=30, rng=ctx.rng(2))[0]
    lrs = [2.0 / (c * lam0) for c in settings["limit_over_initial"]]
    ctx.plan(len(lrs) + 2 + bool(settings.get("adam_limit_over_initial")))
    runs = {}
    for i, lr in enumerate(lrs):
        tr = _Tracker(curv, every, settings["lanczos_steps"], [ctx.seed, 3, i])
        losses, thetas = _run(curv, theta0, lr, steps, tr)
        runs[f"{lr:.4g}"] = {"lr": lr, "limit": gd_limit(lr), "loss": losses, "sharpness_steps": tr.steps,
                             "sharpness": np.array(tr.values), "_thetas": thetas}
        ctx.advance()
    beta = settings["beta"]
    lr_hb = 2.0 / (settings["hb_limit_over_initial"] * lam0) * (1 + beta)  # (2+2β)/η = c·λ₀
    tr = _Tracker(curv, every, settings["lanczos_steps"], [ctx.seed, 4])
    losses, _ = _run(curv, theta0, lr_hb, steps, tr, beta=beta)
    heavy = {"lr": lr_hb, "beta": beta, "limit": heavy_ball_limit(lr_hb, beta), "loss": losses,
             "sharpness_steps": tr.steps, "sharpness": np.array(tr.values)}
    ctx.advance()
    adam = _adam(curv, model, theta0, settings, ctx) if settings.get("adam_limit_over_initial") else None
    # gradient flow up to the time the smallest step size reaches at the end
    horizon = settings["flow_fraction"] * steps * min(lrs)
    times = sorted({s * r["lr"] for r in runs.values() for s in r["sharpness_steps"] if s * r["lr"] <= horizon})
    states, rk_steps = _flow(curv, theta0, times, settings["flow_dt"], settings["flow_eig_every"], [ctx.seed, 5])
    at = dict(zip(times, states))
    for r in runs.values():
        d, ts = [], []
        for s, th in zip(r["sharpness_steps"], r.pop("_thetas")):
            if s * r["lr"] <= horizon:
                d.append(float(np.linalg.norm(th - at[s * r["lr"]])))
                ts.append(s)
        r["flow_steps"], r["flow_distance"] = ts, np.array(d)
        r["flow_travel"] = np.array([float(np.linalg.norm(at[s * r["lr"]] - theta0)) for s in ts])
    ctx.advance()
    curv.set_theta(theta0)
    numbers = {"examples": settings["examples"], "sizes": settings["sizes"], "dataset": settings["dataset"],
               "steps": steps, "eig_every": every, "initial_sharpness": lam0, "flow_horizon": horizon,
               "flow_rk4_steps": rk_steps, "series": {"gd": runs, "heavy_ball": heavy}}
    if adam is not None:
        numbers["series"]["adam"] = adam
    numbers["claims"] = claims(numbers)
    return numbers


def _crossing(steps, values, limit):
    above = [s for s, v in zip(steps, values) if v >= limit]
    return above[0] if above else None


def claims(numbers) -> dict:
    """Each claim of the paper as numbers, from the series alone (the report and a test read these)."""
    out = {"per_lr": {}}
    lam0 = numbers["initial_sharpness"]
    for key, r in numbers["series"]["gd"].items():
        steps, lam, limit = list(r["sharpness_steps"]), array(r["sharpness"]), r["limit"]
        loss = array(r["loss"])
        cross = _crossing(steps, lam, limit)
        after = lam[[i for i, s in enumerate(steps) if cross is not None and s > cross]] / limit
        inc = np.diff(loss)
        row = {"lr": r["lr"], "two_over_lr": limit, "initial_below_limit": bool(lam0 < limit),
               "progressive_sharpening": float(lam.max() / lam0), "first_crossing_step": cross,
               "after_crossing_min": float(after.min()) if len(after) else None,
               "after_crossing_max": float(after.max()) if len(after) else None,
               "after_crossing_within_0.9_1.15": bool(len(after) and after.min() >= 0.9 and after.max() <= 1.15),
               "loss_start": float(loss[0]), "loss_end": float(loss[-1]),
               "loss_decreased": bool(loss[-1] < loss[0]), "loss_increases": int((inc > 0).sum()),
               "non_monotone": bool((inc > 0).any())}
        fs, fd, ft = list(r["flow_steps"]), array(r["flow_distance"]), array(r["flow_travel"])
        if cross is not None and fs:
            before = [d / max(t, 1e-12) for s, d, t in zip(fs, fd, ft) if s <= cross]
            later = [d / max(t, 1e-12) for s, d, t in zip(fs, fd, ft) if s > cross]
            row["flow_relative_distance_before_crossing"] = float(max(before)) if before else None
            row["flow_relative_distance_after_crossing"] = float(max(later)) if later else None
        out["per_lr"][key] = row
    hb = numbers["series"]["heavy_ball"]
    steps, lam = list(hb["sharpness_steps"]), array(hb["sharpness"])
    cross = _crossing(steps, lam, hb["limit"])
    after = lam[[i for i, s in enumerate(steps) if cross is not None and s > cross]] / hb["limit"]
    out["heavy_ball"] = {"lr": hb["lr"], "beta": hb["beta"], "limit": hb["limit"], "first_crossing_step": cross,
                         "after_crossing_min": float(after.min()) if len(after) else None,
                         "after_crossing_max": float(after.max()) if len(after) else None}
    out["heavy_ball"]["last_over_limit"] = float(lam[-1] / hb["limit"]) if len(lam) else None
    out["heavy_ball"]["last_over_two_over_lr"] = float(lam[-1] * hb["lr"] / 2) if len(lam) else None
    ad = numbers["series"].get("adam")
    if ad is not None:
        steps, lam = list(ad["sharpness_steps"]), array(ad["sharpness"])
        cross = _crossing(steps, lam, ad["limit"])
        after = lam[[i for i, s in enumerate(steps) if cross is not None and s > cross]] / ad["limit"]
        out["adam"] = {"lr": ad["lr"], "limit": ad["limit"], "first_crossing_step": cross,
                       "initial_over_limit": float(ad["initial_preconditioned"] / ad["limit"]),
                       "after_crossing_min": float(after.min()) if len(after) else None,
                       "after_crossing_max": float(after.max()) if len(after) else None}
    rows = out["per_lr"].values()
    out["all_cross"] = all(r["first_crossing_step"] is not None for r in rows)
    out["all_hover"] = all(r["after_crossing_within_0.9_1.15"] for r in rows)
    out["all_loss_decreased_non_monotone"] = all(r["loss_decreased"] and r["non_monotone"] for r in rows)
    return out


def draw(numbers: dict, out: Path) -> list[Figure]:
    gd = numbers["series"]["gd"]
    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    ax_l, ax_s = axes[0, 0], axes[0, 1]
    for i, r in enumerate(gd.values()):
        c = f"C{i}"
        ax_l.plot(array(r["loss"]), color=c, lw=1, label=f"η = {r['lr']:.3g}")
        ax_s.plot(r["sharpness_steps"], array(r["sharpness"]), color=c, lw=1.2)
        ax_s.axhline(r["limit"], color=c, ls="--", lw=0.8)
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("training loss ½‖f − y‖² (mean)")
    ax_l.set_title("train loss")
    ax_l.legend(fontsize=8)
    ax_s.set_xlabel("step")
    ax_s.set_ylabel("sharpness λ₁(H)")
    ax_s.set_title("sharpness; dashed: 2/η")
    figures = [Figure(save(fig, out / "eos_gd.png"), "Full-batch GD at three step sizes: the loss (left) and the "
                      "sharpness (right) with each η's 2/η (dashed, same colour), as in Cohen et al. 2021, Figure 1.")]
    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    ax = axes[0, 0]
    for i, r in enumerate(gd.values()):
        if len(r["flow_steps"]):
            ax.plot(r["flow_steps"], array(r["flow_distance"]), color=f"C{i}", lw=1.2, label=f"η = {r['lr']:.3g}")
            cross = numbers["claims"]["per_lr"][f"{r['lr']:.4g}"]["first_crossing_step"]
            if cross is not None:
                ax.axvline(cross, color=f"C{i}", ls=":", lw=0.8)
    ax.set_xlabel("step s (flow at time sη)")
    ax.set_ylabel("‖θ_GD(s) − θ_flow(sη)‖")
    ax.set_title("GD vs gradient flow; dotted: λ₁ reaches 2/η")
    ax.legend(fontsize=8)
    hb = numbers["series"]["heavy_ball"]
    ax = axes[0, 1]
    ax.plot(hb["sharpness_steps"], array(hb["sharpness"]), color="C4", lw=1.2)
    ax.axhline(hb["limit"], color="C4", ls="--", lw=0.8, label="(2 + 2β)/η")
    ax.axhline(2 / hb["lr"], color="0.5", ls=":", lw=0.8, label="2/η")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness λ₁(H)")
    ax.set_title(f"heavy ball β = {hb['beta']:g}, η = {hb['lr']:.3g}")
    ax.legend(fontsize=8)
    ad = numbers["series"].get("adam")
    if ad is not None:
        fig2, axes2 = subplots(1, 1, size=(5.0, 3.6))
        ax = axes2[0, 0]
        ax.plot(ad["sharpness_steps"], array(ad["sharpness"]), color="C5", lw=1.2)
        ax.axhline(ad["limit"], color="C5", ls="--", lw=0.8, label="38/η")
        ax.set_xlabel("step")
        ax.set_ylabel("preconditioned sharpness λ₁(P⁻¹H)")
        ax.set_title(f"Adam, η = {ad['lr']:.3g}")
        ax.legend(fontsize=8)
        figures.append(Figure(save(fig2, out / "eos_adam.png"), "Full-batch Adam: the preconditioned sharpness "
                              "λ₁(P⁻¹H) against 38/η (Cohen et al. 2022)."))
    figures.append(Figure(save(fig, out / "eos_flow_momentum.png"),
                          "Left: distance between GD and gradient flow at equal time sη; it stays small until the "
                          "sharpness reaches 2/η (dotted) and grows after. Right: heavy-ball momentum hovers at "
                          "(2 + 2β)/η, not 2/η."))
    return figures


def _g(v, fmt=".3g"):
    return "—" if v is None else format(v, fmt)


def write(numbers: dict) -> str:
    cl = numbers["claims"]
    rows = "\n".join(
        f"| {r['lr']:.3g} | {r['two_over_lr']:.3g} | {r['progressive_sharpening']:.2f} | "
        f"{_g(r['first_crossing_step'], 'd')} | {_g(r['after_crossing_min'])}–{_g(r['after_crossing_max'])} | "
        f"{r['loss_start']:.3g} → {r['loss_end']:.3g} ({r['loss_increases']} rises) | "
        f"{_g(r.get('flow_relative_distance_before_crossing'))} / "
        f"{_g(r.get('flow_relative_distance_after_crossing'))} |"
        for r in cl["per_lr"].values())
    hb = cl["heavy_ball"]
    return f"""
The same 2/λ limit as the `quadratic` study, on a real network: full-batch GD on {numbers['examples']:,}
{numbers['dataset']} images (standardized per pixel), loss ½‖f − onehot‖² averaged over the examples, a
{'-'.join(map(str, numbers['sizes']))} tanh network with PyTorch's default initialization. The initial sharpness
is λ₀ = {numbers['initial_sharpness']:.3g}; each η puts 2/η above it. The sharpness λ₁(H), measured by Lanczos every
{numbers['eig_every']} steps, rises (progressive sharpening), reaches 2/η, and then hovers near it while the loss keeps
falling, with rises along the way (Cohen et al. 2021). Gradient flow (RK4, {numbers['flow_rk4_steps']} steps up to
time {numbers['flow_horizon']:.3g}) is the reference path: GD's distance to it, relative to how far the flow has
travelled, is given before and after the crossing.

| η | 2/η | max λ₁ / λ₀ | first step with λ₁ ≥ 2/η | λ₁·η/2 after it (min–max) | loss (rises) | \
distance to flow / travel: before / after |
|---|---|---|---|---|---|---|
{rows}

Heavy ball (β = {hb['beta']:g}, η = {hb['lr']:.3g}): its limit (2 + 2β)/η = {hb['limit']:.3g}; first crossing at step
{_g(hb['first_crossing_step'], 'd')}, then λ₁ divided by the limit between {_g(hb['after_crossing_min'])} and
{_g(hb['after_crossing_max'])}. Every η crossed: {cl['all_cross']}; every η stayed within [0.9, 1.15]·2/η after:
{cl['all_hover']}; every loss fell overall but not monotonically: {cl['all_loss_decreased_non_monotone']}.
At the end of the heavy-ball run λ₁ is {_g(hb.get('last_over_limit'))} of (2 + 2β)/η and
{_g(hb.get('last_over_two_over_lr'))} of 2/η.{_adam_text(cl)}
"""


def _adam_text(cl):
    a = cl.get("adam")
    if a is None:
        return ""
    return (f" Adam (η = {a['lr']:.3g}, β₁ = 0.9): the preconditioned sharpness λ₁(P⁻¹H) starts at "
            f"{a['initial_over_limit']:.2f} of 38/η (Cohen et al. 2022, *Adaptive Gradient Methods at the Edge of "
            f"Stability*), first reaches it at step {_g(a['first_crossing_step'], 'd')}, and then lies between "
            f"{_g(a['after_crossing_min'])} and {_g(a['after_crossing_max'])} of it.")


STUDY = Study(
    name="edge-of-stability",
    title="Gradient descent at the edge of stability",
    description="full-batch GD on MNIST: the sharpness rises to 2/η and hovers there; gradient flow; heavy ball at "
                "(2+2β)/η",
    source="Cohen, Kaur, Li, Kolter, Talwalkar 2021, Gradient Descent on Neural Networks Typically Occurs at the "
           "Edge of Stability",
    works=("cohen-eos",),
    measure=measure, draw=draw, write=write,
    reference={"dataset": "mnist", "examples": 5000, "sizes": [784, 200, 200, 10],
               "limit_over_initial": [1.25, 1.5, 2.0],
               "hb_limit_over_initial": 1.25, "beta": 0.9, "steps": 400, "eig_every": 25, "lanczos_steps": 10,
               "flow_fraction": 0.3, "flow_dt": 1.0, "flow_eig_every": 10, "adam_limit_over_initial": 1.25},
    quick={"dataset": "mnist", "examples": 300, "sizes": [784, 32, 32, 10], "limit_over_initial": [1.25, 1.5, 2.0],
           "hb_limit_over_initial": 1.25, "beta": 0.9, "steps": 800, "eig_every": 10, "lanczos_steps": 10,
           "flow_fraction": 0.6, "flow_dt": 1.0, "flow_eig_every": 10, "adam_limit_over_initial": 1.25},
    claims=("claims",),
)
