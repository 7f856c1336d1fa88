"""batching: full-batch, mini-batch and single-sample gradient descent, and momentum at a saddle
(the blog post *2.1 Convolutional neural networks: neural networks, advanced*).

Part 1 trains the same small network on the same MNIST subset with plain SGD (θ ← θ − (η/|B|)Σ∇ℓ)
at several batch sizes through :class:`mlplab.train.Trainer`, recording the *full* training loss
along the way with a callback, and measures the noise of the mini-batch gradient against the batch
size at a fixed point. Part 2 runs gradient descent and momentum on the tilted double well
:class:`mlplab.functions.Saddle` with :func:`mlplab.functions.run_optimizer`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..data import load, subset
from ..functions import Saddle, run_optimizer
from ..nn import MLP
from ..optim import get_optimizer
from ..tensor import Tensor, cross_entropy
from ..train import Callback, Trainer, evaluate
from .base import Context, Figure, Study, array
from .paths import draw_contours
from .plots import save, subplots

SIZES = [784, 32, 10]
LR = 0.05

REFERENCE = {"n_train": 500, "batch_sizes": [1, 10, 100, 500], "iterations": 500, "seeds": 3,
             "noise_batches": [1, 2, 4, 8, 16, 32, 64, 128, 256], "noise_draws": 60}
QUICK = {"n_train": 300, "batch_sizes": [1, 10, 300], "iterations": 150, "seeds": 2,
         "noise_batches": [1, 4, 16, 64], "noise_draws": 30}

TARGET = 1.0  # "examples needed to bring the full training loss below TARGET"
SADDLE_STEPS = 300
SADDLE_METHODS = {
    "gd": ("gradient descent, η = 0.01", "sgd", {"lr": 0.01}, "#d62728"),
    "gd_big": ("gradient descent, η = 0.1", "sgd", {"lr": 0.1}, "#ff9896"),
    "momentum": ("momentum, η = 0.01, μ = 0.9", "momentum", {"lr": 0.01, "momentum": 0.9}, "#1f77b4"),
}


class FullLoss(Callback):
    """Record the loss on the whole training set at the given steps (and the wall time spent training)."""

    def __init__(self, X, y, at):
        self.X, self.y, self.at = X, y, set(int(a) for a in at)
        self.steps, self.loss, self.seconds = [], [], []
        self._spent, self._t = 0.0, None

    def on_train_begin(self, trainer):
        self.steps.append(0)
        self.loss.append(evaluate(trainer.model, self.X, self.y)[0])
        self.seconds.append(0.0)
        self._t = time.perf_counter()

    def on_step_end(self, trainer, step, loss):
        if step in self.at:
            self._spent += time.perf_counter() - self._t  # evaluation time is not training time
            self.steps.append(step)
            self.loss.append(evaluate(trainer.model, self.X, self.y)[0])
            self.seconds.append(self._spent)
            self._t = time.perf_counter()


def _gradient(model, X, y):
    model.zero_grad()
    cross_entropy(model(Tensor(X)), y).backward()
    return np.concatenate([p.grad.ravel() for p in model.parameters()]).astype(np.float64)


def gradient_noise(model, X, y, batch_sizes, draws, rng):
    """E‖g_B − g‖² / ‖g‖² for batches B drawn with replacement (then exactly Var(one example)/|B|)."""
    full = _gradient(model, X, y)
    norm2 = float(full @ full)
    out = {}
    for b in batch_sizes:
        errs = [np.sum((_gradient(model, X[idx], y[idx]) - full) ** 2)
                for idx in (rng.choice(len(X), b) for _ in range(draws))]
        out[b] = float(np.mean(errs)) / norm2
    return out, norm2


def _first_step_below(steps, loss, level):
    idx = np.flatnonzero(np.asarray(loss) < level)
    return int(steps[idx[0]]) if len(idx) else None


def _basin(fn, p):
    if not np.all(np.isfinite(p)):
        return "diverged"
    names = {"global minimum": fn.global_minimum, "local minimum": fn.local_minimum, "saddle": fn.saddle_point}
    name, d = min(((k, np.linalg.norm(p - v)) for k, v in names.items()), key=lambda kv: kv[1])
    return name if d < 0.15 else "in between"


def measure(settings: dict, ctx: Context) -> dict:
    """SGD at each batch size for each seed (full training loss along the way), the gradient noise
    against the batch size, and GD/momentum paths on the saddle function."""
    cfg = settings
    X, y = load("mnist", "train")
    X, y = subset(X, y, n=cfg["n_train"], rng=ctx.rng(20))
    n, iters = len(X), cfg["iterations"]
    at = np.unique(np.geomspace(1, iters, 40).astype(int))
    seeds = [ctx.seed * 1000 + i for i in range(cfg["seeds"])]
    ctx.plan(len(seeds) * len(cfg["batch_sizes"]) + 2)

    # ---------------------------------------------------------------- part 1: batch sizes
    runs: dict[int, list] = {b: [] for b in cfg["batch_sizes"]}
    for s in seeds:
        for b in cfg["batch_sizes"]:
            model = MLP(SIZES, activation="relu", weight_init="he", rng=np.random.default_rng([s, 1]))
            rec = FullLoss(X, y, at)
            hist = Trainer(model, get_optimizer("sgd", model.parameters(), lr=LR), callbacks=[rec]).fit(
                X, y, iterations=iters, batch_size=b, shuffle=True, rng=np.random.default_rng([s, 2]))
            runs[b].append({"steps": np.array(rec.steps), "full_loss": np.array(rec.loss),
                            "seconds": np.array(rec.seconds), "batch_loss": hist.loss})
            ctx.advance()
    steps = runs[cfg["batch_sizes"][0]][0]["steps"]
    res = {}
    for b, rows in runs.items():
        fl = np.array([r["full_loss"] for r in rows])
        bl = np.array([r["batch_loss"] for r in rows])
        secs = np.array([r["seconds"][-1] for r in rows])
        # roughness of the per-step mini-batch loss: std of its step-to-step change over the second half
        rough = np.diff(bl[:, iters // 2:], axis=1).std(axis=1)
        reach = [_first_step_below(r["steps"], r["full_loss"], TARGET) for r in rows]
        secs_to = [None if k is None else float(r["seconds"][list(r["steps"]).index(k)]) for k, r in zip(reach, rows)]
        reach = [None if k is None else k * b for k in reach]
        res[b] = {"final_full_loss": fl[:, -1], "final_full_loss_mean": float(fl[:, -1].mean()),
                  "final_full_loss_std": float(fl[:, -1].std()), "batch_loss_roughness": float(rough.mean()),
                  "train_seconds": float(secs.mean()), "ms_per_step": float(1e3 * secs.mean() / iters),
                  "examples_seen": iters * b, "examples_to_target": reach,
                  "examples_to_target_median": (None if any(r is None for r in reach) else float(np.median(reach))),
                  "seconds_to_target_median": (None if any(t is None for t in secs_to) else float(np.median(secs_to)))}

    noise_model = MLP(SIZES, activation="relu", weight_init="he", rng=np.random.default_rng([ctx.seed, 3]))
    noise, gnorm2 = gradient_noise(noise_model, X, y, cfg["noise_batches"], cfg["noise_draws"], ctx.rng(21))
    nb = np.array(list(noise), dtype=float)
    nv = np.array(list(noise.values()))
    slope = float(np.polyfit(np.log(nb), np.log(nv), 1)[0])
    ctx.advance()

    # ---------------------------------------------------------------- part 2: saddle
    fn = Saddle()
    sx = float(fn.saddle_point[0])
    starts = {"A": (2.0, 1.0), "B": (round(sx + 1e-3, 6), 1.5)}
    saddle, saddle_paths = {}, {}
    for key, start in starts.items():
        for name, (lab, opt, hp, _) in SADDLE_METHODS.items():
            path = run_optimizer(fn, opt, start, SADDLE_STEPS, **hp)
            far = np.flatnonzero(np.abs(path[:, 0] - sx) > 0.3)
            saddle[f"{key}/{name}"] = {"start": start, "method": lab, "final": path[-1],
                                       "final_f": float(fn.f(path[-1])), "ends_in": _basin(fn, path[-1]),
                                       "steps_to_leave_saddle": int(far[0]) if len(far) else None,
                                       "final_distance_from_saddle_x": abs(float(path[-1, 0]) - sx)}
            saddle_paths[f"{key}/{name}"] = path
    ctx.advance()
    series = {"steps": steps, "saddle_starts": starts, "saddle_paths": saddle_paths,
              "runs": {str(b): {"full_loss": np.array([r["full_loss"] for r in rows]),
                                "batch_loss_first_seed": rows[0]["batch_loss"],
                                "seconds_mean": np.mean([r["seconds"] for r in rows], axis=0)}
                       for b, rows in runs.items()}}
    return {"n_train": n, "sizes": SIZES, "lr": LR, "iterations": iters, "seeds": seeds,
            "batch_sizes": {str(b): v for b, v in res.items()},
            "gradient_noise": {"batch_sizes": nb, "relative_variance": nv, "fitted_slope": slope,
                               "full_gradient_norm2": gnorm2},
            "saddle": {"function": "x^4/4 - x^2/2 + 0.1x + y^2/2", "saddle_point": fn.saddle_point,
                       "local_minimum": fn.local_minimum, "global_minimum": fn.global_minimum,
                       "steps": SADDLE_STEPS, "runs": saddle},
            "series": series}  # what the figures draw


def _label(b, n):
    return f"batch {b}" + (" (full)" if b == n else "")


def draw(numbers: dict, out: Path) -> list[Figure]:
    series = numbers["series"]
    n, iters, seeds = numbers["n_train"], numbers["iterations"], numbers["seeds"]
    steps = array(series["steps"])
    bs = [int(b) for b in series["runs"]]
    cmap = {b: f"C{i}" for i, b in enumerate(bs)}
    full = {b: array(series["runs"][str(b)]["full_loss"]) for b in bs}
    fig, axes = subplots(2, 2, size=(5.0, 3.8))
    ax = axes[0, 0]
    for b in bs:
        ax.plot(np.arange(1, iters + 1), array(series["runs"][str(b)]["batch_loss_first_seed"]), color=cmap[b],
                alpha=0.2, lw=0.5)
        fl = full[b]
        ax.plot(steps, fl.mean(axis=0), "o-", ms=2.5, color=cmap[b], label=_label(b, n))
        ax.fill_between(steps, fl.min(axis=0), fl.max(axis=0), color=cmap[b], alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.03, 10)
    ax.set_xlabel("iteration (log)")
    ax.set_ylabel("loss (log)")
    ax.set_title("full training loss (lines + dots) and the mini-batch\nloss of one seed (faint) per iteration",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for b in bs:
        fl = full[b]
        ex = steps[1:] * b  # step 0 (no examples yet) has no place on a log axis
        ax.plot(ex, fl.mean(axis=0)[1:], "o-", ms=2.5, color=cmap[b], label=_label(b, n))
        ax.fill_between(ex, fl.min(axis=0)[1:], fl.max(axis=0)[1:], color=cmap[b], alpha=0.2, lw=0)
    ax.axhline(TARGET, color="0.5", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training examples processed (log)")
    ax.set_ylabel("full training loss (log)")
    ax.set_title("the same against the work done: examples seen", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    for b in bs:
        t = array(series["runs"][str(b)]["seconds_mean"])
        ax.plot(t[1:], full[b].mean(axis=0)[1:], "o-", ms=2.5, color=cmap[b], label=_label(b, n))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training wall time, s (log)")
    ax.set_ylabel("full training loss (log)")
    ax.set_title("... and against wall time", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    nb, nv = array(numbers["gradient_noise"]["batch_sizes"]), array(numbers["gradient_noise"]["relative_variance"])
    slope = numbers["gradient_noise"]["fitted_slope"]
    ax.loglog(nb, nv, "o-", color="k", label="measured E‖g_B − g‖² / ‖g‖²")
    ax.loglog(nb, nv[0] / nb, ":", color="0.5", label="σ²/|B| (slope −1)")
    ax.set_xlabel("batch size |B| (log)")
    ax.set_ylabel("relative gradient noise (log)")
    ax.set_title(f"noise of the mini-batch gradient at initialization\n(fitted slope {slope:.2f})", fontsize=9)
    ax.legend(fontsize=8)
    spread = f"mean and min–max over {len(seeds)} seeds" if len(seeds) > 1 else "one seed"
    f1 = save(fig, out / "batch_sizes.png",
              f"SGD η = {LR}, batch 1 to {n} (full), {'-'.join(map(str, SIZES))} on {n} MNIST images\n{spread}")

    fn = Saddle()
    sx = float(fn.saddle_point[0])
    starts = series["saddle_starts"]
    fig, axes = subplots(1, 3, size=(4.2, 3.8))
    for ax, (key, start) in zip(axes[0, :2], starts.items()):
        draw_contours(ax, fn, (-2, 2.5), (-1.2, 2), levels=14)
        for name, (lab, _, _, col) in SADDLE_METHODS.items():
            path = array(series["saddle_paths"][f"{key}/{name}"])
            ax.plot(path[:, 0], path[:, 1], "-", lw=1.4, color=col, label=lab)
            ax.plot(*path[-1], "o", color=col, ms=5)
            if key == "B":
                axes[0, 2].plot(np.arange(SADDLE_STEPS + 1), path[:, 0], color=col, label=lab)
        ax.plot(*start, "s", color="k", ms=5)
        ax.plot(*fn.saddle_point, "x", color="k", ms=8, mew=2)
        ax.plot(*fn.local_minimum, "+", color="k", ms=10, mew=1.5)
        ax.set_title(f"start {key} = ({start[0]:g}, {start[1]:g}), {SADDLE_STEPS} steps", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    ax = axes[0, 2]
    for v, txt in ((fn.global_minimum[0], "global min"), (fn.local_minimum[0], "local min"), (sx, "saddle")):
        ax.axhline(v, color="0.5", ls=":", lw=1)
        ax.text(0, v, txt, ha="left", va="bottom", fontsize=7, color="0.3")
    ax.set_xlabel("step")
    ax.set_ylabel("x")
    ax.set_title("start B: x over time", fontsize=9)
    ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 0.12))
    f2 = save(fig, out / "saddle.png", "f(x, y) = x⁴/4 − x²/2 + 0.1x + y²/2: saddle (×), local minimum (+), "
                                       "global minimum (+, left)")
    return [Figure(f1, "Full training loss against iterations, examples seen and wall time for each batch size, and "
                       "the mini-batch gradient's noise against the batch size."),
            Figure(f2, "Gradient descent and momentum on a tilted double well from two starts.")]


def write(numbers: dict) -> str:
    n, iters, seeds = numbers["n_train"], numbers["iterations"], numbers["seeds"]
    res = {int(b): v for b, v in numbers["batch_sizes"].items()}
    bs = list(res)
    nb, nv = numbers["gradient_noise"]["batch_sizes"], numbers["gradient_noise"]["relative_variance"]
    slope = numbers["gradient_noise"]["fitted_slope"]
    saddle = numbers["saddle"]["runs"]
    starts = {k: tuple(v) for k, v in numbers["series"]["saddle_starts"].items()}
    fn = Saddle()
    sx = float(fn.saddle_point[0])

    def label(b):
        return _label(b, n)

    def ex_text(b):
        v = res[b]["examples_to_target_median"]
        return "not within the run" if v is None else f"{v:.0f}"

    def t_text(b):
        v = res[b]["seconds_to_target_median"]
        return "—" if v is None else f"{v:.3f}"

    rows = "\n".join(f"| {label(b)} | {res[b]['examples_seen']} | {res[b]['final_full_loss_mean']:.3f} ± "
                     f"{res[b]['final_full_loss_std']:.3f} | {ex_text(b)} | {res[b]['batch_loss_roughness']:.3f} "
                     f"| {res[b]['ms_per_step']:.2f} |" for b in bs)
    nrows = " | ".join(f"{int(b)}: {v:.3g}" for b, v in zip(nb, nv))
    srows = "\n".join(f"| {k.split('/')[0]} {starts[k.split('/')[0]]} | {v['method']} | ({v['final'][0]:.3f}, "
                      f"{v['final'][1]:.3f}) | {v['ends_in']} |" for k, v in saddle.items())
    A_gd, A_big, A_m = saddle["A/gd"], saddle["A/gd_big"], saddle["A/momentum"]
    B_gd, B_big, B_m = saddle["B/gd"], saddle["B/gd_big"], saddle["B/momentum"]
    full, one = bs[-1], bs[0]
    return f"""
