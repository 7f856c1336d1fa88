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

# The book's four, as its common/optimizer.py defines them (ε = 1e-7 after the square root; Adam
# adds ε to the uncorrected √v and puts the bias corrections into the step size), then two extras.
BOOK_EPS = 1e-7
MAIN = {
    "sgd": ("SGD", {"lr": 0.01}),
    "momentum": ("Momentum", {"lr": 0.01, "momentum": 0.9}),
    "adagrad": ("AdaGrad", {"lr": 0.01, "eps": BOOK_EPS}),
    "adam": ("Adam", {"lr": 0.001, "eps": BOOK_EPS, "eps_on": "v"}),
}
EXTRAS = {
    "rmsprop": ("RMSProp", {"lr": 0.001, "alpha": 0.99, "eps": BOOK_EPS}),
    "nesterov": ("Nesterov", {"lr": 0.01, "momentum": 0.9}),
}
ALL = {**MAIN, **EXTRAS}
# The same rules in torch's forms (mlplab's defaults: AdaGrad ε = 1e-10, Adam ε = 1e-8 on √v̂), run on
# the first seed next to the book's to show what the choice of form changes.
TORCH_FORMS = {"adagrad": {"lr": 0.01}, "adam": {"lr": 0.001}}

# name -> the update rule as the race runs it (η = lr, g = ∇L of the batch)
RULES = {
    "sgd": "θ ← θ − η g",
    "momentum": "v ← μ v − η g;  θ ← θ + v",
    "adagrad": "h ← h + g ⊙ g;  θ ← θ − η g / (√h + ε)",
    "adam": "m ← m + (1−β₁)(g − m);  v ← v + (1−β₂)(g² − v);  η_t = η √(1−β₂ᵗ) / (1−β₁ᵗ);  "
            "θ ← θ − η_t m / (√v + ε)",
    "rmsprop": "v ← α v + (1−α) g²;  θ ← θ − η g / (√v + ε)",
    "nesterov": "b ← μ b + g;  θ ← θ − η (g + μ b)",
}
FORM_NOTES = {
    "sgd": "the book's form",
    "momentum": "the book's form",
    "adagrad": "the book's form (ε = 1e-7; torch's default is 1e-10)",
    "adam": "the book's form: ε on the uncorrected √v, corrections in η_t (torch: m̂ / (√v̂ + ε), ε = 1e-8)",
    "rmsprop": "the book's RMSprop rule (ε = 1e-7, α = 0.99), at η = 0.001 (the book's default is 0.01)",
    "nesterov": "torch's form, not the book's Nesterov class (which tracks the look-ahead point)",
}


# A student's optimizer (``lab run optimizers-mnist --extra hw1:Adam``, issue 29): the exercise's class runs in the
# race with the settings of the race's row of the same rule (those its constructor takes), on the same seeds,
# initial weights and batches; it is compared with that row. Exercises without a row run at their defaults.
STUDENT_ROW = {"SGD": "sgd", "Momentum": "momentum", "AdaGrad": "adagrad", "AdamBook": "adam", "Adam": "adam",
               "RMSProp": "rmsprop", "Nesterov": "nesterov"}
STUDENT = "student:"  # the prefix of a student's row in the race's names


def student_settings(exercise: str, cls) -> dict:
    """The race's settings of the row this exercise's rule is compared with, limited to what ``cls`` takes."""
    import inspect

    row = STUDENT_ROW.get(exercise)
    takes = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in (ALL[row][1] if row else {}).items() if k in takes}


def _student(name: str):
    """(class, settings, label, the race row it is compared with) of a ``student:FOLDER:NAME`` row."""
    from pathlib import PurePath

    from ..exercises.student import load_optimizer

    spec = name[len(STUDENT):]
    folder, _, exercise = spec.rpartition(":")
    cls = load_optimizer(spec)
    return cls, student_settings(exercise, cls), f"your {exercise} ({PurePath(folder) / exercise}.py)", \
        STUDENT_ROW.get(exercise)


