"""Choi et al.'s inclusion claim: a more general optimizer, tuned, never loses to its special case.

**Inclusion.** :func:`inclusion` checks Choi et al.'s claim that a more general optimizer never loses to
its special case once its extra hyperparameters are tuned (SGD ⊆ Momentum ⊆ Adam): a violation is a
general optimizer significantly behind its special case while its searched space contains that case.
"""

from __future__ import annotations

from .ties import ALPHA, holm, paired_test

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
