"""The edge-of-stability study's runs: the standardized MNIST subset, the sharpness tracker, full-batch GD and heavy
ball, gradient flow by RK4, full-batch Adam with its preconditioned sharpness, and the one task a worker runs."""

from __future__ import annotations

import math

import numpy as np

from ...curvature import NetworkCurvature, sharpness
from ...curvature.stability import gd_limit, heavy_ball_limit
from ..base import Context, shared


def _data(settings, ctx):
    from ... import data

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
    from ... import optim
    from ...curvature import preconditioned_hvp, preconditioner
    from ...curvature.stability import adam_limit

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
    from ... import nn

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
