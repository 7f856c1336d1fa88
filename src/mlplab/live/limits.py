"""How many runs the live server holds at once, and in how much memory.

Each tab holds at most one run (a Train run or a comparison), and a run is freed when its tab's
event stream has been closed for the grace period, or, if no stream ever came for it (a page that
only sent ``/api/train``), the grace period after it was made (``mlplab.live.app``). Before these
limits, forty requests with forty tab ids made forty paused 784-1000-1000-10 runs that were never
freed (568 MB), each with a frame-worker process. Two limits now hold whatever pages ask:

* **Count**: at most ``RUNS_PER_CORE`` runs per usable core (at least ``MIN_RUNS``): more runs
  than that each train on under a quarter of a core, and their pages' frames thin out with it.
  A comparison counts as one run (its 2-20 members share its tab; their memory is counted below).
* **Memory**: a run is refused when its memory estimate (:func:`mlplab.live.validate.estimate`:
  what ``mlplab train`` would check) plus what the runs already held may still take exceeds the
  memory available now. A held run may still take its estimate less the arrays it holds already
  (parameters, gradients, the data); a run that has ended takes no more, and what it holds is
  already missing from the available memory. Paused and not-yet-started runs count in full:
  each can be resumed at any moment. (A run alone is checked the same way when its settings are:
  the network size limit comes from the estimate, before anything is built.)

A refusal is one line saying which limit and what to do; the page shows it.
"""

from __future__ import annotations

from .validate import SettingsError

__all__ = ["RunRefused", "RUNS_PER_CORE", "MIN_RUNS", "max_runs", "held_bytes", "still_to_take", "check_count",
           "check_memory"]

RUNS_PER_CORE = 4
MIN_RUNS = 4
ENDED = ("done", "stopped", "diverged", "error")


class RunRefused(SettingsError):
    """A run refused by a limit of the server (not by its settings): answered with status 429."""


def max_runs(cores: int | None = None) -> tuple[int, str]:
    """The count limit for this machine, ``RUNS_PER_CORE`` per usable core, at least ``MIN_RUNS``;
    and how it was reached, for the refusal's message."""
    if cores is None:
        from ..runtime.threads import usable_cores

        cores = usable_cores()
    return max(MIN_RUNS, RUNS_PER_CORE * cores), (f"{RUNS_PER_CORE} per core on {cores} core{'s' if cores != 1 else ''}"
                                                  f", at least {MIN_RUNS}")


def _members(run) -> list:
    return list(getattr(run, "members", [run]))


def held_bytes(run, seen: set | None = None) -> int:
    """Bytes of the arrays a run holds now: parameters, their gradients, the data (each buffer once)."""
    seen = set() if seen is None else seen
    total = 0
    for m in _members(run):
        arrays = [p.data for p in m.model.parameters()] + [p.grad for p in m.model.parameters()]
        arrays += [m.X, m.y, m.Xt, m.yt]
        for a in arrays:
            if a is None or not hasattr(a, "nbytes"):
                continue
            base = a if a.base is None else a.base
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
    return total


def still_to_take(run) -> int:
    """Bytes a held run may still allocate: its estimate less what it holds (0 once it has ended)."""
    from .validate import estimate

    total = 0
    for m in _members(run):
        if m.status in ENDED:
            continue
        total += max(0, estimate(m.settings, m.sizes).total - held_bytes(m))
    return total


def check_count(held: int, limit: int, why: str) -> None:
    """Refuse a new run when ``held`` runs (other tabs') are at the ``limit`` (``why``: how it was set)."""
    if held >= limit:
        raise RunRefused(f"refused: this server holds {held} run{'s' if held != 1 else ''} already, its limit "
                         f"({why}); stop a run or close a tab that has one, then start again")


def check_memory(others: list, need: int, available=None) -> None:
    """Refuse a run needing ``need`` more bytes when, with what the ``others`` (the runs held) may still
    take, it exceeds the memory available (``available``: as :func:`mlplab.runtime.memory.available_memory`)."""
    from ..runtime import memory

    room, source = available if available is not None else memory.available_memory()
    pending = sum(still_to_take(r) for r in others)
    if room is None or need + pending <= room:
        return
    n = len(others)
    runs = f"{n} run{'s' if n != 1 else ''}"
    raise RunRefused(f"refused: this run needs about {memory.format_bytes(need)} and the {runs} "
                     f"held here may still take {memory.format_bytes(pending)}, but only "
                     f"{memory.format_bytes(max(room, 0))} is available ({source}); stop a run or close a tab that "
                     "has one, or use a smaller network")
