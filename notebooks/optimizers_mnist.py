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
# # The optimizer race on MNIST
#
# Source: *Deep Learning from Scratch* (Koki Saitō), ch. 6.1 and its script `optimizer_compare_mnist.py`;
# the blog post *A short summary of parameter updates and weight initialization in deep learning*.
#
# A 784-100-100-100-100-10 ReLU network, batches of 128, each optimizer at the book's learning rate:
#
# $$\text{SGD: } \theta \leftarrow \theta - \eta g, \quad
# \text{Momentum: } v \leftarrow \mu v - \eta g,\ \theta \leftarrow \theta + v, \quad
# \text{AdaGrad: } h \leftarrow h + g^2,\ \theta \leftarrow \theta - \eta\, g / (\sqrt{h} + \epsilon),$$
# $$\text{Adam: } m \leftarrow \beta_1 m + (1-\beta_1) g,\ v \leftarrow \beta_2 v + (1-\beta_2) g^2,\
# \theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon).$$
#
# MNIST is fetched (and verified) through `mlplab.data` on first use.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "optimizers-mnist"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
opts = n["optimizers"]
for name, r in opts.items():
    print(f"{r['label']:9s} final loss {r['final_loss_mean']:.3f} ± {r['final_loss_std']:.3f}, "
          f"test accuracy {r['test_acc_mean']:.1%}")
# the book's claim: at these learning rates plain SGD is the slowest; the ranking is by final loss
assert n["ranking_by_final_loss"][-1] == "sgd"
assert opts["sgd"]["final_loss_mean"] > max(r["final_loss_mean"] for k, r in opts.items() if k != "sgd")
assert all(r["test_acc_mean"] > 0.7 for r in opts.values())  # every optimizer learns (chance: 10 %)
