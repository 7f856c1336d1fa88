"""Statistics of a sweep: what a metric does over seeds, and when two optimizers are tied.

For n values x₁…xₙ of a metric (one per seed):

    mean  x̄ = Σ xᵢ / n
    sd    s = √( Σ (xᵢ − x̄)² / (n − 1) )                     (sample standard deviation)
    95 % confidence interval for the true mean:  x̄ ± t₀.₉₇₅,ₙ₋₁ · s / √n

the Student t-interval, exact when the values are normal (seeds are independent draws of the whole
training run); with n = 5, t₀.₉₇₅,₄ = 2.776, so the interval is 41 % wider than the normal z = 1.96
would make it, and a z-interval would cover the mean only about 88 % of the time (the tests check
both numbers by simulation).

Two optimizers run with the same seeds start from the same weights and see the same batches, so
their difference is measured per seed: dᵢ = xᵢ − yᵢ, and they are **tied** when the t-interval of
the dᵢ contains 0 (a paired t-test at the 5 % level). The ranking lists optimizers by mean and
says, for each, which others it is tied with.

``best_on_grid_edge``: the chosen learning rate is the smallest or largest one tried, so a better
one may lie outside the range; widen it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_quantile", "describe", "paired_tie", "ranking", "on_edge"]


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def describe(values, level: float = 0.95) -> dict:
    """``{"n", "mean", "sd", "ci": [lo, hi], "values"}`` of the finite ``values`` (ci None if n < 2)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": None, "ci": None}
    sd = float(x.std(ddof=1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci": [mean - half, mean + half]}


def paired_tie(a: dict, b: dict, level: float = 0.95) -> tuple[bool, list | None]:
    """Are two optimizers tied? ``a`` and ``b`` map seed -> metric. Returns (tied, CI of mean(a − b))
    over the seeds both have; with fewer than two common seeds nothing can be told apart (tied)."""
    seeds = sorted(set(a) & set(b))
    d = [a[s] - b[s] for s in seeds if math.isfinite(a[s]) and math.isfinite(b[s])]
    st = describe(d, level)
    if st["ci"] is None:
        return True, None
    lo, hi = st["ci"]
    return bool(lo <= 0 <= hi), st["ci"]


def ranking(per_seed: dict, higher_is_better: bool = True, level: float = 0.95) -> list[dict]:
    """``per_seed``: optimizer -> {seed: metric}. Returns rows sorted best first:
    ``{"optimizer", "mean", "rank", "tied_with": [...]}``; ``rank`` counts the optimizers that are
    better *and not tied*, plus one (so tied optimizers may share a rank)."""
    means = {k: describe(v.values())["mean"] for k, v in per_seed.items()}
    sign = -1 if higher_is_better else 1
    order = sorted(means, key=lambda k: (math.inf if means[k] is None else sign * means[k], k))
    ties = {k: [j for j in order if j != k and paired_tie(per_seed[k], per_seed[j], level)[0]] for k in order}
    rows = []
    for i, k in enumerate(order):
        better_untied = sum(1 for j in order[:i] if j not in ties[k])
        rows.append({"optimizer": k, "mean": means[k], "rank": better_untied + 1, "tied_with": ties[k]})
    return rows


def on_edge(best: float, tried) -> bool:
    """True when ``best`` is the smallest or the largest of the values ``tried`` (and there were several)."""
    tried = sorted(set(tried))
    return len(tried) > 1 and (best == tried[0] or best == tried[-1])
