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
# # Gradient descent, Newton and momentum on a quadratic
#
# Source: *Deep Learning Systems: Algorithms and Implementation* (CMU 10-414/714, Zico Kolter and Tianqi
# Chen), lecture 6; the blog post *Fully connected neural networks*.
#
# On $f(\theta) = \tfrac12 \theta^\top P \theta + q^\top \theta$ gradient descent
# $\theta \leftarrow \theta - \eta (P\theta + q)$ multiplies the error along each eigenvector of $P$ by
# $1 - \eta\lambda$: it converges iff $\eta < 2 / \lambda_{\max}$, and oscillates once $\eta > 1/\lambda_{\max}$.
# Newton's step $\theta \leftarrow \theta - \alpha P^{-1}\nabla f$ lands on the minimum in one step at $\alpha = 1$.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "quadratic"

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
lam = np.linalg.eigvalsh(np.array(n["P"]))
print(f"eigenvalues {lam}, stability limit 2/λ_max = {n['stability_limit']:.4f}")
assert np.isclose(n["stability_limit"], 2 / lam.max()) and np.isclose(n["condition_number"], lam.max() / lam.min())
gd = n["gd"]
for k, r in gd.items():
    print(f"{k:13s} η = {r['lr']:.4f} ({r['fraction_of_limit']:.2f} of the limit): gap {r['final_gap']:.3g}")
assert gd["diverging"]["diverged"] and gd["diverging"]["fraction_of_limit"] > 1
assert not any(gd[k]["diverged"] for k in ("slow", "no_overshoot", "oscillating"))
assert gd["slow"]["final_gap"] > gd["no_overshoot"]["final_gap"] > gd["oscillating"]["final_gap"]
assert n["newton"]["full"]["steps_to_tol"] == 1 and n["newton"]["full"]["distance_after_1"] < 1e-9
# damped Newton halves the distance each step
d = np.array(n["newton"]["damped"]["distance"])
assert np.allclose(d[1:4] / d[:3], 0.5)
