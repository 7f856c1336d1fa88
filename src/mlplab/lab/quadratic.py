"""quadratic: step size, Newton's method and the momentum variants on f(θ) = ½θᵀPθ + qᵀθ
(CMU 10-414/714 *Deep Learning Systems*, lecture 6, and the blog post *Fully connected neural networks*).

The quadratic is :func:`mlplab.functions.get_function` ("quadratic"): P = [[5, 4.5], [4.5, 5]]
(eigenvalues 0.5 and 9.5, condition number 19), q = (1, −2). Every path comes from
:func:`mlplab.functions.run_optimizer` with the optimizer classes of :mod:`mlplab.optim`.

The same 2/λ limit on a real network, where λ_max moves during training: the
[`edge-of-stability`](#edge-of-stability) study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..functions import get_function, run_optimizer
from .base import Context, Figure, Study, array
from .paths import draw_contours
from .plots import color, save, subplots

START = (1.0, 1.0)
TOL = 1e-4  # "converged": f(θ) − f* < TOL

# gradient descent step sizes as fractions of the stability limit 2/λ_max
GD_FRACTIONS = {"slow": 0.1, "no_overshoot": 0.5, "oscillating": 0.95, "diverging": 1.05}

# the momentum family of the CMU lecture, all with the same step size η = 0.1 and β = 0.9 (Adam: η = 0.3)
MOMENTUM = {
    "gd": ("gradient descent", "sgd", {"lr": 0.1}),
    "ema_momentum": ("momentum (EMA)", "ema_momentum", {"lr": 0.1, "momentum": 0.9}),
    "unbiased_momentum": ("unbiased momentum", "ema_momentum", {"lr": 0.1, "momentum": 0.9, "bias_correction": True}),
    "nesterov": ("Nesterov (look-ahead)", "nesterov_ema", {"lr": 0.1, "momentum": 0.9}),
    "adam": ("Adam", "adam", {"lr": 0.3}),
}


def _gap(fn, path):
    with np.errstate(over="ignore", invalid="ignore"):
        return fn.f(path) - fn.f_min


def _steps_to(gap, tol):
    below = np.flatnonzero(gap < tol)
    return int(below[0]) if len(below) else None


def _box(fn):
    c = fn.minimizer
    return (c[0] - 5, c[0] + 5), (c[1] - 5, c[1] + 5)


def _clip_path(path, fn, margin=7.0):
    """Paths that diverge are drawn until they leave a generous box around the plot."""
    far = np.flatnonzero(~(np.abs(path - fn.minimizer).max(axis=1) < margin))
    return path if len(far) == 0 else path[: far[0] + 1]


def _gap_axis(ax, title):
    ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("f(θ_t) − f*  (log)")
    ax.set_title(title, fontsize=9)
    ax.axhline(TOL, color="0.5", ls=":", lw=1)


def measure(settings: dict, ctx: Context) -> dict:
    """Gradient descent at four step sizes, Newton (α = 1 and 0.5) and the momentum family."""
    fn = get_function("quadratic")
    lam_max, lam_min = fn.lambda_max, fn.lambda_min
    limit = 2.0 / lam_max
    steps = settings["steps"]
    ctx.plan(3)
    numbers: dict = {"P": fn.P, "q": fn.q, "theta_star": fn.minimizer, "f_star": fn.f_min, "lambda_min": lam_min,
                     "lambda_max": lam_max, "condition_number": fn.condition_number, "stability_limit": limit,
                     "start": START, "steps": steps, "tolerance": TOL}
    series: dict = {"gd": {}, "newton": {}, "momentum": {}}
    gd = {}
    for kind, frac in GD_FRACTIONS.items():
        lr = frac * limit
        path = run_optimizer(fn, "sgd", START, steps, lr=lr)
        gap = _gap(fn, path)
        diverged = not (np.isfinite(gap[-1]) and gap[-1] < gap[0])
        gd[kind] = {"lr": lr, "fraction_of_limit": frac, "final_gap": float(gap[-1]), "diverged": diverged,
                    "steps_to_tol": _steps_to(gap, TOL)}
        series["gd"][kind] = {"path": _clip_path(path, fn), "gap": gap}
    numbers["gd"] = gd
    ctx.advance()

    good = run_optimizer(fn, "sgd", START, steps, lr=GD_FRACTIONS["no_overshoot"] * limit)
    series["newton"]["gd"] = {"path": good, "gap": _gap(fn, good)}
    newton = {}
    for alpha in (1.0, 0.5):
        path = run_optimizer(fn, "newton", START, 20, lr=alpha)
        dist = np.linalg.norm(path - fn.minimizer, axis=1)
        key = "full" if alpha == 1.0 else "damped"
        newton[key] = {"alpha": alpha, "distance_after_1": float(dist[1]), "distance": dist[:8],
                       "steps_to_tol": _steps_to(_gap(fn, path), TOL)}
        series["newton"][key] = {"path": path, "gap": _gap(fn, path)}
    numbers["newton"] = newton
    ctx.advance()

    mom = {}
    for key, (label, name, hp) in MOMENTUM.items():
        path = run_optimizer(fn, name, START, steps, **hp)
        gap = _gap(fn, path)
        step_len = np.linalg.norm(np.diff(path, axis=0), axis=1)
        mom[key] = {"label": label, "optimizer": name, "settings": hp, "first_step": float(step_len[0]),
                    "step_lengths": step_len[:10], "final_gap": float(gap[-1]), "steps_to_tol": _steps_to(gap, TOL)}
        series["momentum"][key] = {"path": path, "gap": gap, "step_len": step_len[:20]}
    numbers["momentum"] = mom
    numbers["series"] = series  # what the figures draw
    ctx.advance()
    return numbers


def draw(numbers: dict, out: Path) -> list[Figure]:
    fn = get_function("quadratic")
    lam_max, lam_min = fn.lambda_max, fn.lambda_min
    limit = 2.0 / lam_max
    steps = numbers["steps"]
    xlim, ylim = _box(fn)
    series = numbers["series"]
    figures = []

    fig, grid = subplots(2, 3, size=(3.6, 3.4))  # two rows: five panels in a row were shown at half size
    fig.delaxes(grid[1, 2])
    axes = np.array([[grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1], grid[0, 2]]])
    for ax, (kind, frac) in zip(axes[0], GD_FRACTIONS.items()):
        lr = numbers["gd"][kind]["lr"]
        shown, gap = array(series["gd"][kind]["path"]), array(series["gd"][kind]["gap"])
        draw_contours(ax, fn, xlim, ylim)
        ax.plot(shown[:, 0], shown[:, 1], "o-", ms=2.5, lw=1, color=f"C{list(GD_FRACTIONS).index(kind)}")
        ax.plot(*shown[0], "s", color="k", ms=4)
        ax.set_title(f"{kind}: η = {frac:g}·2/λ_max = {lr:.3f}\nf − f* after {steps} steps: {gap[-1]:.2g}",
                     fontsize=9)
        axes[0, 4].plot(np.arange(steps + 1), gap, color=f"C{list(GD_FRACTIONS).index(kind)}",
                        label=f"η = {frac:g}·2/λ_max")
    _gap_axis(axes[0, 4], "f − f* per step")
    axes[0, 4].set_ylim(1e-12, 1e6)
    axes[0, 4].legend(fontsize=7)
    figures.append(Figure(save(fig, out / "gd_step_sizes.png",
                               f"Gradient descent on ½θᵀPθ + qᵀθ (λ = {lam_min:g}, {lam_max:g}): step size vs "
                               f"2/λ_max = {limit:.3f}"),
                          "Gradient descent at four step sizes relative to 2/λ_max, and f − f* on a log scale."))

    fig, axes = subplots(1, 2, size=(4.2, 3.6))
    draw_contours(axes[0, 0], fn, xlim, ylim)
    good = array(series["newton"]["gd"]["path"])
    axes[0, 0].plot(good[:, 0], good[:, 1], "o-", ms=2, lw=0.8, color="0.6",
                    label=f"GD η = {GD_FRACTIONS['no_overshoot'] * limit:.3f}")
    axes[0, 1].plot(array(series["newton"]["gd"]["gap"]), color="0.6", label="GD (η = 1/λ_max)")
    for key, style in (("full", "-"), ("damped", "--")):
        alpha = numbers["newton"][key]["alpha"]
        path, gap = array(series["newton"][key]["path"]), array(series["newton"][key]["gap"])
        axes[0, 0].plot(path[:, 0], path[:, 1], "o" + style, ms=4, lw=1.5,
                        color="k" if alpha == 1 else "#8c564b", label=f"Newton α = {alpha:g}")
        axes[0, 1].plot(np.maximum(gap, 1e-17), style, color="k" if alpha == 1 else "#8c564b",
                        label=f"Newton α = {alpha:g}")
    axes[0, 0].plot(*START, "s", color="k", ms=4)
    axes[0, 0].set_title("θ ← θ − α (∇²f)⁻¹ ∇f", fontsize=9)
    axes[0, 0].legend(fontsize=8, loc="lower left")
    _gap_axis(axes[0, 1], "f − f* per step (log; 1e-17 = exact)")
    axes[0, 1].set_xlim(0, 40)
    axes[0, 1].set_ylim(1e-18, 1e2)
    axes[0, 1].legend(fontsize=8)
    figures.append(Figure(save(fig, out / "newton.png", "Newton's method: full step (α = 1) and damped (α = 0.5)"),
                          "Newton's method with α = 1 lands on θ* = −P⁻¹q in one step; α = 0.5 halves the error "
                          "each step along the straight line."))

    fig, axes = subplots(2, 4, size=(3.4, 3.2))
    cells = axes.ravel()
    for ax, (key, (label, _, hp)) in zip(cells, MOMENTUM.items()):
        path, gap = array(series["momentum"][key]["path"]), array(series["momentum"][key]["gap"])
        step_len = array(series["momentum"][key]["step_len"])
        draw_contours(ax, fn, xlim, ylim)
        c = color(key if key != "gd" else "sgd")
        ax.plot(path[:, 0], path[:, 1], "o-", ms=2, lw=1, color=c)
        ax.plot(*START, "s", color="k", ms=4)
        ax.set_title(f"{label}\n" + ", ".join(f"{k}={v}" for k, v in hp.items()), fontsize=8)
        cells[5].plot(gap, color=c, label=label)
        cells[6].plot(np.arange(1, 21), step_len[:20], "o-", ms=3, color=c, label=label)
    _gap_axis(cells[5], "f − f* per step")
    cells[5].legend(fontsize=7)
    cells[6].set_xlabel("step t")
    cells[6].set_ylabel("step length ‖θ_t − θ_{t−1}‖")
    cells[6].set_title("the first 20 step lengths", fontsize=9)
    cells[6].set_xticks([1, 5, 10, 15, 20])
    cells[6].legend(fontsize=7)
    beta = MOMENTUM["ema_momentum"][2]["momentum"]
    t = np.arange(1, 21)
    cells[7].plot(t, 1 - beta ** t, "o-", ms=3, color=color("ema_momentum"), label="EMA: weight 1 − βᵗ")
    cells[7].plot(t, np.ones_like(t, dtype=float), "o-", ms=3, color=color("unbiased_momentum"),
                  label="unbiased: (1 − βᵗ)/(1 − βᵗ) = 1")
    cells[7].set_ylim(0, 1.1)
    cells[7].set_xlabel("step t")
    cells[7].set_ylabel("total weight on past gradients in u")
    cells[7].set_title(f"why EMA momentum starts small\n(β = {beta})", fontsize=9)
    cells[7].set_xticks([1, 5, 10, 15, 20])
    cells[7].legend(fontsize=7, loc="lower right")
    figures.append(Figure(save(fig, out / "momentum.png",
                               f"Momentum variants on the same quadratic, {steps} steps"),
                          "Paths of gradient descent, EMA momentum, unbiased momentum, Nesterov and Adam; f − f* "
                          "(log); the first step lengths; and the bias 1 − βᵗ that unbiased momentum divides out."))
    return figures


def write(numbers: dict) -> str:
    fn = get_function("quadratic")
    lam_max, lam_min = fn.lambda_max, fn.lambda_min
    limit = 2.0 / lam_max
    steps = numbers["steps"]
    gd, newton, mom = numbers["gd"], numbers["newton"], numbers["momentum"]

    def s2t(v):
        return "—" if v is None else str(v)

    def after(v):
        return f"not within {steps} steps" if v is None else f"after {v} steps"

    gd_rows = "\n".join(
        f"| GD, {k} | η = {v['fraction_of_limit']:g}·2/λ_max = {v['lr']:.4f} | {v['final_gap']:.3g} "
        f"| {s2t(v['steps_to_tol'])} |"
        for k, v in gd.items())
    nw_rows = "\n".join(
        f"| Newton, {k} | α = {v['alpha']:g} | dist. after 1 step {v['distance_after_1']:.2g} "
        f"| {s2t(v['steps_to_tol'])} |"
        for k, v in newton.items())
    mo_rows = "\n".join(
        f"| {v['label']} | {', '.join(f'{a}={b}' for a, b in v['settings'].items())}; first step {v['first_step']:.3g} "
        f"| {v['final_gap']:.3g} | {s2t(v['steps_to_tol'])} |" for v in mom.values())
    e, u = mom["ema_momentum"], mom["unbiased_momentum"]
    return f"""
