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
# # The initialization race on MNIST
#
# Source: *Deep Learning from Scratch* (Koki Saitō), ch. 6.2 and its script `weight_init_compare.py`;
# deeplearning.ai's note *Initializing neural networks* (Kian Katanforoosh and Daniel Kunin); the blog posts
# *A short summary of parameter updates and weight initialization in deep learning* and its Chinese
# translation of the deeplearning.ai note.
#
# A deep ReLU network keeps the signal's scale when $\operatorname{Var} W = 2 / n_{\text{in}}$ (He):
# $\operatorname{Var} z_{l+1} = n\,\operatorname{Var} W \cdot \tfrac12 \operatorname{Var} z_l$.
# With $\sigma = 0.01$ the signal shrinks layer by layer and the network does not learn in 300 steps; the
# deeplearning.ai race (tanh, 784-300×4-10) compares zero, uniform, Xavier $\mathcal N(0, 1/n)$ and
# standard-normal weights. MNIST is fetched (and verified) through `mlplab.data`.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "init-mnist"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
book, dlai = n["book"]["runs"], n["dlai"]["runs"]
for k, r in {**book, **dlai}.items():
    print(f"{r['label']:20s} final loss {r['final_loss']:.3f}")
# the book's race: He < Xavier < std 0.01 in final loss; std 0.01 stays at chance (log 10 = 2.303)
assert book["he"]["final_loss"] < book["xavier"]["final_loss"] < book["std_0.01"]["final_loss"]
assert abs(book["std_0.01"]["final_loss"] - 2.3026) < 0.01 and book["he"]["test_acc"] > 0.7
# deeplearning.ai's race: zero weights give all-zero tanh activations; Xavier learns best
assert max(dlai["zeros"]["act_std"]) == 0.0
assert dlai["xavier"]["final_loss"] == min(r["final_loss"] for r in dlai.values())
assert dlai["normal"]["initial_loss"] > 5 * dlai["xavier"]["initial_loss"]  # saturated, confidently wrong
