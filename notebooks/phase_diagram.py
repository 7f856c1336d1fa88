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
# # Ordered and chaotic phases of deep random networks
#
# Source: Schoenholz, Gilmer, Ganguli, Sohl-Dickstein 2017, *Deep Information Propagation*; Poole et al. 2016,
# *Exponential expressivity in deep neural networks through transient chaos*.
#
# A wide network with weights $W_{ij} \sim \mathcal N(0, \sigma_w^2/N)$ and biases $b_i \sim \mathcal N(0, \sigma_b^2)$
# carries an input's squared length through $q^{l} = \sigma_w^2\, \mathbb E[\phi(\sqrt{q^{l-1}} z)^2] + \sigma_b^2$ and
# two inputs' correlation through the correlation map, whose slope at $c = 1$ is
# $\chi_1 = \sigma_w^2\, \mathbb E[\phi'(\sqrt{q^*} z)^2]$: $\chi_1 < 1$ orders, $\chi_1 > 1$ is chaotic, and
# correlations reach their fixed point over $\xi_c = -1/\ln \chi_c$ layers. `mlplab.theory` computes all of it;
# the study checks it against random networks.

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "phase-diagram"

# %%
import tempfile

from mlplab import theory
from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
claims = result.numbers["claims"]
for name, c in claims.items():
    verdict = 'holds' if c['holds'] else 'FAILS'
    print(f"{name:40s} {c['measured']:.4g} vs {c['paper']:.4g} ± {c['tolerance']:.2g}: {verdict}")
assert all(c["holds"] for c in claims.values())

# %% [markdown]
# The same numbers straight from the theory module, for any activation and any grid of (σ_w², σ_b²):

# %%
sigma_w2, q_star = theory.critical_line([0.0, 0.05, 0.3], "tanh")
print("tanh critical σ_w² at σ_b² = 0, 0.05, 0.3:", sigma_w2.round(4), "with q* =", q_star.round(4))
p = theory.propagation([1.0, 1.761, 4.0], 0.05, "tanh")
print("phases:", p.phase(tol=1e-3), "ξ_c:", p.xi_c.round(2))
assert abs(sigma_w2[1] - 1.761) < 1e-3 and list(p.phase(tol=1e-3)) == ["ordered", "critical", "chaotic"]
