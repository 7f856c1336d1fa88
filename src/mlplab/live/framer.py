"""Frames made in a process of their own, from the training model's arrays in shared memory.

Made inline, a frame (:func:`mlplab.live.frames.measure`: a probe forward pass, 19 histograms,
statistics) takes the training thread 1.7-2.5 ms against a 2.0-2.9 ms step of the book's
network, and cost the step about three times that, so 12 frames a second took 5-17 % of the
throughput (``benchmarks/live_overhead.py``). Made in a thread of its own it did no better: a
frame's Python work holds the GIL. A process shares neither the GIL nor the core; the training
thread's part of a frame is three ``memcpy`` of the weights (before the step, W, b and ∂L/∂W
after it) into shared memory and one short message.

The worker (:class:`FrameWorker`) is a fresh interpreter (:func:`main`, given its socket's FD, in
its own session so a Ctrl-C meant for the server does not reach it, with one BLAS thread, niced
and SCHED_BATCH so that when no core is free the training thread gets the CPU first), which
takes about a second to import NumPy and mlplab; ``mlplab live`` keeps one started ahead of the
next run, and frames are made inline until it is ready. :meth:`FrameWorker.attach` hands it one
run: the layout of a shared file (``/dev/shm``: memory, not disk) holding per Linear layer W, b,
∂L/∂W and W before the last update, the network's sizes and activation, and the probe batch; the
worker builds a mirror network whose parameters are views of that file, so ``measure`` runs on it
unchanged and its numbers are the training model's.

Protocol over a socket pair (pickled tuples): worker → ``("ready",)``; ``("attach", path, layout,
spec)`` → ``("attached",)``; ``("frame", token, has_grad, with_ratio, trained, curv)`` →
``("frame", token, layers, probe_acc, extras)`` or ``("error", message)``; ``("detach",)``; ``("close",)``.
``extras`` holds a toy 2-D set's decision boundary (:mod:`mlplab.live.boundary`) and, once a
measurement asked for by ``curv`` (``{"P": preconditioner or None}``) is done, the sharpness
(:mod:`mlplab.live.sharpness`, on the spec's fixed curvature batch) with the ``token`` of the frame
that asked: the worker copies that frame's W and b into a network of its own and measures in a
thread, while the frames go on (its products are BLAS calls that release the GIL); the result
rides on the next frame after it is done. Both cost the training thread nothing.
The parent writes the shared arrays only while no frame is pending, so the worker never reads
them mid-write. A worker that dies, errs or takes longer than ``REPLY_TIMEOUT`` is given up and
frames are made inline again: watching never stops a run.

**Who can read or write what.** The shared file is made by :func:`tempfile.mkstemp` (``O_EXCL``,
mode 0600, then ``fchmod`` 0600 again, whatever the umask), in ``/dev/shm``, whose sticky bit
keeps other users from renaming or replacing it, and it is unlinked as soon as the worker has
mapped it (by the server when it reads "attached"; by the worker as it exits, if the server was
killed before that: such files were left in /dev/shm, one per killed server). The worker opens it
without following a symbolic link and, before mapping it, checks that it is a regular file owned by
this user, readable and writable by nobody else, and as large as the layout says
(:func:`check_private`); otherwise it answers an error and the run's frames are made inline. The
file holds only raw numbers, read through ``np.ndarray`` views: nothing in it is ever decoded as an
object. The messages are pickled (multiprocessing's ``Connection``), and that
is kept on purpose: they travel over an anonymous ``socket.socketpair()`` made by the server,
whose one other end is inherited by the worker it starts (``pass_fds``); it has no name in the
file system, so no other process, of this user or another, can connect to it or write into it
(only one that could already read this process's memory). Were any message ever read from a
socket file, a pipe or a file another user could open, it would have to be JSON and raw arrays.
"""

from __future__ import annotations

import math
import mmap
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ..runtime.fileio import unlink_if_same, unlink_quietly

__all__ = ["FrameWorker", "REPLY_TIMEOUT", "main", "check_private"]