The same loss, the mean cross-entropy over {n} MNIST images for a {'-'.join(map(str, SIZES))} ReLU network, is
minimised by θ ← θ − (η/|B|) Σ_{{i∈B}} ∇ℓ_i with η = {LR} for {iters} iterations at batch sizes
{', '.join(map(str, bs))} ({full} = full-batch gradient descent), {len(seeds)} seeds (`batch_sizes.png`, which plots
the loss on the whole training set). Per iteration, bigger batches give smoother and (up to a point) better
steps: after {iters} iterations the full loss is {res[full]['final_full_loss_mean']:.3f} for the full batch against
{res[one]['final_full_loss_mean']:.3f} ± {res[one]['final_full_loss_std']:.3f} for batch {one}, whose mini-batch loss
jumps by {res[one]['batch_loss_roughness']:.3f} from one step to the next (full batch:
{res[full]['batch_loss_roughness']:.3f}). But a step on B examples costs B gradient evaluations. Per example
processed the order reverses: to bring the full loss below {TARGET:g}, batch {one} needs {ex_text(one)} examples,
batch {bs[1]} {ex_text(bs[1])} and the full batch {ex_text(full)}: many cheap, noisy steps beat a few exact,
expensive ones. On wall time the smallest batches pay the fixed cost of a step ({res[one]['ms_per_step']:.2f} ms at
batch {one} against {res[full]['ms_per_step']:.2f} ms at {full}); seconds of training to reach loss {TARGET:g}:
{', '.join(f"batch {b}: {t_text(b)}" for b in bs)}. The noise is what the
batch size buys down: the mini-batch gradient is an unbiased estimate of the full one and E‖g_B − g‖² falls like
σ²/|B| (fitted log-log slope {slope:.2f}; relative variance by batch size: {nrows}).

