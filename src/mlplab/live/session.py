"""One live training run: the library's Trainer in a thread, observed by a callback that makes frames.

A frame is what the page draws at one moment: the training loss (mean of the steps since the last
frame; from the first step on also ``initial_loss``, the first step's loss, computed at W_0: the
loss curves' point at step 0), the evaluation rows, and per Linear layer l the histograms of its
pre-activations z_l and activations a_l on a fixed probe batch of training examples, of its weight gradient ∂L/∂W_l (the
last training step's) and of its weights W_l, the dead / saturated fractions, ‖ΔW‖/‖W‖ of the
last update and the per-layer verdict of ``mlplab diagnose`` (:func:`mlplab.live.frames.measure`).
Frames are made at most ``1 / fps`` seconds apart, so the cost of observing is a fixed share of
the time however fast the steps are; histograms are binned on the server (``live.histograms``:
``BINS`` counts and a range), and the loss history is downsampled, so neither the server nor the
page grows with the length of a run. Given a ``worker`` (:class:`mlplab.live.framer.FrameWorker`,
as ``mlplab live`` gives each Train run on two cores or more), the frames are made in that process
from copies of the arrays in shared memory, and the training thread only copies; without one,
before it has started, or once it has failed, they are made here, in the training thread.

The run itself is exactly what ``mlplab train`` does with the same settings (same model, data,
batches, evaluation and run directory), so :meth:`TrainSession.export` gives a run directory that
the command line reproduces bit for bit: the probe only reads the model.

Here: the session (the run's thread, its controls, the frames kept). The callback that makes the frames is
:class:`mlplab.live.callback.LiveCallback` (re-exported here); the export and the retraining command are in
:mod:`mlplab.live.export`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from .. import optim, toydata
from ..changes import CHANGEABLE, SettingChanges
from ..diagnose import statistics as dg
from ..schedules import schedule_for_run
from ..train import Trainer
from . import sharpness as sharp
from .boundary import grid_for
from .callback import OVERHEAD, LiveCallback
from .export import export_run, retrain_command
from .frames import Probe, _num, extras, measure, update_ratios
from .validate import SettingsError, check_settings

__all__ = ["TrainSession", "LiveCallback", "Downsampled", "update_ratios"]

PROBE_BATCH = 64
MAX_LOSS_POINTS = 2000


class Downsampled:
    """A series kept at most ``cap`` points long: when full, every other point is dropped and
    from then on only every ``stride``-th new point is kept (the stride doubles each time)."""

    def __init__(self, cap: int = MAX_LOSS_POINTS):
        self.cap, self.stride, self.seen, self.points = cap, 1, 0, []

    def add(self, point) -> None:
        if self.seen % self.stride == 0:
            self.points.append(point)
            if len(self.points) > self.cap:
                self.points = self.points[::2]
                self.stride *= 2
        self.seen += 1


def _load(settings: dict):
    """Train and test arrays for the settings' dataset (the toy sets from the run's seed)."""
    name = settings["dataset"]
    if name in toydata.TOY_DATASETS:
        return (*toydata.load_toy(name, "train", seed=settings["seed"]),
                *toydata.load_toy(name, "test", seed=settings["seed"]))
    from .. import data

    return (*data.load(name, "train"), *data.load(name, "test"))

class TrainSession:
    """A run for one browser tab: ``start()``, ``pause()``, ``resume()``, ``step_once()``,
    ``stop()``, frames in ``self.frames`` (a short deque of the newest, each with a ``seq``)."""

    def __init__(self, raw_settings: dict, fps: float = 12.0, keep_frames: int = 64, overhead: float = OVERHEAD,
                 worker=None, boundary: bool = True):
        self.settings, self.sizes, self.opt_name, self.hp = check_settings(raw_settings)
        s = self.settings
        from .. import nn

        dtype = np.dtype(s["dtype"])
        self.model = nn.MLP(self.sizes, activation=s["activation"], weight_init=s["init"],
                            bias_init=s["bias_init"], rng=s["seed"], dtype=dtype)
        try:
            self.optimizer = optim.get_optimizer(self.opt_name, self.model.parameters(), **self.hp)
        except (ValueError, TypeError) as e:
            raise SettingsError(f"--optimizer {self.opt_name}: {e}") from None
        self.X, self.y, self.Xt, self.yt = _load(s)
        if dtype != self.X.dtype:
            self.X, self.Xt = self.X.astype(dtype), self.Xt.astype(dtype)
        self.total = s["iterations"] or s["epochs"] * int(np.ceil(len(self.X) / s["batch_size"]))
        self.schedule = schedule_for_run(s["schedule"], self.optimizer, self.total) if s.get("schedule") else None
        # the probe batch: the first training examples (fixed, so the histograms compare over time)
        self.Xp, self.yp = self.X[:PROBE_BATCH], self.y[:PROBE_BATCH]
        self.plan = dg.layer_plan(self.model)  # the (Linear, activation) pairs: fixed for the run
        pred = dg.predict_for_model(self.model, self.Xp, init=s["init"] if s["init"] != "zeros" else None)
        # the decision boundary's grid (a toy set's Train run; Compare draws none: boundary=False)
        grid = grid_for(self.X) if boundary and s["dataset"] in toydata.TOY_DATASETS else None
        self.probe = Probe(self.Xp, self.yp, [float(math.sqrt(v)) for v in pred.pre_var], grid)
        # the sharpness' fixed batch (live.sharpness): the first training examples, measured in the frame worker
        n_params = sum(p.size for p in self.model.parameters())
        self.curv_batch = (self.X[:sharp.BATCH], self.y[:sharp.BATCH]) if n_params * sharp.BATCH <= sharp.MAX_WORK \
            else None  # (a product would take seconds: no sharpness for so large a network)
        self.sharpness: list = []  # every sharpness measured, {"step", "value", "limit", ...}
        self.first_layers = None  # the step-0 frame's layers (the histograms' "at initialization")
        # the training loss before any update (the first step's minibatch loss, computed at W_0): the step-0
        # frame comes before that forward pass, so the frames after it carry it and the loss curves start at 0
        self.initial_loss = None
        self.predicted_pre_std = self.probe.predicted_pre_std
        self.worker = worker  # a FrameWorker (frames made in a process of their own) or None (inline)
        self.frames: deque = deque(maxlen=keep_frames)
        self.seq = 0
        self.evals: list = []
        self.loss_history = Downsampled()
        self.status, self.message = "ready", None
        self.stop_event = threading.Event()
        self._run = threading.Event()
        self._run.set()
        self._steps_allowed = None  # when paused by "step": how many more steps to take
        self.held = threading.Event()  # set while the training thread waits in a pause (the model is still)
        self._lock = threading.Lock()
        self.run_dir = Path(tempfile.mkdtemp(prefix="mlplab-live-"))
        self.fps, self.overhead = fps, overhead
        from threadpoolctl import threadpool_info  # asked once: it takes ~10 ms

        threads = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
        self.blas_threads = threads[0] if threads else None
        self.thread = None
        self.trainer = None
        self.t_start = None
        self.changes = SettingChanges()  # η, μ, weight decay changed while it trains (request_change)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        callback = LiveCallback(self, self.fps, self.overhead)
        self.trainer = Trainer(self.model, self.optimizer, schedule=self.schedule, callbacks=[self.changes, callback],
                               run_dir=self.run_dir, checkpoint_every=500, on_divergence="stop")
        self.thread = threading.Thread(target=self._train, name="mlplab-live-train", daemon=True)
        self.status = "running"
        self.t_start = time.perf_counter()
        self.thread.start()

    def _train(self) -> None:
        s = self.settings
        try:
            with np.errstate(all="ignore"):
                hist = self.trainer.fit(self.X, self.y, epochs=s["epochs"], iterations=None if s["epochs"] else
                                        s["iterations"], batch_size=s["batch_size"], rng=s["seed"],
                                        val=(self.Xt, self.yt), config=self.config())
            if hist.diverged:
                self.status, self.message = "diverged", hist.diverged["message"]
            elif self.stop_event.is_set():
                self.status = "stopped"
            else:
                self._write_summary(hist)
                self.status = "done"
        except Exception as e:  # shown in the page as one line, never a traceback
            self.status, self.message = "error", f"{type(e).__name__}: {e}"
        self._publish_status()

    def _write_summary(self, hist) -> None:
        """Add the final test figures to summary.json, as ``mlplab train`` does.

        The Trainer evaluated on the test set after the last step (``val``), so its last row holds
        these figures already: evaluating 10 000 images again cost 5 % of a 300-step MNIST run's time
        (``benchmarks/live_overhead.py``). ``evaluate`` is deterministic, so the numbers are the same."""
        import json

        from ..train import evaluate

        path = self.run_dir / "summary.json"
        summary = json.loads(path.read_text())
        last = hist.final
        if last.get("step") == self.trainer.step and "val_loss" in last:
            test_loss, test_acc = last["val_loss"], last["val_acc"]
        else:  # pragma: no cover - the Trainer evaluates at its last step; kept for safety
            test_loss, test_acc = evaluate(self.model, self.Xt, self.yt)
        summary["per_epoch_eval_on"] = "test"
        summary["test"] = {"loss": test_loss, "acc": test_acc, "images": len(self.Xt)}
        path.write_text(json.dumps(summary, indent=2))

    def config(self) -> dict:
        """config.json as ``mlplab train`` writes it (its defaults for what the page does not set)."""
        from ..settings import TRAIN_DEFAULTS

        return {**TRAIN_DEFAULTS, **self.settings, "out": str(self.run_dir), "blas_threads": self.blas_threads}

    def request_change(self, key: str, value) -> None:
        """Set ``key`` (lr, momentum, weight_decay) to ``value`` from the next step on; the step it
        takes hold at is recorded (config.json's ``lr_changes`` ..., the frames' ``changes``)."""
        from .. import settings as st

        if key not in CHANGEABLE:
            raise SettingsError(f"only {', '.join(CHANGEABLE)} can change during a run, not {key!r}")
        if self.thread is None or self.status not in ("running", "paused"):
            raise SettingsError(f"a setting changes during a run: this one is {self.status}; set it in the form "
                                "and press Start")
        if key == "lr" and self.schedule is not None:
            raise SettingsError(f"the schedule {self.settings['schedule']} sets the learning rate at every step; "
                                "start a run without a schedule to change it by hand")
        label = f"--{key.replace('_', '-')}"
        try:  # the form's text, as check_settings reads it
            value = float(str(value).strip())
        except ValueError:
            raise SettingsError(f"{label} must be a number, got {value!r}") from None
        try:
            if key != "weight_decay" and key not in optim.optimizer_settings(self.opt_name):
                raise st.SettingsError(key, f"{self.opt_name} has no {key}")
            _, hp = st.check_optimizer(self.opt_name, {key: value}, lambda k: label)
        except st.SettingsError as e:
            raise SettingsError(str(e)) from None
        pending = [v for k, v in self.changes.pending if k == key]
        if (pending[-1] if pending else getattr(self.optimizer, key, None)) == hp[key]:
            return  # already so (a form's change event repeated): nothing to record
        self.changes.request(key, hp[key])

    def change_list(self) -> list:
        """Every change so far: [{"step", "key", "value"}], by step."""
        return sorted(({"step": k, "key": key, "value": v} for key, steps in list(self.changes.changes.items())
                       for k, v in steps), key=lambda c: c["step"])

    def pause(self) -> None:
        with self._lock:
            self._steps_allowed = 0
            self._run.clear()
        if self.status == "running":
            self.status = "paused"

    def resume(self) -> None:
        with self._lock:
            self._steps_allowed = None
            self._run.set()
        if self.status == "paused":
            self.status = "running"

    def step_once(self) -> None:
        with self._lock:
            self._steps_allowed = 1
            self._run.set()

    def stop(self) -> None:
        self.stop_event.set()
        self._run.set()

    def close(self, timeout: float = 5.0, keep_worker: bool = False):
        """Stop the run, wait for its thread, delete its scratch directory. The frame worker is
        closed, or with ``keep_worker`` detached and returned, to make the next run's frames."""
        self.stop()
        if self.thread is not None:
            self.thread.join(timeout)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        w, self.worker = self.worker, None
        if w is None:
            return None
        if keep_worker and w.broken is None and not (self.thread is not None and self.thread.is_alive()):
            w.detach()
            if w.broken is None:
                return w
        w.close()
        return None

    def pause_requested(self) -> bool:
        return self._steps_allowed is not None

    def wait_if_paused(self, trainer) -> None:
        """Called after every step: returns at once while running; when paused, blocks until
        resumed, told to take one step (``step_once``) or stopped."""
        while True:
            with self._lock:
                if self._steps_allowed is None:
                    if self.status == "paused":
                        self.status = "running"
                    return
                if self._steps_allowed > 0:
                    self._steps_allowed -= 1
                    return
                self._run.clear()
                self.status = "paused"
            self._publish_status()
            self.held.set()
            self._run.wait()
            self.held.clear()
            if self.stop_event.is_set():
                return

    # ------------------------------------------------------------------ frames
    def _publish_status(self) -> None:
        with self._lock:
            self.seq += 1
            self.frames.append({"seq": self.seq, "kind": "status", "status": self.status, "message": self.message,
                                "step": self.trainer.step if self.trainer else 0, "evals": self.evals[-20:]})

    def frame(self, trainer, loss, update_ratio) -> None:
        """Measure the model on the probe batch and append a frame (runs in the training thread)."""
        meta = self._meta(trainer, loss)
        self._append(meta, *measure(self.plan, self.probe, update_ratio, trained=trainer.step > 0),
                     more=extras(self.plan, self.probe))

    def _meta(self, trainer, loss) -> dict:
        """A frame's run-level fields, taken when it is made (the loss is recorded in the history)."""
        if loss is not None:
            self.loss_history.add((trainer.step, loss))
        elapsed = time.perf_counter() - self.t_start if self.t_start else 0.0
        return {"kind": "frame", "seed": self.settings["seed"], "step": trainer.step, "epoch": trainer.epoch + 1,
                "total": trainer.total_steps, "loss": _num(loss) if loss is not None else None,
                "initial_loss": self.initial_loss, "lr": trainer._lr(), "elapsed": elapsed,
                "evals": self.evals[-20:], "status": self.status,
                "changes": self.change_list() if self.changes.changes else []}

    def _append(self, meta: dict, layers: list, probe_acc: float, by_worker: bool = False, more=None) -> None:
        """A frame of ``meta`` and what was measured: layers, probe accuracy and ``more`` (a toy set's
        decision boundary; a sharpness measurement, of the weights at its own ``step``)."""
        more = dict(more or {})
        if "sharpness" in more:
            if more["sharpness"].get("step") is None:
                more["sharpness"] = {**more["sharpness"], "step": meta["step"]}
            self.sharpness.append(more["sharpness"])
        frame = {**meta, "probe_acc": probe_acc, "layers": layers, "worker": by_worker, **more}
        if self.first_layers is None and meta["step"] == 0:
            self.first_layers = layers
        with self._lock:
            self.seq += 1
            frame["seq"] = self.seq
            self.frames.append(frame)

    def drawing(self) -> dict:
        """What the page draws beside the frames: a toy set's training points (under which the decision
        boundary goes), the step-0 histograms (the "at initialization" of the histogram pairs) and the
        sharpness measured so far (a reloaded page draws them again)."""
        out = {"init_layers": self.first_layers, "sharpness": list(self.sharpness),
               "sharpness_off": None if self.curv_batch is not None else
               f"this network's {sum(p.size for p in self.model.parameters()):,} parameters make one Hessian-vector "
               "product too slow for the live view; `mlplab curvature RUN_DIR` on the exported run computes it"}
        if self.probe.grid is not None:
            out["points"] = {"x": np.round(self.X[:, 0].astype(np.float64), 4).tolist(),
                             "y": np.round(self.X[:, 1].astype(np.float64), 4).tolist(), "label": self.y.tolist()}
        return out

    @property
    def weights(self) -> list:
        """Every Linear layer's weight array, input to output (the arrays themselves, not copies)."""
        return [lay.linear.weight.data for lay in self.plan]

    def frames_after(self, seq: int) -> list:
        with self._lock:
            return [f for f in self.frames if f["seq"] > seq]
    # ------------------------------------------------------------------ export
    def export(self, out, root=None) -> Path:
        """Copy the run to ``out`` as ``mlplab train --out out`` writes it (:func:`mlplab.live.export.export_run`)."""
        return export_run(self, out, root)

    def command(self, out) -> str:
        """The ``mlplab train`` command that retrains this run (:func:`mlplab.live.export.retrain_command`)."""
        return retrain_command(self, out)
