"""optimizers-tuned: the book's optimizer race re-run with each optimizer at its own tuned learning rate.

The race of *Deep Learning from Scratch*, ch. 6.1 runs SGD, Momentum and AdaGrad at η = 0.01 and Adam at
η = 0.001, so "SGD is slowest" partly measures those choices. Here each optimizer's learning rate is
tuned on a validation split (a log-spaced grid, several seeds), and the chosen setting and the book's are
both re-trained on every seed and scored once on the test set (:mod:`mlplab.sweep`). The section answers
whether the ranking of the book's race survives tuning by *tie groups* (paired t-tests over seeds,
Holm-corrected): it survives, changes, or cannot be told apart with the seeds used, and then says how
many seeds would tell the races apart (80 % power at the observed differences). The quick variant
tunes on a 3-point grid over a subset. Choi et al.'s protocol on the same network, data and seeds (every
hyperparameter of the rule tuned, SGD ⊆ Momentum ⊆ Adam) is the study :mod:`.optimizers_choi`; it was
this study's second half until 2026-12-06: its 153 trials more than tripled this study's time, so it moved
to the ``frontier`` group, out of ``make demo``.

:func:`draw_sweep` and :func:`write_sweep` make the figures and the section of any sweep's
``summary.json`` (``mlplab sweep report DIR`` uses them too), all from the summary alone:

* ``lr_sensitivity.png``: the selection metric on the validation split against the learning rate,
  one curve per optimizer (mean over seeds, band = 95 % t-interval over seeds, or with fewer than 3
  seeds the Wilson interval of the pooled answers, as the title says), the chosen point starred, a
  learning rate at which some seed diverged marked ✕ at the top of the panel with the count (and the
  mean of the seeds that did not, as a hollow circle off the curve); points without a curve when
  several hyperparameters were searched.
* ``tuned_vs_book.png``: test accuracy of each optimizer at the source book's learning rate and at
  its tuned one, with 95 % intervals (which one, on the axis): the book's race beside the tuned race.
* ``ranking.png``: the tuned optimizers ranked by mean test accuracy with their intervals; ranks follow
  the means, tied optimizers (Holm-corrected paired t-tests over seeds, 5 % level) share one and are named.
"""

from __future__ import annotations

import json
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
    from ..sweep.settings import SweepSettings

    seeds = [ctx.seed * 1000 + i for i in range(settings["seeds"])]
    problem = dict(iterations=settings["iterations"], epochs=None, train_size=settings["train_size"],
                   val_size=settings["val_size"], test_size=settings["test_size"],
                   layers="784,100,100,100,100,10", activation="relu", init="he", batch_size=128)
    s = SweepSettings.from_options(",".join(OPTIMIZERS), lr_grid=settings["lr_grid"], seeds=seeds, **problem)
    n_select = len(OPTIMIZERS) * settings["lr_grid"] * settings["seeds"]
    ctx.plan(n_select + 2 * len(OPTIMIZERS) * settings["seeds"])
    return run_in_temp(s, ctx)