def label_of(name: str, numbers: dict | None = None) -> str:
    if name.startswith(STUDENT):
        return (numbers or {}).get("optimizers", {}).get(name, {}).get("label") or name[len(STUDENT):]
    return ALL[name][0]


def hp_text(hp: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in hp.items())

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
    if name.startswith(STUDENT):  # a student's class, checked before the race (measure)
        cls, hp, _, _ = _student(name)
        opt = cls(model.parameters(), **hp)
    else:
        base, _, form = name.partition("/")  # "adam/torch": Adam in torch's form
        opt = get_optimizer(base, model.parameters(), **(TORCH_FORMS[base] if form == "torch" else ALL[base][1]))
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
    students = [STUDENT + spec for spec in cfg.get("extra", [])]
    if students:
        from ..exercises.student import load_checked_optimizer

        for name in students:  # refused (StudentCodeError) unless it passes its checks; cached: checked once
            load_checked_optimizer(name[len(STUDENT):])
    tasks = [(name, iters, s) for i, s in enumerate(seeds)
             for name in list(MAIN) + (list(EXTRAS) if i < cfg["extras_seeds"] else []) + students]
    tasks += [(f"{name}/torch", iters, seeds[0]) for name in TORCH_FORMS]
    ctx.plan(len(tasks))
    t_start = time.perf_counter()
    rows = parallel_map(_train_one, tasks, shared=(X, y, Xt, yt), workers=ctx.workers, on_done=ctx.advance)
    runs: dict[str, list] = {name: [] for name in [*ALL, *students]}
    torch_rows = {}
    for (name, _, _), row in zip(tasks, rows):
        if name.endswith("/torch"):
            torch_rows[name.partition("/")[0]] = row
        else:
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
        if name.startswith(STUDENT):
            _, hp, label, _ = _student(name)
        else:
            label, hp = ALL[name]
        numbers["optimizers"][name] = {
            "label": label, "settings": hp, "n_seeds": len(rows),
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
    forms = {}
    for name, row in torch_rows.items():
        book, torch_ = np.asarray(runs[name][0]["loss"]), np.asarray(row["loss"])
        forms[name] = {"book_settings": ALL[name][1], "torch_settings": TORCH_FORMS[name], "seed": seeds[0],
                       "book_final_loss": float(book[-window:].mean()),
                       "torch_final_loss": float(torch_[-window:].mean()),
                       "book_test_acc": float(runs[name][0]["test_acc"]), "torch_test_acc": float(row["test_acc"]),
                       "max_abs_loss_difference": float(np.max(np.abs(book - torch_))),
                       "first_differing_iteration": (int(np.flatnonzero(book != torch_)[0]) + 1
                                                     if np.any(book != torch_) else None)}
    numbers["forms"] = forms
    numbers["students"] = {}
    for name in students:
        _, hp, label, row = _student(name)
        entry = {"spec": name[len(STUDENT):], "label": label, "settings": hp, "compared_with": row}
        if row in runs:
            mine = np.array([r["loss"] for r in runs[name]])
            lib = np.array([r["loss"] for r in runs[row]])
            n = min(len(mine), len(lib))
            differ = np.flatnonzero(np.any(mine[:n] != lib[:n], axis=0))
            entry.update(seeds_compared=n, identical=bool(len(differ) == 0),
                         first_differing_iteration=int(differ[0]) + 1 if len(differ) else None,
                         max_abs_loss_difference=float(np.max(np.abs(mine[:n] - lib[:n]))),
                         same_settings=hp == ALL[row][1])
        numbers["students"][name] = entry
    numbers["series"] = {"smoothed_loss": curves, "subset": bool(cfg["train"])}  # what the figure draws
    return numbers



def draw(numbers: dict, out: Path) -> list[Figure]:
    opts = numbers["optimizers"]
    curves = {name: array(c) for name, c in numbers["series"]["smoothed_loss"].items()}
    iters, seeds, test_size = numbers["iterations"], numbers["seeds"], numbers["test_size"]
    fig, axes = subplots(1, 3, size=(4.6, 3.8))
    it = np.arange(1, iters + 1)
    for name, sm in curves.items():
        mine = name.startswith(STUDENT)  # a student's optimizer: black dots over the library's curves
        lab = f"{label_of(name, numbers)} ({hp_text(opts[name]['settings'])})"
        extra = name in EXTRAS
        col = "k" if mine else color(name)
        for ax in axes[0, :2]:
            ax.plot(it, sm.mean(axis=0), color=col, lw=1.2 if extra else 1.6,
                    ls=":" if mine else "--" if extra else "-", label=lab + (f", {len(sm)} seed" if extra else ""),
                    zorder=3 if mine else 2)
            if len(sm) > 1 and not mine:
                ax.fill_between(it, sm.min(axis=0), sm.max(axis=0), color=col, alpha=0.2, lw=0)
    axes[0, 0].set_ylim(0, 1)
    axes[0, 0].set_title("training loss, smoothed (as in the book: y 0–1)", fontsize=10)
    axes[0, 1].set_yscale("log")
    axes[0, 1].set_title("the same on a log scale", fontsize=10)
    for ax in axes[0, :2]:
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss (moving average of 25)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8,
               frameon=False)  # below the panels: it covers no curve
    ax = axes[0, 2]
    names = list(curves)
    for j, name in enumerate(names):
        acc = np.asarray(opts[name]["test_acc"]) * 100
        ax.bar(j, acc.mean(), color="k" if name.startswith(STUDENT) else color(name), alpha=0.6)
        ax.plot(np.full(len(acc), j), acc, "o", color="k", ms=4)
        ax.text(j, acc.max() + 0.15, f"{acc.mean():.2f}", ha="center", va="bottom", fontsize=8)  # above every dot
    ax.set_xticks(range(len(names)), [("your " + n.rpartition(":")[2]) if n.startswith(STUDENT) else ALL[n][0]
                                      for n in names], rotation=30)
    lo = min(min(opts[n]["test_acc"]) for n in names) * 100
    ax.set_ylim(np.floor(lo - 1), 100)
    ax.set_ylabel(f"test accuracy (%), {test_size} test images")
    ax.set_title("test accuracy after training (dots: seeds)", fontsize=10)
    spread = f"mean and min–max band over {len(seeds)} seeds" if len(seeds) > 1 else "one seed"
    file = save(fig, out / "optimizers_mnist.png",
                f"MNIST {'-'.join(map(str, SIZES))} ReLU, batch {BATCH}, {iters} iterations ({spread})",
                rect=(0, 0.1 if len(curves) <= 3 else 0.13, 1, 1))
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
        f"| {o['label']} | {hp_text(o['settings'])} | {o['n_seeds']} "
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
AdaGrad (h ← h + ∇L ⊙ ∇L, θ ← θ − η∇L/(√h + ε)) and Adam (m/(√v + ε), rules below) give every weight its own
step size and
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
    md += ("\n**The update rules as the race runs them** (g = ∇L of the batch, η = lr; every state starts at 0, t "
           "counts steps from 1). SGD, Momentum, AdaGrad and Adam are run exactly as the book's "
           "`common/optimizer.py` defines them:\n\n| optimizer | rule | settings | form |\n|---|---|---|---|\n")
    md += "\n".join(f"| {opts[k]['label']} | {RULES[k]} | {hp_text(opts[k]['settings'])} | {FORM_NOTES[k]} |"
                     for k in opts if k in RULES) + "\n"
    md += _students_text(numbers)
    forms = numbers.get("forms") or {}
    if forms:
        parts = []
        for k, f in forms.items():
            if f["first_differing_iteration"] is None:
                parts.append(f"{opts[k]['label']} in torch's form ({hp_text(f['torch_settings'])}) gives the same "
                             "loss at every iteration")
                continue
            change, spread = abs(f["torch_final_loss"] - f["book_final_loss"]), opts[k]["final_loss_std"]
            size = ("less than" if change < spread else "more than") + f" the spread between seeds ({spread:.4f})"
            parts.append(
                f"{opts[k]['label']} in torch's form ({hp_text(f['torch_settings'])}) follows another trajectory "
                f"from iteration {f['first_differing_iteration']} on (the per-iteration loss differs by up to "
                f"{f['max_abs_loss_difference']:.2g}) and ends at {f['torch_final_loss']:.4f} against the book form's "
                f"{f['book_final_loss']:.4f}, a change of {change:.4f}, {size}; test accuracy "
                f"{100 * f['torch_test_acc']:.2f}% against {100 * f['book_test_acc']:.2f}%")
        changed = any(f["first_differing_iteration"] is not None for f in forms.values())
        md += (f"\nDoes the form change the numbers? {'Yes' if changed else 'No'}: on seed "
               f"{next(iter(forms.values()))['seed']} the same batches were also run with the torch forms. "
               + "; ".join(parts) + ". ε sets the step of every weight whose √h or √v is not much larger than ε, "
               "which from the first steps on includes weights with small gradients, so the trajectories part at "
               "once even though every formula agrees where the gradients are large.\n")
    return md


