"""Statistics of a sweep: what a metric does over seeds, intervals that respect [0, 1], and tie groups.

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

**Does a ranking survive?** :func:`compare_rankings` compares the significant, ordered pairs of two
races over the same optimizers (the book's settings and the tuned ones): *changes* when some pair is
significantly ordered one way in one race and the other way in the other; *survives* when both races
separate the same pairs the same way (the same tie groups, with at least one pair told apart); otherwise
the races *cannot be told apart with n seeds*, and :func:`seeds_for_power` says how many seeds a paired
t-test would need, at the difference and spread observed, to separate each pair that one race separates
and the other does not (or, when neither separates any, each pair of the tuned race): the smallest n
with power ≥ 80 % at α = 0.05 (two-sided), power(n) = P(|T| > t₀.₉₇₅,ₙ₋₁) for T non-central t with
n − 1 degrees of freedom and non-centrality √n · d̄/s_d. It is an estimate from few
seeds (the observed effect is noisy) and for one test, before Holm's correction, so a lower bound.

**Chance level.** :func:`at_chance`: a setting learned nothing when its accuracy is not significantly
above the accuracy of always answering the commonest class of the split (the Wilson interval of its
pooled answers reaches down to that rate).

**Inclusion.** :func:`inclusion` checks Choi et al.'s claim that a more general optimizer never loses to
its special case once its extra hyperparameters are tuned (SGD ⊆ Momentum ⊆ Adam): a violation is a
general optimizer significantly behind its special case while its searched space contains that case.

**Time to target.** :func:`time_to_target`: with a target validation accuracy, the steps (and seconds
of training, measured) to the first of a trial's evenly spaced validation checks at or above it, as
AlgoPerf scores training speed, for the chosen setting and the fastest one.

``on_edge``: the chosen learning rate is the smallest or largest one tried, so a better one may lie
outside the range; widen it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_quantile", "describe", "wilson", "paired_test", "paired_tie", "holm", "ranking", "tie_groups",
           "groups_text", "compare_rankings", "seeds_for_power", "at_chance", "on_edge", "interval_text",
           "SEED_INTERVAL_MIN", "ALPHA", "POWER", "time_to_target", "time_to_target_text", "inclusion",
           "space_includes", "pooled_accuracy"]

SEED_INTERVAL_MIN = 3  # fewer seeds: no seed interval (with 2, t₀.₉₇₅,₁ = 12.7 makes it meaningless)
ALPHA = 0.05
POWER = 0.80


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


# ------------------------------------------------------------------------------------ paired tests
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


# ------------------------------------------------------------------------------------ power, verdict
def seeds_for_power(diff: float | None, sd: float | None, alpha: float = ALPHA, power: float = POWER,
                    n_max: int = 100_000) -> int | None:
    """The smallest number of seeds for which a paired t-test at level ``alpha`` (two-sided) has at least
    ``power`` to detect a true mean difference ``diff`` with per-seed spread ``sd``; None when no number
    would (a difference of 0) or the inputs are missing."""
    if diff is None or sd is None or not math.isfinite(diff) or not math.isfinite(sd) or diff == 0:
        return None
    if sd == 0:
        return 2
    from scipy.stats import nct, t

    effect = abs(diff) / sd

    def pw(n):
        tc = t.ppf(1 - alpha / 2, n - 1)
        nc = effect * math.sqrt(n)
        return float(nct.sf(tc, n - 1, nc) + nct.cdf(-tc, n - 1, nc))

    lo, hi = 2, 2
    while pw(hi) < power:  # doubling, then bisection: power rises with n
        lo, hi = hi, hi * 2
        if hi > n_max:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pw(mid) >= power:
            hi = mid
        else:
            lo = mid + 1
    return hi


def compare_rankings(book_seed: dict, tuned_seed: dict, higher_is_better: bool = True,
                     alpha: float = ALPHA) -> dict:
    """The book's race against the tuned race, by their significant ordered pairs (module docstring).

    Returns ``{"verdict": "survives" | "changes" | "cannot tell", "seeds", "reversed": [...],
    "unresolved": [{"pair", "separated_in", "tied_in", "diff", "sd", "seeds_needed"}], "seeds_needed",
    "text"}``; ``seeds_needed`` is the largest of the pairs' (None: some pair needs more than any number)."""
    names = [o for o in book_seed if o in tuned_seed]
    races = {"book": _significance({o: book_seed[o] for o in names}, alpha),
             "tuned": _significance({o: tuned_seed[o] for o in names}, alpha)}
    seeds = sorted(set().union(*(set(v) for v in tuned_seed.values())) if tuned_seed else set())

    def order(race, a, b):  # +1: a significantly better, −1: b, 0: tied
        sig = races[race]
        return 1 if _better(sig, a, b, higher_is_better) else -1 if _better(sig, b, a, higher_is_better) else 0

    reversed_, unresolved = [], []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ob, ot = order("book", a, b), order("tuned", a, b)
            if ob and ot and ob != ot:
                reversed_.append({"pair": [a, b], "book": ob, "tuned": ot})
            elif bool(ob) != bool(ot):
                tied_in = "tuned" if ob else "book"
                t = _sig(races[tied_in], a, b)
                unresolved.append({"pair": [a, b], "separated_in": "book" if ob else "tuned", "tied_in": tied_in,
                                   "diff": t["diff"], "sd": t["sd"], "p_holm": t["p_holm"],
                                   "seeds_needed": seeds_for_power(t["diff"], t["sd"], alpha)})
    if not reversed_ and not unresolved and not any(t["significant"] for r in races.values() for t in r.values()):
        for (a, b), t in races["tuned"].items():  # neither race tells any pair apart: nothing "survives"
            unresolved.append({"pair": [a, b], "separated_in": None, "tied_in": "both", "diff": t["diff"],
                               "sd": t["sd"], "p_holm": t["p_holm"], "seeds_needed": seeds_for_power(t["diff"], t["sd"],
                                                                                                     alpha)})
    needed = [u["seeds_needed"] for u in unresolved]
    seeds_needed = None if (not needed or None in needed) else max(needed)
    n = len(seeds)
    if reversed_:
        verdict = "changes"
        text = ("the book's ranking changes: " + "; ".join(
            f"{r['pair'][0] if r['book'] > 0 else r['pair'][1]} is significantly ahead at the book's settings "
            f"and behind when tuned" for r in reversed_) + f" ({n} seeds, Holm-corrected paired t-tests)")
    elif not unresolved:
        verdict = "survives"
        text = f"the book's ranking survives: the same pairs are told apart, the same way ({n} seeds)"
    else:
        verdict = "cannot tell"
        pairs = ", ".join(f"{u['pair'][0]}–{u['pair'][1]} ({u['seeds_needed'] or 'no number of'} seeds)"
                          for u in unresolved)
        if seeds_needed is not None:
            more = (f"about {seeds_needed} seeds would tell them all apart (80 % power of a paired t-test at "
                    f"α = 0.05 for the difference and spread observed in the race where they are tied)")
        else:
            more = "no number of seeds would tell some of them apart at the difference observed (about 0)"
        where = ("neither race tells any pair apart:" if unresolved[0]["tied_in"] == "both"
                 else "separated in one race and tied in the other are")
        text = f"the book's ranking and the tuned one cannot be told apart with {n} seeds: {where} {pairs}; {more}"
    return {"verdict": verdict, "seeds": n, "reversed": reversed_, "unresolved": unresolved,
            "seeds_needed": seeds_needed, "alpha": alpha, "correction": "holm", "text": text}


