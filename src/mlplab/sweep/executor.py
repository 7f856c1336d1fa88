"""Where trials run: one ``concurrent.futures``-style interface, three back ends.

``make_executor("local", workers)``   the lab's way (see :func:`mlplab.lab.base.parallel_map`):
    ``workers`` forked processes with one BLAS thread each; the data loaded in this process
    reaches them through fork, without pickling. ``workers=1`` runs trials here, in order.
``make_executor("dask", workers)``    a Dask ``LocalCluster`` of ``workers`` processes with one
    thread each (``pip install mlplab[dask]``).
``make_executor("dask", scheduler="tcp://HOST:PORT")``  an existing Dask cluster (started with
    ``dask scheduler`` / ``dask worker``, or on SLURM through dask-jobqueue). Its workers need
    mlplab installed and reach the dataset through mlplab's own verified fetch.

Every executor offers ``submit(fn, *args) -> concurrent.futures.Future`` and ``shutdown()``.
:class:`LocalExecutor` also offers ``restart()``: a killed worker breaks a process pool
(``BrokenProcessPool``), and the runner then starts a fresh pool and resubmits the trials that had
not come back. Dask re-runs a dead worker's tasks on another worker by itself. Since a trial is a
pure function of its description and always runs with one BLAS thread, the numbers do not depend
on the executor or the number of workers.

Workers die with the process that started them. A forked worker asks the kernel for SIGKILL when
its parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux) and checks that the parent it was forked from is
still its parent (the parent may have died between the fork and the ``prctl``), so ``kill -9`` of
``mlplab sweep`` leaves no worker behind; forked children also drop the folder lock's descriptor at
once (:mod:`mlplab.runtime.runlock`), so a dead sweep's lock is free for the next run to take over. Dask's
``LocalCluster`` workers are children of this process that exit when the pipe to it closes. A
Dask client whose scheduler is gone is :meth:`DaskExecutor.alive` ``False``; its shutdown is quiet
(Dask's loggers are silenced first: a lost scheduler or Ctrl-C otherwise prints dozens of lines of
reconnection tracebacks).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import signal

from ..runtime.children import die_with_parent  # noqa: F401 - used by the workers, and tests import it here

__all__ = ["make_executor", "LocalExecutor", "InlineExecutor", "DaskExecutor", "EXECUTORS", "ExecutorError",
           "BadSchedulerAddress", "SchedulerUnreachable", "NoWorkers", "usable_cores"]

EXECUTORS = ("local", "dask")


class ExecutorError(RuntimeError):
    """The executor could not start (Dask missing, scheduler unreachable): one line for the user."""


class BadSchedulerAddress(ExecutorError):
    """``--scheduler`` is not an address (a usage error)."""


class SchedulerUnreachable(ExecutorError):
    """Nothing answers at the ``--scheduler`` address (a machine problem)."""


class NoWorkers(ExecutorError):
    """The ``--scheduler`` answers but has no worker to run anything (a machine problem): without this a
    sweep would wait forever for trials nobody runs."""


WORKER_WAIT_S = 60.0  # how long a sweep waits for a scheduler's first worker, or for one after all left


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _worker_init(parent_pid=None):
    from threadpoolctl import threadpool_limits

    if parent_pid is not None:
        die_with_parent(parent_pid)
    threadpool_limits(limits=1, user_api="blas")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler (a graceful stop) is not the worker's


class InlineExecutor(cf.Executor):
    """Runs each task at submit time, in this process (one worker, or no fork on this platform)."""

    workers = 1

    def submit(self, fn, /, *args, **kwargs):
        f = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: B036 - handed to the caller through the future
            if isinstance(e, KeyboardInterrupt):
                raise
            f.set_exception(e)
        return f

    def restart(self):
        pass


class LocalExecutor(cf.Executor):
    """Forked worker processes, one BLAS thread each (restartable after a worker dies)."""

    def __init__(self, workers: int):
        self.workers = int(workers)
        self._pool = None
        self.restart()

    def restart(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init,
                                            initargs=(os.getpid(),), mp_context=multiprocessing.get_context("fork"))

    def alive(self) -> bool:
        return True  # a broken pool is restarted (the runner's BrokenProcessPool handling)

    def submit(self, fn, /, *args, **kwargs):
        return self._pool.submit(fn, *args, **kwargs)

    def cancel(self, futures) -> None:
        """Nothing: the pool cancels what has not started itself, at :meth:`shutdown` or :meth:`restart`.
        A future cancelled by hand stays in the pool's books, and when the pool then breaks (its workers
        ended) Python 3.11's pool sets an exception on it and dies of ``InvalidStateError``."""

    def shutdown(self, wait=True, *, cancel_futures=False):
        """``cancel_futures``: also end the trials running now (SIGTERM to the workers), so Ctrl-C or a
        stopped sweep does not wait for them: their results would not be stored anyway. The pool's own
        thread is then joined: left running, it writes to a closed pipe at exit ("Exception ignored ...
        Bad file descriptor")."""
        if not cancel_futures:
            self._pool.shutdown(wait=wait)
            return
        thread = getattr(self._pool, "_executor_manager_thread", None)
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            try:
                proc.terminate()
            except (OSError, ValueError):
                pass
        for proc in procs:
            try:
                proc.join(timeout=5)
            except (OSError, ValueError, AssertionError):
                pass
        if thread is not None:
            thread.join(timeout=10)


