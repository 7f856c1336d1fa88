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
# # Finite width: how much the output length of a He-initialized relu network varies
#
# Source: Hanin & Rolnick 2018, *How to start training: the effect of initialization and architecture*.
#
# He's initialization keeps the mean of $M_L = \lVert z^L\rVert^2 / n_L$ fixed, but each layer of width $n$ multiplies
# it by a random factor whose logarithm has variance $\approx 5/n$: over the network
# $\operatorname{Var}\log M_L \approx 5\beta$ with $\beta = \sum_j 1/n_j$, whatever the order of the widths.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "width"

# %%
import tempfile

from mlplab.lab import get_study, run_study
from mlplab.theory import width

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
for key, r in result.numbers["results"].items():
    print(f"{key:18s} β = {r['beta']:.3f}: Var log M_L {r['var_log_M']:.3f} ± {r['se_var']:.3f}, "
          f"exact {r['theory_var']:.3f}, 5β = {r['five_beta']:.3f}")
assert all(c["holds"] for c in result.numbers["claims"].values())
print("a network 10 layers of width 1000:", round(width.log_length_variance([1000] * 10), 4))
