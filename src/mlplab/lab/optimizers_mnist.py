"""optimizers-mnist: the optimizer race on MNIST of *Deep Learning from Scratch*, ch. 6.1
(``ch06/optimizer_compare_mnist.py``).

784-100-100-100-100-10 ReLU network, He initialization, zero biases, softmax cross-entropy; every
step draws a batch of 128 from the 60,000 training images with replacement (the book's
``np.random.choice``). Within a seed every optimizer starts from the same weights and sees the same
batch at every iteration: each run is a :class:`mlplab.train.Trainer` given the same batch seed.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data import load, subset
from ..nn import MLP
from ..optim import get_optimizer
from ..train import Trainer, evaluate
from .base import Context, Figure, Study, array, parallel_map, shared
from .plots import color, save, subplots

SIZES = [784, 100, 100, 100, 100, 10]
BATCH = 128

# the book's four, then two extras
MAIN = {
    "sgd": ("SGD", {"lr": 0.01}),
    "momentum": ("Momentum", {"lr": 0.01, "momentum": 0.9}),
    "adagrad": ("AdaGrad", {"lr": 0.01}),
    "adam": ("Adam", {"lr": 0.001}),
}
EXTRAS = {
    "rmsprop": ("RMSProp", {"lr": 0.001, "alpha": 0.99}),
    "nesterov": ("Nesterov", {"lr": 0.01, "momentum": 0.9}),
}
ALL = {**MAIN, **EXTRAS}

REFERENCE = {"iterations": 2000, "seeds": 3, "extras_seeds": 1, "train": None, "test": None, "window": 100}
QUICK = {"iterations": 300, "seeds": 2, "extras_seeds": 0, "train": 10_000, "test": 2_000, "window": 50}


def smooth(loss: np.ndarray, width: int = 25) -> np.ndarray:
    """Centered moving average (the book smooths with an 11-point Kaiser window); same length,
    the ends average over the points available."""
    k = np.ones(width)
    num = np.convolve(loss, k, mode="same")
    den = np.convolve(np.ones_like(loss), k, mode="same")
    return num / den


def first_below(curve: np.ndarray, level: float) -> int | None:
    idx = np.flatnonzero(curve < level)
    return int(idx[0]) + 1 if len(idx) else None


def _train_one(task):
    """One optimizer's run (a parallel_map task): fresh network, same initial weights and same
    batches as the other optimizers of its seed."""
    name, iterations, seed = task
    X, y, Xt, yt = shared()
    model = MLP(SIZES, activation="relu", weight_init="he", bias_init="zeros",
                rng=np.random.default_rng([seed, 1]))
    opt = get_optimizer(name, model.parameters(), **ALL[name][1])
    t0 = time.perf_counter()
    history = Trainer(model, opt).fit(X, y, iterations=iterations, batch_size=BATCH, replacement=True,
                                      rng=np.random.default_rng([seed, 2]))
    row = {"loss": history.loss, "seconds": time.perf_counter() - t0}
    if Xt is not None:
        row["test_loss"], row["test_acc"] = evaluate(model, Xt, yt)
    return row


def race(X, y, names, iterations, seed, Xt=None, yt=None, workers=1):
    """Train one fresh network per optimizer from the same initial weights on the same batches.
    Returns name -> {"loss": per-iteration loss, "test_acc", "test_loss", "seconds"}."""
    rows = parallel_map(_train_one, [(name, iterations, seed) for name in names], shared=(X, y, Xt, yt),
                        workers=workers)
    return dict(zip(names, rows))


def measure(settings: dict, ctx: Context) -> dict:
    """Every optimizer's training run for each seed: per-iteration loss, test accuracy."""
    cfg = settings
    X, y = load("mnist", "train")
    Xt, yt = load("mnist", "test")
    if cfg["train"]:
        X, y = subset(X, y, n=cfg["train"], rng=ctx.rng(10))
        Xt, yt = subset(Xt, yt, n=cfg["test"], rng=ctx.rng(11))
    iters, window = cfg["iterations"], cfg["window"]
    seeds = [ctx.seed * 1000 + i for i in range(cfg["seeds"])]
    tasks = [(name, iters, s) for i, s in enumerate(seeds)
             for name in list(MAIN) + (list(EXTRAS) if i < cfg["extras_seeds"] else [])]
    ctx.plan(len(tasks))
    t_start = time.perf_counter()
    rows = parallel_map(_train_one, tasks, shared=(X, y, Xt, yt), workers=ctx.workers, on_done=ctx.advance)
    runs: dict[str, list] = {name: [] for name in ALL}
    for (name, _, _), row in zip(tasks, rows):
        runs[name].append(row)
    runs = {k: v for k, v in runs.items() if v}
    wall = time.perf_counter() - t_start

    # ------------------------------------------------------------------ numbers
    numbers: dict = {"iterations": iters, "batch_size": BATCH, "train_size": len(X), "test_size": len(Xt),
                     "seeds": seeds, "final_window": window, "optimizers": {}}
    curves = {}
    for name, rows in runs.items():
        losses = np.array([r["loss"] for r in rows])
        sm = np.array([smooth(lo) for lo in losses])
        curves[name] = sm
        final = losses[:, -window:].mean(axis=1)
        acc = np.array([r["test_acc"] for r in rows])
        numbers["optimizers"][name] = {
            "label": ALL[name][0], "settings": ALL[name][1], "n_seeds": len(rows),
            "final_loss": final, "final_loss_mean": float(final.mean()), "final_loss_std": float(final.std()),
            "test_acc": acc, "test_acc_mean": float(acc.mean()), "test_acc_std": float(acc.std()),
            "iters_to_0.5": [first_below(c, 0.5) for c in sm], "iters_to_0.2": [first_below(c, 0.2) for c in sm],
            "seconds_per_run": float(np.mean([r["seconds"] for r in rows])),
        }
    opts = numbers["optimizers"]
    main_rank = sorted(MAIN, key=lambda k: opts[k]["final_loss_mean"])
    numbers["ranking_by_final_loss"] = main_rank
    numbers["sgd_is_slowest"] = main_rank[-1] == "sgd"
    numbers["train_seconds"] = float(sum(r["seconds"] for rows in runs.values() for r in rows))
    numbers["wall_seconds"] = wall  # with ctx.workers processes training side by side
    numbers["workers"] = ctx.workers
    numbers["series"] = {"smoothed_loss": curves, "subset": bool(cfg["train"])}  # what the figure draws
    return numbers