# ------------------------------------------------------------------------------------ chance, edge
def at_chance(accuracies, n_examples: int, chance: float, level: float = 0.95) -> bool:
    """True when the pooled accuracy is not significantly above ``chance`` (Wilson interval reaches it)."""
    pooled = pooled_accuracy(accuracies, n_examples, level)
    if pooled is None:
        return False
    return pooled["ci"][0] <= chance


def on_edge(best: float, tried) -> bool:
    """True when ``best`` is the smallest or the largest of the values ``tried`` (and there were several)."""
    tried = sorted(set(tried))
    return len(tried) > 1 and (best == tried[0] or best == tried[-1])


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

    from .trial import trial_key

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


# ------------------------------------------------------------------------------------ inclusion
#: Choi et al. (2019): each optimizer of the chain can imitate the one before it, so tuned well it never loses.
INCLUSION_CHAIN = (("sgd", "momentum"), ("momentum", "adam"))


def space_includes(special: str, general: str, spaces: dict) -> tuple[bool, str]:
    """Does ``general``'s searched space (a sweep's ``settings["space"]``) contain ``special`` as a case?
    Momentum ⊇ SGD needs momentum 0 and SGD's learning rates; Adam ⊇ Momentum needs β₁ searched and ε
    up to 1 (then Adam's step is about (η(1 − β₁)/ε)·Σβ₁ᵏ g, heavy-ball momentum)."""
    g, s = spaces.get(general, {}), spaces.get(special, {})

    def lr_range(spec):
        lr = spec.get("lr")
        if isinstance(lr, dict):
            return next(iter(lr.values()))
        return [lr, lr] if isinstance(lr, (int, float)) else None

    if (special, general) == ("sgd", "momentum"):
        m = g.get("momentum")
        has_zero = (m == 0 or (isinstance(m, dict) and ("log1m" in m and m["log1m"][1] >= 1
                                                          or "range" in m and m["range"][0] <= 0
                                                          or "choice" in m and 0 in m["choice"])))
        if not has_zero:
            return False, "momentum 0 (plain SGD) is not in Momentum's searched space"
        gl, sl = lr_range(g), lr_range(s)
        if gl and sl and not (gl[0] <= sl[0] and sl[1] <= gl[1]):
            return False, "SGD's learning rates are not all in Momentum's range"
        return True, "momentum 0 and SGD's learning rates are in Momentum's space"
    if (special, general) == ("momentum", "adam"):
        eps, b1 = g.get("eps"), g.get("beta1")
        big_eps = isinstance(eps, dict) and "log" in eps and eps["log"][1] >= 1.0
        if not (big_eps and isinstance(b1, dict)):
            return False, "Adam's ε (up to 1) and β₁ are not both searched: it cannot imitate Momentum here"
        return True, "β₁ and ε up to 1 are searched: Adam can imitate Momentum"
    return False, "no inclusion known"