| batch | examples seen | full loss after {iters} it. | examples to loss < {TARGET:g} | batch-loss jitter | ms/step |
|---|---|---|---|---|---|
{rows}

`saddle.png`: on f(x, y) = x⁴/4 − x²/2 + 0.1x + y²/2 (saddle at ({sx:.3f}, 0), local minimum at
({fn.local_minimum[0]:.3f}, 0), global minimum at ({fn.global_minimum[0]:.3f}, 0)), gradient descent from A = (2, 1)
ends in the {A_gd['ends_in']} (with a 10× larger step too: {A_big['ends_in']}), because the gradient vanishes there.
Momentum with the same η (v ← μv − η∇f, θ ← θ + v) arrives with velocity, rolls over the saddle and ends in the
{A_m['ends_in']}. From B, 0.001 to the right of the saddle, the x-gradient is almost zero: gradient descent at
η = 0.01 is still within {B_gd['final_distance_from_saddle_x']:.3f} of the saddle after {SADDLE_STEPS} steps, while
momentum accumulates the tiny push and leaves it after {B_m['steps_to_leave_saddle']} steps. Gradient descent with the
10× step η = 0.1, which equals momentum's long-run step η/(1−μ), leaves after
{B_big['steps_to_leave_saddle']} steps: near a saddle the effective step size is what counts, whereas from A the
larger step alone does not help and only momentum's carried velocity crosses the barrier. (Started exactly on the
saddle's x, every method stays: the gradient has no x-component at all.)

| start | method | end point | ends in |
|---|---|---|---|
{srows}
"""


STUDY = Study(
    name="batching",
    title="Full batch, mini-batch, single sample; momentum at a saddle",
    description="SGD at batch sizes 1…N on an MNIST subset (loss vs iterations/examples/time, gradient noise); "
                "GD vs momentum on a saddle",
    source="blog post '2.1 Convolutional neural networks: neural networks, advanced' (mini-batch SGD, local minima "
           "and saddle points)",
    works=("post-nn-advanced",),
    measure=measure, draw=draw, write=write,
    reference=REFERENCE, quick=QUICK,
    claims=("batch_sizes", "gradient_noise", "saddle"),
)
