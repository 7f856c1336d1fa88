"""mlplab sweep on a real Dask LocalCluster with two worker processes (the optional extra)."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from functools import partial

import pytest

pytest.importorskip("distributed", reason="Dask is the optional extra mlplab[dask] (installed by make test)")

from mlplab.sweep.executor import DaskExecutor, make_executor  # noqa: E402
from mlplab.sweep.runner import SUMMARY_FILE, run_sweep  # noqa: E402
from mlplab.sweep.settings import SweepSettings  # noqa: E402
from mlplab.sweep.space import Choice, Space  # noqa: E402
from mlplab.sweep.store import Store  # noqa: E402
from mlplab.sweep.trial import run_group, trial_key  # noqa: E402

TINY = dict(dataset="spirals", layers="2,8,2", train_size=300, val_size=100, test_size=200, epochs=1, batch_size=32)
QUIET = dict(log=lambda m: None)
_EXPORTED_TRIM = "MALLOC_TRIM_THRESHOLD_" in os.environ  # before any nanny writes it into this process


def settings(**kw):
    return SweepSettings.from_options(**{**dict(optimizers="sgd,adam", lr_grid=3, seeds=3, stack=False, **TINY), **kw})


@pytest.fixture(scope="module")
def dask_ex():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    ex = DaskExecutor(workers=2)
    assert ex.workers == 2
    yield ex
    ex.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same sweep with the default executor (two forked workers)."""
    out = tmp_path_factory.mktemp("ref")
    ex = make_executor("local", 2)
    try:
        run_sweep(settings(), out, ex, **QUIET)
    finally:
        ex.shutdown()
    return (out / SUMMARY_FILE).read_text()


def test_dask_gives_the_identical_summary(dask_ex, reference, tmp_path):
    run_sweep(settings(), tmp_path, dask_ex, **QUIET)
    assert (tmp_path / SUMMARY_FILE).read_text() == reference


def _kill_once(group, marker):
    """Kill this worker process (SIGKILL, as the OOM killer would) the first time; then run_group."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        os.kill(os.getpid(), signal.SIGKILL)
    except FileExistsError:
        pass
    return run_group(group)


def test_a_killed_worker_loses_nothing(dask_ex, reference, tmp_path):
    marker = tmp_path / "killed"
    run_sweep(settings(), tmp_path / "run", dask_ex, trial_fn=partial(_kill_once, marker=str(marker)), **QUIET)
    assert marker.exists()  # a worker did die mid-sweep
    with Store(tmp_path / "run") as st:
        rows = st.rows()
    assert all(r["status"] == "done" for r in rows) and len({r["key"] for r in rows}) == len(rows)
    assert (tmp_path / "run" / SUMMARY_FILE).read_text() == reference


def test_an_interrupted_sweep_completes_every_trial_exactly_once(dask_ex, reference, tmp_path):
    first, second = [], []

    def interrupt(trial, result, done, total):
        first.append(trial_key(trial))
        if len(first) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(settings(), tmp_path, dask_ex, progress=interrupt, **QUIET)
    msgs = []
    run_sweep(settings(), tmp_path, dask_ex, log=msgs.append, progress=lambda t, r, d, n: second.append(trial_key(t)))
    with Store(tmp_path) as st:
        keys = [r["key"] for r in st.rows()]
    assert len(keys) == len(set(keys)) == len(set(first) | set(second))
    assert not set(first) & set(second)  # nothing ran twice
    done_before = [m for m in msgs if "already done" in m]
    assert done_before and done_before[0].startswith("selection: 5 of 18")
    assert (tmp_path / SUMMARY_FILE).read_text() == reference


def test_a_planted_divergence_is_recorded_as_diverged(dask_ex, tmp_path):
    s = settings(optimizers="sgd", layers="2,32,2", epochs=5, batch_size=16)  # learns: a choice is made
    s.spaces["sgd"] = Space("sgd", {"lr": Choice((0.3, 1e30))})
    summary = run_sweep(s, tmp_path, dask_ex, **QUIET)
    with Store(tmp_path) as st:
        rows = [r for r in st.rows() if r["hparams"]["lr"] == 1e30]
    assert len(rows) == 3 and all(r["status"] == "diverged" and math.isnan(r["metrics"]["loss"]) for r in rows)
    entry = summary["optimizers"]["sgd"]
    assert entry["diverged_fraction"] == 0.5 and entry["best"] == {"lr": 0.3}
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())["optimizers"]["sgd"]["lr_curve"][1]["mean"] is None


def _page_faults_of_big_arrays(n=100, size=1 << 20):
    """Minor page faults while allocating, filling and freeing ``n`` arrays of ``size`` bytes, the
    pattern of a training step (a batch of 128 MNIST images is 401 KB). With glibc's dynamic mmap
    threshold each is reused from the heap (a few hundred faults in all); with MALLOC_TRIM_THRESHOLD_
    set (Dask's nanny default) each is a fresh mmap: size / 4096 faults every time."""
    import resource

    import numpy as np

    np.ones(size // 8).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        np.ones(size // 8).sum()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_the_local_cluster_workers_allocate_without_page_fault_churn(dask_ex):
    if _EXPORTED_TRIM:
        pytest.skip("MALLOC_TRIM_THRESHOLD_ is exported here; the workers inherit it on purpose")
    # the nanny restarts the worker an earlier test killed; on a busy machine that can take a while
    dask_ex.client.wait_for_workers(2, timeout=120)
    faults = dask_ex.client.run(_page_faults_of_big_arrays)
    assert len(faults) == 2 and all(f < 2000 for f in faults.values()), faults  # 100 x 256 pages with churn


def test_keep_freed_memory_undoes_dask_s_trim_threshold_in_a_worker_process():
    """A worker of an existing cluster (``dask worker``) starts with MALLOC_TRIM_THRESHOLD_=65536;
    the first trial in that process keeps freed memory (mlplab.runtime.allocator) so arrays are reused again."""
    import subprocess

    code = ("import sys; sys.path[:0] = {path!r}; from tests.test_sweep_dask import _page_faults_of_big_arrays as f; "
            "from mlplab.runtime.allocator import keep_freed_memory; a = f(); keep_freed_memory(); print(a, f())")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = [root, os.path.join(root, "src")]
    out = subprocess.run([sys.executable, "-c", code.format(path=path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}, timeout=120)
    churn, tuned = map(int, out.stdout.split())
    assert churn > 100 * 200, churn  # the trim threshold alone: every array is fresh pages
    assert tuned < 2000, tuned