def inclusion(per_seed: dict, spaces: dict, higher_is_better: bool = True, alpha: float = ALPHA) -> dict:
    """Choi et al.'s inclusion claim on this sweep: for each (special, general) of ``INCLUSION_CHAIN`` both
    tuned, does the general optimizer lose significantly (Holm over the pairs checked)? ``{"pairs": [...],
    "verdict": "holds" | "violated" | "not tested", "text"}``."""
    chain = [(a, b) for a, b in INCLUSION_CHAIN if a in per_seed and b in per_seed]
    if not chain:
        return {"pairs": [], "verdict": "not tested", "text": "the sweep does not tune SGD, Momentum and Adam"}
    tests = [paired_test(per_seed[b], per_seed[a]) for a, b in chain]  # general − special
    rejected, adjusted = holm([t["p"] for t in tests], alpha)
    pairs = []
    for (a, b), t, rej, adj in zip(chain, tests, rejected, adjusted):
        inside, why = space_includes(a, b, spaces)
        worse = rej and t["diff"] is not None and (t["diff"] < 0 if higher_is_better else t["diff"] > 0)
        pairs.append({"special": a, "general": b, "diff": t["diff"], "p_holm": adj, "general_loses": bool(worse),
                      "space_includes": inside, "why": why})
    inside = [p for p in pairs if p["space_includes"]]
    verdict = ("violated" if any(p["general_loses"] for p in inside) else "holds" if inside
               else "not tested")  # no searched space contains its special case: the claim says nothing here
    parts = []
    for p in pairs:
        what = "loses significantly to" if p["general_loses"] else "does not lose to"
        where = "inside its searched space" if p["space_includes"] else f"but {p['why']}, so the claim does not apply"
        parts.append(f"{p['general']} {what} {p['special']} ({where})")
    text = "; ".join(parts)
    return {"pairs": pairs, "verdict": verdict, "text": text}
