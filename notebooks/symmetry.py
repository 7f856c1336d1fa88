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
# # Symmetry: why all-equal weights cannot learn
#
# Source: the blog posts *DL basics (4): initializing weight matrices* and *A short summary of parameter updates
# and weight initialization in deep learning*; *Deep Learning from Scratch* (Koki Saitō), ch. 6.2.1.
#
# If every unit of a layer starts with the same weights, they compute the same output and receive the same
# gradient $\partial L / \partial W_{:,j}$, so gradient descent keeps them equal forever: the layer behaves like
# one unit. With all-zero weights even that gradient is zero for every layer but the last at the first step.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "symmetry"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
for k in ("zeros", "constant", "random"):
    r = n[k]
    print(f"{r['label']:16s} distinct hidden units at the end {r['final_distinct_units']}, loss {r['final_loss']:.3f}")
assert n["zeros"]["nonzero_grad_layers_step0"] == [3] and n["zeros"]["grad_norm_step0"][:2] == [0.0, 0.0]
assert n["zeros"]["final_distinct_units"] == [1, 1] and n["constant"]["final_distinct_units"] == [1, 1]
assert n["random"]["final_distinct_units"] == [50, 50]
assert n["random"]["final_loss"] < n["zeros"]["final_loss"] - 0.5
