"""activations: histograms of the activations of a 5-layer network for four weight scales and three
activation functions (*Deep Learning from Scratch*, ch. 6.2, ``ch06/weight_init_activation_histogram.py``;
the blog post *A short summary of parameter updates and weight initialization in deep learning*).

Input: 1000 × 100 standard normal; five Linear(100, 100) layers without bias, each followed by the
activation. The per-layer statistics come from :func:`mlplab.diagnose.statistics.probe`, the prediction
from :func:`mlplab.diagnose.statistics.predict_for_model` (Var z_{l+1} = n σ² E[φ(z_l)²]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..diagnose import statistics as D
from ..nn import MLP
from .base import Context, Figure, Study, array
from .plots import color, save, subplots

N_EXAMPLES, WIDTH, LAYERS, BINS = 1000, 100, 5, 30
ACTIVATIONS = ["sigmoid", "tanh", "relu"]
# key -> (label, initializer spec)
INITS = {
    "std_1": ("std 1", "std=1"),
    "std_0.01": ("std 0.01", "std=0.01"),
    "xavier": ("Xavier 1/√n", "xavier"),
    "he": ("He √(2/n)", "he"),
}
RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
RELU_RANGE = 3.0  # ReLU histograms span [0, 3 × layer 1's std] of their row, so growth/decay shows


def _predicted_mean_std(act: str, pre_var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of φ(z) for z ~ N(0, Var z_l) (the activations the histograms show)."""
    phi, _ = D.activation_fn(act)
    mean = np.array([D.gaussian_expectation(phi, v) for v in pre_var])
    sq = np.array([D.second_moment(act, v) for v in pre_var])
    return mean, np.sqrt(np.maximum(sq - mean**2, 0.0))


def _measure(seed: int = 0) -> dict:
    """act -> init key -> per-layer statistics, histogram counts and the theory's prediction."""
    X = np.random.default_rng([seed, 0]).standard_normal((N_EXAMPLES, WIDTH)).astype(np.float32)
    out: dict = {}
    for i, act in enumerate(ACTIVATIONS):
        out[act] = {}
        for j, (key, (_, spec)) in enumerate(INITS.items()):
            net = MLP([WIDTH] * (LAYERS + 1), activation=act, output_activation=act, weight_init=spec,
                      bias=False, rng=np.random.default_rng([seed, 1, i, j]))
            p = D.probe(net, X, keep_activations=True)
            c = D.columns(p.layers)
            pred = D.predict_for_model(net, X, init=spec)
            pmean, pstd = _predicted_mean_std(act, pred.pre_var)
            lo, hi = RANGES.get(act, (0.0, RELU_RANGE * float(c["act_std"][0])))
            hists = []
            for a in p.activations:
                v = a.ravel()
                if act == "relu":
                    v = v[v > 0]  # the zeros (about half) are reported as a fraction instead
                hists.append(np.histogram(np.clip(v, lo, hi), BINS, range=(lo, hi))[0] / a.size)
            out[act][key] = {
                "mean": c["act_mean"], "std": c["act_std"], "saturated": c["saturated"], "zero": c["zero"],
                "predicted_mean": pmean, "predicted_std": pstd, "predicted_var_z": pred.pre_var,
                "hist": np.array(hists), "range": (lo, hi)}
    return out