REPLY_TIMEOUT = 5.0  # seconds a frame may take before the worker is given up
NICE = 10  # the worker's niceness: CPU time goes to training first (about 10:1 under contention)
_ALIGN = 64
_SLOTS = ("w", "b", "g", "before")


def _shm_dir() -> str:
    d = "/dev/shm"
    return d if os.path.isdir(d) and os.access(d, os.W_OK) else tempfile.gettempdir()


def _layout(plan) -> tuple[list, int]:
    """Per layer, ``{slot: (offset, shape)}`` for W, b (if any), ∂L/∂W and W before; the total size."""
    out, off = [], 0
    for lay in plan:
        w, b = lay.linear.weight.data, lay.linear.bias
        shapes = {"w": w.shape, "g": w.shape, "before": w.shape}
        if b is not None:
            shapes["b"] = b.data.shape
        row = {}
        for slot in _SLOTS:
            if slot in shapes:
                row[slot] = (off, tuple(shapes[slot]))
                off += math.ceil(math.prod(shapes[slot]) * w.dtype.itemsize / _ALIGN) * _ALIGN
        out.append(row)
    return out, max(off, _ALIGN)


def check_private(st: os.stat_result, path, need: int) -> None:
    """Refuse (ValueError) a shared file that is not a regular file of this user's, private to it
    (no permission bit for the group or others), and at least ``need`` bytes long."""
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"the shared file {path} is not a regular file: refused")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ValueError(f"the shared file {path} belongs to user {st.st_uid}, not to this one: refused")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ValueError(f"the shared file {path} is not private (mode {stat.S_IMODE(st.st_mode):04o}, "
                         "not 0600): refused")
    if st.st_size < need:
        raise ValueError(f"the shared file {path} holds {st.st_size} bytes, the layout needs {need}: refused")


def _needed(layout, dtype) -> int:
    """Bytes the layout's arrays reach to."""
    return max((off + math.prod(shape) * dtype.itemsize for row in layout for off, shape in row.values()), default=0)


def _views(buf, layout, dtype) -> list[dict]:
    return [{slot: np.ndarray(shape, dtype=dtype, buffer=buf, offset=off) for slot, (off, shape) in row.items()}
            for row in layout]


