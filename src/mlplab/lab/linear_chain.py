"""linear-chain: exploding and vanishing signals in a 10-layer linear network (deeplearning.ai's
note *Initializing neural networks*).

L = 10 Linear(2, 2) layers, identity activation, no bias, every W = γ·I with γ ∈ {1.5, 1.0, 0.5}, so
a_l = γ^l x and ŷ = γ^L x. Task: regression onto y = R x (R a rotation by 36.87°), mean squared
error, full-batch SGD through the one training loop (:class:`mlplab.train.Trainer`); per-layer norms
from :func:`mlplab.diagnose.statistics.probe`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..diagnose import statistics as D
from ..nn import MLP, MSELoss
from ..optim import SGD
from ..train import Trainer
from .base import Context, Figure, Study, array
from .plots import save, subplots

L, WIDTH, N = 10, 2, 256
GAMMAS = {"1.5": 1.5, "1.0": 1.0, "0.5": 0.5}
COLORS = {"1.5": "#d62728", "1.0": "#2ca02c", "0.5": "#1f77b4"}
R = np.array([[0.8, -0.6], [0.6, 0.8]], dtype=np.float32)  # target map y = R x
LR = 0.01
CLIP = 1e5  # the cost panel draws larger values at this height


def _net(gamma):
    return MLP([WIDTH] * (L + 1), activation="identity", weight_init=f"identity({gamma})", bias=False, rng=0)


def measure(settings: dict, ctx: Context) -> dict:
    """Per-layer norms at initialization and the cost under full-batch SGD for each γ."""
    steps = settings["steps"]
    ctx.plan(len(GAMMAS) + 1)
    rng = ctx.rng(0)
    X = rng.standard_normal((N, WIDTH)).astype(np.float32)
    Y = X @ R.T
    res = {}
    for key, g in GAMMAS.items():
        net = _net(g)
        p = D.probe(net, X, Y, loss=MSELoss())
        c = D.columns(p.layers)
        x_norm = float(np.linalg.norm(X))
        act_norm = c["act_norm"]
        ratios = act_norm / np.concatenate([[x_norm], act_norm[:-1]])
        grad_a = c["pre_grad_norm"]  # identity activation: ∂L/∂z_l = ∂L/∂a_l
        hist = Trainer(net, SGD(net.parameters(), lr=LR), loss=MSELoss(), on_divergence="stop").fit(
            X, Y, iterations=steps, batch_size=N, shuffle=False, rng=0)
        res[key] = {
            "gamma": g, "act_norm": act_norm, "act_ratio": ratios,
            "act_ratio_max_rel_error": float(np.max(np.abs(ratios / g - 1))),
            "grad_norm": grad_a, "grad_ratio": grad_a[:-1] / grad_a[1:],
            "weight_grad_norm": c["weight_grad_norm"], "loss": hist.loss,
            "initial_loss": float(p.loss), "final_loss": float(hist.loss[-1]) if len(hist.loss) else float("nan"),
            "diverged_at": None if hist.diverged is None else hist.diverged["step"], "steps": int(hist.steps)}
        ctx.advance()
    # the exploding chain once more with a 10 times smaller step: it no longer overflows, but the
    # first update is still huge
    net = _net(1.5)
    small = Trainer(net, SGD(net.parameters(), lr=LR / 10), loss=MSELoss(), on_divergence="stop").fit(
        X, Y, iterations=steps, batch_size=N, shuffle=False, rng=0)
    res_small = {"lr": LR / 10, "loss": small.loss, "final_loss": float(small.loss[-1]),
                 "diverged_at": None if small.diverged is None else small.diverged["step"],
                 "product_norm_after": float(np.linalg.norm(np.linalg.multi_dot(D.weight_arrays(net))))}
    zero_cost = float(np.mean(Y.astype(np.float64) ** 2))  # the cost of predicting ŷ = 0
    ctx.advance()

    numbers = {k: {kk: vv for kk, vv in r.items() if kk != "loss"} for k, r in res.items()}
    numbers["1.5_small_lr"] = {k: v for k, v in res_small.items() if k != "loss"}
    numbers["zero_prediction_cost"] = zero_cost
    numbers["lr"] = LR
    numbers["series"] = {"steps": steps, "x_norm": float(np.linalg.norm(X)),
                         "loss": {k: r["loss"] for k, r in res.items()}, "small_lr_loss": small.loss}
    return numbers


def _results(numbers: dict):
    ser = numbers["series"]
    res = {k: {kk: (array(v) if isinstance(v, list) else v) for kk, v in numbers[k].items()} for k in GAMMAS}
    for k in GAMMAS:
        res[k]["loss"] = array(ser["loss"][k])
    small = {**numbers["1.5_small_lr"], "loss": array(ser["small_lr_loss"])}
    return res, small, numbers["zero_prediction_cost"], ser["steps"], ser["x_norm"]


def draw(numbers: dict, out: Path) -> list[Figure]:
    res, small, zero_cost, steps, x_norm = _results(numbers)
    fig, grid = subplots(2, 2, size=(4.8, 4.4))  # room for the legends below the panels; two rows: readable
    axes = grid.reshape(1, 4)
    layers = np.arange(1, L + 1)
    ax = axes[0, 0]
    for key, r in res.items():
        ax.plot(layers, r["act_norm"], "o", color=COLORS[key], label=f"W = {key}·I")
        ax.plot(layers, x_norm * r["gamma"] ** layers, "--", color=COLORS[key], lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("‖a_l‖ over the batch (log)")
    ax.set_title("forward: ‖a_l‖ = γ^l ‖x‖ (dashed)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax = axes[0, 1]
    for key, r in res.items():
        ax.plot(layers, r["grad_norm"], "s", color=COLORS[key], label=f"‖∂L/∂a_l‖, {key}·I")
        ax.plot(layers, r["weight_grad_norm"], "^", color=COLORS[key], mfc="none", label=f"‖∂L/∂W_l‖, {key}·I")
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("gradient norm (log)")
    ax.set_title("backward: ∂L/∂a_l = γ^(L−l) ∂L/∂a_L")
    ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: covers no data
    ax = axes[0, 2]
    for key, r in res.items():
        lab = f"{key}·I, η = {LR:g}" + (f" (inf/NaN at step {r['diverged_at']})" if r["diverged_at"] else "")
        loss = np.minimum(r["loss"], CLIP)
        ax.plot(np.arange(1, len(loss) + 1), loss, "-", color=COLORS[key], label=lab)
        if r["diverged_at"]:
            ax.plot([r["diverged_at"]], [CLIP], "x", color=COLORS[key], ms=9, mew=2)
    ax.plot(np.arange(1, len(small["loss"]) + 1), small["loss"], ":", color=COLORS["1.5"], lw=2,
            label=f"1.5·I, η = {LR / 10:g}")
    ax.axhline(zero_cost, color="0.4", lw=0.8, ls="--")
    ax.text(steps, zero_cost, "cost of ŷ = 0", ha="right", va="bottom", fontsize=7, color="0.3")
    ax.set_yscale("log")
    ax.set_ylim(1e-13, CLIP * 30)
    ax.set_xlabel("step (full batch)")
    ax.set_ylabel("cost (MSE, log)")
    ax.set_title(f"training (values > {CLIP:.0e} drawn at the top)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax = axes[0, 3]
    ax.plot(np.arange(1, len(res["0.5"]["loss"]) + 1), res["0.5"]["loss"], "-", color=COLORS["0.5"],
            label=f"0.5·I, η = {LR:g}")
    ax.plot(np.arange(2, len(small["loss"]) + 1), small["loss"][1:], ":", color=COLORS["1.5"], lw=2,
            label=f"1.5·I, η = {LR / 10:g} (from step 2)")
    ax.axhline(zero_cost, color="0.4", lw=0.8, ls="--", label="cost of ŷ = 0")
    ax.set_xlabel("step (full batch)")
    ax.set_ylabel("cost (MSE)")
    ax.set_title("zoom: stalled near the cost of ŷ = 0", fontsize=9)
    ax.legend(fontsize=7)
    figures = [Figure(save(fig, out / "linear_chain.png",
                           "10-layer linear network, W = γ·I: exploding (1.5), stable (1.0), vanishing (0.5)"),
                      "Activation and gradient norms per layer at initialization, and the cost when trained")]
    return figures


def write(numbers: dict) -> str:
    res, res_small, zero_cost, steps, x_norm = _results(numbers)
    b, s, o = res["1.5"], res["0.5"], res["1.0"]

    def loss_s(r):
        return f"{r['final_loss']:.3g}" if r["diverged_at"] is None else f"inf/NaN at step {r['diverged_at']}"

    rows = "\n".join(
        f"| {k}·I | {r['act_ratio'].mean():.4f} (max error {100 * r['act_ratio_max_rel_error']:.2g}%) "
        f"| {r['act_norm'][-1] / x_norm:.3g} | {r['grad_norm'][0] / r['grad_norm'][-1]:.3g} "
        f"| {r['initial_loss']:.3g} | {loss_s(r)} |" for k, r in res.items())
    return f"""
