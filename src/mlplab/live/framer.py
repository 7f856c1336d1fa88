"""When frames are made, and where: the Trainer callback of a live run and its frame makers.

Making a frame (a forward pass of the probe batch, 19 histograms, the statistics and verdicts)
takes about as long as a training step of the book's network, 1.3-2.6 ms. By default it is made
at once in the training thread (:class:`InlineFrames`), reading the live network, and the budget
keeps it to ``overhead`` (3 %) of the time: a frame is due ``1 / fps`` after the last one, later
if frames would take more than that share, so a slow machine gets fewer frames, not slower
training.

``TrainSession(frames_in_thread=True)`` makes them in a thread of their own
(:class:`FrameWorker`): the training thread only takes a **snapshot**, copying the weights,
biases and weight gradients into a twin of the network (``np.copyto``, ~0.1 ms for the book's
network) with the step, the loss since the last frame and the learning rate, and the frame is
made from the twin while training goes on; the budget then counts the worker's CPU time (10 %).
A snapshot is only taken when the worker is idle, so at most one frame is in the making and the
twin is never read while it is written; the first frame, the last one and a paused run's are
made in the training thread after the worker has finished, so frames keep their order.

Why the thread is not the default: on the 2-core test machine it did not pay. Frames still cost
the training thread through the GIL (a frame's Python work holds it) and the shared caches, and
``benchmarks/live_overhead.py --steps 1000 --rounds 16`` measured the median paired ratio of
throughput live / plain at 0.966 inline (3 %, 10.6 frames/s), 0.931 in a thread at a 4 % budget
(10.1 frames/s) and 0.918 at 10 % (11.8 frames/s); runs on this VM vary by ±15 % from round to
round, so these overlap. On a machine with cores to spare it may; ``--frames thread`` measures it.
"""

from __future__ import annotations

import threading
import time

from ..train import Callback

__all__ = ["LiveCallback", "FrameWorker", "InlineFrames"]


class InlineFrames:
    """FrameWorker's interface, making each frame at once in the calling thread: for a machine
    with no core to spare, where a second thread would only take turns with training for the
    GIL and the core. Its cost is already in the caller's own timing, so ``cost`` stays 0."""

    busy, cost, error = False, 0.0, None

    def __init__(self, make_frame):
        self._make = make_frame
        self.thread = None

    def submit(self, job) -> None:
        self._make(job)

    def wait_idle(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


class FrameWorker:
    """One thread that makes frames from snapshots, one at a time."""

    def __init__(self, make_frame):
        self._make = make_frame
        self._cv = threading.Condition()
        self._job = None
        self._busy = False
        self._closed = False
        self.cost = 0.0  # CPU seconds the last frame took (its wall time also counts waits for the GIL)
        self.error = None  # the last frame's exception, if one failed (shown as the run's message)
        self.thread = threading.Thread(target=self._run, name="mlplab-live-frames", daemon=True)
        self.thread.start()

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, job) -> None:
        with self._cv:
            if self._busy or self._closed:
                raise RuntimeError("FrameWorker.submit: the previous frame is not done")
            self._job, self._busy = job, True
            self._cv.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: not self._busy, timeout)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._job is not None or self._closed)
                if self._job is None:
                    return
                job, self._job = self._job, None
            t0 = time.thread_time()
            try:
                self._make(job)
            except Exception as e:  # noqa: BLE001 - reported in the page, never kills the run
                self.error = f"{type(e).__name__}: {e}"
            with self._cv:
                self.cost = time.thread_time() - t0
                self._busy = False
                self._cv.notify_all()


class LiveCallback(Callback):
    """Takes snapshots from inside the Trainer; also where the page's pause / step / stop act."""

    def __init__(self, session, fps: float, overhead: float):
        self.s, self.interval, self.overhead = session, 1.0 / fps, overhead
        self.last = 0.0
        self.armed = False
        self.before = None
        self.before_cost = 0.0
        self.loss_sum, self.loss_n = 0.0, 0

    def _loss(self):
        return self.loss_sum / self.loss_n if self.loss_n else None

    def on_train_begin(self, trainer):
        self.s.frame(trainer, None, None)
        self.last = time.perf_counter()

    def on_step_end(self, trainer, step, loss):
        self.loss_sum += loss
        self.loss_n += 1
        s, worker = self.s, self.s.worker
        framed = False
        if self.armed:  # the step after the copy of the weights: its update is the frame's ‖ΔW‖/‖W‖
            self._emit(trainer)
            framed = True
        if s.pause_requested() and not s.stop_event.is_set():
            if not framed:  # show the state the run pauses in
                worker.wait_idle()
                s.frame(trainer, self._loss(), None)
                self.loss_sum, self.loss_n = 0.0, 0
            s.wait_if_paused(trainer)
            if s.pause_requested():  # single-stepping: copy, so the next step's frame has ‖ΔW‖/‖W‖
                worker.wait_idle()
                self.before, self.armed = [w.copy() for w in s.weights], True
        elif not framed and not worker.busy and (time.perf_counter() - self.last >= self.interval
                                                  or step + 1 >= trainer.total_steps):
            t0 = time.perf_counter()
            self.before, self.armed = [w.copy() for w in s.weights], True
            self.before_cost = time.perf_counter() - t0
        if s.stop_event.is_set():
            trainer.stop_training = True

    def _emit(self, trainer):
        t0 = time.perf_counter()
        worker = self.s.worker
        worker.wait_idle()  # (single-stepping may arm while a frame is still being made)
        worker.submit(self.s.snapshot(trainer, self._loss(), before=self.before))
        self.loss_sum, self.loss_n, self.armed, self.before = 0.0, 0, False, None
        cost = time.perf_counter() - t0 + self.before_cost + worker.cost  # worker.cost: the last frame's
        # the next frame is due 1/fps after this one started, later if frames would take more than
        # `overhead` of the time (a slow machine gets fewer frames, not slower training)
        self.last = t0 + max(self.interval, cost / self.overhead) - self.interval

    def on_epoch_end(self, trainer, epoch, metrics):
        self.s.add_eval(metrics)

    def on_train_end(self, trainer):  # the last word: the final state with the last evaluation
        self.s.worker.wait_idle()
        self.s.frame(trainer, self._loss(), None)