# Dask's defaults cost a NumPy trial dearly; a LocalCluster of mlplab's starts without them:
# - ``MALLOC_TRIM_THRESHOLD_=65536`` (set in every worker's environment before it starts, to hand memory
#   back to the OS): setting it switches off glibc's dynamic mmap threshold, so every array above
#   128 KiB (a batch of 128 images is 401 KB, the first layer's weight gradient 314 KB) is a fresh
#   mmap, page-faulted and zeroed, then unmapped: 229,000 page faults and 0.5-0.8 s of system time in
#   one MNIST trial of 0.9 s, which took twice as long. ``None`` removes the variable; one the user
#   exported still reaches the workers (and a trial then undoes it: ``mlplab.runtime.allocator.keep_freed_memory``).
# - the statistical profiler, which wakes every 10 ms in each worker to walk the task thread's stack
#   (taking the GIL from it), and the event loop's 20 ms tick and 0.5 s system monitor, slowed down:
#   together they took ~10 % of a trial's CPU time in other threads. BLAS stays at one thread
#   (Dask's OMP/OPENBLAS_NUM_THREADS=1 and the trial's own threadpool limit).
_LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
}


class DaskExecutor(cf.Executor):
    """A Dask client's ``concurrent.futures`` executor (``Client.get_executor``); owns the
    LocalCluster it started, if any."""

    def __init__(self, workers: int = 2, scheduler: str | None = None, timeout: float = 5.0,
                 worker_wait: float = WORKER_WAIT_S):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorError("--executor dask needs Dask: pip install 'mlplab[dask]'") from None
        self.cluster = None
        try:
            if scheduler:
                address = check_scheduler(scheduler, timeout)
                self.client = Client(address, timeout=f"{timeout}s")
            else:
                import dask

                with dask.config.set(_LOCAL_CLUSTER_CONFIG):
                    self.cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                                dashboard_address="127.0.0.1:0", host="127.0.0.1", silence_logs=40,
                                                preload=[__name__])  # dask_setup below, in every worker
                self.client = Client(self.cluster)
        except (OSError, TimeoutError) as e:
            where = f"the Dask scheduler at {scheduler}" if scheduler else "a Dask LocalCluster"
            raise SchedulerUnreachable(f"could not reach {where} ({type(e).__name__}: {e}); check the address "
                                       "and that `dask scheduler` is running") from None
        self.worker_wait = float(worker_wait)
        if scheduler and not self.worker_count():
            try:  # workers may still be starting (`dask worker` started with the sweep)
                self.client.wait_for_workers(1, timeout=self.worker_wait)
            except (TimeoutError, OSError):
                self.shutdown()
                raise NoWorkers(f"the Dask scheduler at {scheduler} has no workers (waited {self.worker_wait:g} s); "
                                f"start some with `dask worker {scheduler}`, then run the same command again") from None
        self.workers = self.worker_count() or int(workers)
        self._ex = self.client.get_executor(pure=False)

    def worker_count(self) -> int:
        """How many workers the scheduler has now (0 if it cannot say)."""
        try:
            return len(self.client.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - a scheduler that does not answer has no usable workers
            return 0

    def submit(self, fn, /, *args, **kwargs):
        return self._ex.submit(fn, *args, **kwargs)

    def restart(self):
        pass  # the scheduler re-runs a dead worker's tasks elsewhere

    def alive(self) -> bool:
        """False once the client has lost its scheduler (it is then "connecting" or closed)."""
        return self.client.status == "running"

    def worker_pids(self) -> dict:
        return self.client.run(os.getpid)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Close the client (and the LocalCluster it started), quietly: with the scheduler gone, or at
        Ctrl-C, Dask logs its reconnection attempts and each worker's end as tracebacks."""
        quiet_dask_logs()
        try:
            if self.alive():  # waiting needs a worker: with none, the queued futures would be awaited forever
                self._ex.shutdown(wait=wait and not cancel_futures and self.worker_count() > 0)
        except Exception:  # noqa: S110 - a client that lost its scheduler cannot wait for anything
            pass
        finally:
            try:
                self.client.close(timeout=5)
            except Exception:  # noqa: S110 - closing what is already gone
                pass
            if self.cluster is not None:
                try:
                    self.cluster.close(timeout=10)
                except Exception:  # noqa: S110
                    pass


def dask_setup(worker) -> None:
    """Run by Dask in every worker process of mlplab's ``LocalCluster`` as it starts (``preload``): Ctrl-C
    is the main process's business. A terminal sends SIGINT to the whole foreground process group,
    workers included, and each worker would print its own KeyboardInterrupt traceback (about 70 lines
    for two workers); the main process closes the cluster, which ends them."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def quiet_dask_logs() -> None:
    """Silence Dask's loggers (distributed, tornado, asyncio) for the rest of the process (after importing
    distributed, whose import configures its loggers)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        pass
    prefixes = ("distributed", "tornado", "asyncio", "dask")
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in prefixes]
    for name in {*prefixes, *names}:  # each of Dask's loggers has its own level (distributed.client: warning)
        log = logging.getLogger(name)
        log.setLevel(logging.CRITICAL + 10)
        log.propagate = False


