"""The Trainer callback of a live run (:class:`LiveCallback`): it makes the frames from inside the Trainer, at
most ``fps`` a second and at most ``OVERHEAD`` of the training time, in the frame worker's process when one is
ready (:mod:`mlplab.live.framer`) or inline; it asks the worker for the sharpness when due
(:mod:`mlplab.live.sharpness`); and it is where the page's pause, single step and stop act. Its session
(:class:`mlplab.live.session.TrainSession`) holds the run and the frames.
"""

from __future__ import annotations

import math
import time

from ..train import Callback
from . import sharpness as sharp
from .frames import _num, update_ratios

OVERHEAD = 0.03  # frames may take at most this share of the training time (target: >= 0.95x throughput;
#                  the rest of the 5 % goes to the thread, the per-step callback and the first and last frames)


class LiveCallback(Callback):
    """Makes frames from inside the Trainer; also where the page's pause / step / stop act.

    A frame due after a step is prepared in two steps: W is snapshot before the next update
    ("armed"), and the frame is made after it, so it carries that update's ‖ΔW‖/‖W‖. With a
    ready frame worker (:mod:`mlplab.live.framer`) both are copies into shared memory and the
    frame is made in the worker and collected after a later step; otherwise it is made here."""

    def __init__(self, session, fps: float, overhead: float = OVERHEAD):
        self.s, self.interval, self.overhead = session, 1.0 / fps, overhead
        self.last = 0.0
        self.armed = None  # None, "inline" or "worker": where the armed frame will be made
        self.before = None
        self.snapshot_cost = 0.0
        self.loss_sum, self.loss_n = 0.0, 0
        self.pending = None  # the meta of the frame the worker is making
        self.attached = False
        # the sharpness (live.sharpness): measured by the worker, due at this step and time at the earliest;
        # sharp_cost: the training thread's own time spent asking for it (the limit, Adam's P)
        self.sharp_step, self.sharp_time, self.sharp_cost = sharp.EVERY, 0.0, 0.0
        self.sharp_info = None  # what the measurement asked for is drawn against (live.sharpness.limit_for)

    def _worker(self):
        """The session's frame worker if it is usable now (attaching it when it has just started)."""
        worker = self.s.worker
        if worker is None or worker.broken is not None:
            return None
        if not self.attached:
            if not worker.ready():
                return None
            worker.attach(self.s.plan, self.s.probe, self.s.sizes, self.s.settings["activation"], self.s.curv_batch)
            self.attached = True
        return worker

    def _collect(self, wait: bool = False) -> None:
        """Append the frame the worker has finished (waiting for it if ``wait``)."""
        worker = self.s.worker
        if self.pending is None or worker is None:
            return
        done = worker.drain() if wait else worker.collect()
        for _, layers, acc, *more in done:
            got = more[0] if more else {}
            if "sharpness" in got:  # the next one no sooner than its cost allows (SHARE of the time)
                sh = dict(got["sharpness"])
                ms = sh.get("ms") or 0.0
                self.sharp_time = time.perf_counter() + ms / 1e3 / sharp.SHARE
                # measured on the weights of the frame that asked (its step), drawn against that step's limit
                got = {**got, "sharpness": {**(self.sharp_info or {}), **sh, "step": sh.pop("token", None)}}
            self.s._append(self.pending, layers, acc, by_worker=True, more=got)
        if done or worker.broken is not None:
            self.pending = None

    def on_train_begin(self, trainer):
        self.s.frame(trainer, None, None)
        self.last = time.perf_counter()

    def on_step_end(self, trainer, step, loss):
        self.loss_sum += loss
        self.loss_n += 1
        s = self.s
        if s.initial_loss is None:  # the first step's loss is the one at W_0: the curves' point at step 0
            s.initial_loss = _num(loss)
            s.loss_history.add((0, loss))
        t0 = time.perf_counter()
        self._collect()
        collect_cost = time.perf_counter() - t0
        framed = False
        if self.armed:  # the step after the snapshot: its update is the frame's ‖ΔW‖/‖W‖
            self._emit(trainer, with_ratio=True, extra=collect_cost)
            framed = True
        if s.pause_requested() and not s.stop_event.is_set():
            self._collect(wait=True)
            if not framed:  # show the state the run pauses in
                self._emit(trainer, with_ratio=False)
            s.wait_if_paused(trainer)
            if s.pause_requested():  # single-stepping: snapshot, so the next step's frame has ‖ΔW‖/‖W‖
                self.before, self.armed = [w.copy() for w in s.weights], "inline"
        elif not framed and self.pending is None and (time.perf_counter() - self.last >= self.interval
                                                      or step + 1 >= trainer.total_steps):
            t0 = time.perf_counter()
            worker = self._worker()
            if worker is not None and worker.idle:
                worker.snapshot_before(s.plan)
                self.armed = "worker"
            else:
                self.before, self.armed = [w.copy() for w in s.weights], "inline"
            self.snapshot_cost = time.perf_counter() - t0
        if s.stop_event.is_set():
            trainer.stop_training = True

    def _emit(self, trainer, with_ratio, extra=0.0):
        t0 = time.perf_counter()
        loss = self.loss_sum / self.loss_n if self.loss_n else None
        worker = self.s.worker
        if self.armed == "worker" and worker is not None and worker.idle:
            self.pending = self.s._meta(trainer, loss)
            curv = self._sharpness_due(trainer)
            worker.request(self.pending["step"], self.s.plan, with_ratio, trained=trainer.step > 0, curv=curv)
        else:  # inline; a worker given up since the snapshot leaves no ‖ΔW‖/‖W‖ for this frame
            ratio = update_ratios(self.s.weights, self.before) if with_ratio and self.armed == "inline" else None
            self.s.frame(trainer, loss, ratio)
        self.loss_sum, self.loss_n, self.armed = 0.0, 0, None
        cost = time.perf_counter() - t0 + self.snapshot_cost + extra
        # the next frame is due 1/fps after this one started, later if frames would take more than
        # OVERHEAD of the time (a slow machine gets fewer frames, not slower training)
        self.last = t0 + max(self.interval, cost / self.overhead) - self.interval

    def _sharpness_due(self, trainer):
        """A sharpness request for the worker when one is due (every ``sharp.EVERY`` steps, no more
        than ``sharp.SHARE`` of the time), else None; the limit it is drawn against is kept until its
        answer comes (the current step size: a schedule or a change moves it)."""
        if self.s.curv_batch is None or trainer.step < self.sharp_step or time.perf_counter() < self.sharp_time:
            return None
        t0 = time.perf_counter()
        opt = self.s.optimizer
        info = sharp.limit_for(opt, trainer._lr())
        P = sharp.preconditioner_of(opt, self.s.model.parameters()) if info["preconditioned"] else None
        if info["preconditioned"] and P is None:
            return None
        self.sharp_info = info
        self.sharp_step = trainer.step + sharp.EVERY
        self.sharp_time = math.inf  # until its answer says what it cost
        self.sharp_cost += time.perf_counter() - t0
        return {"P": P}

    def on_epoch_end(self, trainer, epoch, metrics):
        self.s.evals.append({k: _num(v) if isinstance(v, float) else v for k, v in metrics.items()})

    def on_train_end(self, trainer):  # the last word: the final state with the last evaluation
        self._collect(wait=True)
        self.s.frame(trainer, self.loss_sum / self.loss_n if self.loss_n else None, None)
