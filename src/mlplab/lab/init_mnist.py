"""init-mnist: initialization races on MNIST (*Deep Learning from Scratch*, ch. 6.2,
``ch06/weight_init_compare.py``; deeplearning.ai's note *Initializing neural networks*).

Two settings, both trained by the one training loop (:class:`mlplab.train.Trainer`) with SGD:

* the source book's: 784-100-100-100-100-10 ReLU, lr 0.01, batch 128 drawn at random from the 60,000
  training images (the same batches for every init), 2000 iterations; inits std 0.01, Xavier, He;
* deeplearning.ai's: 784-300-300-300-300-10 tanh, zero biases, lr 0.1, batch 100 in order over the
  10,000 test images; inits zero, uniform U(±1/√n), Xavier N(0, 1/n), standard normal. The hidden
  activations at initialization come from :func:`mlplab.diagnose.statistics.probe`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import load, subset
from ..diagnose import statistics as D
from ..nn import MLP
from ..optim import SGD
from ..train import Trainer, evaluate
from .base import Context, Figure, Study, array, parallel_map, shared
from .plots import save, subplots

LN10 = float(np.log(10))
BOOK_SIZES = [784, 100, 100, 100, 100, 10]
BOOK_INITS = {"std_0.01": ("std 0.01", "std=0.01"), "xavier": ("Xavier 1/√n", "xavier"), "he": ("He √(2/n)", "he")}
BOOK_COLORS = {"std_0.01": "#7f7f7f", "xavier": "#1f77b4", "he": "#d62728"}
DLAI_SIZES = [784, 300, 300, 300, 300, 10]
DLAI_INITS = {"zeros": ("zero", "zeros"), "uniform": ("uniform U(±1/√n)", "uniform_fan_in"),
              "xavier": ("Xavier N(0, 1/n)", "xavier"), "normal": ("standard normal", "standard_normal")}
DLAI_COLORS = {"zeros": "#7f7f7f", "uniform": "#ff7f0e", "xavier": "#2ca02c", "normal": "#9467bd"}


def smooth(x, k=50):
    """Moving average over ``k`` steps (shorter at the start)."""
    x = np.asarray(x, dtype=float)
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, len(x) + 1)
    lo = np.maximum(idx - k, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _book_run(task):
    """One initialization of the book setting (a parallel_map task)."""
    key, rng_seed, iterations, batch_seed = task
    X, y, Xt, yt = shared()
    label, spec = BOOK_INITS[key]
    net = MLP(BOOK_SIZES, activation="relu", weight_init=spec, rng=np.random.default_rng(rng_seed))
    hist = Trainer(net, SGD(net.parameters(), lr=0.01)).fit(
        X, y, iterations=iterations, batch_size=128, replacement=True, rng=batch_seed)  # same batches for all
    test_loss, test_acc = evaluate(net, Xt, yt)
    return {"label": label, "loss": hist.loss, "final_loss": float(np.mean(hist.loss[-100:])),
            "test_loss": test_loss, "test_acc": test_acc, "seconds": hist.seconds}


def book(settings: dict, ctx: Context) -> dict:
    iterations = settings["book_iterations"]
    X, y = load("mnist", "train")
    if settings["book_train_images"]:
        X, y = subset(X, y, n=settings["book_train_images"], rng=ctx.rng(0))
    Xt, yt = load("mnist", "test")
    tasks = [(key, [ctx.seed, 10 + i], iterations, ctx.seed) for i, key in enumerate(BOOK_INITS)]
    rows = parallel_map(_book_run, tasks, shared=(X, y, Xt, yt), workers=ctx.workers, on_done=ctx.advance)
    return {"iterations": iterations, "train_images": len(X), "runs": dict(zip(BOOK_INITS, rows))}


def _dlai_run(task):
    """One initialization of the deeplearning.ai setting (a parallel_map task)."""
    key, rng_seed, epochs, batch_seed = task
    X, y = shared()
    probe_X, probe_y = X[:1000], y[:1000]
    label, spec = DLAI_INITS[key]
    net = MLP(DLAI_SIZES, activation="tanh", weight_init=spec, bias_init="zeros", rng=np.random.default_rng(rng_seed))
    p = D.probe(net, probe_X, probe_y, keep_activations=True)
    c = D.columns(p.layers)
    hidden = len(DLAI_SIZES) - 2
    hists = [np.histogram(a, 30, range=(-1, 1))[0] / a.size for a in p.activations[:hidden]]
    hist = Trainer(net, SGD(net.parameters(), lr=0.1), on_divergence="stop").fit(
        X, y, epochs=epochs, batch_size=100, shuffle=False, rng=batch_seed)
    train_loss, train_acc = evaluate(net, X, y)
    std = c["act_std"][:hidden]
    return {"label": label, "initial_loss": p.loss, "loss": hist.loss, "hist": np.array(hists),
            "act_std": std, "std_ratio": std[1:] / np.where(std[:-1] > 0, std[:-1], np.nan),
            "saturated": c["saturated"][:hidden], "final_loss": float(np.mean(hist.loss[-10:])),
            "train_loss": train_loss, "train_acc": train_acc, "seconds": hist.seconds,
            "diverged": hist.diverged}


def dlai(settings: dict, ctx: Context) -> dict:
    epochs = settings["dlai_epochs"]
    X, y = load("mnist", "test")
    if settings["dlai_images"]:
        X, y = X[:settings["dlai_images"]], y[:settings["dlai_images"]]
    tasks = [(key, [ctx.seed, 20 + i], epochs, ctx.seed) for i, key in enumerate(DLAI_INITS)]
    rows = parallel_map(_dlai_run, tasks, shared=(X, y), workers=ctx.workers, on_done=ctx.advance)
    return {"epochs": epochs, "images": len(X), "runs": dict(zip(DLAI_INITS, rows))}


def measure(settings: dict, ctx: Context) -> dict:
    """Both races: per-iteration losses, test accuracy, and the tanh net's activations at initialization."""
    ctx.plan(len(BOOK_INITS) + len(DLAI_INITS))
    b, d = book(settings, ctx), dlai(settings, ctx)

    def strip(runs, drop=("loss", "hist")):
        return {k: {kk: vv for kk, vv in r.items() if kk not in drop} for k, r in runs.items()}

    numbers = {"book": {"iterations": b["iterations"], "train_images": b["train_images"], "runs": strip(b["runs"])},
               "dlai": {"epochs": d["epochs"], "images": d["images"], "runs": strip(d["runs"])}}
    br, dr = b["runs"], d["runs"]
    numbers["claims"] = {
        "book_std001_final_minus_ln10": br["std_0.01"]["final_loss"] - LN10,
        "book_he_final": br["he"]["final_loss"], "book_xavier_final": br["xavier"]["final_loss"],
        "dlai_zero_final_minus_ln10": dr["zeros"]["final_loss"] - LN10,
        "dlai_zero_max_abs_dev_from_ln10": float(np.max(np.abs(dr["zeros"]["loss"] - LN10))),
        "dlai_uniform_std_ratio": dr["uniform"]["std_ratio"],
        "dlai_normal_initial_loss": dr["normal"]["initial_loss"],
        "dlai_best": min(dr, key=lambda k: dr[k]["final_loss"]),
    }
    numbers["series"] = {"book_loss": {k: r["loss"] for k, r in br.items()},
                         "dlai_loss": {k: r["loss"] for k, r in dr.items()},
                         "dlai_hist": {k: r["hist"] for k, r in dr.items()}}  # what the figures draw
    return numbers


