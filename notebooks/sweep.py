# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A fair optimizer comparison: a sweep
#
# Sources: *Deep Learning from Scratch* (Koki Saitō), ch. 6.1 races the optimizers at one fixed learning rate
# each; Google's *Deep Learning Tuning Playbook* tunes the learning rate per optimizer before comparing, and
# Schmidt, Schneider and Hennig's *Descending through a Crowded Valley* finds no optimizer dominates once tuned.
#
# Each optimizer's learning rate is chosen on a validation split, then re-trained on every seed and scored on
# the test set; means come with 95 % $t$-intervals $\bar x \pm t_{0.975, k-1}\, s/\sqrt{k}$ (from 3 seeds on) and
# a Wilson interval of the pooled test answers, and two optimizers are tied when a paired $t$-test of their
# per-seed differences, Holm-corrected over all pairs, does not separate them.

# %% tags=["parameters"]
optimizers = "sgd,momentum,adam"
lr_grid = 4
seeds = 3
problem = dict(dataset="spirals", layers="2,32,2", train_size=600, val_size=200, test_size=400, epochs=20,
               batch_size=32)
workers = 2
out = None

# %%
import tempfile

from mlplab.sweep import SweepSettings, make_executor, run_sweep

settings = SweepSettings.from_options(optimizers=optimizers, lr_grid=lr_grid, seeds=seeds, **problem)
out = out or tempfile.mkdtemp(prefix="mlplab-sweep-")
executor = make_executor("local", workers)
try:
    summary = run_sweep(settings, out, executor)
finally:
    executor.shutdown()
summary  # shows itself: the learning-rate curves, the ranking, the ties

# %%
import math

for o, e in summary["optimizers"].items():
    acc = e["test"]["accuracy"]
    print(f"{o:9s} lr {e['best']['lr']:g}: test accuracy {acc['mean']:.1%} (95 % CI {acc['ci'][0]:.1%} to {acc['ci'][1]:.1%})")
names = optimizers.split(",")
assert [r["optimizer"] for r in summary["ranking"]] and {r["optimizer"] for r in summary["ranking"]} == set(names)
assert summary["trials"]["total"] == summary["trials"]["select"] + summary["trials"]["test"]
assert summary["trials"]["select"] == len(names) * lr_grid * seeds
for o in names:
    e = summary["optimizers"][o]
    sel = e["selection"]
    # the chosen learning rate is the best mean validation score of the grid
    assert sel["mean"] == max(c["mean"] for c in e["lr_curve"] if c["mean"] is not None and not c["diverged"])
    acc = e["test"]["accuracy"]
    assert len(e["test"]["per_seed"]) == seeds and acc["mean"] > 0.6  # better than chance (1/2)
    lo, hi = acc["ci"]
    assert lo <= acc["mean"] <= hi and math.isfinite(hi - lo)
