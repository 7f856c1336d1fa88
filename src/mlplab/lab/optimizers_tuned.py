"""optimizers-tuned: the book's optimizer race re-run with each optimizer at its own tuned learning rate.

The race of *Deep Learning from Scratch*, ch. 6.1 runs SGD, Momentum and AdaGrad at η = 0.01 and Adam at
η = 0.001, so "SGD is slowest" partly measures those choices. Here each optimizer's learning rate is
tuned on a validation split (a log-spaced grid, several seeds), and the chosen setting and the book's are
both re-trained on every seed and scored once on the test set (:mod:`mlplab.sweep`). The section states
whether the ranking of the book's race survives tuning, and where the optimizers are statistically tied.
The quick variant tunes on a 3-point grid over a subset.

:func:`draw_sweep` and :func:`write_sweep` make the figures and the section of any sweep's
``summary.json`` (``mlplab sweep report DIR`` uses them too), all from the summary alone:

* ``lr_sensitivity.png``: the selection metric on the validation split against the learning rate,
  one curve per optimizer (mean over seeds, band = 95 % t-interval), the chosen point starred, a
  learning rate at which some seed diverged marked ✕ at the top of the panel with the count (and the
  mean of the seeds that did not, as a hollow circle off the curve).
* ``tuned_vs_book.png``: test accuracy of each optimizer at the source book's learning rate and at
  its tuned one, with 95 % intervals: the book's race beside the tuned race.
* ``ranking.png``: the tuned optimizers ranked by mean test accuracy with their intervals; optimizers
  tied with each other (paired t-test over seeds, 5 % level) are named.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from .base import Context, Figure, Study

OPTIMIZERS = ["sgd", "momentum", "adagrad", "adam"]

REFERENCE = {"lr_grid": 5, "seeds": 3, "iterations": 600, "train_size": None, "val_size": 10_000, "test_size": None}
QUICK = {"lr_grid": 3, "seeds": 2, "iterations": 100, "train_size": 3_000, "val_size": 500, "test_size": 1_000}


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def measure(settings: dict, ctx: Context) -> dict:
    """Run the sweep (selection on validation, then the tuned and the book's settings on test) in a
    temporary folder; the numbers are its summary."""
    from ..sweep.executor import make_executor
    from ..sweep.runner import run_sweep
    from ..sweep.settings import SweepSettings

    s = SweepSettings.from_options(",".join(OPTIMIZERS), lr_grid=settings["lr_grid"],
                                   seeds=[ctx.seed * 1000 + i for i in range(settings["seeds"])],
                                   iterations=settings["iterations"], epochs=None, train_size=settings["train_size"],
                                   val_size=settings["val_size"], test_size=settings["test_size"],
                                   layers="784,100,100,100,100,10", activation="relu", init="he", batch_size=128)
    n_select = sum(1 for _ in OPTIMIZERS) * settings["lr_grid"] * settings["seeds"]
    ctx.plan(n_select + 2 * len(OPTIMIZERS) * settings["seeds"])
    executor = make_executor("local", ctx.workers)
    try:
        with tempfile.TemporaryDirectory() as d:
            summary = run_sweep(s, Path(d) / "sweep", executor, log=lambda m: None,
                                progress=lambda t, r, done, total: ctx.advance())
    finally:
        executor.shutdown()
    return _clean(summary)


def draw(numbers: dict, out: Path) -> list[Figure]:
    return [Figure(f, c) for f, c in draw_sweep(numbers, Path(out))]


def write(numbers: dict) -> str:
    """The section: whether the book's ranking survives tuning, then :func:`write_sweep`."""
    survives = numbers.get("ranking_survives")
    book = [r["optimizer"] for r in numbers.get("book_ranking", [])]
    tuned = [r["optimizer"] for r in numbers.get("ranking", [])]
    ties = sum(len(r["tied_with"]) for r in numbers.get("ranking", [])) // 2
    lead = (f"**Does the book's ranking survive tuning? {'Yes' if survives else 'No'}.** At the book's learning "
            f"rates the optimizers rank {' > '.join(book)} by mean test accuracy; each at its own tuned learning "
            f"rate they rank {' > '.join(tuned)}"
            + (f", with {ties} pair(s) statistically tied (paired 95 % interval of the difference contains 0)."
               if ties else ", with no pair statistically tied.")
            + " A slower optimizer at a fixed, untuned η is partly a statement about that η: the *Deep Learning "
              "Tuning Playbook* tunes the learning rate per optimizer before comparing, and Schmidt, Schneider "
              "and Hennig (*Descending through a Crowded Valley*) find that no optimizer dominates once tuned. "
              "Batches here are drawn as shuffled epochs, not with replacement as in the book's script.\n\n")
    return lead + write_sweep(numbers)


# ------------------------------------------------------------------------------ figures and tables of a sweep
def _label(name):
    from .optimizers_mnist import ALL

    return ALL[name][0] if name in ALL else name


def _fmt_hp(hp, searched=()):
    """The hyperparameters that were searched, plus lr and momentum (the book's settings)."""
    keep = [k for k in hp if k in ("lr", "momentum") or k in searched]
    return ", ".join(f"{k}={hp[k]:.3g}" if isinstance(hp[k], float) else f"{k}={hp[k]}" for k in keep)


def draw_sweep(summary: dict, out: Path) -> list[tuple[str, str]]:
    """Draw the three figures of a sweep's summary into ``out``; returns (file, caption) pairs."""
    from .plots import color, save, subplots

    opts = summary["optimizers"]
    metric = summary["metric"]
    scale = 100 if metric == "accuracy" else 1
    unit = " (%)" if metric == "accuracy" else ""
    figs = []

    def clip(v):
        """An accuracy lies in [0, 100] %: a t-interval over few seeds can reach past it, so it is drawn cut
        there (the numbers in summary.json are not cut)."""
        return min(max(v, 0.0), 100.0) if metric == "accuracy" else v

    # ------------------------------------------------------------ learning-rate sensitivity
    fig, axes = subplots(1, 1, size=(7.5, 4.6))
    ax = axes[0, 0]
    top = -math.inf
    for i, (o, e) in enumerate(opts.items()):
        pts = sorted((c for c in e["lr_curve"]), key=lambda c: c["hparams"]["lr"])
        ok = [c for c in pts if c["mean"] is not None and c["diverged"] == 0 and c["failed"] == 0]
        if ok:
            x = [c["hparams"]["lr"] for c in ok]
            ax.plot(x, [scale * c["mean"] for c in ok], "o-", color=color(o, i), label=_label(o), ms=4)
            lo = [clip(scale * (c["ci"][0] if c["ci"] else c["mean"])) for c in ok]
            hi = [clip(scale * (c["ci"][1] if c["ci"] else c["mean"])) for c in ok]
            ax.fill_between(x, lo, hi, color=color(o, i), alpha=0.18, lw=0)
            top = max(top, max(hi))
        part = [c for c in pts if c["mean"] is not None and (c["diverged"] or c["failed"])]
        if part:  # some seeds diverged: the mean of the others, hollow and unconnected (not a candidate)
            ax.plot([c["hparams"]["lr"] for c in part], [scale * c["mean"] for c in part], "o", mfc="white",
                    color=color(o, i), ms=5)
        if e.get("best"):
            b = next(c for c in pts if c["hparams"] == e["best"])
            ax.plot([b["hparams"]["lr"]], [scale * b["mean"]], "*", color=color(o, i), ms=15, mec="k", zorder=5)
    ylo, yhi = ax.get_ylim()
    span = yhi - ylo
    mark_y = yhi + 0.07 * span  # a strip above the curves for the diverged marks
    n_opt = len(opts)
    lrs = [c["hparams"]["lr"] for e in opts.values() for c in e["lr_curve"]]
    decades = math.log10(max(lrs) / min(lrs)) if lrs else 1.0
    for i, (o, e) in enumerate(opts.items()):
        # side by side when optimizers share a learning rate: 2 % of the axis apart
        shift = 10 ** (0.008 * max(decades, 1.0) * (i - (n_opt - 1) / 2))
        for c in e["lr_curve"]:
            if c["diverged"]:
                x = c["hparams"]["lr"] * shift
                ax.plot([x], [mark_y], "x", color=color(o, i), ms=8, mew=2)
                ax.annotate(f"{c['diverged']}/{c['n']}", (x, mark_y), textcoords="offset points", xytext=(0, -12),
                            ha="center", fontsize=6, color=color(o, i))
    ax.axhline(yhi + 0.02 * span, color="0.7", lw=0.8)
    ax.set_ylim(ylo, yhi + 0.12 * span)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate η (log scale)")
    what = "accuracy" if metric == "accuracy" else "loss"
    ax.set_ylabel(f"validation {what}{unit}, mean over seeds")
    ax.set_title("mean and 95 % t-interval over seeds (cut at 0 and 100 %); ★ chosen; ✕ some seed diverged\n"
                 "(how many, below; ○ the mean of the others)", fontsize=8)
    ax.legend(fontsize=8, loc="best")
    file = save(fig, out / "lr_sensitivity.png", "Learning-rate sensitivity, on the validation split")
    figs.append((file, f"Validation {what} against the learning rate for each optimizer: the mean over seeds with "
                       "its 95 % t-interval, the chosen learning rate starred, diverged settings marked ✕."))

    # ------------------------------------------------------------ tuned race vs book race
    names = [o for o in opts if "test" in opts[o] or "book_test" in opts[o]]
    if names:
        fig, axes = subplots(1, 1, size=(max(5.0, 2.0 * len(names)), 4.2))
        ax = axes[0, 0]
        for j, o in enumerate(names):
            for dx, role, marker, tag in ((-0.12, "book_test", "s", "book"), (0.12, "test", "o", "tuned")):
                st = opts[o].get(role)
                if st and st["accuracy"]["mean"] is None:  # said where the point would be, not left out silently
                    ax.annotate(f"{tag} η={st['hparams']['lr']:.3g}:\ndiverged on\nevery seed", (j + dx, 0.5),
                                xycoords=("data", "axes fraction"), ha="center", va="center", fontsize=7,
                                color=color(o, j))
                if not st or st["accuracy"]["mean"] is None:
                    continue
                a = st["accuracy"]
                m = 100 * a["mean"]
                err = [[m - clip(100 * a["ci"][0])], [clip(100 * a["ci"][1]) - m]] if a["ci"] else None
                ax.errorbar([j + dx], [m], yerr=err, fmt=marker, color=color(o, j), ms=7, capsize=4,
                            mfc="white" if tag == "book" else color(o, j))
                ax.annotate(f"{tag}\nη={st['hparams']['lr']:.3g}", (j + dx, m), textcoords="offset points",
                            xytext=(-8 if tag == "book" else 8, -4), ha="right" if tag == "book" else "left",
                            va="center", fontsize=7)
        ax.set_xticks(range(len(names)), [_label(o) for o in names])
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylabel("test accuracy (%), mean and 95 % interval\n(intervals cut at 0 and 100 %)")
        ax.set_title("open squares: the book's learning rate;\nfilled circles: tuned on validation", fontsize=9)
        file = save(fig, out / "tuned_vs_book.png", "The book's race and the tuned race")
        figs.append((file, "Test accuracy of each optimizer at the source book's learning rate and at the learning "
                           "rate chosen on the validation split (re-trained on every seed, scored once on test)."))

    # ------------------------------------------------------------ ranking with ties
    if summary.get("ranking"):
        rows = summary["ranking"]
        fig, axes = subplots(1, 1, size=(7.0, 0.6 * len(rows) + 1.6))
        ax = axes[0, 0]
        lost = []  # optimizers whose tuned setting diverged on every test seed: no accuracy to draw
        for k, r in enumerate(rows):
            o = r["optimizer"]
            a = opts[o]["test"]["accuracy"]
            y = len(rows) - 1 - k
            if a["mean"] is None:
                lost.append((y, o, k))
                continue
            lo, hi = (a["ci"] if a["ci"] else (a["mean"], a["mean"]))
            lo, hi = clip(100 * lo) / 100, clip(100 * hi) / 100
            ax.plot([100 * lo, 100 * hi], [y, y], "-", color=color(o, k), lw=4, alpha=0.6)
            ax.plot([100 * a["mean"]], [y], "o", color=color(o, k), ms=8)
            tie = f"  tied with {', '.join(_label(t) for t in r['tied_with'])}" if r["tied_with"] else ""
            ax.annotate(f"#{r['rank']}{tie}", (100 * hi, y), textcoords="offset points", xytext=(6, -3), fontsize=8)
        ax.set_yticks(range(len(rows)), [_label(r["optimizer"]) for r in reversed(rows)])
        ax.set_xlabel("test accuracy (%) at the tuned setting: mean and 95 % t-interval")
        ax.set_title("tied = the paired difference's 95 % interval contains 0 (same seeds, same batches)", fontsize=9)
        xl = ax.get_xlim() if len(lost) < len(rows) else (0.0, 100.0)
        ax.set_xlim(xl[0], xl[1] + 0.35 * (xl[1] - xl[0]))
        for y, o, k in lost:
            ax.annotate("diverged on every test seed: no accuracy", (xl[0], y), xytext=(4, 4),
                        textcoords="offset points", fontsize=8, color=color(o, k))
        file = save(fig, out / "ranking.png", "Ranking of the tuned optimizers")
        figs.append((file, "Tuned optimizers by mean test accuracy; a shared rank or a 'tied with' means the data "
                           "cannot tell them apart at the 5 % level."))
    return figs


def _ci(st, scale=100, digits=2):
    if not st or st["mean"] is None:
        return "—"
    if not st["ci"]:
        return f"{scale * st['mean']:.{digits}f}"
    return f"{scale * st['mean']:.{digits}f} [{scale * st['ci'][0]:.{digits}f}, {scale * st['ci'][1]:.{digits}f}]"


def write_sweep(summary: dict) -> str:
    """The Markdown of a sweep: protocol, a table, the ranking and whether the book's ranking survives."""
    s = summary["settings"]
    p = s["problem"]
    opts = summary["optimizers"]
    budget = f"{p['epochs']} epoch(s)" if p.get("epochs") else f"{p['iterations']} iterations"
    lines = [
        f"Each optimizer's learning rate was tuned on a validation split of {p['val_size']} training examples: "
        f"{s['method']} search with {s['points']} point(s) per searched dimension, {len(s['seeds'])} seeds each, "
        f"{budget} of the {'-'.join(map(str, p['layers']))} {p['activation']} network on {p['dataset']} "
        f"(batch {p['batch_size']}). A setting qualifies only if no seed diverged; the best mean validation "
        f"{summary['metric']} wins. The chosen setting (and the book's) was then re-trained on every seed on "
        "training + validation examples and scored once on the test set. Intervals are 95 % Student-t "
        "intervals over seeds, x̄ ± t₀.₉₇₅,ₙ₋₁ s/√n.",
        "",
        "| optimizer | book setting | test acc. (%) at book η | tuned setting | test acc. (%) tuned | "
        "diverged trials | best on edge |",
        "|---|---|---|---|---|---|---|",
    ]
    for o, e in opts.items():
        book, tuned = e.get("book_test"), e.get("test")
        searched = list(s["space"].get(o, {}))
        lines.append(f"| {_label(o)} | {_fmt_hp(book['hparams'], searched) if book else '—'} | "
                     f"{_ci(book['accuracy']) if book else '—'} | "
                     f"{_fmt_hp(e['best'], searched) if e.get('best') else '—'} | "
                     f"{_ci(tuned['accuracy']) if tuned else '—'} | {100 * e['diverged_fraction']:.0f} % | "
                     f"{'yes: widen the range' if e.get('best_on_grid_edge') else 'no'} |")
    if summary.get("ranking"):
        def order(rows):
            out, k = [], 0
            while k < len(rows):  # a group: consecutive optimizers each tied with every other of the group
                group = [rows[k]["optimizer"]]
                while k + 1 < len(rows) and all(g in rows[k + 1]["tied_with"] for g in group):
                    k += 1
                    group.append(rows[k]["optimizer"])
                out.append(" ≈ ".join(_label(g) for g in group))
                k += 1
            return " > ".join(out)

        lines += ["", f"Ranking by test accuracy, tuned: **{order(summary['ranking'])}** "
                      "(≈: tied, the paired 95 % interval of the difference contains 0)."]
        if summary.get("book_ranking"):
            lines.append(f"At the book's learning rates: {order(summary['book_ranking'])}. The ranking of the "
                         f"book's race {'survives' if summary.get('ranking_survives') else 'does **not** survive'} "
                         "tuning" + (" (the order of the means is the same)." if summary.get("ranking_survives")
                                     else " (the order of the means changes)."))
    if summary.get("warnings"):
        lines += ["", *[f"- warning: {w}" for w in summary["warnings"]]]
    return "\n".join(lines) + "\n"


STUDY = Study(
    name="optimizers-tuned",
    title="The optimizer race at tuned learning rates",
    description="the book's MNIST race with each optimizer at its own tuned lr (validation grid, seeds, 95 % CIs)",
    source="Deep Learning from Scratch, ch. 6.1 (optimizer_compare_mnist.py), re-run with tuned learning rates",
    works=("dlfs",),
    measure=measure, draw=draw, write=write,
    reference=REFERENCE, quick=QUICK,
    claims=("ranking", "book_ranking", "ranking_survives"),
)
