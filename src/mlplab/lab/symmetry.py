"""symmetry: zero and constant initialization (the blog posts *DL basics (4): initializing weight
matrices* and *A short summary of parameter updates and weight initialization in deep learning*).

A 784-50-50-10 sigmoid network on an MNIST subset, zero biases, SGD; weights all zero, all equal to a
constant, or random (Xavier). Gradients at the first step and the activations over training come
from :func:`mlplab.diagnose.statistics.probe` and :class:`mlplab.diagnose.statistics.StatsRecorder` (with the
activations kept, so the distinct units of each layer can be counted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import load, subset
from ..diagnose import statistics as D
from ..nn import MLP
from ..optim import SGD
from ..train import Trainer
from .base import Context, Figure, Study, array
from .plots import save, subplots

SIZES = [784, 50, 50, 10]
ACTIVATION = "sigmoid"
CONSTANT = 0.01
INITS = {"zeros": ("all zero", "zeros"), "constant": (f"all {CONSTANT}", str(CONSTANT)),
         "random": ("random (Xavier)", "xavier")}
COLORS = {"zeros": "#7f7f7f", "constant": "#ff7f0e", "random": "#1f77b4"}
LR, BATCH = 0.5, 100
EVERY = 10  # record the distinct units every EVERY steps


def measure(settings: dict, ctx: Context) -> dict:
    """First-step gradients, distinct units during training and the loss for each initialization."""
    steps, every = settings["steps"], EVERY
    ctx.plan(len(INITS) + 1)
    X, y = load("mnist", "train")
    X, y = subset(X, y, n=settings["train_images"], rng=ctx.rng(0))
    probe_X, probe_y = X[:200], y[:200]
    res = {}
    for i, (key, (label, spec)) in enumerate(INITS.items()):
        net = MLP(SIZES, activation=ACTIVATION, weight_init=spec, rng=ctx.rng(1 + i))
        first = D.layer_stats(net, probe_X, probe_y)
        rec = D.StatsRecorder(probe_X, probe_y, every=every, keep_activations=True)
        hist = Trainer(net, SGD(net.parameters(), lr=LR), callbacks=[rec]).fit(
            X, y, iterations=steps, batch_size=BATCH, rng=ctx.seed)
        hidden = len(SIZES) - 2
        distinct = np.array([[D.count_distinct_units(acts[h]) for h in range(hidden)]
                             for acts in rec.activations])
        spread = []
        for h in range(hidden):
            a = rec.activations[-1][h].astype(np.float64)
            spread.append(float(np.max(a.max(axis=1) - a.min(axis=1)) / max(np.max(np.abs(a)), 1e-30)))
        res[key] = {
            "label": label, "grad_norm_step0": [s.weight_grad_norm for s in first],
            "bias_grad_norm_step0": [s.bias_grad_norm for s in first],
            "nonzero_grad_layers_step0": [s.layer for s in first if s.weight_grad_norm > 0],
            "steps": rec.steps, "distinct_units": distinct, "final_distinct_units": distinct[-1],
            "final_unit_spread": spread, "loss": hist.loss, "final_loss": float(np.mean(hist.loss[-10:])),
            "weight_norm_final": [float(np.linalg.norm(w)) for w in D.weight_arrays(net)],
            "first_step_moved": {},
            "layer1_acts": rec.activations[-1][0][:30]}
        ctx.advance()
        # when does each layer of the zero-initialized net first receive a non-zero gradient?
    zero_net = MLP(SIZES, activation=ACTIVATION, weight_init="zeros", rng=0)
    first_nonzero = {}
    tr = Trainer(zero_net, SGD(zero_net.parameters(), lr=LR))
    for step in range(4):
        for s in D.layer_stats(zero_net, probe_X, probe_y):
            if s.weight_grad_norm > 0 and s.layer not in first_nonzero:
                first_nonzero[s.layer] = step
        tr.train_step(X[step * BATCH:(step + 1) * BATCH], y[step * BATCH:(step + 1) * BATCH])
    res["zeros"]["first_nonzero_gradient_step"] = first_nonzero
    ctx.advance()

    numbers = {k: {kk: vv for kk, vv in r.items() if kk not in ("loss", "layer1_acts", "first_step_moved")}
               for k, r in res.items()}
    z, c, r_ = res["zeros"], res["constant"], res["random"]
    numbers["claims"] = {
        "zeros_step0_nonzero_layers": z["nonzero_grad_layers_step0"],
        "zeros_step0_hidden_grads_exactly_zero": bool(all(g == 0 for g in z["grad_norm_step0"][:-1])),
        "constant_distinct_units_final": [int(v) for v in c["final_distinct_units"]],
        "zeros_distinct_units_final": [int(v) for v in z["final_distinct_units"]],
        "random_distinct_units_final": [int(v) for v in r_["final_distinct_units"]],
    }
    numbers["series"] = {"steps": steps, "loss": {k: r["loss"] for k, r in res.items()},
                         "layer1_acts": {k: r["layer1_acts"] for k, r in res.items()}}  # what the figures draw
    return numbers


def _results(numbers: dict):
    ser = numbers["series"]
    res = {k: {**numbers[k], "loss": array(ser["loss"][k]), "layer1_acts": array(ser["layer1_acts"][k]),
               "distinct_units": array(numbers[k]["distinct_units"])} for k in INITS}
    return res, ser["steps"]


def draw(numbers: dict, out: Path) -> list[Figure]:
    res, steps = _results(numbers)
    fig, grid = subplots(2, 2, size=(4.8, 3.6))  # two rows: four panels in a row were shown at half size
    axes = grid.reshape(1, 4)
    L = len(SIZES) - 1
    ax = axes[0, 0]
    width = 0.27
    for j, key in enumerate(INITS):
        g = np.array(res[key]["grad_norm_step0"])
        xs = np.arange(1, L + 1) + (j - 1) * width
        ax.bar(xs, np.where(g > 0, g, 1e-12), width, color=COLORS[key], label=res[key]["label"], log=True)
        for x_, v in zip(xs, g):
            if v == 0:
                ax.text(x_, 2e-12, "0", ha="center", va="bottom", fontsize=8, fontweight="bold")
    ax.set_ylim(1e-12, 10)
    ax.set_xticks(range(1, L + 1))
    ax.set_xlabel("layer")
    ax.set_ylabel("‖∂L/∂W_l‖ at step 0 (log)")
    ax.set_title("gradients before the first update", fontsize=9)
    ax.legend(fontsize=7, loc="center left")
    ax = axes[0, 1]
    for key in INITS:
        r = res[key]
        wide = key == "zeros"  # drawn thick underneath: it coincides with the constant network's lines
        for h, ls in zip(range(L - 1), ["-", "--"]):
            ax.plot(r["steps"], r["distinct_units"][:, h], ls, color=COLORS[key], marker="o", ms=6 if wide else 3,
                    lw=4 if wide else 1.5, alpha=0.5 if wide else 1, label=f"{r['label']}, layer {h + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("distinct units (of 50)")
    ax.set_title("distinct hidden units during training", fontsize=9)
    ax.legend(fontsize=6.5)
    for ax, key in zip(axes[0, 2:], ["constant", "random"]):
        a = res[key]["layer1_acts"]
        im = ax.imshow(a, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel("unit of hidden layer 1")
        ax.set_ylabel("example")
        ax.grid(False)
        ax.set_title(f"layer-1 activations after {steps} steps:\n{res[key]['label']}", fontsize=9)
    fig.colorbar(im, ax=axes[0, 3], fraction=0.05).set_label(f"activation {ACTIVATION}(z)")
    figures = [Figure(save(fig, out / "symmetry.png",
                           f"Symmetry: {'-'.join(map(str, SIZES))} {ACTIVATION} network, SGD lr {LR}, batch {BATCH}"),
                      "Zero and constant initialization: gradients at step 0, distinct units over training, "
                      "and the activations of hidden layer 1")]
    fig, axes = subplots(1, 1, size=(5.0, 3.3))
    ax = axes[0, 0]
    zero, const = (np.asarray(res[k]["loss"], dtype=float) for k in ("zeros", "constant"))
    n = min(len(zero), len(const))
    gap = float(np.max(np.abs(zero[:n] - const[:n]))) if n else float("nan")
    for key in INITS:  # the zero network's curve lies on the constant one's: drawn thick underneath, and said
        wide = key == "zeros"
        label = res[key]["label"] + (f" (under {res['constant']['label']}, ≤ {gap:.2g} apart)" if wide else "")
        ax.plot(np.arange(1, len(res[key]["loss"]) + 1), res[key]["loss"], color=COLORS[key], label=label,
                lw=5 if wide else 1.5, alpha=0.45 if wide else 1, zorder=1 if wide else 2)
    ax.axhline(np.log(10), color="0.5", ls=":", lw=1)
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.legend()
    figures.append(Figure(save(fig, out / "symmetry_loss.png", "Training loss by initialization"),
                          "Training loss: the symmetric networks learn only what one unit per layer can"))
    return figures


def write(numbers: dict) -> str:
    res, steps = _results(numbers)
    every, L = EVERY, len(SIZES) - 1
    z, c, r_ = res["zeros"], res["constant"], res["random"]
    fz = {int(k): v for k, v in z["first_nonzero_gradient_step"].items()}
    rows = "\n".join(
        f"| {r['label']} | {', '.join(f'{g:.2g}' for g in r['grad_norm_step0'])} "
        f"| {' / '.join(str(int(v)) for v in r['final_distinct_units'])} | {r['final_loss']:.3f} |"
        for r in (z, c, r_))
    return f"""