def _histogram_figure(out, act, res):
    fig, axes = subplots(len(INITS), LAYERS, size=(2.3, 1.75), sharex=act != "relu")
    for r, (key, (label, _)) in enumerate(INITS.items()):
        s = res[key]
        lo, hi = s["range"]
        hist = array(s["hist"])
        edges = np.linspace(lo, hi, BINS + 1)
        for layer in range(LAYERS):
            ax = axes[r, layer]
            # one filled outline per panel (ax.bar drew 30 patches each, 1800 a figure: most of the drawing time)
            ax.stairs(hist[layer], edges, fill=True, color=color(key, r), linewidth=0)
            note = f"std {s['std'][layer]:.2g}"
            if act == "relu":
                note += f", {100 * s['zero'][layer]:.0f}% zero"
            else:
                note += f", {100 * s['saturated'][layer]:.0f}% sat."
            ax.set_title(f"layer {layer + 1}: {note}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlim(lo, hi)
            if layer == 0:
                ax.set_ylabel(f"{label}\nfraction", fontsize=9, fontweight="bold")
            if act == "relu":
                ax.set_xlabel("relu(z) > 0 (0 to 3 × layer-1 std)", fontsize=7)
            elif r == len(INITS) - 1:
                ax.set_xlabel(f"{act}(z)", fontsize=8)
    name = f"hist_{act}.png"
    title = f"{act}: activations of layers 1-5 (rows: weight init; 1000 × 100 N(0,1) input, 30 bins)"
    if act == "relu":
        title += "\nzeros left out (share in the titles); values beyond the range pile into the last bin"
    return Figure(save(fig, out / name, title),
                  f"{act}: per-layer activation histograms; rows are the four weight scales")


def _std_figure(out, res):
    fig, axes = subplots(1, len(ACTIVATIONS), size=(3.9, 3.2))
    layers = np.arange(1, LAYERS + 1)
    for ax, act in zip(axes[0], ACTIVATIONS):
        for r, (key, (label, _)) in enumerate(INITS.items()):
            s = res[act][key]
            c = color(key, r)
            ax.plot(layers, np.maximum(array(s["std"]), 1e-12), "o", color=c, label=f"{label}")
            ax.plot(layers, np.maximum(array(s["predicted_std"]), 1e-12), "--", color=c, lw=1.2)
        ax.set_yscale("log")
        ax.set_xticks(layers)
        ax.set_xlabel("layer")
        ax.set_title(act)
    axes[0, 0].set_ylabel("std of activations (log)")
    axes[0, 1].plot([], [], "k--", lw=1.2, label="predicted")
    axes[0, 1].legend(fontsize=7, loc="lower left")
    return Figure(save(fig, out / "activation_std.png",
                       "Std of each layer's activations: measured (dots) and Var z = n σ² E[φ(z)²] (dashed)"),
                  "Measured per-layer activation std against the mean-field prediction")


def measure(settings: dict, ctx: Context) -> dict:
    """Per-layer statistics, histograms and predictions for every (activation, init) pair."""
    ctx.plan(1)
    res = _measure(ctx.seed)
    numbers = {act: {key: {k: v for k, v in s.items() if k != "hist"} for key, s in r.items()}
               for act, r in res.items()}
    sig1, sig01 = res["sigmoid"]["std_1"], res["sigmoid"]["std_0.01"]
    rx, rh = res["relu"]["xavier"], res["relu"]["he"]
    numbers["claims"] = {
        "sigmoid_std1_last_saturated": sig1["saturated"][-1],
        "sigmoid_std001_max_std": float(np.max(sig01["std"])),
        "relu_he_std_last_over_first": rh["std"][-1] / rh["std"][0],
        "relu_xavier_std_ratios": rx["std"][1:] / rx["std"][:-1],
        "relu_xavier_shrinks": bool(np.all(np.diff(rx["std"]) < 0)),
    }
    numbers["series"] = {"hist": {act: {key: s["hist"] for key, s in r.items()} for act, r in res.items()}}
    ctx.advance()
    return numbers


def _with_hist(numbers: dict) -> dict:
    return {act: {key: {**numbers[act][key], "hist": numbers["series"]["hist"][act][key]} for key in INITS}
            for act in ACTIVATIONS}


def draw(numbers: dict, out: Path) -> list[Figure]:
    res = _with_hist(numbers)
    figures = [_histogram_figure(out, act, res[act]) for act in ACTIVATIONS]
    figures.append(_std_figure(out, res))
    return figures


def write(numbers: dict) -> str:
    res = {act: {key: {k: (array(v) if isinstance(v, list) and k != "range" else v) for k, v in s.items()}
                 for key, s in numbers[act].items()} for act in ACTIVATIONS}
    sig1, sig01 = res["sigmoid"]["std_1"], res["sigmoid"]["std_0.01"]
    rx, rh = res["relu"]["xavier"], res["relu"]["he"]
    tx = res["tanh"]["xavier"]

    def row(act, key):
        s = res[act][key]
        extra = (f"{100 * s['zero'][0]:.0f}% / {100 * s['zero'][-1]:.0f}% zero" if act == "relu"
                 else f"{100 * s['saturated'][0]:.0f}% / {100 * s['saturated'][-1]:.0f}% saturated")
        return (f"| {act} | {INITS[key][0]} | {s['std'][0]:.3g} → {s['std'][-1]:.3g} "
                f"| {s['predicted_std'][0]:.3g} → {s['predicted_std'][-1]:.3g} | {extra} |")

    rows = "\n".join(row(a, k) for a in ACTIVATIONS for k in INITS)
    return f"""
Each panel of `hist_sigmoid.png`, `hist_tanh.png` and `hist_relu.png` is the histogram of one layer's
activations (columns: layers 1-5) for one weight scale (rows), with {N_EXAMPLES} × {WIDTH} standard normal
inputs and {LAYERS} bias-free layers of {WIDTH} units (ReLU panels leave out the zeros and span 0 to 3 × the
row's layer-1 std, so growth and decay show as mass piling at the right or left edge). A unit sums
n = {WIDTH} inputs, so Var z_{{l+1}} = n σ² E[φ(z_l)²]. With std 1 that is about 100 × E[φ²]: sigmoid's z has
a std of about 6 and the activations pile up at 0 and 1 ({100 * sig1['saturated'][-1]:.0f}% of layer 5 below
0.01 or above 0.99), where φ'(z) ≈ 0 and gradients vanish. With std 0.01, Var z = 0.01 × E[φ²] is tiny and
every sigmoid output is ≈ 0.5 (std at most {np.max(sig01['std']):.3g}): no gradient problem, but all units say
the same thing, so the layer's expressiveness is lost.

Xavier (σ² = 1/n) makes n σ² = 1: tanh, which is linear near 0, keeps a spread through all five layers (std
{tx['std'][0]:.2f} → {tx['std'][-1]:.2f}, slowly shrinking because E[tanh(z)²] < Var z). ReLU sets half its
inputs to zero, E[relu(z)²] = Var z / 2, so with Xavier each layer multiplies the variance by σ²n/2 = 1/2 and the
std falls by 1/√2 per layer ({rx['std'][0]:.3f} → {rx['std'][-1]:.3f}). He's σ² = 2/n makes the factor σ²n/2 = 1:
ReLU's spread stays (std {rh['std'][0]:.3f} → {rh['std'][-1]:.3f}). `activation_std.png` puts every measured
std next to the prediction from Var z_{{l+1}} = n σ² E[φ(z_l)²] (dashed): the two agree layer by layer.

| activation | init | std layer 1 → 5 (measured) | predicted | layer 1 / layer 5 |
|---|---|---|---|---|
{rows}
"""


STUDY = Study(
    name="activations",
    title="Activation histograms: weight scale against sigmoid, tanh and ReLU",
    description="5 layers x 100 units on N(0,1) input: std 1, std 0.01, Xavier, He with sigmoid/tanh/ReLU; "
                "histograms and Var z = n σ² E[φ(z)²]",
    source="Deep Learning from Scratch, ch. 6.2 (weight_init_activation_histogram.py); blog post 'A short summary "
           "of parameter updates and weight initialization in deep learning'",
    works=("dlfs", "post-updates-init"),
    measure=measure, draw=draw, write=write,
    claims=("claims",),
)
