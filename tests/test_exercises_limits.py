"""The grader's time limits count CPU time, with the clock as a backstop for code that waits.

A wall-clock limit of 1 s per test failed a correct solution on a loaded machine (``orthogonal``'s hidden case,
once, during a parallel test run): waiting for a core is not the student's code running. Here a correct solution
that is descheduled mid-test for longer than the old limit (SIGSTOP, then SIGCONT 1.5 s later: what a loaded
machine does to it, made deterministic) still passes, in the real grading subprocess; an endless loop is stopped
by the CPU limit, and a solution that sleeps by the wall-clock backstop, each saying which limit it hit.
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time

import pytest

from mlplab.exercises import REGISTRY, grade_file
from mlplab.exercises.grader import TEST_SECONDS, WALL_FACTOR, plan, run_case

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_a_correct_solution_descheduled_mid_test_still_passes(tmp_path):
    """The student's correct ``orthogonal``, stopped (SIGSTOP) on its first call and continued 1.5 s later:
    1.5 s on the clock inside one test, almost no CPU time. The 1 s alarm failed it; the CPU limit does not."""
    (tmp_path / "orthogonal.py").write_text(
        "import os, signal\nfrom pathlib import Path\nfrom mlplab.exercises.catalog import REGISTRY\n"
        "_calls = []\n"
        "def orthogonal(*args, **kwargs):\n"
        "    if not _calls:\n"
        "        _calls.append(1)\n"
        "        Path('stopped.pid').write_text(str(os.getpid()))\n"
        "        os.kill(os.getpid(), signal.SIGSTOP)\n"
        "    return REGISTRY['orthogonal'].solution(*args, **kwargs)\n")
    seen = {}

    def resume():  # the machine's load: the process waits 1.5 s for a core, then runs on
        marker = tmp_path / "stopped.pid"
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(marker.read_text())
        while _state(pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["state"] = _state(pid)
        time.sleep(1.5 * TEST_SECONDS)
        seen["still"] = _state(pid)
        os.kill(pid, signal.SIGCONT)

    t = threading.Thread(target=resume, daemon=True)
    t.start()
    grade = grade_file(tmp_path, "orthogonal", seed=4)
    t.join(10)
    assert seen == {"state": "T", "still": "T"}  # it was stopped inside a test for the whole 1.5 s
    assert grade.total >= 4 and grade.passed == grade.total, grade.lines()


def test_an_endless_loop_is_stopped_by_the_cpu_limit(tmp_path):
    (tmp_path / "tanh.py").write_text("def tanh(x, g):\n    while True:\n        pass\n")
    cpu0, t0 = _children_cpu(), time.monotonic()
    grade = grade_file(tmp_path, "tanh", seed=1)
    cpu, wall = _children_cpu() - cpu0, time.monotonic() - t0
    lines = grade.lines()
    assert grade.passed == 0 and lines[1].endswith(f"did not finish within {TEST_SECONDS:g} s of CPU time "
                                                   "(an endless loop?)"), lines
    assert "wall-clock" not in lines[1]
    # one test ran its 1 s of CPU (the rest were not run), plus the process' start and the planning
    assert TEST_SECONDS <= cpu < TEST_SECONDS + 4, cpu
    assert wall < TEST_SECONDS * WALL_FACTOR, wall
    assert [r.line for r in grade.results[1:]] == ["not run (an earlier test timed out)"] * (grade.total - 1)


def test_a_sleeping_solution_is_stopped_by_the_wall_clock_backstop(tmp_path):
    """In the grading subprocess: a test that sleeps uses no CPU; the clock stops it at 10 x the CPU limit."""
    (tmp_path / "tanh.py").write_text("import time\ndef tanh(x, g):\n    time.sleep(3600)\n")
    t0 = time.monotonic()
    grade = grade_file(tmp_path, "tanh", seed=1)
    wall = time.monotonic() - t0
    line = grade.lines()[1]
    assert grade.passed == 0 and f"did not finish within {TEST_SECONDS * WALL_FACTOR:g} s of wall-clock time " \
                                 f"while using less than {TEST_SECONDS:g} s of CPU time" in line, line
    assert "time.sleep" in line
    assert TEST_SECONDS * WALL_FACTOR <= wall < TEST_SECONDS * WALL_FACTOR + 20, wall


@pytest.mark.parametrize("body,clock", [
    ("while True:\n        pass", "of CPU time (an endless loop?)"),
    ("import time\n    time.sleep(60)", "of wall-clock time while using less than 0.2 s of CPU time"),
])
def test_in_process_each_limit_says_which_it_was(body, clock):
    ex = REGISTRY["tanh"]
    ns = {}
    exec(f"def tanh(x, g):\n    {body}\n", ns)  # noqa: S102 (the test's own code)
    t0, c0 = time.monotonic(), time.process_time()
    r = run_case(ex, ns["tanh"], plan(ex, 1)[0], seconds=0.2)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    assert not r.ok and clock in r.line, r.line
    if "wall-clock" in clock:
        assert r.line.startswith("did not finish within 2 s of wall-clock time") and 2.0 <= wall < 10 and cpu < 0.2
    else:
        assert r.line == "did not finish within 0.2 s of CPU time (an endless loop?)" and 0.2 <= cpu and wall < 2.0