def _students_text(numbers: dict) -> str:
    """The section's paragraph on a student's optimizer (``--extra``): which row it is compared with, and whether
    it landed on the library's numbers."""
    opts, out = numbers["optimizers"], []
    for name, st in (numbers.get("students") or {}).items():
        o = opts[name]
        text = (f"\n**{st['label'][0].upper() + st['label'][1:]}** (a student's optimizer) ran in the race after "
                f"passing its checks (`mlplab exercises check`), on the same {o['n_seeds']} seed(s), initial "
                f"weights and batches as the library's optimizers, with "
                f"{hp_text(st['settings']) or 'its own defaults'} (the black dotted curve). Its "
                f"final loss is {o['final_loss_mean']:.4f} and its test accuracy "
                f"{100 * o['test_acc_mean']:.2f}%.")
        row = st.get("compared_with")
        if row and row in opts and "identical" in st:
            lib = opts[row]
            if st["identical"]:
                text += (f" Its loss equals the library's {lib['label']} row at every one of the "
                         f"{numbers['iterations']} iterations on every seed, bit for bit: the same rule, written "
                         "with the same floating-point operations.")
            else:
                why = "" if st["same_settings"] else (f" (its settings differ from the row's "
                                                      f"{hp_text(lib['settings'])})")
                text += (f" Against the library's {lib['label']} row{why} (final loss {lib['final_loss_mean']:.4f}) "
                         f"it first differs at iteration {st['first_differing_iteration']} (the per-iteration loss "
                         f"differs by up to {st['max_abs_loss_difference']:.2g}): another rule, another form of it "
                         "(ε's placement, say), or the same rule with its floating-point operations in another "
                         "order, which changes the last bits and from there the trajectory.")
        out.append(text + "\n")
    return "".join(out)


STUDY = Study(
    name="optimizers-mnist",
    title="Optimizer race on MNIST",
    description="SGD, Momentum, AdaGrad, Adam (+ RMSProp, Nesterov) on a 784-100-100-100-100-10 ReLU net, same batches",
    source="Deep Learning from Scratch, ch. 6.1 (optimizer_compare_mnist.py)",
    works=("dlfs", "post-updates-init"),
    measure=measure, draw=draw, write=write,
    reference=REFERENCE, quick=QUICK,
    claims=("ranking_by_final_loss", "sgd_is_slowest", "forms"),  # per optimizer: the section's table
)
