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
# # The linear chain: exploding and vanishing signals
#
# Source: deeplearning.ai's note *Initializing neural networks* (Kian Katanforoosh and Daniel Kunin) and its
# Chinese translation (blog post).
#
# Ten linear layers with $W = \gamma I$ compute $\hat y = \gamma^{10} x$: activations grow (or shrink) by
# $\gamma$ per layer and the gradient reaching layer $l$ by $\gamma^{L-l}$, so at $\gamma = 1.5$ training
# explodes, at $\gamma = 0.5$ the first layers barely learn, and only $\gamma = 1$ keeps both.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "linear-chain"

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
for g in ("1.5", "1.0", "0.5"):
    r = n[g]
    print(f"γ = {g}: activation ratio per layer {np.mean(r['act_ratio']):.4f}, loss {r['initial_loss']:.3g} -> "
          f"{r['final_loss']:.3g}, diverged at {r['diverged_at']}")
    assert np.allclose(r["act_ratio"], float(g), rtol=1e-6) and np.allclose(r["grad_ratio"], float(g), rtol=1e-5)
assert n["1.5"]["diverged_at"] is not None and n["1.0"]["diverged_at"] is None
assert n["1.0"]["final_loss"] < 1e-6 < n["0.5"]["final_loss"]
# the gradient of the first layer is γ^9 times the last one's (1.5^9 ≈ 38.4)
assert np.isclose(n["1.5"]["grad_norm"][0] / n["1.5"]["grad_norm"][-1], 1.5 ** 9, rtol=1e-4)