def draw(numbers: dict, out: Path) -> list[Figure]:
    opts = numbers["optimizers"]
    curves = {name: array(c) for name, c in numbers["series"]["smoothed_loss"].items()}
    iters, seeds, test_size = numbers["iterations"], numbers["seeds"], numbers["test_size"]
    fig, axes = subplots(1, 3, size=(4.6, 3.8))
    it = np.arange(1, iters + 1)
    for name, sm in curves.items():
        lab = f"{ALL[name][0]} ({', '.join(f'{k}={v:g}' for k, v in ALL[name][1].items())})"
        extra = name in EXTRAS
        for ax in axes[0, :2]:
            ax.plot(it, sm.mean(axis=0), color=color(name), lw=1.2 if extra else 1.6, ls="--" if extra else "-",
                    label=lab + (f", {len(sm)} seed" if extra else ""))
            if len(sm) > 1:
                ax.fill_between(it, sm.min(axis=0), sm.max(axis=0), color=color(name), alpha=0.2, lw=0)
    axes[0, 0].set_ylim(0, 1)
    axes[0, 0].set_title("training loss, smoothed (as in the book: y 0–1)", fontsize=10)
    axes[0, 1].set_yscale("log")
    axes[0, 1].set_title("the same on a log scale", fontsize=10)
    for ax in axes[0, :2]:
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss (moving average of 25)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    ax = axes[0, 2]
    names = list(curves)
    for j, name in enumerate(names):
        acc = np.asarray(opts[name]["test_acc"]) * 100
        ax.bar(j, acc.mean(), color=color(name), alpha=0.6)
        ax.plot(np.full(len(acc), j), acc, "o", color="k", ms=4)
        ax.text(j, acc.max() + 0.15, f"{acc.mean():.2f}", ha="center", va="bottom", fontsize=8)  # above every dot
    ax.set_xticks(range(len(names)), [ALL[n][0] for n in names], rotation=30)
    lo = min(min(opts[n]["test_acc"]) for n in names) * 100
    ax.set_ylim(np.floor(lo - 1), 100)
    ax.set_ylabel(f"test accuracy (%), {test_size} test images")
    ax.set_title("test accuracy after training (dots: seeds)", fontsize=10)
    spread = f"mean and min–max band over {len(seeds)} seeds" if len(seeds) > 1 else "one seed"
    file = save(fig, out / "optimizers_mnist.png",
                f"MNIST {'-'.join(map(str, SIZES))} ReLU, batch {BATCH}, {iters} iterations ({spread})")
    figures = [Figure(file, "Smoothed training loss of each optimizer (linear 0–1 and log scale) and the test "
                            "accuracy at the end.")]
    return figures


