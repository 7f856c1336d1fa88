"""The book's ranking against the tuned one, and how many seeds a paired t-test would need.

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
"""

from __future__ import annotations

import math

from .ties import ALPHA, _better, _sig, _significance

POWER = 0.80


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
