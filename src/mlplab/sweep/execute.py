"""Executing a sweep's trials: hand groups to an executor, store what they return, and tell a trial's
result from the infrastructure's failure.

What a task *returns* is a result and is stored (done, diverged, or failed: the training raised). What a
task *raises* is never a result: the executor failed (a Dask ``KilledWorker`` after its own retries, a
``CancelledError`` when the scheduler is gone, ``CommClosedError``, a killed forked worker, a worker that
cannot read the data, a cluster left without workers). Such trials are not stored and :class:`TrialsNotRun`
says how many, so the same command runs them again. Choosing, testing and summarizing are
:mod:`.runner`'s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from .store import Store
from .trial import run_group, trial_key

__all__ = ["execute", "TrialsNotRun", "request_stop", "clear_stop", "describe_failure", "is_lost"]

_STOP = threading.Event()
_CANCELLED = (cf.CancelledError, asyncio.CancelledError)  # the second is a BaseException since Python 3.8


def request_stop() -> None:
    """Ask :func:`execute` to stop as at Ctrl-C (KeyboardInterrupt) at its next look, within 2 s. The
    command's signal handlers call it beside raising KeyboardInterrupt: Python may deliver that exception
    inside a finalizer (a Dask future's ``__del__``), where it is printed and ignored, and the sweep would
    go on to the end."""
    _STOP.set()


def clear_stop() -> None:
    _STOP.clear()


class TrialsNotRun(RuntimeError):
    """Trials the *infrastructure* could not run: the executor was lost (a Dask scheduler gone, the
    client cancelled) or a task raised instead of returning a result (a worker killed past Dask's
    retry limit, data unreadable on a worker). None of them is a result: nothing is stored for them,
    and the same command runs them again. ``lost`` says the executor itself is gone."""

    def __init__(self, phase: str, missing: int, total: int, cause: BaseException, lost: bool, others=()):
        self.phase, self.missing, self.total, self.cause, self.lost = phase, missing, total, cause, lost
        self.partial_written = False  # set when summary.json marked partial was written
        what = "the executor was lost" if lost else "the executor could not run them"
        said = list(dict.fromkeys(describe_failure(e) for e in (cause, *others)))  # each distinct failure once
        super().__init__(f"{missing} of {total} {phase} trials did not run ({what}: {'; '.join(said)}); "
                         "nothing was stored for them: run the same command again to run them")


def describe_failure(e: BaseException) -> str:
    """One line for an infrastructure failure: its type and the first line of its message."""
    name = type(e).__name__
    if isinstance(e, _CANCELLED):
        return f"{name}: the tasks were cancelled (the Dask scheduler is gone, or the client lost it)"
    text = " ".join(str(e).split())[:200]
    return f"{name}: {text}" if text else name


def is_lost(executor) -> bool:
    """True when the executor can no longer run anything (a Dask client without its scheduler)."""
    alive = getattr(executor, "alive", None)
    return alive is not None and not alive()


def execute(groups, store: Store, executor, trial_fn=run_group, progress=None, max_restarts=3,
            phase="trials") -> int:
    """Run ``groups`` whose trials are not all stored yet; store each group's results as it returns.

    What a task *returns* is a result and is stored: done, diverged, or failed (the training itself
    raised; :func:`~mlplab.sweep.trial.run_trial` turns that into a result). What a task *raises* is
    never a result: the infrastructure failed (a Dask ``KilledWorker`` after its own retries, a
    ``CancelledError`` when the scheduler is gone, ``CommClosedError``, an ``OSError`` or a data error
    on the worker). Such a group is not stored; the others still running are awaited and stored
    unless the executor itself is lost, and then :class:`TrialsNotRun` is raised, so the same command
    runs the missing trials again. A ``BrokenProcessPool`` (a forked worker was killed) restarts the
    pool and resubmits the groups that had not returned; after ``max_restarts`` restarts without any
    group finishing in between that is a :class:`TrialsNotRun` too. Ctrl-C cancels what has not
    started and re-raises: every stored trial stays. Returns how many trials ran."""
    done = store.done_keys()
    todo = [g for g in groups if not all(trial_key(t) in done for t in g)]
    total = sum(len(g) for g in todo)
    ran, restarts = 0, 0
    failed: list = []  # (group, exception) of groups the infrastructure could not run

    def submit_all(gs):
        """Submit ``gs``; a pool that breaks while they are being handed over (a worker killed by an early
        task) is restarted and they are handed over again, at most ``max_restarts`` times."""
        for attempt in range(max_restarts + 1):
            futures = {}
            try:
                for g in gs:
                    futures[executor.submit(trial_fn, g)] = g
                return futures
            except BrokenProcessPool:
                _cancel(executor, futures)
                if attempt == max_restarts:
                    raise TrialsNotRun(phase, total - ran, total, RuntimeError(
                        "the worker processes kept dying while trials were handed to them; see the system log "
                        "(out of memory?)"), lost=True) from None
                executor.restart()

    pending = submit_all(todo)
    idle_since = None  # when the executor was first seen without any worker (a Dask scheduler whose workers left)
    try:
        while pending:
            if _STOP.is_set():
                raise KeyboardInterrupt
            finished, _ = cf.wait(pending, timeout=2.0, return_when=cf.FIRST_COMPLETED)
            if not finished:
                if is_lost(executor):
                    raise _not_run(phase, failed, pending, total, ran, RuntimeError("the Dask scheduler stopped "
                                                                                    "answering"), lost=True,
                                   executor=executor)
                idle_since = _check_workers(executor, idle_since, phase, failed, pending, total, ran)
                continue
            idle_since = None
            lost = []
            for f in finished:
                g = pending.pop(f)
                try:
                    results = f.result()
                except BrokenProcessPool:
                    lost.append(g)
                    continue
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as e:  # noqa: B036 - the infrastructure, not the trial: nothing stored
                    failed.append((g, e))
                    continue
                store.put_many((trial_key(t), t, r) for t, r in zip(g, results))
                ran += len(g)
                restarts = 0
                if progress is not None:
                    for t, r in zip(g, results):
                        progress(t, r, ran, total)
            if failed and (isinstance(failed[-1][1], _CANCELLED) or is_lost(executor)):
                raise _not_run(phase, failed, pending, total, ran, failed[-1][1], lost=True, executor=executor)
            if lost:
                restarts += 1
                if restarts > max_restarts:
                    cause = RuntimeError(f"the worker processes died {restarts} times in a row without finishing "
                                         "a trial; see the system log (out of memory?)")
                    failed.append((lost, cause))
                    raise _not_run(phase, failed, pending, total, ran, cause, lost=True, executor=executor)
                lost += list(pending.values())
                _cancel(executor, pending)
                executor.restart()
                pending = submit_all(lost)
    except BaseException:
        _cancel(executor, pending)
        raise
    if failed:
        raise _not_run(phase, failed, {}, total, ran, failed[0][1], lost=False, executor=executor)
    return ran


def _check_workers(executor, idle_since, phase, failed, pending, total, ran):
    """A Dask scheduler whose workers all left keeps the trials queued forever: after the executor's
    ``worker_wait`` seconds without a worker, stop (nothing wrong is stored; the same command resumes)."""
    count = getattr(executor, "worker_count", None)
    if count is None or count():
        return None
    now = time.monotonic()
    if idle_since is None:
        return now
    wait = getattr(executor, "worker_wait", 60.0)
    if now - idle_since >= wait:
        raise _not_run(phase, failed, pending, total, ran, RuntimeError(
            f"the Dask scheduler has had no workers for {wait:g} s; start some with `dask worker ADDRESS`"),
            lost=True, executor=executor)
    return idle_since


def _not_run(phase, failed, pending, total, ran, cause, lost, executor=None) -> TrialsNotRun:
    """:class:`TrialsNotRun` for ``cause``, also naming what the failed groups raised (a Dask worker killed
    mid-task can make one task raise KilledWorker and another a protocol error: both are said)."""
    _cancel(executor, pending)
    return TrialsNotRun(phase, total - ran, total, cause, lost, others=[e for _, e in failed])


def _cancel(executor, futures) -> None:
    """Cancel what has not started, the executor's way (a process pool cancels its own at shutdown)."""
    cancel = getattr(executor, "cancel", None)
    if cancel is not None:
        cancel(futures)
        return
    for f in futures:
        f.cancel()
