"""The BLAS thread choice: the rule as a table, the /proc/stat sampler against a real busy process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlplab.runtime.threads import choose_blas_threads, idle_cores, usable_cores

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
            "from mlplab.runtime.threads import auto_blas_threads, usable_cores;"
            "print(usable_cores(), *auto_blas_threads())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": SRC})
    assert r.stdout.split()[:2] == ["1", "1"], r.stdout + r.stderr
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)

