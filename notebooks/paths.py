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
# # Optimizer paths on F1 and F2
#
# Source: *Deep Learning from Scratch* (Koki Saitō), ch. 6.1 "Parameter updates" and its script
# `optimizer_compare_naive.py`; the blog post *A short summary of parameter updates and weight
# initialization in deep learning*.
#
# SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam and Newton start at $(-7, 2)$ on
#
# $$F_1(x, y) = \frac{x^2}{20} + y^2,$$
#
# whose curvature differs 20-fold between the axes: SGD's step $\theta \leftarrow \theta - \eta\nabla F$ zig-zags
# along $y$, momentum $v \leftarrow \mu v - \eta \nabla F,\ \theta \leftarrow \theta + v$ damps it, and AdaGrad's
# per-coordinate step $\eta / \sqrt{\sum_t g_t^2}$ shrinks where the gradient has been large.

# %% tags=["parameters"]
quick = True  # the quick variant; False: the reference settings of the book
seed = 0
workers = 2
out = None  # a folder for the results; None: a temporary one
STUDY = "paths"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
f1 = result.numbers["F1"]
for name, r in f1.items():
    print(f"{name:9s} distance to the minimum {r['final_distance']:.3g}, y changes sign {r['y_sign_changes']} times")
# SGD zig-zags across the narrow axis at every step; momentum damps it; AdaGrad never overshoots in y
assert f1["sgd"]["y_sign_changes"] >= result.numbers["steps"] - 1
assert f1["momentum"]["y_sign_changes"] < f1["sgd"]["y_sign_changes"] / 3
assert f1["adagrad"]["y_sign_changes"] == 0
# Nesterov's look-ahead ends closest of the first-order methods; Newton is exact on a quadratic
assert f1["nesterov"]["final_distance"] < min(f1[o]["final_distance"] for o in ("sgd", "momentum", "adagrad"))
assert f1["newton"]["final_distance"] < 1e-6