f(θ) = ½θᵀPθ + qᵀθ with P = [[5, 4.5], [4.5, 5]] (eigenvalues λ_min = {lam_min:g}, λ_max = {lam_max:g},
condition number {fn.condition_number:.0f}) and q = (1, −2), so θ* = −P⁻¹q = ({fn.minimizer[0]:.3f},
{fn.minimizer[1]:.3f}); every run starts at {START}. Gradient descent θ ← θ − η(Pθ + q) multiplies the
error along each eigenvector by 1 − ηλ, so it converges exactly when |1 − ηλ_max| < 1, i.e.
η < 2/λ_max = {limit:.4f} (`gd_step_sizes.png`). At 0.1·2/λ_max the slow direction (λ = {lam_min:g})
crawls (f − f* = {gd['slow']['final_gap']:.3g} after {steps} steps); at 0.5·2/λ_max = 1/λ_max the steep
direction is removed in one step without overshoot and f − f* falls below {TOL:g}
{after(gd['no_overshoot']['steps_to_tol'])}; at 0.95·2/λ_max the iterate bounces across the valley (factor
{1 - 0.95 * 2:.1f} per step along the steep direction) but still converges, and in fact fastest
({after(gd['oscillating']['steps_to_tol'])}), because this η is close to the best fixed step
2/(λ_min + λ_max) = {2 / (lam_min + lam_max):.3f}, where the slow direction decides the rate; at
1.05·2/λ_max the factor is −1.1 and f − f* grows to {gd['diverging']['final_gap']:.3g}.

