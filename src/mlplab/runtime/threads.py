"""How many BLAS threads one training process should use: the cores that are actually free.

OpenBLAS splits a matrix product into equal parts, one per thread, and waits for the slowest.
When another CPU-bound process shares a core with one of those threads, every product waits for
the descheduled thread: on a 2-core machine with one competing process, the README's command took
154 s with two threads instead of 4 s (two threads were 3x slower than one). On a quiet machine
two threads are usually faster. So the count is chosen at start:

1. ``usable_cores()``: the CPUs this process may run on (``sched_getaffinity``: taskset,
   container cpusets), capped by a cgroup CPU quota (``cpu.max``: ``docker --cpus``).
2. ``idle_cores()``: for those CPUs, how much of them was idle over a short sample of
   ``/proc/stat`` (0.1 s): 2.0 = two idle cores, 1.0 = one core's worth busy.
3. ``choose_blas_threads(cores, idle)``: ``floor(idle + 0.3)`` clipped to ``[1, cores]``: a core
   counts as free when it was at least 70 % idle, so background noise (a shell, an editor) does not
   cost the second thread, while one competing process does.

Two threads on two free cores is right for every network measured here, small ones included:
``python benchmarks/contention.py --part networks`` times a step at 1 and 2 threads for six
networks (784-16-10 to 784-512-512-10, batch 32 to 1000, SGD and Adam), the counts taking turns
in one process, and two threads were at most 4 % slower (a 784-100-10 network at batch 32) and
up to 35 % faster. So the rule looks at free cores only, not at the network.

The count is recorded in the run's ``config.json`` and a resumed run keeps it (BLAS thread counts
change float32 rounding); ``--blas-threads N`` overrides the choice. benchmarks/contention.py
measures the choice against 1 and 2 fixed threads, with and without a competing process.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

__all__ = ["usable_cores", "idle_cores", "choose_blas_threads", "auto_blas_threads", "FREE_THRESHOLD"]

FREE_THRESHOLD = 0.7  # a core counts as free when at least this much of it was idle during the sample


def _cgroup_cpu_limit() -> float | None:
    """The cgroup v2 CPU quota in cores (``cpu.max`` = "quota period"), None when unlimited."""
    try:
        rel = next(line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    parts = [p for p in rel.strip().strip("/").split("/") if p]
    limits = []
    for depth in range(len(parts), -1, -1):
        try:
            quota, period = Path("/sys/fs/cgroup", *parts[:depth], "cpu.max").read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max":
            limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def usable_cores() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cpu_times(cpus) -> dict:
    """cpu index -> (idle ticks, total ticks) from /proc/stat, for the given CPUs."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            idx = int(name[3:])
            if idx in cpus:
                v = [int(x) for x in vals[:8]]
                out[idx] = (v[3] + v[4], sum(v))  # idle + iowait; user..steal
    return out


def idle_cores(interval: float = 0.1, cpus=None) -> float | None:
    """Idle capacity of ``cpus`` (default: this process's affinity) over ``interval`` seconds, in cores.

    None where /proc/stat is not available (not Linux).
    """
    try:
        cpus = set(cpus if cpus is not None else os.sched_getaffinity(0))
        before = _cpu_times(cpus)
        time.sleep(interval)
        after = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError):
        return None
    idle = 0.0
    for c, (i1, t1) in after.items():
        i0, t0 = before.get(c, (i1, t1))
        if t1 > t0:
            idle += (i1 - i0) / (t1 - t0)
    return idle if after else None


def choose_blas_threads(cores: int, idle: float | None) -> int:
    """Threads for ``cores`` usable CPUs of which ``idle`` cores' worth is free (None: unknown -> cores)."""
    cores = max(1, int(cores))
    if idle is None:
        return cores
    return max(1, min(cores, math.floor(idle + 1 - FREE_THRESHOLD)))


def auto_blas_threads(interval: float = 0.1) -> tuple[int, str]:
    """The count for this machine now, and a few words on why (for the run's log and config)."""
    cores = usable_cores()
    if cores == 1:
        return 1, "1 usable core"
    idle = idle_cores(interval)
    n = choose_blas_threads(cores, idle)
    why = f"{cores} usable cores" + ("" if idle is None else f", {idle:.1f} of them idle")
    return n, why