class FrameWorker:
    """A frame-making process. ``ready()`` / ``wait_ready()``; ``attach(plan, probe, sizes,
    activation)`` for one run; then ``collect()``, ``idle``, ``snapshot_before()``, ``request()``,
    ``drain()``; ``detach()`` to hand it to another run; ``close()``. ``broken`` holds why it was
    given up (None while usable)."""

    def __init__(self):
        import mlplab

        ours, theirs = socket.socketpair()
        # the worker imports the mlplab this process runs: found as here (the same PYTHONPATH), or else
        # from its folder, put last on the path so that it shadows nothing
        root = str(Path(mlplab.__file__).resolve().parents[1])
        start = f"import sys; sys.path.append({root!r}); from mlplab.live.framer import main; main()"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.broken: str | None = None
        self._ready = self._attached = False
        self.pending = None  # (token, time sent) of the frame asked for
        self._views = self._mm = self._path = None
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", start, str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), start_new_session=True, env=env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        except (OSError, ValueError) as e:  # (ValueError: a platform without pass_fds)
            self.proc, self.broken = None, f"could not start the frame worker: {e}"
        theirs.close()
        self.conn = Connection(ours.detach())

    # ------------------------------------------------------------------ state
    def _give_up(self, why: str) -> None:
        if self.broken is None:
            self.broken = why
        self.pending = None
        self._kill()

    def _recv_ready(self, timeout: float) -> list:
        """Every message that has come, waiting up to ``timeout`` for the first."""
        got = []
        try:
            while self.conn.poll(timeout):
                got.append(self.conn.recv())
                timeout = 0
        except (EOFError, OSError) as e:  # after what it said last (an error message, say)
            got.append(("ended", f"the frame worker ended ({type(e).__name__})"))
        return got

    def _handle(self, messages) -> list:
        frames = []
        for msg in messages:
            if msg[0] == "ready":
                self._ready = True
            elif msg[0] == "attached":
                self._attached = True
                self._unlink()
            elif msg[0] == "frame":
                if self.pending is not None and msg[1] == self.pending[0]:
                    self.pending = None
                    frames.append(msg[1:])
            elif msg[0] == "error":
                self._give_up(f"the frame worker failed: {msg[1]}")
            elif msg[0] == "ended":
                self._give_up(msg[1])
        return frames

    def ready(self) -> bool:
        """Whether the worker has started (non-blocking)."""
        if not self._ready and self.broken is None:
            self._handle(self._recv_ready(0))
        return self._ready and self.broken is None

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.ready() and self.broken is None and time.monotonic() < deadline:
            self._handle(self._recv_ready(min(0.1, max(0.0, deadline - time.monotonic()))))
        return self.ready()

    @property
    def idle(self) -> bool:
        """Attached, started, and no frame pending: the shared arrays may be written."""
        if self.broken is None and self._mm is not None and not self._attached:
            self._handle(self._recv_ready(0))  # the answer to attach (no frame can be pending before it)
        return self._attached and self._ready and self.pending is None and self.broken is None

    # ------------------------------------------------------------------ one run
    def attach(self, plan, probe, sizes, activation, curv_batch=None) -> None:
        """Share this run's arrays with the worker (it builds a mirror of the network on them);
        ``curv_batch``: the (X, y) the sharpness is measured on, or None (no sharpness)."""
        if self.broken is not None:
            return
        dtype = plan[0].linear.weight.data.dtype
        layout, size = _layout(plan)
        fd, self._path = tempfile.mkstemp(prefix="mlplab-live-", dir=_shm_dir())  # O_EXCL, 0600
        try:
            os.fchmod(fd, 0o600)  # (mkstemp's mode already; said here, where it matters)
            os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._views = _views(self._mm, layout, dtype)
        spec = {"sizes": list(sizes), "activation": activation, "dtype": dtype.str, "bias": "b" in layout[0],
                "X": probe.X, "y": probe.y, "predicted_pre_std": probe.predicted_pre_std, "grid": probe.grid,
                "curv_batch": curv_batch}
        self._attached = False
        self._send(("attach", self._path, layout, spec))

    def _send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except OSError as e:
            self._give_up(f"the frame worker ended ({type(e).__name__})")

    def collect(self) -> list:
        """The frames finished since the last call, as ``(token, layers, probe_acc, extras)`` (non-blocking)."""
        if self.broken is not None:
            return []
        frames = self._handle(self._recv_ready(0))
        if self.pending is not None and time.monotonic() - self.pending[1] > REPLY_TIMEOUT:
            self._give_up(f"the frame worker took more than {REPLY_TIMEOUT:g} s for a frame")
        return frames

    def drain(self, timeout: float = REPLY_TIMEOUT) -> list:
        """Wait for the pending frame, if any (up to ``timeout``; then the worker is given up)."""
        frames = []
        deadline = time.monotonic() + timeout
        while self.pending is not None and self.broken is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self._give_up(f"the frame worker took more than {timeout:g} s for a frame")
                break
            frames += self._handle(self._recv_ready(left))
        return frames

    def snapshot_before(self, plan) -> None:
        """W before the coming update (for the frame's ‖ΔW‖/‖W‖)."""
        for lay, v in zip(plan, self._views):
            np.copyto(v["before"], lay.linear.weight.data)

    def request(self, token, plan, with_ratio: bool, trained: bool, curv=None) -> None:
        """Copy W, b and ∂L/∂W into the shared arrays and ask for a frame of them (``curv``: a
        sharpness measurement too, ``{"P": Adam's or RMSProp's preconditioner, or None}``)."""
        has_grad = []
        for lay, v in zip(plan, self._views):
            np.copyto(v["w"], lay.linear.weight.data)
            if "b" in v:
                np.copyto(v["b"], lay.linear.bias.data)
            g = lay.linear.weight.grad
            has_grad.append(g is not None)
            if g is not None:
                np.copyto(v["g"], g)
        self.pending = (token, time.monotonic())
        self._send(("frame", token, has_grad, with_ratio, trained, curv))

    def detach(self) -> None:
        """End the run's sharing (the worker stays, ready for another run)."""
        if self.pending is not None:
            self.drain(1.0)
        deadline = time.monotonic() + REPLY_TIMEOUT
        while self._mm is not None and not self._attached and self.broken is None:  # let it map the file first
            if time.monotonic() > deadline:
                self._give_up(f"the frame worker took more than {REPLY_TIMEOUT:g} s to attach")
                break
            self._handle(self._recv_ready(0.05))
        self._send(("detach",))
        self._attached = False
        self._views = None
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a view is still referenced somewhere: the mapping goes with it
                pass
            self._mm = None
        self._unlink()

    def _unlink(self) -> None:
        unlink_quietly(self._path)
        self._path = None

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._unlink()

    def close(self) -> None:
        """Stop the worker (politely: it exits when told, or when its socket closes)."""
        if self.broken is None and self.proc is not None:
            self._send(("close",))
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(2.0)
            except subprocess.TimeoutExpired:
                self._kill()
        self._views = None
        self._unlink()
        if self.broken is None:
            self.broken = "closed"


