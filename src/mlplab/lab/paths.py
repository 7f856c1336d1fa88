"""paths: optimizer paths on F1 = x² + y² and F2 = 0.05x² + y² (*Deep Learning from
Scratch*, ch. 6.1, ``ch06/optimizer_compare_naive.py``), and AdaGrad's shrinking step against RMSProp's.

Every path comes from :func:`mlplab.functions.run_optimizer` with the real optimizer classes of
:mod:`mlplab.optim`; the long AdaGrad/RMSProp run drives the same classes step by step and reads
their accumulators (``state['h']``, ``state['v']``) to plot the effective step size η/√h.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..functions import F1, F2, run_optimizer
from ..optim import get_optimizer
from ..tensor import Tensor
from .base import Context, Figure, Study, array
from .plots import color, save, subplots

START = (-7.0, 2.0)
STEPS = 30
TOL = 0.5  # "reached the minimum": ‖θ − θ*‖ < TOL

# name -> (label, hyperparameters). SGD, Momentum, AdaGrad, Adam are the book's settings.
METHODS = {
    "sgd": ("SGD", {"lr": 0.95}),
    "momentum": ("Momentum", {"lr": 0.1, "momentum": 0.9}),
    "nesterov": ("Nesterov", {"lr": 0.1, "momentum": 0.9}),
    "adagrad": ("AdaGrad", {"lr": 1.5}),
    "rmsprop": ("RMSProp", {"lr": 0.3, "alpha": 0.9}),
    "adam": ("Adam", {"lr": 0.3}),
    "newton": ("Newton", {"lr": 1.0}),
}


def _hp_text(hp: dict) -> str:
    names = {"lr": "η", "momentum": "μ", "alpha": "α"}
    return ", ".join(f"{names.get(k, k)}={v:g}" for k, v in hp.items())


def sign_changes(v: np.ndarray) -> int:
    """How often a coordinate crosses zero (exact zeros are not crossings)."""
    v = np.asarray(v)
    return int(np.sum(v[:-1] * v[1:] < 0))


def steps_to(dist: np.ndarray, tol: float) -> int | None:
    """First step after which the distance stays below ``tol`` (None if never)."""
    above = np.flatnonzero(~(dist < tol))
    if len(above) == 0:
        return 0
    k = int(above[-1]) + 1
    return k if k < len(dist) else None


def draw_contours(ax, fn, xlim, ylim, n=200, levels=12):
    """Log-spaced contour lines of ``fn`` (a mlplab test function) over the box, minimum marked."""
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    X, Y = np.meshgrid(xs, ys)
    Z = fn.f(np.stack([X, Y], -1)) - fn.f_min
    lv = np.geomspace(max(Z.max() * 1e-4, 1e-3), Z.max(), levels)
    ax.contour(X, Y, Z, levels=lv, colors="0.6", linewidths=0.7)
    m = fn.minimum
    ax.plot(m[0], m[1], "+", color="k", ms=10, mew=1.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _paths_figure(out, fn, paths, file):
    fig, axes = subplots(2, 4, size=(3.4, 3.0))
    ax_all = axes.ravel()
    for ax, (name, path) in zip(ax_all, paths.items()):
        label, hp = METHODS[name]
        draw_contours(ax, fn, (-10, 10), (-10, 10))
        ax.plot(path[:, 0], path[:, 1], "o-", color=color(name), ms=3, lw=1.2)
        ax.plot(*path[0], "s", color="k", ms=4)
        d = np.linalg.norm(path[-1] - fn.minimum)
        ax.set_title(f"{label} ({_hp_text(hp)})\nafter {len(path) - 1} steps: ‖θ−θ*‖ = {d:.2g}", fontsize=9)
    ax = ax_all[-1]
    for name, path in paths.items():
        d = np.linalg.norm(path - fn.minimum, axis=1)
        ax.semilogy(np.arange(len(d)), np.maximum(d, 1e-16), color=color(name), label=METHODS[name][0])
    ax.axhline(TOL, color="0.5", ls=":", lw=1)
    ax.set_ylim(1e-8, 30)
    ax.set_xlabel("step")
    ax.set_ylabel("distance to minimum ‖θ − θ*‖")
    ax.set_title("distance to the minimum (log)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, out / file, f"{fn.name}: {fn.name == 'F1' and 'x² + y²' or '0.05x² + y²'}, "
                f"start {START}, {len(path) - 1} steps")


def _gradient_figure(out, fns):
    fig, axes = subplots(1, 2, size=(4.6, 4.2))
    for ax, fn in zip(axes[0], fns):
        draw_contours(ax, fn, (-10, 10), (-10, 10))
        g = np.linspace(-9, 9, 11)
        X, Y = np.meshgrid(g, g)
        G = fn.grad(np.stack([X, Y], -1))
        ax.quiver(X, Y, -G[..., 0], -G[..., 1], color="#1f77b4", angles="xy", scale_units="xy", scale=12,
                  width=0.005)
        ax.set_title(f"{fn.name}: arrows = −∇f (same scale in both)")
    return save(fig, out / "gradient_fields.png",
                "Gradient fields: F1's −∇f points at the minimum, F2's points almost straight along y")


def _effective_steps(fn, steps, sigma, rng):
    """Drive AdaGrad and RMSProp on ``fn`` with noisy gradients; record η/(√h + ε) per coordinate."""
    out = {}
    for name, key in (("adagrad", "h"), ("rmsprop", "v")):
        x = Tensor(np.array(START, dtype=np.float64), requires_grad=True)
        opt = get_optimizer(name, [x], **METHODS[name][1])
        noise = rng.standard_normal((steps, 2)) * sigma
        eff, pos = np.empty((steps, 2)), np.empty((steps, 2))
        for t in range(steps):
            x.grad = fn.grad(x.data) + noise[t]
            opt.step()
            eff[t] = opt.lr / (np.sqrt(opt.state[0][key]) + opt.eps)
            pos[t] = x.data
        out[name] = (eff, pos)
    return out


def measure(settings: dict, ctx: Context) -> dict:
    """Every optimizer's path on F1 and F2, and the long noisy AdaGrad/RMSProp run on F2."""
    steps, long_steps, sigma = settings["steps"], settings["long_run_steps"], settings["gradient_noise_sigma"]
    fns = [F1(), F2()]
    ctx.plan(len(fns) + 1)
    numbers: dict = {"start": list(START), "steps": steps, "tolerance": TOL,
                     "settings": {k: hp for k, (_, hp) in METHODS.items()}}
    series: dict = {}
    for fn in fns:
        paths = {name: run_optimizer(fn, name, START, steps, **hp) for name, (_, hp) in METHODS.items()}
        res = {}
        for name, path in paths.items():
            d = np.linalg.norm(path - fn.minimum, axis=1)
            res[name] = {"final": path[-1], "final_distance": float(d[-1]), "final_f": float(fn.f(path[-1])),
                         "y_sign_changes": sign_changes(path[:, 1]), "x_sign_changes": sign_changes(path[:, 0]),
                         "steps_to_tol": steps_to(d, TOL), "distance_after_1": float(d[1])}
        numbers[fn.name] = res
        series[fn.name] = paths
        ctx.advance()
    eff = _effective_steps(fns[1], long_steps, sigma, ctx.rng(1))
    numbers["effective_step"] = {
        "steps": long_steps, "gradient_noise_sigma": sigma,
        **{name: {"step_1": e[0], "step_10": e[9], "step_100": e[99], "final": e[-1],
                  "mean_distance_last_100": float(np.linalg.norm(p[-100:], axis=1).mean())}
           for name, (e, p) in eff.items()}}
    series["effective_step"] = {name: {"step": e, "position": p} for name, (e, p) in eff.items()}
    numbers["series"] = series  # what the figures draw
    ctx.advance()
    return numbers


