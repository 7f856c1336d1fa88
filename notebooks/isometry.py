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
# # Dynamical isometry: the Jacobian's singular values at initialization
#
# Source: Pennington, Schoenholz, Ganguli 2017, *Resurrecting the sigmoid in deep learning through dynamical
# isometry: theory and practice*.
#
# At criticality the squared singular values $\lambda$ of the input–output Jacobian $J = \prod_l D^l W^l$ have mean
# 1 at every depth and variance $L\,(\mu_2/\mu_1^2 - 1 - s_1)$, with $\mu_k = \mathbb E[\phi'(\sqrt{q^*}z)^{2k}]$ and
# $s_1 = -1$ for Gaussian, $0$ for orthogonal weights. Orthogonal weights with tanh at a small $q^*$ make
# $\mu_2/\mu_1^2 \approx 1$: every singular value stays near 1 however deep the network.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "isometry"

# %%
import tempfile

from mlplab.lab import get_study, run_study
from mlplab.theory import isometry

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
claims = result.numbers["claims"]
for name, c in claims.items():
    if "holds" in c:
        print(f"{name:45s} {c['measured']:.4g} vs {c['paper']:.4g}: {'holds' if c['holds'] else 'FAILS'}")
assert all(c["holds"] for c in claims.values() if "holds" in c)

# %% [markdown]
# The theory alone: variance of λ at depth 200 for each kind of network (orthogonal tanh at q* = 1/64 against the rest).

# %%
from mlplab.theory import critical_point

w, b = critical_point(1 / 64, "tanh")
for name, sw2, sb2, q in (("linear", 1.0, 0.0, 1.0), ("relu", 2.0, 0.0, 1.0), ("tanh", w, b, 1 / 64)):
    for weights in ("gaussian", "orthogonal"):
        mean, var = isometry.jacobian_moments(sw2, sb2, "identity" if name == "linear" else name, 200, weights, q=q)
        print(f"{name:6s} {weights:10s} mean {float(mean):.3f}  variance {float(var):.3g}")
assert isometry.jacobian_moments(w, b, "tanh", 200, "orthogonal", q=1 / 64)[1] < 0.5

# %% [markdown]
# The training race (the paper's §4): orthogonal tanh at q* = 1/64 against Gaussian tanh at the same point and He
# relu, the steps each seed needs to reach the target training accuracy (a run that never does counts as the budget).

# %%
race = result.numbers["race"]
for kind, v in race["kinds"].items():
    print(f"{kind:16s} steps to {race['target_accuracy']:.0%}: {v['steps_to_target']}, final accuracy "
          f"{v['final_accuracy']}")
print("speed-up of orthogonal tanh:", {k: v["mean"] for k, v in race["speedup"].items()})
assert race["claim"]["holds"]