# ---------------------------------------------------------------------- the worker's side
class _Mirror:
    """The run's network rebuilt on the shared arrays (W, b, ∂L/∂W) in the worker."""

    def __init__(self, path, layout, spec):
        from .. import nn
        from ..diagnose import statistics as dg
        from .frames import Probe

        dtype = np.dtype(spec["dtype"])
        try:  # never through a symbolic link
            fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except OSError as e:  # (an OSError here is not the socket's: said to the parent, not taken for an end)
            raise ValueError(f"the shared file {path} cannot be opened without following a link ({e.strerror}): "
                             "refused") from None
        try:
            st = os.fstat(fd)
            check_private(st, path, _needed(layout, dtype))  # what is mapped is what was checked
            self.mm = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        self.path, self.file = path, (st.st_dev, st.st_ino)
        self.views = _views(self.mm, layout, dtype)
        model = nn.MLP(spec["sizes"], activation=spec["activation"], weight_init="zeros", bias_init="zeros",
                       bias=spec["bias"], dtype=dtype)
        self.model = model
        self.plan = dg.layer_plan(model)
        if len(self.plan) != len(self.views):
            raise ValueError(f"the mirror has {len(self.plan)} layers, the shared arrays {len(self.views)}")
        for lay, v in zip(self.plan, self.views):
            lay.linear.weight.data = v["w"]
            if "b" in v:
                lay.linear.bias.data = v["b"]
        self.probe = Probe(spec["X"], spec["y"], spec["predicted_pre_std"], spec.get("grid"))
        self.curv_batch, self.tracker = spec.get("curv_batch"), None
        self.spec = spec
        self.copy = None  # the network the sharpness is measured on: the asking frame's W and b, copied
        self.job = self.job_token = self.job_result = None  # the measurement's thread, its frame, its answer

    def frame(self, has_grad, with_ratio, trained, curv=None, token=None):
        from .frames import extras, measure, update_ratios

        for lay, v, g in zip(self.plan, self.views, has_grad):
            lay.linear.weight.grad = v["g"] if g else None
        ratio = update_ratios([v["w"] for v in self.views], [v["before"] for v in self.views]) if with_ratio else None
        layers, acc = measure(self.plan, self.probe, ratio, trained)
        more = extras(self.plan, self.probe)
        if self.job is not None and not self.job.is_alive():  # a measurement done: it rides on this frame
            more["sharpness"] = {**(self.job_result or {"value": None, "error": "the measurement failed"}),
                                 "token": self.job_token}
            self.job = None
        if curv is not None and self.curv_batch is not None and self.job is None:
            self._measure_meanwhile(curv.get("P"), token)
        return layers, acc, more

    def _measure_meanwhile(self, P, token) -> None:
        """Copy W and b as they are now and measure λ₁ of them in a thread (:meth:`sharpness`)."""
        import threading

        from .. import nn

        if self.copy is None:
            s = self.spec
            self.copy = nn.MLP(s["sizes"], activation=s["activation"], weight_init="zeros", bias_init="zeros",
                               bias=s["bias"], dtype=np.dtype(s["dtype"]))
        for src, dst in zip(self.model.parameters(), self.copy.parameters()):
            np.copyto(dst.data, src.data)
        self.job_token, self.job_result = token, None

        def run():
            self.job_result = self.sharpness(P)

        self.job = threading.Thread(target=run, name="mlplab-live-sharpness", daemon=True)
        self.job.start()

    def sharpness(self, P) -> dict:
        """λ₁ (:class:`mlplab.live.sharpness.Tracker`); a network it cannot take is said, not raised
        (the frames go on)."""
        from .sharpness import BUDGET, SHARE, TRIES, TooSlow, Tracker

        try:
            if self.tracker is None:
                self.tracker = Tracker(self.copy, *self.curv_batch)
            got = self.tracker.measure(P)
            self.too_slow = 0
            return got
        except TooSlow as e:  # dropped; after TRIES in a row, given up (ms: the next waits BUDGET / SHARE)
            self.too_slow = getattr(self, "too_slow", 0) + 1
            if self.too_slow < TRIES:
                return {"value": None, "ms": BUDGET * 1e3, "error": f"{e}: dropped, the next in {BUDGET / SHARE:.0f} s"}
            self.curv_batch = None
            return {"value": None, "error": f"{e}, {TRIES} times in a row: the live view measures no more of it; "
                                            "`mlplab curvature RUN_DIR` on the exported run computes it"}
        except (ValueError, np.linalg.LinAlgError) as e:
            self.curv_batch = None  # not again for this run
            return {"value": None, "error": str(e)}

    def close(self):
        self.plan = self.views = self.model = None  # (a measurement under way ends with its own copy)
        try:
            self.mm.close()
        except BufferError:
            pass

    def forget_file(self) -> None:
        """Unlink the shared file if its name still holds the file mapped here (the worker's last act: a
        server killed before it read "attached", so before it unlinked the file, would leave it in /dev/shm)."""
        unlink_if_same(self.path, self.file)