def _with_series(numbers: dict) -> tuple[dict, dict]:
    """The two settings' results as measure had them (losses and histograms put back as arrays)."""
    ser = numbers["series"]
    b = {**numbers["book"], "runs": {k: {**r, "loss": array(ser["book_loss"][k])}
                                     for k, r in numbers["book"]["runs"].items()}}
    d = {**numbers["dlai"], "runs": {k: {**r, "loss": array(ser["dlai_loss"][k]), "hist": array(ser["dlai_hist"][k]),
                                         "act_std": array(r["act_std"]), "std_ratio": array(r["std_ratio"]),
                                         "saturated": array(r["saturated"])}
                                     for k, r in numbers["dlai"]["runs"].items()}}
    return b, d


def draw(numbers: dict, out: Path) -> list[Figure]:
    b, d = _with_series(numbers)
    figures = []

    # ---------------------------------------------------------------- book: loss race
    fig, axes = subplots(1, 1, size=(6.0, 3.6))
    ax = axes[0, 0]
    for key, r in b["runs"].items():
        ax.plot(np.arange(1, len(r["loss"]) + 1), smooth(r["loss"]), color=BOOK_COLORS[key],
                label=f"{r['label']} (test acc. {100 * r['test_acc']:.1f}%)")
    ax.axhline(LN10, color="0.5", ls=":", lw=1)
    ax.text(b["iterations"], LN10, "ln 10", ha="right", va="bottom", fontsize=8, color="0.3")
    ax.set_ylim(0, 2.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (moving average of 50)")
    ax.legend()
    figures.append(Figure(save(fig, out / "init_mnist_book.png",
                               "784-100x4-10 ReLU, SGD lr 0.01, batch 128: three initializations"),
                          "The source book's race: training loss per iteration for std 0.01, Xavier and He"))

    # ---------------------------------------------------------------- deeplearning.ai: histograms
    hidden = len(DLAI_SIZES) - 2
    edges = np.linspace(-1, 1, 31)
    fig, axes = subplots(len(DLAI_INITS), hidden, size=(2.5, 1.7), sharex=True)
    for r_i, (key, r) in enumerate(d["runs"].items()):
        for layer in range(hidden):
            ax = axes[r_i, layer]
            ax.bar(edges[:-1], r["hist"][layer], width=np.diff(edges), align="edge", color=DLAI_COLORS[key],
                   edgecolor="white", linewidth=0.3)
            ax.set_title(f"layer {layer + 1}: std {r['act_std'][layer]:.2g}, "
                         f"{100 * r['saturated'][layer]:.0f}% sat.", fontsize=8)
            ax.tick_params(labelsize=7)
            if layer == 0:
                ax.set_ylabel(f"{r['label']}\nfraction", fontsize=8, fontweight="bold")
            if r_i == len(DLAI_INITS) - 1:
                ax.set_xlabel("tanh(z)", fontsize=8)
    figures.append(Figure(save(fig, out / "init_mnist_dlai_hist.png",
                               "784-300x4-10 tanh at initialization: hidden activations on 1000 MNIST images"),
                          "Histograms of the four hidden layers' activations at initialization, one row per init"))

    # ---------------------------------------------------------------- deeplearning.ai: cost
    fig, axes = subplots(1, 2, size=(4.6, 3.4))
    for ax, log in zip(axes[0], (True, False)):
        for key, r in d["runs"].items():
            steps = np.arange(1, len(r["loss"]) + 1)
            ax.plot(steps, r["loss"], color=DLAI_COLORS[key], lw=0.6, alpha=0.3)
            ax.plot(steps, smooth(r["loss"], 20), color=DLAI_COLORS[key], lw=1.8,
                    label=f"{r['label']} ({100 * r['train_acc']:.0f}%)")
        ax.axhline(LN10, color="0.5", ls=":", lw=1)
        ax.set_xlabel(f"iteration (batch 100 in order, {d['epochs']} epochs)")
        if log:
            ax.set_yscale("log")
            ax.set_ylabel("cost (log)")
            ax.set_title("all four")
            ax.legend(fontsize=7, title="init (accuracy after)", title_fontsize=7, loc="upper right")
        else:
            ax.set_ylim(0, 3)
            ax.set_ylabel("cost")
            ax.set_title("zoom: cost < 3")
    figures.append(Figure(save(fig, out / "init_mnist_dlai_cost.png",
                               f"784-300x4-10 tanh, SGD lr 0.1, on the {d['images']} test images\n"
                               "(faint: per batch; bold: moving average of 20)"),
                          "Cost per iteration for the four initializations"))
    return figures


def write(numbers: dict) -> str:
    b, d = _with_series(numbers)
    br, dr = b["runs"], d["runs"]
    cl = numbers["claims"]
    brows = "\n".join(f"| {r['label']} | {r['loss'][0]:.3f} | {r['final_loss']:.3f} | {100 * r['test_acc']:.1f}% |"
                      for r in br.values())
    drows = "\n".join(
        f"| {r['label']} | {' → '.join(f'{s:.2g}' for s in r['act_std'])} | {r['initial_loss']:.3g} "
        f"| {r['final_loss']:.3f} | {100 * r['train_acc']:.1f}% |" for r in dr.values())
    u = dr["uniform"]["std_ratio"]
    return f"""
**The source book's race** (`init_mnist_book.png`; 784-100x4-10 ReLU, SGD lr 0.01, batch 128 drawn at random from
{b['train_images']} training images, the same batches for each init, {b['iterations']} iterations). With std 0.01
each layer multiplies the variance by n σ²/2 = 100 × 10⁻⁴ / 2 = 0.005 (784 × 10⁻⁴ / 2 ≈ 0.04 at the input layer),
so the logits are all ≈ 0, the softmax is uniform and the loss sits at ln 10 ≈ 2.303: the backward signal
shrinks by the same factor and the weights barely move (loss {br['std_0.01']['final_loss']:.3f} over the last 100
iterations). Xavier's factor n σ²/2 = 1/2 per layer still shrinks the signal, so it starts slowly and then learns
({br['xavier']['final_loss']:.3f}); He's factor 1 keeps it and learns fastest ({br['he']['final_loss']:.3f}).

**deeplearning.ai's setting** (784-300x4-10 tanh, zero biases, SGD lr 0.1, batch 100 in order over
{d['images']} test images, {d['epochs']} epochs: the epoch count that fits the lab's time budget). With zero
weights every hidden activation is tanh(0) = 0 and no weight gradient is non-zero; only the output bias learns, and
it can only match the class frequencies, so the cost stays at ln 10 (largest deviation
{cl['dlai_zero_max_abs_dev_from_ln10']:.3f}). U(±1/√n) has variance 1/(3n), so where tanh is nearly linear each
layer scales the activations' std by √(n σ²) = 1/√3 ≈ 0.577 (measured ratios {', '.join(f'{v:.2f}' for v in u)};
`init_mnist_dlai_hist.png`). Standard normal weights give z with variance n E[tanh²] ≈ 300: tanh saturates
({100 * dr['normal']['saturated'][-1]:.0f}% of layer 4 at ±1) and the logits are huge, so the cost starts at
{cl['dlai_normal_initial_loss']:.3g} (`init_mnist_dlai_cost.png`) and the saturated units pass almost no gradient.
Xavier's N(0, 1/n) keeps Var z ≈ E[tanh²] of the layer before and trains best.

| book setting | first loss | loss, last 100 iterations | test accuracy |
|---|---|---|---|
{brows}

| deeplearning.ai setting | activation std, layers 1 → 4 | initial cost | final cost (last 10) | accuracy (its images) |
|---|---|---|---|---|
{drows}
"""


STUDY = Study(
    name="init-mnist",
    title="Initialization races on MNIST",
    description="std 0.01 / Xavier / He on the book's ReLU net; zero / uniform / Xavier / N(0,1) on a 300x4 tanh net",
    source="Deep Learning from Scratch, ch. 6.2 (weight_init_compare.py); deeplearning.ai, 'Initializing neural "
           "networks'",
    works=("dlfs", "dlai", "post-updates-init", "post-dlai-init"),
    measure=measure, draw=draw, write=write,
    reference={"book_iterations": 2000, "book_train_images": None, "dlai_epochs": 10, "dlai_images": None},
    quick={"book_iterations": 300, "book_train_images": 5000, "dlai_epochs": 2, "dlai_images": 2000},
    claims=("claims",),
)
