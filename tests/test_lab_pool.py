"""The lab's own process pool (:func:`mlplab.lab.base.parallel_map`): its forked workers die with the study's
process. Before, ``kill -9`` of ``mlplab lab run`` left them training networks nobody would read (left
alone in session 6; the sweep's workers already died with their parent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

SCRIPT = """
import os, sys, time
from mlplab.lab.base import parallel_map

def task(k):
    time.sleep(60)
    return k

if __name__ == "__main__":
    print(os.getpid(), flush=True)
    parallel_map(task, range(4), workers=2)
"""


def _children(pid) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
            except (OSError, IndexError):
                pass
    return kids


def _alive(pid) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_pool_workers_die_with_the_study_process(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": SRC})
    try:
        assert int(p.stdout.readline()) == p.pid
        t0 = time.monotonic()
        workers = []
        while len(workers) < 2 and time.monotonic() - t0 < 60:
            workers = _children(p.pid)
            time.sleep(0.1)
        assert len(workers) >= 2, workers
        time.sleep(0.5)  # the workers have run their initializer
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        t0 = time.monotonic()
        while any(_alive(w) for w in workers) and time.monotonic() - t0 < 10:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), f"pool workers {workers} outlived the study's process"
    finally:
        p.kill()
        for w in _children(p.pid):
            os.kill(w, signal.SIGKILL)