def draw(numbers: dict, out: Path) -> list[Figure]:
    fns = [F1(), F2()]
    series = numbers["series"]
    figures = [Figure(_gradient_figure(out, fns),
                      "Gradient fields (−∇f) of F1 and F2: on F2 the x-component is 20× weaker.")]
    for fn in fns:
        paths = {name: array(p) for name, p in series[fn.name].items()}
        file = _paths_figure(out, fn, paths, f"paths_{fn.name}.png")
        figures.append(Figure(file, f"Paths of seven optimizers on {fn.name} from {START} over contour lines, and "
                                    "the distance to the minimum per step (log scale)."))
    long_steps = numbers["effective_step"]["steps"]
    sigma = numbers["effective_step"]["gradient_noise_sigma"]
    fig, axes = subplots(1, 2, size=(4.8, 3.6))
    t = np.arange(1, long_steps + 1)
    for name, s in series["effective_step"].items():
        e, p = array(s["step"]), array(s["position"])
        lab = f"{METHODS[name][0]} ({_hp_text(METHODS[name][1])})"
        axes[0, 0].loglog(t, e[:, 0], color=color(name), label=f"{lab}, x")
        axes[0, 0].loglog(t, e[:, 1], color=color(name), ls="--", label=f"{lab}, y")
        axes[0, 1].semilogx(t, p[:, 0], color=color(name), label=lab)
    axes[0, 0].loglog(t, METHODS["adagrad"][1]["lr"] / (sigma * np.sqrt(t)), color="0.4", ls=":",
                      label="η/(σ√t)")
    axes[0, 0].set_xlabel("step t")
    axes[0, 0].set_ylabel("effective step size η/√h (log)")
    axes[0, 0].set_title("AdaGrad: h = Σ g² grows, step → 0\nRMSProp: h = EMA of g², step levels off")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[0, 1].axhline(0, color="k", lw=0.8)
    axes[0, 1].set_xlabel("step t")
    axes[0, 1].set_ylabel("x coordinate")
    axes[0, 1].set_title("x over time (minimum at x = 0)")
    axes[0, 1].legend(fontsize=7)
    figures.append(Figure(save(fig, out / "adagrad_vs_rmsprop.png",
                               f"F2 with noisy gradients (σ = {sigma}), {long_steps} steps"),
                          "Effective per-coordinate step size of AdaGrad and RMSProp over a long noisy run."))
    return figures


