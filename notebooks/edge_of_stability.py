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
# # Gradient descent at the edge of stability
#
# Source: Cohen, Kaur, Li, Kolter, Talwalkar 2021, *Gradient Descent on Neural Networks Typically Occurs at the
# Edge of Stability*.
#
# On a quadratic, gradient descent with step size $\eta$ is stable only while the top Hessian eigenvalue
# $\lambda_1 < 2/\eta$ (the `quadratic` study). On a network $\lambda_1$ (the *sharpness*) changes during training:
# full-batch GD drives it up until it reaches $2/\eta$, and then it hovers there while the loss keeps falling,
# non-monotonically. The sharpness is measured matrix-free by Lanczos on Hessian-vector products
# (`mlplab.curvature`).

# %% tags=["parameters"]
quick = True
seed = 0
workers = 2
out = None
STUDY = "edge-of-stability"

# %%
import tempfile

from mlplab.lab import get_study, run_study

study = get_study(STUDY)
out = out or tempfile.mkdtemp(prefix="mlplab-notebook-")
result = run_study(study, out, quick=quick, seed=seed, workers=workers)
result  # shows itself: the study's section of the report, figures inline

# %%
n = result.numbers
claims = n["claims"]["per_lr"]
for r in claims.values():
    a, b = r["after_crossing"], r["after_settling"]
    print(f"η = {r['lr']:.3g}: 2/η = {r['two_over_lr']:.3g}, max λ₁/λ₀ = {r['progressive_sharpening']:.2f}, "
          f"first λ₁ ≥ 2/η at step {r['first_crossing_step']}; after it λ₁·η/2 has median {a['median']:.3f}, peak "
          f"{a['peak']:.3f}, {a['inside_band_fraction']:.0%} of {a['measurements']} in [0.9, 1.15]; after "
          f"{n['settle_steps']} more steps {b['inside_band_fraction']:.0%} of {b['measurements']}; loss "
          f"{r['loss_start']:.3g} → {r['loss_end']:.3g} with {r['loss_increases']} rises")
    assert r["initial_below_limit"] and r["progressive_sharpening"] > 1.2 and r["loss_end"] < r["loss_start"]
largest = max(claims.values(), key=lambda r: r["lr"])
# the largest step size reaches 2/η, stays near it (median in the band), and its loss rises on the way down
assert largest["first_crossing_step"] is not None
assert 0.9 <= largest["after_crossing"]["median"] <= 1.15 and largest["after_crossing"]["peak"] <= 1.25
assert largest["non_monotone"]
# before the crossing GD stays within 10% (of the distance travelled) of gradient flow
assert largest["flow_relative_distance_before_crossing"] <= 0.1
adam = n["claims"]["adam"]
print(f"Adam: λ₁(P⁻¹H)·η/38 = {adam['initial_over_limit']:.2f} at step {adam['initial_step']}, first ≥ 1 at step "
      f"{adam['first_crossing_step']}, then median {adam['after_crossing']['median']:.3f}")
assert adam["initial_below_limit"] and adam["first_crossing_step"] is not None