Newton's method θ ← θ − α(∇²f)⁻¹∇f uses ∇²f = P, so with α = 1 the first step is θ − P⁻¹(Pθ + q) = −P⁻¹q = θ*
exactly (distance after one step {newton['full']['distance_after_1']:.1g}, `newton.png`); the damped α = 0.5 halves the
error along the straight line each step. The momentum variants (`momentum.png`) share η = 0.1 and β = 0.9. EMA
momentum u ← βu + (1−β)∇f, θ ← θ − ηu starts from u = 0, so its first step is only (1−β) = 0.1 of a gradient step
({e['first_step']:.3g} against GD's {mom['gd']['first_step']:.3g}) and it needs about 1/(1−β) steps to build up speed;
unbiased momentum divides by 1 − βᵗ and takes a full-size first step ({u['first_step']:.3g}). Nesterov evaluates the
gradient at the look-ahead point θ − ηu, which damps the swings; Adam (u / (√v + ε), η = 0.3) takes steps of about η
per coordinate whatever the curvature.

The same 2/λ limit on a real network, where λ_max itself moves during training: the `edge-of-stability` study
(full-batch GD on MNIST drives the sharpness up to 2/η and holds it there).

| run | settings | f − f* after {steps} steps | steps to f − f* < {TOL:g} |
|---|---|---|---|
{gd_rows}
{nw_rows}
{mo_rows}
"""


STUDY = Study(
    name="quadratic",
    title="Step size, Newton and momentum on a quadratic",
    description="GD around 2/λ_max, Newton (α = 1 and damped), EMA/unbiased/Nesterov momentum and Adam on ½θᵀPθ + qᵀθ",
    source="CMU 10-414/714 Deep Learning Systems, lecture 6 (optimization); blog post 'Fully connected neural "
           "networks'",
    works=("cmu", "post-fc"),
    measure=measure, draw=draw, write=write,
    reference={"steps": 100}, quick={"steps": 60},
    claims=("gd", "newton", "momentum"),
)
