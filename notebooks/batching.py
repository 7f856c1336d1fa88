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
# # Full batch, mini-batch, one example: noise, speed and saddle points
#
# Source: the blog post *2.1 Convolutional neural networks: neural networks, advanced* (full-batch,
# mini-batch and single-sample gradient descent; local minima and saddle points).
#
# A mini-batch gradient $\hat g_B = \frac1B \sum_{i \in B} \nabla \ell_i$ is an unbiased estimate of the full
# gradient $g$ whose variance falls as $1/B$:
#
# $$\mathbb{E}\,\lVert \hat g_B - g\rVert^2 = \frac{\operatorname{tr}\Sigma}{B}
# \quad\Longrightarrow\quad \text{slope } -1 \text{ on a log-log plot.}$$

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "batching"

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
noise = n["gradient_noise"]
print("relative variance by batch size:", dict(zip(noise["batch_sizes"], np.round(noise["relative_variance"], 3))))
print(f"fitted slope {noise['fitted_slope']:.3f} (theory: -1)")
assert abs(noise["fitted_slope"] + 1) < 0.2
# a larger batch gives a smoother training loss
rough = [n["batch_sizes"][str(b)]["batch_loss_roughness"] for b in sorted(map(int, n["batch_sizes"]))]
assert all(a > b for a, b in zip(rough, rough[1:]))
