"""depth: the signal through a 50-layer ReLU network for σ² = 1/n, 2/n, 3/n (CMU 10-414/714
*Deep Learning Systems*, lecture 6 on fully-connected networks, optimization and initialization, and the
blog post *Fully connected neural networks* that follows it).

MNIST, 784 → 50 hidden layers of 100 ReLU units → 10, W ~ N(0, k/n_in), zero biases. At
initialization :func:`mlplab.diagnose.statistics.probe` measures each layer's activation norm and weight-gradient
norm on a batch, next to :func:`mlplab.diagnose.statistics.predict_for_model` (Var z_{l+1} = n σ² E[φ(z_l)²], for
ReLU a factor σ²n/2 = k/2 per layer). Then each network is trained with SGD through the one training loop
(divergence is recorded, not raised) and ‖W − W₀‖ / ‖W₀‖ is measured per layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import load, subset
from ..diagnose import statistics as D
from ..nn import MLP
from ..optim import SGD
from ..train import Trainer, evaluate
from .base import Context, Figure, Study, array
from .plots import line as plt_line
from .plots import save, subplots

DEPTH, WIDTH = 50, 100
SIZES = [784] + [WIDTH] * DEPTH + [10]
SCALES = {"1/n": 1.0, "2/n": 2.0, "3/n": 3.0}
COLORS = {"1/n": "#1f77b4", "2/n": "#2ca02c", "3/n": "#d62728"}
LR, BATCH = 0.01, 128


def spec(k: float) -> str:
    return f"variance_scaling(scale={k:g}, mode=fan_in, distribution=normal)"


def measure_init(X, y, seed=0) -> dict:
    """Per-layer norms at initialization, measured and predicted, for each σ²."""
    out = {}
    for key, k in SCALES.items():
        # the same random numbers for every σ² (common random numbers): only the scale differs
        net = MLP(SIZES, activation="relu", weight_init=spec(k), rng=np.random.default_rng([seed, 1]))
        p = D.probe(net, X, y)
        c = D.columns(p.layers)
        n_out = SIZES[-1]
        g_out = c["pre_grad_norm"][-1] ** 2 / (len(X) * n_out)  # measured E[(∂L/∂z_L)²] anchors the backward theory
        pred = D.predict_for_model(net, X, init=spec(k), output_grad_sq=g_out)
        out[key] = {"net": net, "loss": p.loss, "act_norm": c["act_norm"],
                    "weight_grad_norm": c["weight_grad_norm"], "pre_grad_norm": c["pre_grad_norm"], "dead": c["dead"],
                    "predicted_act_norm": pred.act_norm(len(X)),
                    "predicted_weight_grad_norm": pred.weight_grad_norm(len(X)),
                    "predicted_factor": float(pred.factor[1])}
    return out


def measure(settings: dict, ctx: Context) -> dict:
    """Norms at initialization (measured and predicted) and a short SGD run for each σ²."""
    iterations, n_probe = settings["iterations"], settings["probe_images"]
    ctx.plan(1 + len(SCALES))
    X, y = load("mnist", "train")
    Xs, ys = subset(X, y, n=settings["train_images"], rng=ctx.rng(0))
    Xp, yp = Xs[:n_probe], ys[:n_probe]
    res = measure_init(Xp, yp, ctx.seed)
    ctx.advance()
    Xt, yt = load("mnist", "test")
    Xt, yt = subset(Xt, yt, n=settings["test_images"])
    for r in res.values():
        net = r.pop("net")
        W0 = D.weight_arrays(net)
        hist = Trainer(net, SGD(net.parameters(), lr=LR), on_divergence="stop").fit(
            Xs, ys, iterations=iterations, batch_size=BATCH, rng=ctx.seed)
        with np.errstate(all="ignore"):
            change = D.relative_change(net, W0)
        r.update({"loss_curve": hist.loss, "steps": int(hist.steps),
                  "diverged": None if hist.diverged is None else hist.diverged,
                  "relative_change": change,
                  "final_train_loss": float(np.mean(hist.loss[-20:])) if len(hist.loss) else float("nan")})
        if hist.diverged is None:
            r["test_loss"], r["test_acc"] = evaluate(net, Xt, yt)
        ctx.advance()

    g1, g2, g3 = (np.asarray(res[k]["weight_grad_norm"]) for k in SCALES)
    numbers = {k: {kk: vv for kk, vv in r.items() if kk != "loss_curve"} for k, r in res.items()}
    numbers["claims"] = {
        "grad_ratio_3n_over_1n_min": float(np.min(g3 / g1)),
        "grad_ratio_3n_over_1n_median": float(np.median(g3 / g1)),
        "act_norm_last_over_first": {k: float(r["act_norm"][DEPTH - 1] / r["act_norm"][0]) for k, r in res.items()},
        "predicted_act_norm_last_over_first": {k: float(r["predicted_act_norm"][DEPTH - 1] / r["predicted_act_norm"][0])
                                               for k, r in res.items()},
        "diverged_3n": res["3/n"]["diverged"] is not None,
        "max_relative_change_2n": float(np.max(res["2/n"]["relative_change"])),
        "median_relative_change_2n": float(np.median(res["2/n"]["relative_change"])),
    }
    numbers["series"] = {"iterations": iterations, "probe_images": n_probe,
                         "loss_curve": {k: r["loss_curve"] for k, r in res.items()}}  # what the figures draw
    return numbers


def _results(numbers: dict) -> dict:
    return {k: {**numbers[k], "loss_curve": array(numbers["series"]["loss_curve"][k])} for k in SCALES}


def draw(numbers: dict, out: Path) -> list[Figure]:
    res = _results(numbers)
    iterations, n_probe = numbers["series"]["iterations"], numbers["series"]["probe_images"]
    layers = np.arange(1, len(SIZES))
    fig, axes = subplots(1, 3, size=(4.3, 3.5))
    ax = axes[0, 0]
    for key, r in res.items():
        ax.plot(layers, r["act_norm"], "o", ms=3, color=COLORS[key])
        ax.plot(layers, r["predicted_act_norm"], "-", lw=1, color=COLORS[key])
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("‖a_l‖ over the batch (log)")
    ax.set_title("activation norm at initialization")
    ax = axes[0, 1]
    for key, r in res.items():
        ax.plot(layers, r["weight_grad_norm"], "o", ms=3, color=COLORS[key])
        ax.plot(layers, r["predicted_weight_grad_norm"], "-", lw=1, color=COLORS[key])
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("‖∂L/∂W_l‖ (log)")
    ax.set_title("weight-gradient norm at initialization")
    ax = axes[0, 2]
    gone = []
    for key, r in res.items():
        ch = array(r["relative_change"])
        if r["diverged"]:
            gone.append(f"σ² = {key}: not drawn,\nNaN at step {r['diverged']['step']}")
            continue
        ax.plot(layers, np.maximum(ch, 1e-12), "o-", ms=3, color=COLORS[key])
    if gone:
        ax.text(0.5, 0.5, "\n".join(gone), transform=ax.transAxes, ha="center", va="center", fontsize=8,
                color=COLORS["3/n"], bbox={"boxstyle": "round", "fc": "white", "ec": COLORS["3/n"], "alpha": 0.9})
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("‖W − W₀‖ / ‖W₀‖ (log)")
    ax.set_title(f"after {iterations} SGD steps (lr {LR}); 0 drawn at 1e-12", fontsize=9)
    # one legend for the three panels, below them: it covers no data
    handles = [plt_line(COLORS[k], "o", f"σ² = {k}") for k in SCALES]
    handles += [plt_line("k", "o", "measured (dots)", ls=""), plt_line("k", "", "predicted: ×√(σ²n/2) per layer")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.2)
    figures = [Figure(save(fig, out / "depth.png",
                           f"50 ReLU layers of 100 units, W ~ N(0, σ²) on MNIST (batch of {n_probe}); lines: theory",
                           rect=(0, 0.07, 1, 1)),
                      "Activation and weight-gradient norms per layer at initialization (dots measured, lines "
                      "predicted) and how far each layer's weights moved in training")]
    fig, axes = subplots(1, 1, size=(5.0, 3.3))
    ax = axes[0, 0]
    notes = []
    for key, r in res.items():
        lc = r["loss_curve"]
        label = f"σ² = {key}"
        if r["diverged"]:
            step = r["diverged"]["step"]
            first = f"loss {lc[0]:.3g} at step 1, " if len(lc) and np.isfinite(lc[0]) else ""
            notes.append(f"σ² = {key} is missing: {first}NaN at step {step},\nwhere training stopped")
            label += f" (NaN at step {step}: off the plot)"
        ax.plot(np.arange(1, len(lc) + 1), np.minimum(lc, 20), color=COLORS[key], label=label)
    ax.axhline(np.log(10), color="0.5", ls=":", lw=1)
    ax.text(iterations, np.log(10), "ln 10", ha="right", va="bottom", fontsize=8, color="0.3")
    if notes:
        ax.text(0.03, 0.06, "\n".join(notes), transform=ax.transAxes, ha="left", va="bottom", fontsize=8,
                color=COLORS["3/n"], bbox={"boxstyle": "round", "fc": "white", "ec": COLORS["3/n"], "alpha": 0.9})
    ax.set_ylim(0, 5)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss (values > 5 off the plot)")
    ax.legend(loc="upper right", fontsize=8)
    figures.append(Figure(save(fig, out / "depth_loss.png", "Training loss of the 50-layer networks"),
                          "Training loss: only σ² = 2/n makes progress"))
    return figures


def write(numbers: dict) -> str:
    res = _results(numbers)
    iterations, n_probe = numbers["series"]["iterations"], numbers["series"]["probe_images"]
    g3 = array(res["3/n"]["weight_grad_norm"])
    cl = numbers["claims"]

    def fmt_train(r):
        if r["diverged"]:
            return f"NaN at step {r['diverged']['step']}"
        return f"{r['final_train_loss']:.3f} (test acc. {100 * r['test_acc']:.1f}%)"

    def fmt_change(r):
        ch = np.asarray(r["relative_change"], dtype=float)
        ch = np.nanmedian(np.where(np.isfinite(ch), ch, np.nan))
        return f"{ch:.3g}" + (" (blown up)" if r["diverged"] else "")

    rows = "\n".join(
        f"| {k} | {SCALES[k] / 2:g} | {cl['act_norm_last_over_first'][k]:.3g} "
        f"| {cl['predicted_act_norm_last_over_first'][k]:.3g} | {np.median(r['weight_grad_norm']):.3g} "
        f"| {fmt_train(r)} | {fmt_change(r)} |" for k, r in res.items())
    r2 = res["2/n"]
    an = cl["act_norm_last_over_first"]
    return f"""
