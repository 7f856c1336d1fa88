"""Tie groups: which optimizers of a sweep are told apart, by paired t-tests under Holm's correction.

**Tie groups.** Two optimizers run with the same seeds start from the same weights and see the same
batches, so their difference is measured per seed, dᵢ = xᵢ − yᵢ: a paired t-test, t = d̄ / (s_d/√n)
with n − 1 degrees of freedom. With k optimizers there are m = k(k−1)/2 pairs; Holm's step-down
correction (Holm, *A Simple Sequentially Rejective Multiple Test Procedure*, 1979) keeps the chance of
calling any tied pair different at ≤ 5 %: sort the p-values p₍₁₎ ≤ … ≤ p₍ₘ₎ and reject p₍ᵢ₎ while
p₍ᵢ₎ ≤ α/(m − i + 1). A pair not rejected is **tied**. :func:`ranking` orders the optimizers by mean,
gives each the rank 1 + (how many are significantly better), never better than an optimizer with a
higher mean (so ranks follow the means and tied optimizers share one), and :func:`tie_groups` lists
the maximal runs of consecutive optimizers (by mean) whose pairs are all tied: the groups may
overlap when ties are not transitive (A ≈ B, B ≈ C, A > C).
"""

from __future__ import annotations

import math

import numpy as np

from .intervals import describe

ALPHA = 0.05


def _pairs(a: dict, b: dict):
    seeds = sorted(set(a) & set(b))
    return np.asarray([a[s] - b[s] for s in seeds if a[s] is not None and b[s] is not None
                       and math.isfinite(a[s]) and math.isfinite(b[s])], dtype=np.float64)


def paired_test(a: dict, b: dict) -> dict:
    """The paired t-test of ``a`` against ``b`` (seed -> metric) over the seeds both have:
    ``{"n", "diff", "sd", "p"}``, diff = mean(a − b); p = 1 with fewer than two pairs (nothing can be told)."""
    d = _pairs(a, b)
    n = len(d)
    if n < 2:
        return {"n": n, "diff": float(d.mean()) if n else None, "sd": None, "p": 1.0}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        from scipy.stats import t

        p = float(2 * t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return {"n": n, "diff": mean, "sd": sd, "p": p}


def paired_tie(a: dict, b: dict, level: float = 0.95) -> tuple[bool, list | None]:
    """Are two optimizers tied, on their own (no correction for other pairs)? Returns (tied, the t-interval
    of mean(a − b)); with fewer than two common seeds nothing can be told apart (tied)."""
    st = describe(_pairs(a, b), level, min_n=2)
    if st["ci"] is None:
        return True, None
    lo, hi = st["ci"]
    return bool(lo <= 0 <= hi), st["ci"]


def holm(pvalues: list, alpha: float = ALPHA) -> tuple[list, list]:
    """Holm's step-down procedure: (rejected, adjusted p-values), in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    rejected, adjusted = [False] * m, [1.0] * m
    running, stop = 0.0, False
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
        if not stop and pvalues[i] <= alpha / (m - rank):
            rejected[i] = True
        else:
            stop = True
    return rejected, adjusted


def _significance(per_seed: dict, alpha: float):
    """{(a, b): test} for every unordered pair (a before b in ``per_seed``), with Holm's decision."""
    names = list(per_seed)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    tests = [paired_test(per_seed[a], per_seed[b]) for a, b in pairs]
    rejected, adjusted = holm([t["p"] for t in tests], alpha) if tests else ([], [])
    return {pair: {**t, "p_holm": adj, "significant": rej}
            for pair, t, rej, adj in zip(pairs, tests, rejected, adjusted)}


def _sig(sig, a, b):
    return sig[(a, b)] if (a, b) in sig else sig[(b, a)]


def _better(sig, a, b, higher_is_better) -> bool:
    """a significantly better than b."""
    t = _sig(sig, a, b)
    if not t["significant"] or t["diff"] is None:
        return False
    diff = t["diff"] if (a, b) in sig else -t["diff"]  # mean(a − b)
    return diff > 0 if higher_is_better else diff < 0


def ranking(per_seed: dict, higher_is_better: bool = True, alpha: float = ALPHA) -> list[dict]:
    """``per_seed``: optimizer -> {seed: metric}. Rows sorted best mean first:
    ``{"optimizer", "mean", "rank", "tied_with", "better_than"}`` (see the module docstring: Holm-corrected
    paired t-tests; rank = 1 + the number significantly better, made to follow the means)."""
    means = {k: describe(v.values())["mean"] for k, v in per_seed.items()}
    sign = -1 if higher_is_better else 1
    order = sorted(means, key=lambda k: (math.inf if means[k] is None else sign * means[k], k))
    sig = _significance({k: per_seed[k] for k in order}, alpha)
    rows, prev = [], 1
    for k in order:
        others = [j for j in order if j != k]
        above = sum(1 for j in others if _better(sig, j, k, higher_is_better))
        rank = max(prev, 1 + above)
        prev = rank
        rows.append({"optimizer": k, "mean": means[k], "rank": rank,
                     "tied_with": [j for j in others if not _sig(sig, k, j)["significant"]],
                     "better_than": [j for j in others if _better(sig, k, j, higher_is_better)]})
    return rows


def tie_groups(rows: list[dict]) -> list[list[str]]:
    """The maximal runs of consecutive optimizers of ``rows`` (a :func:`ranking`, best first) whose pairs
    are all tied; every optimizer is in at least one group; groups overlap when ties are not transitive."""
    names = [r["optimizer"] for r in rows]
    tied = {r["optimizer"]: set(r["tied_with"]) for r in rows}
    runs = []
    for i in range(len(names)):
        j = i + 1
        while j < len(names) and all(names[j] in tied[g] for g in names[i:j]):
            j += 1
        runs.append((i, j))
    groups = [names[i:j] for i, j in runs if not any(a <= i and j <= b and (a, b) != (i, j) for a, b in runs)]
    return groups


def groups_text(rows: list[dict], label=str) -> str:
    """"Adam ≈ AdaGrad > Momentum ≈ SGD" for disjoint groups; overlapping ones are listed in braces."""
    groups = tie_groups(rows)
    flat = [o for g in groups for o in g]
    if len(flat) == len(set(flat)):
        return " > ".join(" ≈ ".join(label(o) for o in g) for g in groups)
    return ", ".join("{" + " ≈ ".join(label(o) for o in g) + "}" for g in groups) + \
        " (overlapping groups: a name in two groups is tied with both)"