def run_in_temp(s, ctx: Context) -> dict:
    """The sweep ``s`` on a local executor of ``ctx.workers`` processes, in a temporary folder (a study keeps
    its numbers, not the sweep's trial records), each finished trial one step of ``ctx``'s progress."""
    from ..sweep.executor import make_executor
    from ..sweep.runner import run_sweep

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
    """The section: whether the book's ranking survives tuning (by tie groups, with the seeds that would
    tell the races apart), then :func:`write_sweep`."""
    from ..sweep.stats import groups_text

    verdict = numbers.get("ranking_verdict") or {}
    answer = {"survives": "Yes", "changes": "No", "cannot tell": "Cannot be told apart"}.get(verdict.get("verdict"),
                                                                                          "Not measured")
    book = groups_text(numbers.get("book_ranking", []), _label)
    tuned = groups_text(numbers.get("ranking", []), _label)
    lead = (f"**Does the book's ranking survive tuning? {answer}.** At the book's learning rates the tie groups "
            f"by test accuracy are {book}; each at its own tuned setting they are {tuned} (≈: not told apart by "
            "paired t-tests over seeds, Holm-corrected over all pairs at the 5 % level). "
            + (verdict.get("text", "")[:1].upper() + verdict.get("text", "")[1:] + ". " if verdict else "")
            + "A slower optimizer at a fixed, untuned η is partly a statement about that η: the *Deep Learning "
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
    searched = set(searched) | ({"betas"} if {"beta1", "beta2"} & set(searched) else set())
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
        there (summary.json cuts it too, and marks it ``ci_cut``; older summaries did not)."""
        return min(max(v, 0.0), 100.0) if metric == "accuracy" else v

    kinds = set()

    def interval(st, pooled):
        """(lo, hi) in the metric's units: the seed t-interval, else (too few seeds) the pooled Wilson one."""
        if st.get("ci"):
            kinds.add("t")
            return clip(scale * st["ci"][0]), clip(scale * st["ci"][1])
        if pooled and pooled.get("ci") and metric == "accuracy":
            kinds.add("wilson")
            return scale * pooled["ci"][0], scale * pooled["ci"][1]
        return None

    def kinds_text():
        n = len(summary["settings"]["seeds"])
        return {frozenset({"t"}): "95 % t-interval over seeds (cut at 0 and 100 %)",
                frozenset({"wilson"}): f"95 % Wilson interval of the pooled answers (n = {n}: too few seeds for "
                                       "a seed interval)",
                frozenset({"t", "wilson"}): "95 % t-interval over seeds, or Wilson over the pooled answers where "
                                            "fewer than 3 seeds finished"}.get(frozenset(kinds), "no interval")

    # ------------------------------------------------------------ learning-rate sensitivity
    fig, axes = subplots(1, 1, size=(7.5, 4.6))
    ax = axes[0, 0]
    top = -math.inf
    for i, (o, e) in enumerate(opts.items()):
        pts = sorted((c for c in e["lr_curve"]), key=lambda c: c["hparams"]["lr"])
        ok = [c for c in pts if c["mean"] is not None and c["diverged"] == 0 and c["failed"] == 0]
        one_dim = len({json.dumps({k: v for k, v in c["hparams"].items() if k != "lr"}, sort_keys=True)
                       for c in pts}) <= 1
        if ok:
            x = [c["hparams"]["lr"] for c in ok]
            # several hyperparameters searched: points, not a curve (neighbours differ in more than η)
            ax.plot(x, [scale * c["mean"] for c in ok], "o-" if one_dim else "o", color=color(o, i),
                    label=_label(o), ms=4)
            iv = [interval(c, c.get("pooled")) or (scale * c["mean"],) * 2 for c in ok]
            lo, hi = [v[0] for v in iv], [v[1] for v in iv]
            if one_dim:
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
    ax.set_title(f"mean and {kinds_text()}; ★ chosen;\n✕ some seed diverged "
                 "(how many, below; ○ the mean of the others)", fontsize=8)
    ax.legend(fontsize=8, loc="best")
    file = save(fig, out / "lr_sensitivity.png", "Learning-rate sensitivity, on the validation split")
    figs.append((file, f"Validation {what} against the learning rate for each optimizer: the mean over seeds with "
                       f"its {kinds_text()}, the chosen learning rate starred, diverged settings marked ✕."))

    # ------------------------------------------------------------ tuned race vs book race
    names = [o for o in opts if "test" in opts[o] or "book_test" in opts[o]]
    kinds.clear()
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
                iv = interval(a, st.get("pooled"))
                err = [[m - iv[0]], [iv[1] - m]] if iv else None
                ax.errorbar([j + dx], [m], yerr=err, fmt=marker, color=color(o, j), ms=7, capsize=4,
                            mfc="white" if tag == "book" else color(o, j))
                ax.annotate(f"{tag}\nη={st['hparams']['lr']:.3g}", (j + dx, m), textcoords="offset points",
                            xytext=(-8 if tag == "book" else 8, -4), ha="right" if tag == "book" else "left",
                            va="center", fontsize=7)
        ax.set_xticks(range(len(names)), [_label(o) for o in names])
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylabel("test accuracy (%): mean and\n" + kinds_text().replace(" (", "\n("), fontsize=8)
        ax.set_title("open squares: the book's learning rate;\nfilled circles: tuned on validation", fontsize=9)
        file = save(fig, out / "tuned_vs_book.png", "The book's race and the tuned race")
        figs.append((file, "Test accuracy of each optimizer at the source book's learning rate and at the learning "
                           "rate chosen on the validation split (re-trained on every seed, scored once on test); "
                           f"bars: {kinds_text()}."))

    # ------------------------------------------------------------ ranking with ties
    if summary.get("ranking"):
        rows = summary["ranking"]
        fig, axes = subplots(1, 1, size=(7.0, 0.6 * len(rows) + 1.6))
        ax = axes[0, 0]
        kinds.clear()
        lost = []  # optimizers whose tuned setting diverged on every test seed: no accuracy to draw
        for k, r in enumerate(rows):
            o = r["optimizer"]
            a = opts[o]["test"]["accuracy"]
            y = len(rows) - 1 - k
            if a["mean"] is None:
                lost.append((y, o, k))
                continue
            lo, hi = interval(a, opts[o]["test"].get("pooled")) or (100 * a["mean"],) * 2
            ax.plot([lo, hi], [y, y], "-", color=color(o, k), lw=4, alpha=0.6)
            ax.plot([100 * a["mean"]], [y], "o", color=color(o, k), ms=8)
            tie = f"  tied with {', '.join(_label(t) for t in r['tied_with'])}" if r["tied_with"] else ""
            ax.annotate(f"#{r['rank']}{tie}", (hi, y), textcoords="offset points", xytext=(6, -3), fontsize=8)
        ax.set_yticks(range(len(rows)), [_label(r["optimizer"]) for r in reversed(rows)])
        ax.set_xlabel(f"test accuracy (%) at the tuned setting: mean and {kinds_text()}", fontsize=8)
        ax.set_title("tied = not told apart by paired t-tests over seeds (same seeds, same batches),\n"
                     "Holm-corrected over all pairs at the 5 % level; ranks follow the means", fontsize=9)
        xl = ax.get_xlim() if len(lost) < len(rows) else (0.0, 100.0)
        ax.set_xlim(xl[0], xl[1] + 0.35 * (xl[1] - xl[0]))
        for y, o, k in lost:
            ax.annotate("diverged on every test seed: no accuracy", (xl[0], y), xytext=(4, 4),
                        textcoords="offset points", fontsize=8, color=color(o, k))
        file = save(fig, out / "ranking.png", "Ranking of the tuned optimizers")
        figs.append((file, "Tuned optimizers by mean test accuracy; a shared rank or a 'tied with' means the data "
                           "cannot tell them apart (Holm-corrected paired t-tests, 5 % level)."))
    return figs


def _ci(st, pooled=None, scale=100, digits=2):
    from ..sweep.stats import interval_text

    return interval_text(st, pooled, scale, digits)


def _steps_to(tt) -> str:
    c = (tt or {}).get("chosen")
    if not c or not c["reached"]:
        return "not reached"
    sec = f" ({c['median_seconds']:.3g} s)" if c.get("median_seconds") is not None else ""
    return f"{c['median_steps']:,.0f}{sec}" + ("" if c["reached"] == c["of"] else f", {c['reached']}/{c['of']} seeds")


def _search_text(s) -> str:
    """How the settings were searched: grid points per dimension, or the Sobol/random budget, and what."""
    dims = sorted({k for sp in s["space"].values() for k, v in sp.items() if isinstance(v, dict)})
    what = ", ".join(dims) or "lr"
    if s["method"] == "grid":
        return f"grid search over {what} with {s['points']} point(s) per searched dimension"
    return (f"{'quasi-random (scrambled Sobol)' if s['method'] == 'sobol' else 'random'} search over {what}: "
            f"a budget of {s['points']} settings per optimizer (seed {s['search_seed']})")


def write_sweep(summary: dict) -> str:
    """The Markdown of a sweep: protocol, a table, the tie groups, whether the book's ranking survives, and
    Choi et al.'s inclusion claim."""
    from ..sweep.stats import SEED_INTERVAL_MIN, groups_text

    s = summary["settings"]
    p = s["problem"]
    opts = summary["optimizers"]
    budget = f"{p['epochs']} epoch(s)" if p.get("epochs") else f"{p['iterations']} iterations"
    n_seeds = len(s["seeds"])
    lines = [
        f"Each optimizer was tuned on a validation split of {p['val_size']} training examples: "
        f"{_search_text(s)}, {n_seeds} seeds each, "
        f"{budget} of the {'-'.join(map(str, p['layers']))} {p['activation']} network on {p['dataset']} "
        f"(batch {p['batch_size']}). A setting qualifies only if no seed diverged; the best mean validation "
        f"{summary['metric']} wins, unless every setting scored at chance (nothing learned: nothing is chosen). "
        "The chosen setting (and the book's; once when they are equal by value) was then re-trained on every "
        "seed on training + validation examples and scored once on the test set. Accuracies are the mean over "
        f"seeds with its 95 % Student-t interval over seeds (x̄ ± t₀.₉₇₅,ₙ₋₁ s/√n, marked t; at least "
        f"{SEED_INTERVAL_MIN} seeds; cut at 0 and 100 % when it reaches past them, marked cut), then the 95 % "
        "Wilson interval of every seed's test answers pooled (marked Wilson): how precisely these networks "
        "were scored, not how much another seed would move them.",
        "",
    ]
    target = s.get("target")
    ttt = f" steps (s) to {100 * target:.1f} % val. |" if target is not None else ""
    lines += ["| optimizer | book setting | test acc. (%) at book setting | tuned setting | test acc. (%) tuned | "
              "diverged trials | best on edge |" + ttt, "|---|---|---|---|---|---|---|" + ("---|" if ttt else "")]
    for o, e in opts.items():
        book, tuned = e.get("book_test"), e.get("test")
        searched = list(s["space"].get(o, {}))
        best = (_fmt_hp(e["best"], searched) if e.get("best")
                else "— (nothing learned)" if e.get("nothing_learned") else "—")
        same = " (the tuned setting: trained once)" if book and book.get("same_as_tuned") else ""
        lines.append(f"| {_label(o)} | {_fmt_hp(book['hparams'], searched) if book else '—'}{same} | "
                     f"{_ci(book['accuracy'], book.get('pooled')) if book else '—'} | {best} | "
                     f"{_ci(tuned['accuracy'], tuned.get('pooled')) if tuned else '—'} | "
                     f"{100 * e['diverged_fraction']:.0f} % | "
                     f"{'yes: widen the range' if e.get('best_on_grid_edge') else 'no'} |"
                     + (f" {_steps_to(e.get('time_to_target'))} |" if ttt else ""))
    if summary.get("ranking"):
        lines += ["", f"Tie groups by test accuracy, tuned: **{groups_text(summary['ranking'], _label)}** (≈: not "
                      "told apart by paired t-tests over seeds, Holm-corrected over all pairs at the 5 % level; "
                      "ranks: " + ", ".join(f"{_label(r['optimizer'])} {r['rank']}" for r in summary["ranking"])
                      + ")."]
        if summary.get("book_ranking"):
            lines.append(f"At the book's settings: {groups_text(summary['book_ranking'], _label)}.")
        v = summary.get("ranking_verdict")
        if v:
            lines.append(f"Verdict: {v['text']}.")
        inc = summary.get("inclusion")
        if inc and inc.get("pairs"):
            what = {"holds": "holds (not contradicted: no general optimizer significantly behind its special case)",
                    "violated": "violated"}.get(inc["verdict"], inc["verdict"])
            lines.append(f"Choi et al.'s inclusion claim (a more general optimizer never loses once its extra "
                         f"hyperparameters are tuned): **{what}** with this budget — {inc['text']}.")
    if ttt:
        from ..sweep.stats import time_to_target_text

        lines += ["", "Time to target (as AlgoPerf scores: how soon the validation target is reached, beside how "
                      "good the end is; seconds of training on this machine, medians over seeds):"]
        lines += [f"- {_label(o)}: {time_to_target_text(e['time_to_target'])}" for o, e in opts.items()
                  if e.get("time_to_target")]
    if summary.get("warnings"):
        lines += ["", *[f"- warning: {w}" for w in summary["warnings"]]]
    return "\n".join(lines) + "\n"


STUDY = Study(
    name="optimizers-tuned",
    title="The optimizer race at tuned learning rates",
    description="the book's MNIST race with each optimizer at its own tuned lr (validation grid, seeds, tie groups)",
    source="Deep Learning from Scratch, ch. 6.1 (optimizer_compare_mnist.py), re-run with tuned learning rates",
    works=("dlfs",),
    measure=measure, draw=draw, write=write,
    reference=REFERENCE, quick=QUICK,
    claims=("ranking", "book_ranking", "ranking_verdict"),
)
