"""The BLAS thread choice: the rule as a table, the /proc/stat sampler against a real busy process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlplab.threads import choose_blas_threads, idle_cores, measure_threads, pick_fastest, usable_cores

SRC = str(Path(__file__).resolve().parents[1] / "src")
linux = pytest.mark.skipif(not Path("/proc/stat").exists() or not hasattr(os, "sched_setaffinity"),
                           reason="needs Linux /proc/stat and CPU affinity")


@pytest.mark.parametrize("cores, idle, threads", [
    (2, 2.0, 2), (2, 1.8, 2), (2, 1.7, 2),   # a quiet machine (some background noise): both cores
    (2, 1.6, 1), (2, 1.0, 1), (2, 0.0, 1),   # one competing process, or a busy machine: one thread
    (4, 3.0, 3), (4, 2.69, 2), (8, 7.95, 8), (1, 3.0, 1),
    (2, None, 2),                            # no /proc/stat: the usable cores
])
def test_choice_rule(cores, idle, threads):
    assert choose_blas_threads(cores, idle) == threads


@linux
def test_a_busy_pinned_process_makes_its_core_count_as_taken():
    cpu = min(os.sched_getaffinity(0))
    busy = subprocess.Popen([sys.executable, "-c",
                             f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        idle = idle_cores(interval=0.5, cpus={cpu})
    finally:
        busy.kill()
        busy.wait()
    assert idle is not None and idle < 0.35  # the busy loop took (nearly) all of that core
    assert choose_blas_threads(1, idle) == 1


@linux
def test_idle_is_within_the_cores_sampled():
    cpus = os.sched_getaffinity(0)
    idle = idle_cores(interval=0.2)
    assert idle is not None and 0.0 <= idle <= len(cpus) + 1e-9


@linux
def test_affinity_limits_the_usable_cores_and_the_choice():
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
            "from mlplab.threads import auto_blas_threads, usable_cores; print(usable_cores(), *auto_blas_threads())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": SRC})
    assert r.stdout.split()[:2] == ["1", "1"], r.stdout + r.stderr
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("timings, prefer, threads", [
    ({1: 2.00, 2: 2.20}, 2, 1),    # one thread clearly faster: taken
    ({1: 1.40, 2: 1.10}, 2, 2),    # two faster: the free count
    ({1: 1.00, 2: 1.04}, 2, 2),    # within 5 %: the free count (a few timed steps are noisy)
    ({1: 1.00, 2: 1.06}, 2, 1),
    ({1: 3.0, 2: 1.6, 4: 1.0}, 4, 4),
    ({1: 3.0, 2: 1.0, 4: 1.2}, 4, 2),
])
def test_pick_fastest(timings, prefer, threads):
    assert pick_fastest(timings, prefer) == threads


def _blas_threads_now():
    from threadpoolctl import threadpool_info

    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


@pytest.mark.skipif(usable_cores() < 2, reason="needs 2 cores to set 2 BLAS threads")
@pytest.mark.parametrize("slow_on, expected", [(2, 1), (1, 2)])
def test_measure_threads_times_the_step_at_each_count(slow_on, expected):
    """A step that reads the BLAS thread count it runs under and is slow on one of them: the
    measurement sees each count in turn and the faster one is picked."""
    seen = []

    def step():
        n = _blas_threads_now()
        seen.append(n)
        time.sleep(0.012 if n == slow_on else 0.002)

    timings = measure_threads(step, (1, 2), rounds=2, steps=3, warmup=1)
    assert sorted(timings) == [1, 2] and seen.count(1) == seen.count(2) == 2 * (1 + 3)
    assert seen[:4] == [1] * 4 and seen[4:12] == [2] * 8 and seen[12:] == [1] * 4  # turns, reversed each round
    assert timings[slow_on] > 0.010 > timings[expected]
    assert pick_fastest(timings, prefer=2) == expected


def test_auto_times_the_step_only_when_more_than_one_core_is_free(monkeypatch):
    import mlplab.threads as th

    calls = []
    monkeypatch.setattr(th, "usable_cores", lambda: 2)
    monkeypatch.setattr(th, "measure_threads", lambda step, cands, **kw: calls.append(cands) or {1: 2.0, 2: 2.2})
    monkeypatch.setattr(th, "idle_cores", lambda interval=0.1: 1.0)  # one competing process: no timing
    assert th.auto_blas_threads(step=lambda: None) == (1, "2 usable cores, 1.0 of them idle") and calls == []
    monkeypatch.setattr(th, "idle_cores", lambda interval=0.1: 2.0)
    n, why = th.auto_blas_threads(step=lambda: None)
    assert n == 1 and calls == [(1, 2)] and why.endswith("a step took 2000.00 ms on 1, 2200.00 ms on 2")
    assert th.auto_blas_threads() == (2, "2 usable cores, 2.0 of them idle")  # no step: the free cores