def _yield_to_training() -> None:
    """When the cores are all busy, training goes first: a late frame is better than a slow step.

    Niceness ``NICE`` gives the worker about a tenth of the CPU when it competes for a core, so
    frames still come, fewer; the SCHED_BATCH policy keeps it from preempting a running task when
    it wakes up (Linux lets only SCHED_NORMAL tasks preempt on wake-up): woken by a request, it
    waits for a free core or its turn instead of taking the training thread's core at once."""
    try:
        os.nice(NICE)
    except OSError:
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: niceness alone
        pass


def _serve(conn: Connection) -> None:
    mirror = None
    try:
        from .frames import measure  # noqa: F401  (the imports are the start-up: say ready after them)

        np.seterr(all="ignore")
        _yield_to_training()
        conn.send(("ready",))
        while True:  # (the server unlinks the shared file when it reads "attached"; if it is gone by then: below)
            msg = conn.recv()
            if msg[0] == "attach":
                mirror = _Mirror(*msg[1:])
                conn.send(("attached",))
            elif msg[0] == "frame":
                layers, acc, more = mirror.frame(*msg[2:], token=msg[1])
                conn.send(("frame", msg[1], layers, acc, more))
            elif msg[0] == "detach":
                if mirror is not None:
                    mirror.close()
                mirror = None
            elif msg[0] == "close":
                return
    except (EOFError, OSError, KeyboardInterrupt):  # the server went away: so do we
        return
    except Exception as e:  # told to the parent, which makes its frames inline from then on
        try:
            conn.send(("error", f"{type(e).__name__}: {e}"))
        except OSError:
            pass
    finally:
        if mirror is not None:
            mirror.forget_file()


def main() -> None:
    """The worker's entry point: ``python -c "...; main()" FD``, FD its end of the socket pair."""
    _serve(Connection(int(sys.argv[1])))
