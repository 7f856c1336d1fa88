"""Time to target: how soon a setting reaches a validation accuracy.

**Time to target.** :func:`time_to_target`: with a target validation accuracy, the steps (and seconds
of training, measured) to the first of a trial's evenly spaced validation checks at or above it, as
AlgoPerf scores training speed, for the chosen setting and the fastest one.
"""

from __future__ import annotations

from .intervals import describe


def _to_target(row, target):
    """(steps, seconds) at the first validation check with accuracy ≥ ``target`` (None if never): seconds of
    training only, the trial's own time per step (its validation checks left out)."""
    if row is None or row["status"] != "done":
        return None
    m = row["metrics"]
    for step, acc in m.get("val_curve") or []:
        if acc is not None and acc >= target:
            train = (row["seconds"] or 0.0) - (m.get("eval_seconds") or 0.0)
            return int(step), train * step / row["steps"] if row["steps"] else None
    return None


def time_to_target(configs, rows_by_key, target, chosen) -> dict:
    """Time-to-target of one optimizer (AlgoPerf's measure: how soon a validation target is reached, beside
    how good the end is): for the chosen setting and for the fastest setting that reached ``target`` on every
    seed, the steps (median and t-interval over seeds) and seconds (median; measured, so they vary from run
    to run, unlike everything else in the summary) to the first validation check at or above the target."""
    from statistics import median

    from ..trial import trial_key

    def one(hp, trials):
        hits = [_to_target(rows_by_key.get(trial_key(t)), target) for t in trials]
        ok = [h for h in hits if h is not None]
        steps = [h[0] for h in ok]
        secs = [h[1] for h in ok if h[1] is not None]
        return {"hparams": hp, "reached": len(ok), "of": len(trials), "steps": describe(steps) if steps else None,
                "median_steps": float(median(steps)) if steps else None,
                "median_seconds": float(median(secs)) if secs else None}

    every = [one(hp, trials) for hp, trials in configs]
    full = [e for e in every if e["reached"] == e["of"] and e["of"]]
    fastest = min(full, key=lambda e: e["median_steps"]) if full else None
    chosen_entry = next((e for e in every if e["hparams"] == chosen), None) if chosen is not None else None
    checks = []
    for _, trials in configs:
        row = rows_by_key.get(trial_key(trials[0]))
        if row and row["metrics"].get("val_curve"):
            checks = [s for s, _ in row["metrics"]["val_curve"]]
            break
    return {"target": target, "chosen": chosen_entry, "fastest": fastest,
            "check_every": (checks[1] - checks[0]) if len(checks) > 1 else None}


def time_to_target_text(tt: dict) -> str:
    """"to 95.0 % validation accuracy: 1,400 steps (4.2 s) at the chosen setting, 900 (2.7 s) at the
    fastest (lr=0.1)" — medians over seeds, or how many seeds never reached it."""
    def one(e):
        if not e or not e["reached"]:
            return "not reached"
        sec = f" ({e['median_seconds']:.3g} s)" if e.get("median_seconds") is not None else ""
        part = "" if e["reached"] == e["of"] else f", reached on {e['reached']} of {e['of']} seeds"
        return f"{e['median_steps']:,.0f} steps{sec}{part}"

    fast = tt.get("fastest")
    hp = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in (fast or {}).get("hparams",
                                                                                                  {}).items())
    every = f", checked every {tt['check_every']} steps" if tt.get("check_every") else ""
    return (f"to {100 * tt['target']:.1f} % validation accuracy (median over seeds{every}): {one(tt.get('chosen'))} "
            f"at the chosen setting, {one(fast)} at the fastest" + (f" ({hp})" if fast else ""))
