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
# # Activations through five layers: what the initial weights' scale does
#
# Source: *Deep Learning from Scratch* (Koki Saitō), ch. 6.2 "Initial weight values" and its script
# `weight_init_activation_histogram.py`; the blog post *A short summary of parameter updates and weight
# initialization in deep learning*.
#
# 1000 random inputs pass five layers of 100 units, $a_{l+1} = \varphi(a_l W_l)$, with
# $W_l \sim \mathcal N(0, \sigma^2)$ at $\sigma = 1$, $0.01$, Xavier $\sqrt{1/n}$ and He $\sqrt{2/n}$.
# The pre-activation variance is $\operatorname{Var} z = n\,\sigma^2\, \mathbb E[a^2]$: at $\sigma = 1$ sigmoid
# and tanh saturate (their gradient $\varphi' \approx 0$), at $\sigma = 0.01$ every unit outputs the same value.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "activations"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
import numpy as np

n = result.numbers
for act in ("sigmoid", "tanh"):
    for init in ("std_1", "std_0.01", "xavier"):
        r = n[act][init]
        print(f"{act:8s} {init:9s} std per layer {np.round(r['std'], 3)}, saturated {np.round(r['saturated'], 3)}")
# σ = 1 saturates (most tanh units in the flat tails), σ = 0.01 collapses the spread, Xavier keeps it
assert min(n["tanh"]["std_1"]["saturated"]) > 0.5 and max(n["tanh"]["xavier"]["saturated"]) < 0.05
assert max(n["sigmoid"]["std_0.01"]["std"]) < 0.03 < min(n["sigmoid"]["xavier"]["std"])
# and tanh's measured spread matches the predicted one (the variance recursion) within 5 % at every layer
for init in ("std_1", "std_0.01", "xavier", "he"):
    r = n["tanh"][init]
    assert np.allclose(r["std"], r["predicted_std"], rtol=0.05), init