def check_scheduler(scheduler: str, timeout: float = 5.0) -> str:
    """``tcp://HOST:PORT`` (``HOST:PORT`` means tcp), checked: a malformed address is
    :class:`BadSchedulerAddress`; a host that does not resolve or a port where nothing listens is
    :class:`SchedulerUnreachable` at once (Dask's own client would retry for its whole timeout)."""
    import socket

    text = scheduler.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    if scheme not in ("tcp", "tls"):
        raise BadSchedulerAddress(f"--scheduler {scheduler!r}: unknown scheme {scheme!r}; give tcp://HOST:PORT "
                                  "(or tls://HOST:PORT), as `dask scheduler` prints it")
    host, colon, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadSchedulerAddress(f"--scheduler {scheduler!r}: give tcp://HOST:PORT with a port from 1 to 65535, "
                                  "as `dask scheduler` prints it (e.g. tcp://127.0.0.1:8786)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except socket.gaierror as e:
        raise SchedulerUnreachable(f"--scheduler {scheduler}: the host {host!r} is unknown ({e.strerror}); check "
                                   "the address") from None
    except OSError as e:
        reason = "nothing listens there" if isinstance(e, ConnectionRefusedError) else (e.strerror or str(e))
        raise SchedulerUnreachable(f"--scheduler {scheduler}: cannot connect ({reason}); start it with `dask "
                                   "scheduler` or check the address") from None
    return f"{scheme}://{rest.rstrip('/')}"


def make_executor(kind: str = "local", workers: int = 1, scheduler: str | None = None,
                  worker_wait: float = WORKER_WAIT_S):
    """The executor for ``kind`` ("local" or "dask"); ``scheduler`` implies Dask."""
    if scheduler:
        kind = "dask"
    if kind not in EXECUTORS:
        raise ExecutorError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")
    if int(workers) < 1:
        raise ExecutorError(f"the number of workers must be at least 1, got {workers}")
    if kind == "dask":
        return DaskExecutor(workers, scheduler, worker_wait=worker_wait)
    if int(workers) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return InlineExecutor()
    return LocalExecutor(workers)