def write(numbers: dict) -> str:
    f2, f1 = numbers["F2"], numbers["F1"]
    steps = numbers["steps"]
    e_a, e_r = numbers["effective_step"]["adagrad"], numbers["effective_step"]["rmsprop"]
    long_steps, sigma = numbers["effective_step"]["steps"], numbers["effective_step"]["gradient_noise_sigma"]
    rows = "\n".join(
        f"| {METHODS[k][0]} | {_hp_text(METHODS[k][1])} | {f1[k]['final_distance']:.3g} "
        f"| {f2[k]['final_distance']:.3g} | {f2[k]['y_sign_changes']} "
        f"| {f2[k]['steps_to_tol'] if f2[k]['steps_to_tol'] is not None else '—'} |"
        for k in METHODS)
    return f"""
Seven optimizers start at {START} and take {steps} steps on F1 = x² + y² and F2 = 0.05x² + y²
(`paths_F1.png`, `paths_F2.png`). `gradient_fields.png` shows why F2 is hard: ∇F2 = (0.1x, 2y), so the
arrows point almost straight along y, and a step size that is safe for y (η < 2/2 = 1) is tiny for x.
Plain SGD, θ ← θ − η∇f with η = 0.95, multiplies y by 1 − 2η = −0.9 every step: on F2 y changes sign
{f2['sgd']['y_sign_changes']} times in {steps} steps while x only shrinks by 1 − 0.1η = 0.905 per step, ending
{f2['sgd']['final_distance']:.3g} from the minimum. On F1 (`paths_F1.png`) −∇f points at the minimum from
everywhere, so SGD, Momentum, Nesterov and Newton head straight in along the line through the start (SGD
and Momentum overshoot along it); AdaGrad, RMSProp and Adam rescale each coordinate separately, so they
first move diagonally and then along x, and reach the minimum just as well. On F2, Momentum
(v ← μv − η∇f, θ ← θ + v) accumulates the small but consistent x-gradient: it overshoots and swings
({f2['momentum']['y_sign_changes']} sign changes in y) yet crosses the x-range. AdaGrad
(h ← h + ∇f ⊙ ∇f, θ ← θ − η∇f/√h) and Adam divide each coordinate by its own gradient scale, which
equalises the axes: AdaGrad ends {f2['adagrad']['final_distance']:.3g} from the minimum without a single
sign change in y. Newton, θ ← θ − (∇²f)⁻¹∇f, rescales by the exact curvature and lands on (0, 0) after one
step (distance {f2['newton']['distance_after_1']:.1g}).

| method | settings | F1: final ‖θ−θ*‖ | F2: final ‖θ−θ*‖ | F2: y sign changes | F2: steps to ‖θ−θ*‖ < {TOL} |
|---|---|---|---|---|---|
{rows}

`adagrad_vs_rmsprop.png` follows the effective step η/√h over {long_steps} steps on F2 with gradient noise
σ = {sigma} (what a mini-batch gradient looks like). AdaGrad's h sums every squared gradient ever seen, so
its step falls like η/(σ√t): in x from {e_a['step_1'][0]:.3g} at step 1 to {e_a['final'][0]:.3g} at step
{long_steps}. RMSProp's h ← αh + (1−α)∇f² forgets (α = 0.9), so its step levels off at about η/σ
({e_r['final'][0]:.3g} at step {long_steps}). On this fixed bowl AdaGrad's shrinking step even acts as an
annealing schedule (mean distance over the last 100 steps {e_a['mean_distance_last_100']:.2g} against RMSProp's
{e_r['mean_distance_last_100']:.2g}, which keeps jittering at its constant step); on a network, whose
landscape keeps changing, the same decay means AdaGrad eventually stops learning. With exact gradients h stops
growing once ∇f → 0, so the shrinkage is driven by the noise.
"""


STUDY = Study(
    name="paths",
    title="Optimizer paths on F1 and F2",
    description="SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam and Newton from (−7, 2) on x²+y² and 0.05x²+y²",
    source="Deep Learning from Scratch, ch. 6.1 (optimizer_compare_naive.py); blog post 'A short summary of "
           "parameter updates and weight initialization in deep learning'",
    works=("dlfs", "post-updates-init"),
    measure=measure, draw=draw, write=write,
    reference={"steps": STEPS, "long_run_steps": 1000, "gradient_noise_sigma": 0.5},
    quick={"steps": STEPS, "long_run_steps": 1000, "gradient_noise_sigma": 0.5},  # cheap: the same
    claims=("F1", "F2", "effective_step"),
)
