"""The edge-of-stability study's claims as numbers, from the series alone: where λ₁ first reaches its limit and how
closely it hovers there (the band, with and without a settling window), the loss, the distance to gradient flow."""

from __future__ import annotations

import numpy as np

from ..base import array

BAND = (0.9, 1.15)
"""The band λ₁/limit must stay in after the crossing (the issue's statement of "hovers at 2/η")."""


def _crossing(steps, values, limit):
    above = [s for s, v in zip(steps, values) if v >= limit]
    return above[0] if above else None


def _band(steps, values, limit, cross, settle):
    """λ₁/limit at the measurements after step cross + settle: how many, the fraction inside BAND, the
    median, the lowest and the peak."""
    if cross is None:
        return {"after_step": None, "measurements": 0, "inside_band_fraction": None, "median": None, "min": None,
                "peak": None}
    r = np.array([v / limit for s, v in zip(steps, values) if s > cross + settle], dtype=float)
    if not len(r):
        return {"after_step": cross + settle, "measurements": 0, "inside_band_fraction": None, "median": None,
                "min": None, "peak": None}
    return {"after_step": cross + settle, "measurements": len(r),
            "inside_band_fraction": float(((r >= BAND[0]) & (r <= BAND[1])).mean()), "median": float(np.median(r)),
            "min": float(r.min()), "peak": float(r.max())}


def _hover(steps, values, limit, settle):
    """The crossing and the band statistics with no settling window and with ``settle`` steps of it."""
    cross = _crossing(steps, values, limit)
    now, later = _band(steps, values, limit, cross, 0), _band(steps, values, limit, cross, settle)
    return {"first_crossing_step": cross, "after_crossing": now, "after_settling": later,
            "after_crossing_min": now["min"], "after_crossing_max": now["peak"],
            "hovers_after_settling": bool(later["measurements"] and later["inside_band_fraction"] == 1.0)}


def claims(numbers) -> dict:
    """Each claim of the paper as numbers, from the series alone (the report and a test read these).

    "Hovers at the limit" is measured at the tracked steps after the first one with λ₁ ≥ limit: the
    fraction of them inside BAND·limit, their median and peak; once with every such step, once after a
    settling window of ``settle_steps`` steps (the paper's figures show a short overshoot above 2/η right
    after the crossing, before the sharpness settles)."""
    out = {"per_lr": {}}
    lam0 = numbers["initial_sharpness"]
    settle = numbers.get("settle_steps", 0)
    for key, r in numbers["series"]["gd"].items():
        steps, lam, limit = list(r["sharpness_steps"]), array(r["sharpness"]), r["limit"]
        loss = array(r["loss"])
        hov = _hover(steps, lam, limit, settle)
        cross = hov["first_crossing_step"]
        inc = np.diff(loss)
        row = {"lr": r["lr"], "two_over_lr": limit, "initial_below_limit": bool(lam0 < limit),
               "progressive_sharpening": float(lam.max() / lam0), **hov,
               "after_crossing_within_0.9_1.15": bool(hov["after_crossing"]["measurements"]
                                                       and hov["after_crossing"]["inside_band_fraction"] == 1.0),
               "loss_start": float(loss[0]), "loss_end": float(loss[-1]),
               "loss_decreased": bool(loss[-1] < loss[0]), "loss_increases": int((inc > 0).sum()),
               "non_monotone": bool((inc > 0).any())}
        fs, fd, ft = list(r["flow_steps"]), array(r["flow_distance"]), array(r["flow_travel"])
        if cross is not None and fs:
            before = [d / max(t, 1e-12) for s, d, t in zip(fs, fd, ft) if s <= cross]
            later = [d / max(t, 1e-12) for s, d, t in zip(fs, fd, ft) if s > cross]
            row["flow_relative_distance_before_crossing"] = float(max(before)) if before else None
            row["flow_relative_distance_after_crossing"] = float(max(later)) if later else None
            if later:
                at = max(i for i, s in enumerate(fs) if s <= cross)
                row["flow_departure"] = {
                    "crossing_step": fs[at], "distance_at_crossing": float(fd[at]), "end_step": fs[-1],
                    "distance_at_end": float(fd[-1]), "travel_at_crossing": float(ft[at]),
                    "travel_at_end": float(ft[-1]),
                    "growth_after_crossing": float(fd[-1] / max(fd[at], 1e-12)),
                    "growth_of_travel_after_crossing": float(ft[-1] / max(ft[at], 1e-12))}
        out["per_lr"][key] = row
    hb = numbers["series"]["heavy_ball"]
    steps, lam = list(hb["sharpness_steps"]), array(hb["sharpness"])
    out["heavy_ball"] = {"lr": hb["lr"], "beta": hb["beta"], "limit": hb["limit"],
                         "initial_over_limit": float(lam0 / hb["limit"]),
                         "progressive_sharpening": float(np.nanmax(lam) / lam0) if len(lam) else None,
                         **_hover(steps, lam, hb["limit"], settle),
                         "diverged": bool(not np.all(np.isfinite(array(hb["loss"]))))}
    out["heavy_ball"]["last_over_limit"] = float(lam[-1] / hb["limit"]) if len(lam) else None
    out["heavy_ball"]["last_over_two_over_lr"] = float(lam[-1] * hb["lr"] / 2) if len(lam) else None
    ad = numbers["series"].get("adam")
    if ad is not None:
        steps, lam = list(ad["sharpness_steps"]), array(ad["sharpness"])
        loss = array(ad["loss"])
        out["adam"] = {"lr": ad["lr"], "limit": ad["limit"],
                       "step1_over_limit": float(ad["step1_preconditioned"] / ad["limit"]),
                       "initial_step": steps[0] if steps else None,
                       "initial_over_limit": float(lam[0] / ad["limit"]) if len(lam) else None,
                       "initial_below_limit": bool(len(lam) and lam[0] < ad["limit"]),
                       **_hover(steps, lam, ad["limit"], settle),
                       "loss_start": float(loss[0]), "loss_end": float(loss[-1])}
    rows = out["per_lr"].values()
    out["all_cross"] = all(r["first_crossing_step"] is not None for r in rows)
    out["all_hover"] = all(r["after_crossing_within_0.9_1.15"] for r in rows)
    out["all_hover_after_settling"] = all(r["hovers_after_settling"] for r in rows)
    out["all_loss_decreased_non_monotone"] = all(r["loss_decreased"] and r["non_monotone"] for r in rows)
    return out
