"""The edge-of-stability study's figures, drawn from its numbers alone."""

from __future__ import annotations

from pathlib import Path

from ..base import Figure, array
from ..plots import save, subplots
from .claims import BAND


def _ratio_panel(ax, steps, lam, limit, cross, settle, color, label):
    """λ₁/limit against steps since the first crossing (from 2·settle steps before it on)."""
    if cross is None:
        return
    keep = [i for i, s in enumerate(steps) if s >= cross - 2 * max(settle, 1)]
    ax.plot([steps[i] - cross for i in keep], array(lam)[keep] / limit, color=color, lw=1.2, marker=".", ms=3,
            label=label)


def _band_axes(ax, settle, ylabel):
    ax.axhspan(*BAND, color="0.88", zorder=0, label=f"band [{BAND[0]:g}, {BAND[1]:g}]")
    ax.axhline(1.0, color="0.4", ls="--", lw=0.8)
    ax.axvline(0, color="0.4", ls=":", lw=0.8)
    if settle:
        ax.axvline(settle, color="0.2", ls=":", lw=0.8, label=f"settling window ({settle} steps)")
    ax.set_xlabel("steps since λ₁ first reached the limit")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def draw(numbers: dict, out: Path) -> list[Figure]:
    gd, cl = numbers["series"]["gd"], numbers["claims"]
    settle = numbers.get("settle_steps", 0)
    fig, axes = subplots(1, 3, size=(4.2, 3.6))
    ax_l, ax_s, ax_r = axes[0, 0], axes[0, 1], axes[0, 2]
    for i, (key, r) in enumerate(gd.items()):
        c = f"C{i}"
        ax_l.plot(array(r["loss"]), color=c, lw=1, label=f"η = {r['lr']:.3g}")
        ax_s.plot(r["sharpness_steps"], array(r["sharpness"]), color=c, lw=1.2)
        ax_s.axhline(r["limit"], color=c, ls="--", lw=0.8)
        _ratio_panel(ax_r, r["sharpness_steps"], r["sharpness"], r["limit"], cl["per_lr"][key]["first_crossing_step"],
                     settle, c, f"η = {r['lr']:.3g}")
    ax_l.set_xlabel("step")
    ax_l.set_ylabel("training loss ½‖f − y‖² (mean)")
    ax_l.set_yscale("log")
    ax_l.set_title("train loss")
    ax_l.legend(fontsize=8)
    ax_s.set_xlabel("step")
    ax_s.set_ylabel("sharpness λ₁(H)")
    ax_s.set_title("sharpness; dashed: 2/η")
    _band_axes(ax_r, settle, "λ₁ · η/2")
    ax_r.set_title("after the crossing")
    figures = [Figure(save(fig, out / "eos_gd.png"), "Full-batch GD at three step sizes: the loss (left, log scale) "
                      "and the sharpness (middle) with each η's 2/η (dashed, same colour), as in Cohen et al. 2021, "
                      "Figure 1; right: λ₁·η/2 from the first crossing on, the band [0.9, 1.15] shaded, the short "
                      "overshoot right after the crossing, and the settling window the claim leaves out (dotted).")]
    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    ax = axes[0, 0]
    for i, (key, r) in enumerate(gd.items()):
        if len(r["flow_steps"]):
            t = array(r["flow_steps"]) * r["lr"]
            ax.plot(t, array(r["flow_distance"]), color=f"C{i}", lw=1.2, marker=".", ms=3,
                    label=f"η = {r['lr']:.3g}")
            cross = cl["per_lr"][key]["first_crossing_step"]
            if cross is not None and cross * r["lr"] <= numbers["flow_horizon"]:
                ax.axvline(cross * r["lr"], color=f"C{i}", ls=":", lw=0.8)
    ax.set_xlabel("time t = sη (GD step s)")
    ax.set_ylabel("‖θ_GD − θ_flow(t)‖")
    ax.set_title("GD vs gradient flow; dotted: λ₁ reaches 2/η")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    hb, ad = numbers["series"]["heavy_ball"], numbers["series"].get("adam")
    hov = cl["heavy_ball"]
    _ratio_panel(ax, hb["sharpness_steps"], hb["sharpness"], hb["limit"], hov["first_crossing_step"], settle, "C4",
                 f"heavy ball β = {hb['beta']:g}: λ₁ · η/(2 + 2β)")
    if ad is not None:
        _ratio_panel(ax, ad["sharpness_steps"], ad["sharpness"], ad["limit"], cl["adam"]["first_crossing_step"],
                     settle, "C5", "Adam: λ₁(P⁻¹H) · η/38")
    _band_axes(ax, settle, "sharpness / its limit")
    ax.set_title("momentum and Adam at their own limits")
    figures.append(Figure(save(fig, out / "eos_flow_momentum.png"),
                          "Left: distance between GD and gradient flow (RK4) at equal time t = sη, the time at which "
                          "λ₁ first reached 2/η dotted (the paper: small before, growing after). Right: heavy-ball "
                          "momentum's "
                          "sharpness over (2 + 2β)/η and Adam's preconditioned sharpness over 38/η from their first "
                          "crossings on (Cohen et al. 2021, appendix; Cohen et al. 2022)."))
    fig, axes = subplots(1, 2, size=(5.0, 3.6))
    ax = axes[0, 0]
    ax.plot(hb["sharpness_steps"], array(hb["sharpness"]), color="C4", lw=1.2, label=f"heavy ball, η = {hb['lr']:.3g}")
    ax.axhline(hb["limit"], color="C4", ls="--", lw=0.8, label="(2 + 2β)/η")
    ax.axhline(2 / hb["lr"], color="0.5", ls=":", lw=0.8, label="2/η")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness λ₁(H)")
    ax.set_title(f"heavy ball β = {hb['beta']:g}")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    if ad is not None:
        ax.plot(ad["sharpness_steps"], array(ad["sharpness"]), color="C5", lw=1.2, label=f"Adam, η = {ad['lr']:.3g}")
        ax.axhline(ad["limit"], color="C5", ls="--", lw=0.8, label="38/η")
        ax.set_ylabel("preconditioned sharpness λ₁(P⁻¹H)")
        ax.set_xlabel("step")
        ax.set_title("Adam β₁ = 0.9, β₂ = 0.999")
        ax.legend(fontsize=8)
    else:
        ax.set_axis_off()
    figures.append(Figure(save(fig, out / "eos_momentum_adam.png"),
                          "Heavy-ball momentum's sharpness against (2 + 2β)/η and 2/η (left) and full-batch Adam's "
                          "preconditioned sharpness λ₁(P⁻¹H) against 38/η (right), against steps."))
    return figures
