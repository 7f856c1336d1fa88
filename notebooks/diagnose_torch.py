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
# # Diagnosing a PyTorch model before training it
#
# Source: *Deep Learning from Scratch* (Koki Saitō), ch. 6.2, deeplearning.ai's note *Initializing neural
# networks*, and *Deep Learning Systems* (CMU 10-414/714) lecture 6: the same statistics the lab measures,
# applied to a `torch.nn.Module` of your own.
#
# For each layer $z = \varphi(a W^\top + b)$ it measures the activations' mean and spread, the saturated
# (sigmoid/tanh) or dead (ReLU) fraction, the gradient $\lVert \partial L/\partial W\rVert$ and the first
# updates $\lVert \Delta W\rVert / \lVert W\rVert$, next to what the variance recursion
# $\operatorname{Var} z_{l+1} = n\,\operatorname{Var}W\,\mathbb E[\varphi(z_l)^2]$ predicts.

# %% tags=["parameters"]
width = 256
depth = 4
weight_std = 1.0  # the "standard normal" initialization of deeplearning.ai's race: saturates tanh
seed = 0

# %%
import torch

from mlplab.diagnose.pytorch import diagnose_torch

torch.manual_seed(seed)


def make(std=None):
    layers, n = [], 784
    for _ in range(depth):
        layers += [torch.nn.Linear(n, width), torch.nn.Tanh()]
        n = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(n, 10))
    if std is not None:
        with torch.no_grad():
            for m in model:
                if isinstance(m, torch.nn.Linear):
                    m.weight.normal_(0, std)
    return model


x = torch.rand(256, 784)
bad = diagnose_torch(make(weight_std), x, seed=seed)
bad  # shows itself: the table, the verdict and what to do

# %%
good = diagnose_torch(make(), x, seed=seed)  # PyTorch's default initialization, U(±1/√n)
good

# %%
print(bad.overall, "|", good.overall)
assert bad.overall == "error" and good.overall != "error"
sat = [lay.measured["saturated"] for lay in bad.layers[:-1]]
print("saturated fraction per hidden layer at std", weight_std, [f"{s:.0%}" for s in sat])
assert min(sat) > 0.5  # tanh's flat tails: φ' ≈ 0, nothing flows back
assert max(lay.measured["saturated"] for lay in good.layers[:-1]) < 0.05