With identity activations and every W = γ·I the forward pass is a_l = W a_{{l−1}} = γ^l x, so ŷ = γ^{L} x:
γ^{L} = {1.5 ** L:.1f} for 1.5·I and {0.5 ** L:.2g} for 0.5·I. The left panel of `linear_chain.png` shows it
exactly: the ratio ‖a_l‖ / ‖a_{{l−1}}‖ is {b['act_ratio'].mean():.4f} and {s['act_ratio'].mean():.4f} at every
layer. Backwards, ∂L/∂a_{{l−1}} = Wᵀ ∂L/∂a_l = γ ∂L/∂a_l, so the gradient grows like γ^{{L−l}} toward the input;
each weight gradient ∂L/∂W_l = ∂L/∂a_l a_{{l−1}}ᵀ carries γ^{{L−1}} in total and is the same size in every layer
(middle panel: {b['weight_grad_norm'][0]:.3g} for 1.5·I, {s['weight_grad_norm'][0]:.2g} for 0.5·I,
{o['weight_grad_norm'][0]:.3g} for I).

Trained by full-batch SGD (η = {LR:g}, right panel): I reaches the minimum (cost {o['final_loss']:.2g} after
{o['steps']} steps). 1.5·I starts with a cost of {b['initial_loss']:.0f} and gradients of order 10³; the first
update overshoots so far that the cost overflows at step {b['diverged_at']} (the trainer stops and records
it). With η ten times smaller it survives but the first step still throws the weights across the valley: the
cost falls at once to about that of predicting ŷ = 0 ({zero_cost:.2f}) and then crawls ({res_small['final_loss']:.3g}
after {steps} steps, right-most panel). The deeplearning.ai note describes the cost oscillating around its minimum; in a
chain of ten layers the oversized gradients do worse, overflowing or wrecking the weights in one step. 0.5·I multiplies
every gradient by 0.5⁹ ≈ {0.5 ** 9:.1g}: the cost sits at {s['final_loss']:.3g}, the cost of predicting 0,
and learning stalls long before the minimum.

| W | ‖a_l‖/‖a_{{l−1}}‖ | ‖a_{L}‖/‖x‖ | ‖∂L/∂a_1‖/‖∂L/∂a_{L}‖ | initial cost | cost after {steps} steps |
|---|---|---|---|---|---|
{rows}
"""


STUDY = Study(
    name="linear-chain",
    title="Exploding and vanishing signals in a 10-layer linear chain",
    description="W = 1.5·I, I, 0.5·I in 10 linear layers of 2 units: a_l = γ^l x, gradients γ^(L−l), cost when trained",
    source="deeplearning.ai, 'Initializing neural networks' (the exploding/vanishing linear chain)",
    works=("dlai", "post-dlai-init"),
    measure=measure, draw=draw, write=write,
    reference={"steps": 300}, quick={"steps": 100},
    claims=(),  # the section's table carries the claim; numbers.json is folded in the report
)
