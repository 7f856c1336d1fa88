"""mlplab.runtime.allocator: freed memory stays in the process, so a step's fresh arrays fault no pages in.

Each check runs in a fresh process (malloc settings are process-wide and cannot be undone) and
counts minor page faults (getrusage) over an Adam-like update: four 313 KB temporaries alive at
once, the pattern that makes glibc's defaults return and re-fault the memory every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                           reason="glibc's mallopt")

CHURN = """
import resource, sys
import numpy as np
{setup}
p = np.ones((784, 100), dtype=np.float32)
def update():  # Adam's temporaries on the book network's largest parameter
    q = p * 0.9; q += 0.1 * (p * p); r = np.sqrt(q); r += 1e-8; q /= r
update()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    update()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 50)
"""


def faults_per_update(setup="", env=None, thread=False):
    code = CHURN.format(setup=setup)
    if thread:  # the same in a worker thread (its own malloc arena), as the live server trains
        code = code.replace("update()\nf0", "import threading\nupdate()\nf0")
        code = code.replace("for _ in range(50):\n    update()",
                            "t = threading.Thread(target=lambda: [update() for _ in range(50)]); t.start(); t.join()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
                            "PYTHONPATH": SRC, **(env or {})})
    assert r.returncode == 0, r.stderr
    return float(r.stdout)


KEEP = "from mlplab.runtime.allocator import keep_freed_memory; assert keep_freed_memory() == 64 << 20"


@glibc
def test_the_defaults_fault_every_update_in_and_keeping_the_memory_stops_it():
    assert faults_per_update() > 150  # ~4 x 77 pages of fresh memory per update (the problem exists)
    assert faults_per_update(KEEP) < 5
    assert faults_per_update(KEEP, thread=True) < 5


@glibc
def test_it_also_undoes_dask_s_trim_threshold():
    assert faults_per_update(env={"MALLOC_TRIM_THRESHOLD_": "65536"}) > 150
    assert faults_per_update(KEEP, env={"MALLOC_TRIM_THRESHOLD_": "65536"}) < 5


@glibc
def test_zero_turns_it_off_and_n_sets_the_pad():
    off = "from mlplab.runtime.allocator import keep_freed_memory; assert keep_freed_memory() == 0"
    assert faults_per_update(off, env={"MLPLAB_MALLOC_PAD": "0"}) > 150
    eight = "from mlplab.runtime.allocator import keep_freed_memory; assert keep_freed_memory() == 8 << 20"
    assert faults_per_update(eight, env={"MLPLAB_MALLOC_PAD": "8"}) < 5


@glibc
def test_trainer_fit_keeps_freed_memory():
    setup = ("from mlplab import nn, optim; from mlplab.train import Trainer; from mlplab import allocator\n"
             "net = nn.MLP([4, 3, 2], rng=0); X = np.zeros((8, 4), np.float32); y = np.zeros(8, int)\n"
             "assert allocator._applied is None\n"
             "Trainer(net, optim.SGD(net.parameters(), lr=0.1)).fit(X, y, epochs=1, batch_size=4)\n"
             "assert allocator._applied == 64 << 20")
    assert faults_per_update(setup) < 5


@pytest.mark.parametrize("value, message", [("abc", "whole number of MiB"), ("-1", r"0 \(off\) or a positive")])
def test_a_bad_setting_is_refused_by_name(monkeypatch, value, message):
    from mlplab.runtime import allocator

    monkeypatch.setenv("MLPLAB_MALLOC_PAD", value)
    with pytest.raises(ValueError, match=message) as e:
        allocator.keep_freed_memory()
    assert "MLPLAB_MALLOC_PAD" in str(e.value)


def test_the_command_reports_a_bad_setting_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mlplab", "init", "list"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": SRC, "MLPLAB_MALLOC_PAD": "lots"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["mlplab init list: error: MLPLAB_MALLOC_PAD must be a whole number of MiB "
                                             "(0 turns this off), got 'lots'"]
