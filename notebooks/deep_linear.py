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
# # Deep linear networks learn one singular mode at a time
#
# Source: Saxe, McClelland, Ganguli 2014, *Exact solutions to the nonlinear dynamics of learning in deep linear
# neural networks*.
#
# From initial weights aligned with the target map's singular modes, each mode's strength in a network with one
# hidden layer follows $u(t) = \dfrac{s\, e^{2st/\tau}}{e^{2st/\tau} - 1 + s/u_0}$: a plateau, then a sudden rise at
# $t \approx \frac{\tau}{2s}\ln(s/u_0)$, strong modes first. With $D$ layers, $\tau\,\dot u = D\,u^{2-2/D}(s - u)$.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "deep-linear"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
for key, times in n["half_times"].items():
    print(f"{key:18s} steps to s/2: {times}")
print("theory (D = 2):  ", [round(t, 1) for t in n["half_time_theory"]["D=2 decoupled"]])
assert all(c["holds"] for c in n["claims"].values() if "holds" in c)

# %% [markdown]
# Time to learn against depth (Saxe et al. §4): from the balanced orthogonal condition the time stops growing with
# depth; from scaled Gaussian weights it grows (η = c/D, one c per initialization).

# %%
tv = n["time_vs_depth"]
for init, rows in tv["table"].items():
    print(f"{init:20s}", {D: r["median"] for D, r in rows.items()})
assert all(c["holds"] for c in tv["claims"].values())
