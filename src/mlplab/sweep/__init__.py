"""``mlplab sweep``: fair optimizer comparisons, each optimizer at its own tuned learning rate.

The source book races optimizers at one fixed learning rate each (SGD 0.01), so "SGD is slowest"
partly measures that choice. A sweep tunes the learning rate (and any other hyperparameter) of each
optimizer on a validation split, repeats over seeds, and reports means with 95 % confidence
intervals, so a ranking says where optimizers are statistically tied. Google's *Deep Learning
Tuning Playbook* (the learning rate is a nuisance parameter, tuned per optimizer), Choi et al.
(2019, rankings flip with the tuning protocol) and Schmidt, Schneider & Hennig's *Descending
through a Crowded Valley* (no optimizer dominates once tuned) are the background.

One concept per module: :mod:`.space` (grid, random and Sobol points; the lr, lr+momentum and
choi spaces), :mod:`.problem` (data, network, budget), :mod:`.trial` (a pure function of (config,
seed), and stacked trials), :mod:`.store` (SQLite, one row per trial), :mod:`.executor` (forked
workers or Dask), :mod:`.stats` (t- and Wilson intervals, Holm-corrected tie groups, the
book-vs-tuned verdict with the seeds needed, chance level, Choi et al.'s inclusion claim,
time-to-target), :mod:`.settings` and :mod:`.runner`. The figures and the section live with the lab
(:mod:`mlplab.lab.optimizers_tuned`), which draws; the core does not.
"""

from .executor import make_executor
from .runner import run_sweep
from .settings import SweepSettings

__all__ = ["SweepSettings", "run_sweep", "make_executor"]
