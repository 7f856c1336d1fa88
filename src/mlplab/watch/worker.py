"""The frame worker of :mod:`mlplab.watch`: a process that turns the copied tensors into frames and records them.

The watched loop's part of a frame is a few copies (NumPy's: :meth:`mlplab.watch.core.Watch._put`) into shared
memory (a file in ``/dev/shm``, private to this user, unlinked once mapped:
:func:`mlplab.live.framer.check_private`, as the live page's worker does) and one short message.
The shared memory holds two buffers: the loop writes a frame into one while the worker computes the previous
frame from the other, in place (no copy out: copying the MLP's 1.8 MB out took 0.7 ms of the worker's
5-7 ms a frame), and answers ``("free", buffer)`` when it is done with it. It computes the histograms,
statistics and verdicts (:mod:`mlplab.watch.stats`, NumPy only: it never imports torch) and appends the
frame to ``frames.jsonl`` (:class:`mlplab.watch.record.LineWriter`). It runs niced and ``SCHED_BATCH``
(:func:`mlplab.live.framer._yield_to_training`, at ``fps``): when no core is free, the training loop gets the CPU first
and frames come later, not the steps (``SLICES``: also give the core back every ``QUANTUM`` of a frame's run,
between histograms, an option).

Protocol over an anonymous socket pair (multiprocessing's ``Connection``; why pickled messages are safe there
is said in :mod:`mlplab.live.framer`): worker → ``("ready",)``; ``("attach", path, layouts, meta, frames_path)``
(a layout per buffer) → ``("attached",)``; ``("frame", info)`` (``info["buffer"]``: 0 or 1) → ``("free", buffer)``
once the frame is made (or ``("error", line)``); ``("end", info)`` → ``("ended",)`` after writing the end line.
A worker whose parent goes away (a killed run) finishes the frame it holds and exits: the recording keeps
every frame it completed. With ``every=N`` the loop waits for each frame, so the worker is not niced then.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

__all__ = ["Worker", "Inline", "layout_for", "main"]

_ALIGN = 64
TIMEOUT = 10.0  # seconds to wait for the worker at the end of a run
#: whether a worker that yields its core (at fps) also gives it back between histograms (``os.sched_yield``, about
#: 1 µs), so that where torch's intra-op threads use every core, one that wakes on the worker's core waits at most
#: ``QUANTUM`` and a histogram, not the worker's time slice. Off: on the shared, loaded VM the A/B
#: (benchmarks/watch_overhead.py ``--worker-slices on|off``) could not tell the two apart; for a quiet machine's A/B
SLICES = False
#: with ``SLICES``, the core is given back once per ``QUANTUM`` seconds of the worker's run, at the next point
#: between histograms (a yield every histogram, 0.1-0.2 ms apart, would cost fps where a torch thread spins: the
#: worker then runs again only at a scheduler tick, 4 ms on a 250 Hz kernel)
QUANTUM = 0.0005


class _Slicer:
    """``stats.PAUSE`` with ``SLICES``: ``os.sched_yield`` when ``quantum`` seconds have passed since the last one
    (``time.perf_counter``: the vDSO's clock, about 50 ns a call)."""

    def __init__(self, quantum: float):
        self.quantum, self.last = quantum, time.perf_counter()

    def __call__(self) -> None:
        now = time.perf_counter()
        if now - self.last >= self.quantum:
            os.sched_yield()
            self.last = time.perf_counter()


def layout_for(slots: list[dict]) -> tuple[list[dict], int]:
    """``slots``: per layer ``{name: (shape, dtype str)}`` → per layer ``{name: (offset, shape, dtype)}``."""
    out, off = [], 0
    for row in slots:
        r = {}
        for name, (shape, dt) in row.items():
            r[name] = (off, tuple(int(s) for s in shape), dt)
            off += math.ceil(math.prod(shape) * np.dtype(dt).itemsize / _ALIGN) * _ALIGN
        out.append(r)
    return out, max(off, _ALIGN)


def views(buf, layout) -> list[dict]:
    return [{k: np.ndarray(shape, dtype=np.dtype(dt), buffer=buf, offset=off) for k, (off, shape, dt) in row.items()}
            for row in layout]


class Worker:
    """The parent's handle: ``attach``, ``send_frame``, ``free`` (whether the shared arrays may be written),
    ``end``. ``broken`` holds why it was given up (None while usable)."""

    def __init__(self, yield_cpu: bool = True):
        import mlplab

        ours, theirs = socket.socketpair()
        root = str(Path(mlplab.__file__).resolve().parents[1])
        start = f"import sys; sys.path.append({root!r}); from mlplab.watch.worker import main; main()"
        # yield_cpu: niced and SCHED_BATCH (frames at a rate: the loop never waits for them, so they go last);
        # not with every=N, where the loop waits for each frame and a starved worker would slow it down
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.broken: str | None = None
        self.busy = [False, False]  # a buffer holds a frame the worker has not finished
        self.next = 0  # the buffer the loop writes next
        self.ready = self.attached = False
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", start, str(theirs.fileno()),
                                          "1" if yield_cpu else "0", "1" if yield_cpu and SLICES else "0"],
                                         pass_fds=(theirs.fileno(),), start_new_session=True, env=env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, ValueError) as e:
            self.proc, self.broken = None, f"could not start the frame worker: {e}"
        theirs.close()
        self.conn = Connection(ours.detach())
        self.path = self.mm = None

    def _give_up(self, why):
        if self.broken is None:
            self.broken = why
        self.busy = [False, False]
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self._unlink()

    def _handle(self, timeout: float = 0.0) -> None:
        try:
            while self.broken is None and self.conn.poll(timeout):
                msg = self.conn.recv()
                timeout = 0
                if msg[0] == "ready":
                    self.ready = True
                elif msg[0] == "attached":
                    self.attached = True
                    self._unlink()
                elif msg[0] == "free":
                    self.busy[msg[1]] = False
                elif msg[0] == "error":
                    self._give_up(f"the frame worker failed: {msg[1]}")
                elif msg[0] == "ended":
                    return
        except (EOFError, OSError) as e:
            self._give_up(f"the frame worker ended ({type(e).__name__})")

    def _send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except OSError as e:
            self._give_up(f"the frame worker ended ({type(e).__name__})")

    def attach(self, slots, meta, frames_path):
        """Make the shared file for ``slots`` (see :func:`layout_for`), two buffers of them; the views the parent
        writes into, per buffer."""
        import tempfile

        from ..live.framer import _shm_dir

        both, size = layout_for([*slots, *slots])
        layouts = [both[:len(slots)], both[len(slots):]]
        fd, self.path = tempfile.mkstemp(prefix="mlplab-watch-", dir=_shm_dir())  # O_EXCL, mode 0600
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, size)
            # the pages reserved now: a tmpfs too small for them (Docker's /dev/shm is 64 MB) is an OSError here,
            # and frames stop; a sparse file would be a SIGBUS in the user's loop at the first write past the end
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, size)
            self.mm = mmap.mmap(fd, size)
        except OSError:
            self._unlink()
            raise
        finally:
            os.close(fd)
        # plain JSON values only: unpickling any torch object (torch.__version__ is a TorchVersion) would import
        # torch in the worker, 1.4 s of CPU taken from the training at its start and 300 MB
        meta = json.loads(json.dumps(meta))
        self._send(("attach", self.path, layouts, meta, str(frames_path)))
        return [views(self.mm, layout) for layout in layouts]

    @property
    def free(self) -> bool:
        """The buffer ``next`` holds no frame the worker has still to make: it may be written. (Messages queue on
        the socket, so the first frame may be written and sent before the worker has started: it attaches, then
        makes it.)"""
        if self.broken is None and self.busy[self.next]:
            self._handle(0)
        return self.broken is None and not self.busy[self.next]

    def send_frame(self, info: dict) -> None:
        """Send the frame written into buffer ``next``; the following frame goes into the other one."""
        info["buffer"] = b = self.next
        self.busy[b] = True
        self.next = 1 - b
        self._send(("frame", info))

    def wait_free(self, timeout: float = TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while self.broken is None and self.busy[self.next] and time.monotonic() < deadline:
            self._handle(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.free

    def end(self, info: dict, timeout: float = TIMEOUT) -> bool:
        """Write the end line (after the frame in hand) and stop the worker; whether it did."""
        ok = False
        if self.broken is None and self.mm is not None:
            self._send(("end", info))
            deadline = time.monotonic() + timeout
            try:
                while self.broken is None and time.monotonic() < deadline:
                    if self.conn.poll(0.1):
                        msg = self.conn.recv()
                        if msg[0] == "ended":
                            ok = True
                            break
                        if msg[0] == "error":
                            self.broken = f"the frame worker failed: {msg[1]}"
            except (EOFError, OSError):
                pass
        self.close()
        return ok

    def _unlink(self):
        from ..runtime.fileio import unlink_quietly

        unlink_quietly(self.path)
        self.path = None

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._unlink()
        if self.broken is None:
            self.broken = "closed"


class Inline:
    """:class:`Worker`'s interface with no process: each frame is made on the training thread when it is sent
    (``watch(worker="inline")``), before the loop goes on, so W and ∂L/∂W are read where the model holds them
    and the other arrays sit in one private buffer: no process to start, no shared memory (a container's
    64 MB ``/dev/shm`` is too small for a large model's frame buffers). The loop pays the frame's CPU: measured
    (``benchmarks/watch_inline.py``), 4.2-5.6 ms a frame for the 784-100×4-10 MLP at batch 128, about what the
    worker process's frames cost it where torch's threads take every core, and more than they cost where a
    core is free. The frame and the recording are the worker's (:class:`_Frames`); a failure stops the frames, never
    the run."""

    def __init__(self):
        self.broken: str | None = None
        self.next = 0  # one buffer: a frame is made before the next is armed
        self.ready = self.attached = True
        self.proc = self._buf = None
        self._frames: _Frames | None = None

    def attach(self, slots, meta, frames_path):
        from . import stats

        layout, size = layout_for(slots)
        self._buf = np.zeros(size, dtype=np.uint8)  # (written before any frame reads it)
        one = views(self._buf, layout)
        meta = json.loads(json.dumps(meta))  # (the worker's copy: plain JSON values)
        self._frames = _Frames([one], meta, frames_path)
        self._stats = stats
        from threadpoolctl import ThreadpoolController

        # NumPy's BLAS on one thread for the frame, as in the worker process: OpenBLAS splits a dot of more than
        # 10,000 values over its threads, which would wake (and leave spinning) a thread beside torch's
        self._blas = ThreadpoolController().select(user_api="blas")
        return [one, one]

    @property
    def free(self) -> bool:
        return self.broken is None

    def send_frame(self, info: dict, direct: list[dict] | None = None) -> None:
        """Make the frame now. ``direct``: per layer, arrays read in place of the buffer's (W and ∂L/∂W as the
        model holds them: no copy, as the frame is made before the loop goes on)."""
        info["buffer"] = 0
        stats, quiet = self._stats, self._stats.QUIET
        try:
            with np.errstate(all="ignore"), self._blas.limit(limits=1):
                stats.QUIET = True  # (NumPy's errors ignored around the whole frame, once)
                try:
                    arrays = self._frames.take(info)
                    for row, got in zip(arrays, direct or ()):
                        row.update(got)
                    self._frames.frame(info, arrays)
                finally:
                    stats.QUIET = quiet
        except Exception as e:  # said where the worker's failure is: frames stop, the training goes on
            self.broken = f"the frame maker failed: {type(e).__name__}: {e}"

    def wait_free(self, timeout: float = TIMEOUT) -> bool:
        return self.free

    def end(self, info: dict, timeout: float = TIMEOUT) -> bool:
        ok = False
        if self.broken is None and self._frames is not None:
            try:
                self._frames.out.write({"type": "end", **info, "frames": self._frames.frames})
                ok = True
            except OSError:
                pass
        self.close()
        return ok

    def close(self) -> None:
        if self._frames is not None:
            self._frames.out.close()
            self._frames.views = None
        self._buf = None


# ---------------------------------------------------------------------- the worker's side
class _Frames:
    """Makes a frame from its arrays and appends it to ``frames.jsonl``: the worker process's part, and
    :class:`Inline`'s on the training thread. ``views``: per buffer, per layer ``{name: array}``."""

    def __init__(self, views_, meta, frames_path):
        from .record import LineWriter

        self.views = views_
        self.meta = meta
        self.out = LineWriter(frames_path)
        self.frames = 0
        self.verdicts: list | None = None

    def take(self, info) -> list[dict]:
        """The frame's arrays: views of its buffer, which the parent leaves alone until this frame is made."""
        got = []
        for v, n, have in zip(self.views[info.get("buffer", 0)], info["rows"], info["have"]):
            row = {}
            for k, arr in v.items():
                if not have.get(k):
                    continue
                rows = info.get("x_rows", 0) if k == "x" else n
                row[k] = arr[:rows] if k in ("z", "zn", "gz", "x") else arr
            got.append(row)
        return got

    def frame(self, info, arrays) -> None:
        from . import stats
        from .stats import judge, layer_row

        layers = self.meta["layers"]
        x = arrays[0].get("x") if arrays else None
        in_std = stats.spread(x) if x is not None and x.size else None
        rows, pending = [], []  # (the histograms' counts: all of the frame's made together, stats.bin_all)
        for lay, a in zip(layers, arrays):
            zn = a.get("zn") if lay.get("norm_module") else a.get("z")
            if lay.get("norm") and not lay.get("norm_module"):
                zn = None
            rows.append(layer_row(lay, a.get("z"), zn, a.get("gz"), a.get("w"),
                                  a.get("before") if "w" in a else None, a.get("gw"), in_std, pending))
        stats.bin_all(pending)
        stats.PAUSE()
        verdicts = judge(rows, [lay["activation"] for lay in layers], [lay.get("norm") for lay in layers],
                         self.meta.get("optimizer_rules"))
        events = []
        for i, (r, v) in enumerate(zip(rows, verdicts)):
            r.update(v)
            r.pop("weight_equal", None)
            if self.verdicts is None or self.verdicts[i] != v["verdict"]:
                events.append({"layer": i, "name": layers[i]["name"],
                               "from": None if self.verdicts is None else self.verdicts[i],
                               "to": v["verdict"], "reason": v["reason"]})
        self.verdicts = [v["verdict"] for v in verdicts]
        stats.PAUSE()
        self.out.write({"type": "frame", "frame": self.frames, "step": info["step"], "time": info["time"],
                        "loss": info.get("loss"), "losses": info.get("losses", 0),
                        "in_std": in_std, "layers": rows, "events": events,
                        **({"sharpness": info["sharpness"]} if info.get("sharpness") else {})})
        self.frames += 1


class _Recorder(_Frames):
    """The worker process's frames, from the parent's shared memory (``path``, mapped once and unlinked)."""

    def __init__(self, path, layouts, meta, frames_path):
        from ..live.framer import check_private

        need = max((off + math.prod(shape) * np.dtype(dt).itemsize for layout in layouts for row in layout
                    for off, shape, dt in row.values()), default=0)
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        try:
            st = os.fstat(fd)
            check_private(st, path, need)
            self.mm = mmap.mmap(fd, 0)
            self.path, self.file = path, (st.st_dev, st.st_ino)
        finally:
            os.close(fd)
        super().__init__([views(self.mm, layout) for layout in layouts], meta, frames_path)  # the two buffers

    def close(self):
        from ..runtime.fileio import unlink_if_same

        self.out.close()
        self.views = None
        unlink_if_same(self.path, self.file)  # (the parent, killed before it read "attached", did not)
        try:
            self.mm.close()
        except BufferError:
            pass


def _serve(conn: Connection, yield_cpu: bool = True, slices: bool = False) -> None:
    rec = None
    try:
        from ..diagnose import verdicts  # noqa: F401  (the imports are the start-up: say ready after them)
        from ..live.framer import _yield_to_training
        from . import stats

        np.seterr(all="ignore")
        stats.QUIET = True
        if yield_cpu:
            _yield_to_training()
        if slices and hasattr(os, "sched_yield"):
            stats.PAUSE = _Slicer(QUANTUM)
        conn.send(("ready",))
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the watched process is gone: what is written stays
                return
            if msg[0] == "attach":
                rec = _Recorder(*msg[1:])
                conn.send(("attached",))
            elif msg[0] == "frame":
                if slices and isinstance(stats.PAUSE, _Slicer):
                    stats.PAUSE.last = time.perf_counter()  # (woken for the frame: a new slice)
                rec.frame(msg[1], rec.take(msg[1]))  # from the buffer, in place
                try:
                    conn.send(("free", msg[1].get("buffer", 0)))
                except OSError:
                    pass
            elif msg[0] == "end":
                if rec is not None:
                    rec.out.write({"type": "end", **msg[1], "frames": rec.frames})
                conn.send(("ended",))
                return
    except KeyboardInterrupt:
        return
    except Exception as e:  # said to the parent, which stops asking for frames
        try:
            conn.send(("error", f"{type(e).__name__}: {e}"))
        except OSError:
            pass
    finally:
        if rec is not None:
            rec.close()


def main() -> None:
    """The worker's entry point: ``python -c "...; main()" FD``."""
    _serve(Connection(int(sys.argv[1])), yield_cpu=len(sys.argv) < 3 or sys.argv[2] != "0",
           slices=len(sys.argv) >= 4 and sys.argv[3] == "1")