A ReLU unit sums n = {WIDTH} inputs and zeroes half of its outputs, so
Var z_{{l+1}} = n σ² E[relu(z_l)²] = n σ² Var z_l / 2: each layer multiplies the variance by σ²n/2 and the norm of
the activations by √(σ²n/2). Over {DEPTH} layers that is (1/2)^{DEPTH // 2} ≈ {0.5 ** (DEPTH / 2):.1g} for σ² = 1/n,
1 for σ² = 2/n and (3/2)^{DEPTH // 2} ≈ {1.5 ** (DEPTH / 2):.1g} for σ² = 3/n. The left panel of `depth.png` measures
it on {n_probe} MNIST images (dots) against that prediction (lines): ‖a_{DEPTH}‖/‖a_1‖ = {an['1/n']:.2g},
{an['2/n']:.2g} and {an['3/n']:.2g} (one weight draw of width {WIDTH}: each layer's factor fluctuates by a few
percent, which compounds to about a factor 2 over {DEPTH} layers). Backwards the same factor applies to ∂L/∂z, so
∂L/∂W_l = a_{{l−1}}ᵀ ∂L/∂z_l carries (σ²n/2)^{{(L−1)/2}} whatever l is: the weight gradients (middle) are flat
across layers but {cl['grad_ratio_3n_over_1n_median']:.1g} times larger for 3/n than for 1/n (at least
{cl['grad_ratio_3n_over_1n_min']:.1g} in every layer). The line there assumes independent examples and is an
order-of-magnitude guide only.

Trained with SGD (lr {LR}, batch {BATCH}, {iterations} steps, `depth_loss.png`), σ² = 1/n does not move: its
gradients of {np.median(res['1/n']['weight_grad_norm']):.1g} leave the loss at ln 10
({res['1/n']['final_train_loss']:.3f}). σ² = 3/n starts at a loss of {res['3/n']['loss']:.3g}; its first update,
{np.median(g3):.2g} × lr, is far larger than the weights, and the trainer stops with NaN at step
{res['3/n']['diverged']['step'] if res['3/n']['diverged'] else '—'}. σ² = 2/n learns (loss
{r2['final_train_loss']:.3f}), and yet its weights move only a little: ‖W − W₀‖/‖W₀‖ is
{cl['median_relative_change_2n']:.3g} in the median layer and at most {cl['max_relative_change_2n']:.3g} (right
panel, largest in the first and last layers). The trained network stays close to where it started, so the
initialization decides much of what it ends up computing (CMU *Deep Learning Systems*, lecture 6).

| σ² | σ²n/2 | ‖a_{DEPTH}‖/‖a_1‖ measured | predicted | median ‖∂L/∂W_l‖ | after training | median ‖W − W₀‖/‖W₀‖ |
|---|---|---|---|---|---|---|
{rows}
"""


STUDY = Study(
    name="depth",
    title="Signal through 50 ReLU layers: σ² = 1/n, 2/n, 3/n",
    description="per-layer activation/gradient norms against Var z_{l+1} = n σ² E[φ(z_l)²]; ‖W − W₀‖/‖W₀‖ after SGD",
    source="CMU 10-414/714 Deep Learning Systems, lecture 6 (initialization); blog post 'Fully connected neural "
           "networks'",
    works=("cmu", "post-fc"),
    measure=measure, draw=draw, write=write,
    reference={"iterations": 400, "probe_images": 1000, "train_images": 20000, "test_images": 10000},
    quick={"iterations": 40, "probe_images": 256, "train_images": 2000, "test_images": 1000},
    claims=("claims",),
)