A {'-'.join(map(str, SIZES))} {ACTIVATION} network (zero biases) trained with SGD (η = {LR}, batch {BATCH}) on
MNIST, from three initializations (`symmetry.png`). Backpropagation gives ∂L/∂W_l = a_{{l−1}}ᵀ δ_l with
δ_l = (δ_{{l+1}} W_{{l+1}}ᵀ) ⊙ φ'(z_l). With all weights zero every W_{{l+1}} is 0, so δ_l = 0 and the weight gradient
of every layer except the last is exactly zero (left panel: {', '.join(f'{g:.3g}' for g in z['grad_norm_step0'])}
for layers 1-{L}); only the last layer, which sees a_{{L−1}} = sigmoid(0) = 0.5, gets a gradient. (With constant
weights the logits are all equal too, so δ_{{L−1}} = c Σ_k (p_k − y_k) = 0 up to rounding: the first layers' gradients
are only {c['grad_norm_step0'][0]:.1g} and {c['grad_norm_step0'][1]:.1g}.) Once it has moved,
the layer below receives one too (first non-zero gradient of layer 1, 2, 3 at step {fz.get(1)}, {fz.get(2)},
{fz.get(3)}), but the symmetry is never broken.

With every weight equal (constant {CONSTANT}) all units of a layer compute the same z from the same inputs, and since
their outgoing weights are equal too they receive the same δ and the same update: they stay copies of one another. The
second panel counts the distinct units (columns that differ by more than 10⁻⁵ of the largest activation) of each
hidden layer every {every} steps: 1 and 1 for the zero and constant networks after {steps} steps, against
{' and '.join(str(int(v)) for v in r_['final_distinct_units'])} for random weights. The heat maps show it directly:
identical columns for the constant network. Such a network has the capacity of one unit per layer, which is why its
loss (`symmetry_loss.png`) stalls ({c['final_loss']:.2f}, zero init {z['final_loss']:.2f}) while the random
network learns ({r_['final_loss']:.2f}). Random initialization exists to break this
symmetry (*DL basics (4)*; *Deep Learning from Scratch*, ch. 6.2).

| init | ‖∂L/∂W_l‖ at step 0, layers 1-{L} | distinct units after {steps} steps (layer 1 / 2) | final loss |
|---|---|---|---|
{rows}
"""


STUDY = Study(
    name="symmetry",
    title="Zero and constant initialization: symmetry that training cannot break",
    description="all-zero weights: only the last layer gets a first gradient; constant weights: units stay identical",
    source="blog posts 'DL basics (4): initializing weight matrices' and 'A short summary of parameter updates "
           "and weight initialization in deep learning'; Deep Learning from Scratch, ch. 6.2.1",
    works=("post-weight-init", "post-updates-init", "dlfs"),
    measure=measure, draw=draw, write=write,
    reference={"steps": 300, "train_images": 5000}, quick={"steps": 100, "train_images": 2000},
    claims=("claims",),
)
