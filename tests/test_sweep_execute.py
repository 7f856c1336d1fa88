"""The sweep's rule for failures, in one process (issue 24 §1): what a task raises is the infrastructure's failure,
never stored as a result: ``execute`` stores the rest and raises TrialsNotRun (lost when it is a cancellation),
and says each distinct failure once. The same rule against real processes, Dask and disks is
tests/test_sweep_faults.py.
"""

from __future__ import annotations

from functools import partial

import pytest

from mlplab.sweep.runner import TrialsNotRun
from mlplab.sweep.store import Store


def _groups():
    from mlplab.sweep.runner import group_trials, plan_selection
    from mlplab.sweep.settings import SweepSettings

    s = SweepSettings.from_options(optimizers="sgd", lr_grid=2, seeds=2, stack=False, dataset="spirals",
                                   layers="2,8,2", train_size=300, val_size=100, test_size=200, batch_size=32,
                                   iterations=5)
    return group_trials([t for cs in plan_selection(s).values() for _, ts in cs for t in ts], False)


def _raise_for_seed_1(group, exc):
    from mlplab.sweep.trial import run_group

    if group[0]["seed"] == 1:
        raise exc
    return run_group(group)


@pytest.mark.parametrize("exc, lost", [(OSError(5, "Input/output error"), False), (RuntimeError("KilledWorker"), False),
                                       (__import__("asyncio").CancelledError(), True)],
                         ids=["OSError", "raised", "asyncio-CancelledError"])
def test_what_a_task_raises_is_never_stored(tmp_path, exc, lost):
    """The old runner stored any exception of a task as a failed trial: a result. What a task raises is the
    infrastructure's failure: not stored, TrialsNotRun (lost when it is a cancellation), the rest stored."""
    from mlplab.sweep.executor import InlineExecutor
    from mlplab.sweep.runner import execute

    groups = _groups()
    with Store(tmp_path) as store:
        with pytest.raises(TrialsNotRun) as info:
            execute(groups, store, InlineExecutor(), trial_fn=partial(_raise_for_seed_1, exc=exc), phase="selection")
        rows = store.rows()
    assert info.value.lost is lost
    assert {r["seed"] for r in rows} <= {0} and all(r["status"] == "done" for r in rows)
    assert info.value.missing == 4 - len(rows) and (lost or len(rows) == 2)


def _raise_two_ways(group, raised):
    """Seed 1's first group raises a ValueError, its second a KilledWorker-like error (``raised``: the count)."""
    from mlplab.sweep.trial import run_group

    if group[0]["seed"] == 1:
        raised.append(group)
        raise ValueError("not enough values to unpack") if len(raised) == 1 else \
            RuntimeError("KilledWorker: the task's worker died")
    return run_group(group)


def test_each_distinct_failure_is_said(tmp_path):
    """Two groups failing differently (a Dask worker killed mid-task: KilledWorker for one task, a protocol
    error for another): the line said only the first, which hid the killed worker (fresh-ci, 2026-12-06)."""
    from mlplab.sweep.executor import InlineExecutor
    from mlplab.sweep.runner import execute

    with Store(tmp_path) as store:
        with pytest.raises(TrialsNotRun) as info:
            execute(_groups(), store, InlineExecutor(), trial_fn=partial(_raise_two_ways, raised=[]),
                    phase="selection")
    line = str(info.value)
    assert line.count("ValueError: not enough values to unpack") == 1, line
    assert line.count("RuntimeError: KilledWorker: the task's worker died") == 1, line
    assert info.value.missing == 2 and not info.value.lost
