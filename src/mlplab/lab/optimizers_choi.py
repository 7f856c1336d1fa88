"""optimizers-choi: Choi et al.'s protocol on the book's MNIST network: every hyperparameter of the rule tuned.

Choi et al. (2019, *On Empirical Comparisons of Optimizers for Deep Learning*) argue that a more general
optimizer never loses to its special case once its extra hyperparameters are tuned (SGD ⊆ Momentum ⊆
Adam), and that rankings which say otherwise come from search spaces that exclude the special case. This
study gives SGD, Momentum and Adam the same network, data, seeds and budget as :mod:`.optimizers_tuned`
(600 iterations of the 784-100-100-100-100-10 ReLU network of *Deep Learning from Scratch*, ch. 6.1), and
searches every hyperparameter of their rule on log scales (learning rate, 1 − momentum or 1 − β₁, 1 − β₂,
ε; ranges that contain momentum 0, β₁ = 0 and ε = 1) with a budget of quasi-random (scrambled Sobol)
settings each (:mod:`mlplab.sweep`). The chosen setting of each is re-trained on every seed and scored
once on the test set; the verdict on the inclusion claim (paired t-tests over seeds, Holm-corrected:
does a general optimizer fall significantly behind its special case, inside a space that contains it?)
comes with the steps and seconds each takes to a validation accuracy (time-to-target, as AlgoPerf
scores). The quick variant searches 4 settings over a subset.

It was the second half of ``optimizers-tuned`` until 2026-12-06: its 153 trials more than tripled that
study's time, so it is a study of its own in the ``frontier`` group (``mlplab lab run frontier``, or
``mlplab lab run optimizers-choi``), and ``make demo`` runs the book's race alone. The numbers are the
same: the trials are the same pure functions of their descriptions. Figures and tables are those of any
sweep (:func:`.optimizers_tuned.draw_sweep`, :func:`.optimizers_tuned.write_sweep`).
"""

from __future__ import annotations

from pathlib import Path

from .base import Context, Figure, Study
from .optimizers_tuned import draw_sweep, run_in_temp, write_sweep

OPTIMIZERS = ["sgd", "momentum", "adam"]  # Choi et al.'s inclusion chain SGD ⊆ Momentum ⊆ Adam

REFERENCE = {"budget": 16, "seeds": 3, "iterations": 600, "train_size": None, "val_size": 10_000, "test_size": None,
             "target": 0.95}
QUICK = {"budget": 4, "seeds": 2, "iterations": 100, "train_size": 3_000, "val_size": 500, "test_size": 1_000,
         "target": 0.75}


def measure(settings: dict, ctx: Context) -> dict:
    """Run the sweep (Sobol selection on validation, then the chosen settings on test) in a temporary
    folder; the numbers are its summary (the verdict under ``inclusion``)."""
    from ..sweep.settings import SweepSettings

    # the seeds and the problem of optimizers-tuned: the same trials, so the same numbers, as when it ran there
    seeds = [ctx.seed * 1000 + i for i in range(settings["seeds"])]
    problem = dict(iterations=settings["iterations"], epochs=None, train_size=settings["train_size"],
                   val_size=settings["val_size"], test_size=settings["test_size"],
                   layers="784,100,100,100,100,10", activation="relu", init="he", batch_size=128)
    s = SweepSettings.from_options(",".join(OPTIMIZERS), space="choi", budget=settings["budget"], seeds=seeds,
                                   book=False, target=settings["target"], **problem)
    ctx.plan(len(OPTIMIZERS) * (settings["budget"] + 1) * settings["seeds"])
    return run_in_temp(s, ctx)


def draw(numbers: dict, out: Path) -> list[Figure]:
    return [Figure(f, c) for f, c in draw_sweep(numbers, Path(out))]


def write(numbers: dict) -> str:
    """The section: the verdict on the inclusion claim with this budget, then :func:`write_sweep`."""
    inc = numbers.get("inclusion") or {}
    s = numbers["settings"]
    n_trials = s["points"] * len(s["seeds"])
    verdict = inc.get("verdict", "not measured")
    if verdict == "holds":
        verdict += " (not contradicted: no general optimizer significantly behind its special case)"
    return ("Choi et al. (2019, *On Empirical Comparisons of Optimizers for Deep Learning*) argue that a more "
            "general optimizer never loses to its special case once its extra hyperparameters are tuned (SGD ⊆ "
            "Momentum ⊆ Adam), and that rankings which say otherwise come from search spaces that exclude the "
            f"special case. Here SGD, Momentum and Adam were each given **{s['points']} quasi-random settings** "
            f"({n_trials} selection trials per optimizer over {len(s['seeds'])} seeds), on log scales of the "
            "learning rate, 1 − momentum, 1 − β₁, 1 − β₂ and ε (ranges that contain momentum 0, β₁ = 0 and "
            f"ε = 1). **Verdict on MNIST with this budget: {verdict}** — {inc.get('text', '')}. A budget this "
            "small for four dimensions may miss Adam's best region: the verdict says what this budget found, "
            "not what unlimited tuning would. (The book's race at tuned learning rates, the same network, data "
            "and seeds, is the study `optimizers-tuned`.)\n\n" + write_sweep(numbers))


STUDY = Study(
    name="optimizers-choi",
    title="Choi et al.'s protocol: every hyperparameter tuned",
    description="SGD ⊆ Momentum ⊆ Adam on the book's MNIST network with every hyperparameter of the rule tuned "
                "(a Sobol budget, seeds): does a general optimizer ever lose to its special case?",
    source="Choi et al. 2019, On Empirical Comparisons of Optimizers for Deep Learning (the inclusion claim), on "
           "the network of Deep Learning from Scratch, ch. 6.1",
    works=("choi2019", "dlfs"),
    measure=measure, draw=draw, write=write,
    reference=REFERENCE, quick=QUICK,
    claims=("ranking", "inclusion"),
)