def write(numbers: dict) -> str:
    opts = numbers["optimizers"]
    iters, window, seeds, main_rank = (numbers["iterations"], numbers["final_window"], numbers["seeds"],
                                       numbers["ranking_by_final_loss"])
    def it_text(v):
        v = [x for x in v if x is not None]
        return "—" if not v else f"{int(np.median(v))}" + ("" if len(v) == 1 else f" ({min(v)}–{max(v)})")

    def pm(mean, std, n, scale=1.0, digits=3):
        return f"{scale * mean:.{digits}f}" + (f" ± {scale * std:.{digits}f}" if n > 1 else "")

    rows = "\n".join(
        f"| {o['label']} | {', '.join(f'{k}={v:g}' for k, v in o['settings'].items())} | {o['n_seeds']} "
        f"| {pm(o['final_loss_mean'], o['final_loss_std'], o['n_seeds'])} | {it_text(o['iters_to_0.5'])} "
        f"| {it_text(o['iters_to_0.2'])} | {pm(o['test_acc_mean'], o['test_acc_std'], o['n_seeds'], 100, 2)} |"
        for o in opts.values())
    sgd, mom, ada, adam = (opts[k] for k in ("sgd", "momentum", "adagrad", "adam"))
    lo_acc = 100 * min(o["test_acc_mean"] for o in (mom, ada, adam))
    hi_acc = 100 * max(o["test_acc_mean"] for o in (mom, ada, adam))
    data_text = ("the 60,000 training images (test accuracy on the 10,000 test images)"
                 if not numbers["series"]["subset"] else
                 f"a random subset of {numbers['train_size']} training images (test accuracy on "
                 f"{numbers['test_size']} test images; quick variant)")
    md = f"""
The source book's race (`optimizers_mnist.png`): a {'-'.join(map(str, SIZES))} ReLU network with He
initialization (std √(2/n)) and zero biases, trained for {iters} iterations on batches of {BATCH} drawn with
replacement from {data_text}. Within each of the {len(seeds)} seeds all optimizers start from the same weights
and see the same batch at every iteration, so the curves differ only by the update rule; the band is the
min–max over seeds. SGD (θ ← θ − η∇L, η = 0.01) is clearly the slowest: its final loss (mean over the last
{window} iterations) is {sgd['final_loss_mean']:.3f}. Momentum (v ← μv − η∇L, θ ← θ + v) accumulates the
consistent part of the gradient, an effective step up to η/(1−μ) = 10η, and reaches {mom['final_loss_mean']:.3f};
AdaGrad (h ← h + ∇L ⊙ ∇L, θ ← θ − η∇L/√h) and Adam (m̂/(√v̂ + ε)) give every weight its own step size and
reach {ada['final_loss_mean']:.3f} and {adam['final_loss_mean']:.3f}. Ranked by final loss:
{' < '.join(opts[k]['label'] for k in main_rank)}. On the test set after {iters} iterations SGD reaches
{100 * sgd['test_acc_mean']:.2f}% against {lo_acc:.2f}–{hi_acc:.2f}%
for the other three; a slower optimizer is
behind at a fixed budget of steps, which is what the race measures.

| optimizer | settings | seeds | final loss (last {window} it.) | iterations to loss < 0.5 | to < 0.2 | test acc. (%) |
|---|---|---|---|---|---|---|
{rows}
"""
    if EXTRAS.keys() & opts.keys():
        md += ("\nRMSProp and Nesterov are extras run on the first seed only (dashed), to keep the reference run "
               "within its time budget.\n")
    return md


STUDY = Study(
    name="optimizers-mnist",
    title="Optimizer race on MNIST",
    description="SGD, Momentum, AdaGrad, Adam (+ RMSProp, Nesterov) on a 784-100-100-100-100-10 ReLU net, same batches",
    source="Deep Learning from Scratch, ch. 6.1 (optimizer_compare_mnist.py)",
    works=("dlfs", "post-updates-init"),
    measure=measure, draw=draw, write=write,
    reference=REFERENCE, quick=QUICK,
    claims=("optimizers", "ranking_by_final_loss"),
)
