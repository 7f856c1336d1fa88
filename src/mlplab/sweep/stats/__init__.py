"""Statistics of a sweep: what a metric does over seeds, intervals that respect [0, 1], and tie groups.

One concept per file, every name importable from here: intervals.py (the seed t-interval, the Wilson interval of
the pooled test answers, the chance level, their text), ties.py (paired t-tests, Holm's correction, the ranking
and its tie groups), verdict.py (does the book's ranking survive tuning; the seeds a paired test would need),
inclusion_claim.py (Choi et al.'s inclusion SGD ⊆ Momentum ⊆ Adam), speed.py (time to a validation target).

``on_edge``: the chosen learning rate is the smallest or largest one tried, so a better one may lie
outside the range; widen it.
"""

from __future__ import annotations

from .inclusion_claim import INCLUSION_CHAIN, inclusion, space_includes
from .intervals import (
    SEED_INTERVAL_MIN,
    at_chance,
    describe,
    interval_text,
    pooled_accuracy,
    t_quantile,
    too_few_seeds,
    wilson,
)
from .speed import time_to_target, time_to_target_text
from .ties import ALPHA, groups_text, holm, paired_test, paired_tie, ranking, tie_groups
from .verdict import POWER, compare_rankings, seeds_for_power

__all__ = ["t_quantile", "describe", "wilson", "paired_test", "paired_tie", "holm", "ranking", "tie_groups",
           "groups_text", "compare_rankings", "seeds_for_power", "at_chance", "on_edge", "interval_text",
           "SEED_INTERVAL_MIN", "ALPHA", "POWER", "time_to_target", "time_to_target_text", "inclusion",
           "space_includes", "pooled_accuracy", "too_few_seeds", "INCLUSION_CHAIN"]


def on_edge(best: float, tried) -> bool:
    """True when ``best`` is the smallest or the largest of the values ``tried`` (and there were several)."""
    tried = sorted(set(tried))
    return len(tried) > 1 and (best == tried[0] or best == tried[-1])
