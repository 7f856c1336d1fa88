"""The edge-of-stability study's report section (Markdown), written from its numbers alone."""

from __future__ import annotations

from .claims import BAND


def _g(v, fmt=".3g"):
    return "—" if v is None else format(v, fmt)


def _pct(v):
    return "—" if v is None else f"{v:.0%}"


def _hover_cells(r):
    a, b = r["after_crossing"], r["after_settling"]
    return (f"{_g(r['first_crossing_step'], 'd')} | {a['measurements']}: {_pct(a['inside_band_fraction'])}, "
            f"{_g(a['median'])}, {_g(a['peak'])} | {b['measurements']}: {_pct(b['inside_band_fraction'])}, "
            f"{_g(b['median'])}, {_g(b['peak'])}")


def write(numbers: dict) -> str:
    cl = numbers["claims"]
    settle = numbers.get("settle_steps", 0)
    rows = "\n".join(
        f"| GD η = {r['lr']:.3g} | {r['two_over_lr']:.3g} | {r['progressive_sharpening']:.2f} | {_hover_cells(r)} | "
        f"{r['loss_start']:.3g} → {r['loss_end']:.3g} ({r['loss_increases']} rises) |"
        for r in cl["per_lr"].values())
    hb = cl["heavy_ball"]
    rows += (f"\n| heavy ball β = {hb['beta']:g}, η = {hb['lr']:.3g} | (2 + 2β)/η = {hb['limit']:.3g} | "
             f"{_g(hb['progressive_sharpening'], '.2f')} | {_hover_cells(hb)} | |")
    ad = cl.get("adam")
    if ad is not None:
        rows += (f"\n| Adam β₁ = 0.9, η = {ad['lr']:.3g} | 38/η = {ad['limit']:.4g} | — | {_hover_cells(ad)} | "
                 f"{ad['loss_start']:.3g} → {ad['loss_end']:.3g} |")
    flow = [(r, r["flow_departure"]) for r in cl["per_lr"].values() if r.get("flow_departure")]
    flow_text = "".join(
        f" For η = {r['lr']:.3g} the distance is {f['distance_at_crossing']:.3g} at step {f['crossing_step']} (the "
        f"crossing: the first tracked step with λ₁ ≥ 2/η; the flow had travelled {f['travel_at_crossing']:.3g}) and "
        f"{f['distance_at_end']:.3g} at step {f['end_step']}: {f['growth_after_crossing']:.1f} times larger, while "
        f"the flow's own travel grew {f['growth_of_travel_after_crossing']:.2f} times."
        for r, f in flow)
    return f"""
The same 2/λ limit as the `quadratic` study, on a real network: full-batch GD on {numbers['examples']:,}
{numbers['dataset']} images (standardized per pixel), loss ½‖f − onehot‖² averaged over the examples, a
{'-'.join(map(str, numbers['sizes']))} tanh network with PyTorch's default initialization, float32. The initial
sharpness is λ₀ = {numbers['initial_sharpness']:.3g}; each η puts 2/η above it. The sharpness λ₁(H), measured by
Lanczos every {numbers['eig_every']} steps, is expected to rise (progressive sharpening), reach 2/η, overshoot it
briefly and then hover near it while the loss keeps falling, with rises along the way (Cohen et al. 2021); the
table gives what this run did.

How closely it hovers is stated at the measurements after the first one with λ₁ ≥ limit: how many, the share
inside the band [{BAND[0]:g}, {BAND[1]:g}]·limit, the median and the peak of λ₁/limit; once with all of them, once
after a settling window of {settle} steps (the overshoot right after the crossing, which the paper's figures show
too, left out).

| run | limit | max λ₁ / λ₀ | first step with λ₁ ≥ limit | after it: n, inside band, median, peak | \
after {settle} more steps: n, inside band, median, peak | loss (rises) |
|---|---|---|---|---|---|---|
{rows}

Every η crossed: {cl['all_cross']}; every η stayed inside the band at every measurement after the crossing:
{cl['all_hover']}; after the {settle}-step settling window: {cl['all_hover_after_settling']}; every loss fell
overall but not monotonically: {cl['all_loss_decreased_non_monotone']}. Heavy ball starts at
{hb['initial_over_limit']:.2f} of its limit (2 + 2β)/η; at its end λ₁ is {_g(hb.get('last_over_limit'))} of it and
{_g(hb.get('last_over_two_over_lr'))} of 2/η.{_adam_text(cl)}

Gradient flow (RK4 with steps {numbers.get('flow_dt', 1):g}/λ₁, {numbers['flow_rk4_steps']} steps up to time
{numbers['flow_horizon']:.3g}, where its own sharpness reached {_g(numbers.get('flow_max_sharpness'))}) is the
reference path from the same θ₀: GD after s steps is compared with the flow at time sη.{flow_text}
"""


def _adam_text(cl):
    a = cl.get("adam")
    if a is None:
        return ""
    return (f" Adam (η = {a['lr']:.3g}): its preconditioned sharpness λ₁(P⁻¹H) is {_g(a['initial_over_limit'], '.2f')} "
            f"of 38/η at step {_g(a['initial_step'], 'd')} (after the first step, with P = |g₁| + ε, it was "
            f"{a['step1_over_limit']:.3g} of it); "
            + (f"it first reaches 38/η at step {a['first_crossing_step']}" if a["first_crossing_step"] is not None
               else "it never reaches 38/η")
            + " (Cohen et al. 2022, *Adaptive Gradient Methods at the Edge of Stability*, find it rising to 38/η and "
              "hovering there).")
