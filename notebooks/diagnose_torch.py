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

# %% [markdown]
# ## Curvature of the same kind of model
#
# The loss's Hessian $H = \nabla^2_\theta L$ is never formed: `mlplab.curvature.TorchCurvature` gives the
# product $v \mapsto Hv$ (double backward on copies of the weights, the model untouched), and every algorithm
# takes only that product (Ghorbani, Krishnan, Xiao 2019, *An Investigation into Neural Net Optimization via
# Hessian Eigenvalue Density*; Yao et al., *PyHessian*). The top eigenvalues come from Lanczos, the trace
# $\operatorname{tr} H \approx \frac1m\sum_i z_i^\top H z_i$ from Hutchinson's Rademacher probes with its standard
# error, the density from stochastic Lanczos quadrature. Gradient descent with step $\eta$ is stable on a
# quadratic only while $\lambda_1 < 2/\eta$: the top eigenvalue says how large $\eta$ can be.

# %%
import matplotlib.pyplot as plt
import numpy as np

from mlplab.curvature import density, hutchinson_trace, power_iteration, slq, top_eigen
from mlplab.curvature.torch_hvp import TorchCurvature

torch.manual_seed(seed)
small = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
xc, yc = torch.rand(256, 784), torch.randint(0, 10, (256,))
before = [p.detach().clone() for p in small.parameters()]
curv = TorchCurvature(small, xc, yc, loss="cross_entropy", dtype=torch.float64)
n = curv.n_params
top, _ = top_eigen(curv.hvp, n, k=3, rng=seed)
power, _, products = power_iteration(curv.hvp, n, iters=500, tol=1e-12, rng=seed)
trace = hutchinson_trace(curv.hvp, n, samples=40, rng=seed)
spec = slq(curv.hvp, n, probes=4, steps=40, rng=seed)
print(f"{n} parameters; top eigenvalues {np.round(top, 4)}; power iteration {power:.4f} ({products} products)")
print(f"trace {trace.value:.3f} ± {trace.stderr:.3f} (Hutchinson, 40 probes); largest stable GD step 2/λ₁ = "
      f"{2 / top[0]:.3g}")
grid = np.linspace(min(t.min() for t in spec.nodes) - 0.05, top[0] * 1.1, 400)
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(grid, density(spec, grid, sigma=0.01 * top[0]) + 1e-8)
ax.axvline(top[0], ls="--", color="C1", label="λ₁ (Lanczos)")
ax.set_xlabel("eigenvalue of H")
ax.set_ylabel("density (SLQ, smoothed)")
ax.legend()
plt.show()

# %%
# Lanczos and power iteration agree on λ₁; Hutchinson's trace and the SLQ probes' first moment (n·Σ τθ, the
# same estimator on other probes) agree within their standard errors; the model is untouched
assert abs(power / top[0] - 1) < 1e-3 and top[0] >= top[1] >= top[2] > 0
per_probe = spec.moments_per_probe(1) * n
err = np.hypot(trace.stderr, per_probe.std(ddof=1) / np.sqrt(len(per_probe)))
assert abs(trace.value - per_probe.mean()) < 4 * err, (trace.value, per_probe.mean(), err)
assert all(torch.equal(a, p) for a, p in zip(before, small.parameters()))
