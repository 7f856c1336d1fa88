"""Intervals of a sweep's metric: over seeds (Student t), over test examples (Wilson), and the chance level.

**Over seeds.** For n values x₁…xₙ of a metric (one per seed):

    mean  x̄ = Σ xᵢ / n
    sd    s = √( Σ (xᵢ − x̄)² / (n − 1) )                     (sample standard deviation)
    95 % confidence interval for the true mean:  x̄ ± t₀.₉₇₅,ₙ₋₁ · s / √n

the Student t-interval, exact when the values are normal (seeds are independent draws of the whole
training run); with n = 5, t₀.₉₇₅,₄ = 2.776, so the interval is 41 % wider than the normal z = 1.96
would make it, and a z-interval would cover the mean only about 88 % of the time (the tests check
both numbers by simulation). With n = 2, t₀.₉₇₅,₁ = 12.7: the interval of two accuracies 0.80 and
0.90 is [0.21, 1.49], past 100 %; :func:`describe` then gives no seed interval and says so
(``SEED_INTERVAL_MIN`` seeds are needed), and an interval of a bounded metric (accuracy in [0, 1])
is cut at its bounds and marked ``"ci_cut"``.

**Over test examples.** Beside the seed interval, :func:`wilson` gives the Wilson score interval of
a proportion: k correct answers of N examples,

    p̂ = k/N,   centre = (p̂ + z²/2N) / (1 + z²/N),   half = z/(1 + z²/N) · √( p̂(1−p̂)/N + z²/4N² )

always inside [0, 1], with coverage close to 95 % even near 0 or 1 where the Wald interval
p̂ ± z√(p̂(1−p̂)/N) collapses or leaves [0, 1] (Brown, Cai & DasGupta, *Interval Estimation for a
Binomial Proportion*, 2001; the tests compute both coverages exactly from the binomial). For a sweep,
N pools every seed's test examples (n seeds × the test set): the interval says how precisely these
trained networks were scored, not how much another seed would move them (that is the seed interval).

**Chance level.** :func:`at_chance`: a setting learned nothing when its accuracy is not significantly
above the accuracy of always answering the commonest class of the split (the Wilson interval of its
pooled answers reaches down to that rate).
"""

from __future__ import annotations

import math

import numpy as np

SEED_INTERVAL_MIN = 3  # fewer seeds: no seed interval (with 2, t₀.₉₇₅,₁ = 12.7 makes it meaningless)


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def too_few_seeds(n: int) -> str:
    return f"n = {n}: too few seeds for a seed interval"


def describe(values, level: float = 0.95, bounds: tuple | None = None, min_n: int = SEED_INTERVAL_MIN) -> dict:
    """``{"n", "mean", "sd", "ci": [lo, hi] | None, ...}`` of the finite ``values``: the Student t-interval
    over seeds, None (with ``"note"``) for fewer than ``min_n`` values; with ``bounds`` (e.g. (0, 1) for an
    accuracy) an interval reaching past a bound is cut there and ``"ci_cut"`` is true."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "ci": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": None, "ci": None, "note": too_few_seeds(1)}
    sd = float(x.std(ddof=1))
    if n < min_n:
        return {"n": n, "mean": mean, "sd": sd, "ci": None, "note": too_few_seeds(n)}
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    out = {"n": n, "mean": mean, "sd": sd, "ci": [lo, hi]}
    if bounds is not None:
        clo, chi = max(lo, bounds[0]), min(hi, bounds[1])
        out["ci"] = [clo, chi]
        out["ci_cut"] = bool(clo != lo or chi != hi)
    return out


def wilson(k: float, n: int, level: float = 0.95) -> list | None:
    """The Wilson score interval of a proportion, ``k`` successes of ``n`` (see the module docstring)."""
    if n <= 0:
        return None
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    p = min(max(k / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [max(0.0, centre - half), min(1.0, centre + half)]


def pooled_accuracy(accuracies, n_examples: int, level: float = 0.95) -> dict | None:
    """The Wilson interval of the answers of every seed pooled: ``accuracies`` (one per seed) each over
    ``n_examples`` examples, so k = Σ round(accᵢ·n_examples) correct of N = seeds × n_examples."""
    acc = [a for a in accuracies if a is not None and math.isfinite(a)]
    if not acc or not n_examples:
        return None
    k = int(sum(round(a * n_examples) for a in acc))
    n = len(acc) * int(n_examples)
    return {"correct": k, "examples": n, "ci": wilson(k, n, level), "kind": "wilson"}


def at_chance(accuracies, n_examples: int, chance: float, level: float = 0.95) -> bool:
    """True when the pooled accuracy is not significantly above ``chance`` (Wilson interval reaches it)."""
    pooled = pooled_accuracy(accuracies, n_examples, level)
    if pooled is None:
        return False
    return pooled["ci"][0] <= chance


def interval_text(st: dict | None, pooled: dict | None = None, scale: float = 100, digits: int = 2,
                  compact: bool = False) -> str:
    """"95.64 [95.20, 96.08] t" — the mean over seeds with its seed t-interval (marked "cut" when cut at a
    bound), or the reason there is none, then the pooled test-set Wilson interval when given. ``compact``
    (a terminal table whose title explains the marks): "95.64 [95.20, 96.08] W [95.4, 95.8]", and "too few
    seeds" in place of the seed interval."""
    if not st or st.get("mean") is None:
        return "—"
    f = f"{{:.{digits}f}}"
    text = f.format(scale * st["mean"])
    if st.get("ci"):
        lo, hi = st["ci"]
        text += f" [{f.format(scale * lo)}, {f.format(scale * hi)}]" + ("" if compact else " t") + \
            (" cut" if st.get("ci_cut") else "")
    elif st.get("note"):
        text += " (too few seeds)" if compact else f" ({st['note']})"
    if pooled and pooled.get("ci"):
        lo, hi = pooled["ci"]
        text += (f" W [{scale * lo:.1f}, {scale * hi:.1f}]" if compact
                 else f"; test set [{f.format(scale * lo)}, {f.format(scale * hi)}] Wilson")
    return text
