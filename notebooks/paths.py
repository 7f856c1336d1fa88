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
# $$F_1(x, y) = x^2 + y^2, \qquad F_2(x, y) = 0.05\,x^2 + y^2.$$
#
# On $F_1$ SGD's step $\theta \leftarrow \theta - \eta\nabla F$ multiplies each coordinate by $1 - 2\eta$: at
# the study's $\eta = 0.95$ that is $-0.9$, an overshoot at every step. Momentum
# $v \leftarrow \mu v - \eta \nabla F,\ \theta \leftarrow \theta + v$ accumulates the gradient instead, and AdaGrad's
# per-coordinate step $\eta / \sqrt{\sum_t g_t^2}$ shrinks where the gradient has been large. $F_2$'s curvature
# differs 20-fold between the axes, so a step safe for $y$ is tiny for $x$.

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
# SGD at η = 0.95 overshoots at every step (factor 1 − 2η = −0.9); momentum much less; AdaGrad never
assert f1["sgd"]["y_sign_changes"] >= result.numbers["steps"] - 1
assert f1["momentum"]["y_sign_changes"] < f1["sgd"]["y_sign_changes"] / 3
assert f1["adagrad"]["y_sign_changes"] == 0
# Nesterov's look-ahead ends closest of the first-order methods; Newton is exact on a quadratic
assert f1["nesterov"]["final_distance"] < min(f1[o]["final_distance"] for o in ("sgd", "momentum", "adagrad"))
assert f1["newton"]["final_distance"] < 1e-6
# on F2 the shallow x direction slows SGD down; Newton is still exact on a quadratic
f2 = result.numbers["F2"]
assert f2["sgd"]["final_distance"] > f1["sgd"]["final_distance"] and f2["newton"]["final_distance"] < 1e-6
