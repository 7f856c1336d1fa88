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
# # Which depth can a tanh network be trained at? Trainable iff $L \lesssim k\,\xi_c$
#
# Source: Schoenholz, Gilmer, Ganguli, Sohl-Dickstein 2017, *Deep Information Propagation* (Fig. 5).
#
# Two inputs' correlation reaches its fixed point within about $\xi_c = -1/\ln\chi_c$ layers; beyond a few
# $\xi_c$ the network has forgotten which input it saw (ordered phase) or scrambled it (chaotic phase), and
# its gradients vanish or explode alike. $\xi_c$ diverges at the critical $\sigma_w^2$ ($\chi_1 = 1$), so only
# there can very deep networks train. The study trains a grid of depth × $\sigma_w^2$ on MNIST ($\sigma_b^2 = 0.05$)
# with SGD, the networks of one depth stacked into one batched model, and fits the $k$ of each training budget.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "trainability"

# %%
import tempfile

import numpy as np

from mlplab import theory as T
from mlplab.lab import get_study, run_study
from mlplab.lab.trainability import fit_k

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
for steps, f in n["fits"].items():
    print(f"after {steps:>5} steps: k = {f['k']:.2f} (any k in [{f['k_lo']:.2f}, {f['k_hi']:.2f}] explains "
          f"{100 * f['agreement']:.0f} % of the cells; the paper's k = 6 explains {100 * f['agreement_at_paper_k']:.0f} %)")
acc = np.array(n["series"]["accuracy"], dtype=float)[-1]
xi = T.propagation(np.array(n["sigma_w2"]), 0.05, "tanh").xi_c
print("ξ_c over the grid:", np.round(xi, 1))
f = fit_k(n["depths"], xi, acc >= n["trainable_accuracy"])  # the fit again, from the accuracies
assert abs(f["k"] - n["claims"]["k_fitted"]["measured"]) < 1e-9
assert all(c["holds"] for c in n["claims"].values() if "holds" in c)
