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
# # A 50-layer ReLU network at σ² = 1/n, 2/n and 3/n
#
# Source: *Deep Learning Systems: Algorithms and Implementation* (CMU 10-414/714), lecture 6,
# "initialization"; the blog post *Fully connected neural networks*.
#
# With ReLU, $\mathbb E\lVert z_{l+1}\rVert^2 = n \sigma^2 \cdot \tfrac12\, \mathbb E\lVert z_l\rVert^2$: each layer
# multiplies the squared norm by $n\sigma^2/2$, which is $\tfrac12$, $1$ and $\tfrac32$ for
# $\sigma^2 = 1/n, 2/n, 3/n$. Over 50 layers that is $2^{-50}$, $1$ and $1.5^{50}$; the gradients follow.
# MNIST is fetched (and verified) through `mlplab.data`.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "depth"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
c = n["claims"]
for k in ("1/n", "2/n", "3/n"):
    print(f"σ² = {k}: per-layer factor of ‖z‖² {n[k]['predicted_factor']:.2f}, last/first activation norm "
          f"{c['act_norm_last_over_first'][k]:.3g} (predicted {c['predicted_act_norm_last_over_first'][k]:.3g})")
assert all(abs(n[k]["predicted_factor"] - f) < 1e-9 for k, f in (("1/n", 0.5), ("2/n", 1.0), ("3/n", 1.5)))
assert c["act_norm_last_over_first"]["1/n"] < 1e-5 < 0.1 < c["act_norm_last_over_first"]["2/n"] < 10 \
    < 1000 < c["act_norm_last_over_first"]["3/n"]
assert c["diverged_3n"] and c["grad_ratio_3n_over_1n_median"] > 1e6
assert c["max_relative_change_2n"] < 0.1  # the weights barely move in training: ‖W − W₀‖/‖W₀‖ stays small
