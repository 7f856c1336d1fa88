"""The one training loop: everything that trains a network (the CLI, every lab study) uses it.

A step is the source texts' loop body: draw a mini-batch, forward, loss, ``backward()``, one
optimizer update. Around it the :class:`Trainer` adds what a finished tool needs: evaluation
each epoch, per-step metrics, callbacks (the lab, diagnostics and the CLI's progress bar hook in
here), checkpoints that resume bit for bit, a clean stop on Ctrl-C, and a clear stop when the loss
becomes NaN or infinite.

Resuming is exact because every source of randomness is saved: the batch order of an epoch is
drawn from the Generator at the epoch's start, so a checkpoint stores the Generator's state at
that moment, the epoch and how many of its batches were used; resuming replays that epoch's draw
and skips the used batches, then continues with the same model, optimizer and schedule state.
The checkpoint is ``checkpoint.npz`` (:mod:`mlplab.checkpoint`: arrays and JSON, nothing in it can
run code when read); the run folder is marked as one (:mod:`mlplab.folderkind`), and a folder of
another kind (a sweep, lab results) is refused rather than overwritten.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import folderkind
from .checkpoint import (  # the run folder's checkpoint, re-exported here where it always was
    CHECKPOINT_FILE,
    LEGACY_CHECKPOINT_FILE,
    CheckpointError,
    convert_legacy_checkpoint,
    has_checkpoint,
    load_checkpoint,
    write_checkpoint,
)
from .data import BatchIterator
from .init import as_generator
from .runtime.allocator import keep_freed_memory
from .runtime.fileio import write_json
from .tensor import Tensor, cross_entropy, no_grad

__all__ = ["Trainer", "History", "Callback", "TrainingDiverged", "evaluate", "load_checkpoint",
           "convert_legacy_checkpoint", "has_checkpoint", "CHECKPOINT_FILE", "LEGACY_CHECKPOINT_FILE", "MODEL_FILE"]

MODEL_FILE = "model.npz"
METRICS_FILE = "metrics.jsonl"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says at which step and where it started."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class Callback:
    """Hooks into the loop; override any of these. ``trainer.step`` counts completed steps."""

    def on_train_begin(self, trainer): ...

    def on_step_end(self, trainer, step, loss): ...

    def on_epoch_end(self, trainer, epoch, metrics): ...

    def on_train_end(self, trainer): ...


@dataclass
class EpochTotals:
    """Running sums over the current epoch's steps, for its mean training loss and accuracy."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0

    def add(self, loss: float, correct: int, n: int) -> None:
        self.loss_sum += loss * n
        self.correct += correct
        self.seen += n

    def row(self) -> dict:
        return {"train_loss": self.loss_sum / self.seen, "train_acc": self.correct / self.seen} if self.seen else {}

    def as_list(self) -> list:  # the checkpoint's "epoch_acc" format
        return [self.loss_sum, self.correct, self.seen]

    @classmethod
    def from_list(cls, values) -> EpochTotals:
        return cls(*values)


@dataclass
class _RunState:
    """Where the loop stands: what a checkpoint saves and a resume restores."""

    losses: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    skip: int = 0  # batches of the current epoch done before a resume
    epoch_state: dict | None = None  # the Generator's state at the start of the current epoch
    totals: EpochTotals = field(default_factory=EpochTotals)
    done_in_epoch: int = 0


@dataclass
class History:
    """What a run measured: per-step training loss and one row per evaluation."""

    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    evals: list = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    diverged: dict | None = None  # {"step":..., "message":...} when on_divergence="stop"
    interrupted: bool = False

    @property
    def final(self) -> dict:
        return self.evals[-1] if self.evals else {}

    def __repr__(self) -> str:
        """One line a person can read (the dataclass's own repr printed every step's loss)."""
        last = f", loss {self.loss[0]:.4g} → {self.loss[-1]:.4g}" if len(self.loss) else ""
        ev = ", " + ", ".join(f"{k} {v:.4g}" for k, v in self.final.items() if k not in ("epoch", "step")
                              and isinstance(v, (int, float))) if self.final else ""
        end = (f", diverged at step {self.diverged.get('step')}" if self.diverged else "") + \
            (", interrupted" if self.interrupted else "")
        return f"History({self.steps} steps in {self.seconds:.1f} s{last}{ev}{end})"

    def _repr_html_(self) -> str:
        """Jupyter's view: the loss curve and the evaluations, by the report's renderer."""
        from .display import html

        return html(self)


def _is_classification(logits, y):
    return np.asarray(y).dtype.kind in "iu" and logits.ndim >= 2


def evaluate(model, X, y, batch_size=2000, loss=None):
    """Mean loss and accuracy of ``model`` on (X, y), without recording a graph."""
    loss_fn = loss or cross_entropy
    total, correct, n = 0.0, 0, len(X)
    with no_grad():
        for start in range(0, n, batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out = model(Tensor(xb))
            total += float(loss_fn(out, yb).data) * len(xb)
            if _is_classification(out, yb):
                correct += int(np.sum(np.argmax(out.data, axis=-1) == yb))
    return total / n, correct / n


def _layer_names(model) -> dict:
    """Module index and parameter name -> "layer k (784→100)": the Linear layers counted from 1, as in
    ``--layers`` and ``mlplab diagnose``; an activation is named after the Linear layer it follows."""
    names, k, shape = {}, 0, ""
    for i, m in enumerate(getattr(model, "layers", [])):
        w = getattr(m, "weight", None)
        if w is not None and getattr(w, "ndim", 0) >= 2:
            k += 1
            shape = f"{w.shape[-2]}→{w.shape[-1]}"
            names[i] = f"layer {k} ({shape})"
            for pname, _ in m.named_parameters():
                names[f"layers.{i}.{pname}"] = f"layer {k}'s {'weights' if pname == 'weight' else pname}"
        else:
            names[i] = f"the {type(m).__name__} after layer {k} ({shape})" if k else f"module {i} ({m!r})"
    return names


def _first_nonfinite(model, xb):
    """Name where the numbers first stopped being finite: a parameter, a gradient or an activation."""
    names = _layer_names(model)
    for name, p in model.named_parameters():
        if not np.all(np.isfinite(p.data)):
            return f"{names.get(name, name)} (shape {p.shape}) contain NaN/inf"
    for name, p in model.named_parameters():
        if p.grad is not None and not np.all(np.isfinite(p.grad)):
            return f"the gradient of {names.get(name, name)} (shape {p.shape}) contains NaN/inf"
    if hasattr(model, "layers"):
        h = Tensor(xb)
        with no_grad(), np.errstate(all="ignore"):
            for i, layer in enumerate(model.layers):
                h = layer(h)
                if not np.all(np.isfinite(h.data)):
                    return f"the output of {names[i]} overflowed to inf/NaN"
                if np.max(np.abs(h.data), initial=0) > 1e30:
                    big = np.max(np.abs(h.data))
                    return f"the output of {names[i]} reaches {big:.3g}, too large to exponentiate"
    return "the weights and activations are finite; the loss itself overflowed (lower the learning rate)"


class _Interrupt:
    """Turns Ctrl-C into a flag checked between steps, so a checkpoint never holds half a step."""

    def __init__(self):
        self.hit = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.hit:  # second Ctrl-C: give up immediately
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


class Trainer:
    """Train ``model`` with ``optimizer`` on (X, y).

    * ``loss``: a function (output, target) -> scalar Tensor; default softmax cross-entropy.
    * ``schedule``: anything with ``step()`` (and ``state_dict``), stepped after each update.
    * ``callbacks``: :class:`Callback` objects (progress bars, recorders, early stopping).
    * ``run_dir``: where metrics.jsonl, checkpoints and the final model.npz go (optional).
    * ``checkpoint_every``: steps between checkpoints (also written at the end and on Ctrl-C).
    * ``on_divergence``: "raise" (TrainingDiverged) or "stop" (return, with ``history.diverged``).
    """

    def __init__(self, model, optimizer, loss=None, schedule=None, callbacks=(), run_dir=None,
                 checkpoint_every=None, log_every=1, on_divergence="raise"):
        if on_divergence not in ("raise", "stop"):
            raise ValueError(f"on_divergence must be 'raise' or 'stop', got {on_divergence!r}")
        if checkpoint_every is not None and int(checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every must be a positive number of steps, got {checkpoint_every}")
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.loss_fn = loss or cross_entropy
        self.callbacks = list(callbacks)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.checkpoint_every = checkpoint_every
        self.log_every = max(1, int(log_every))
        self.on_divergence = on_divergence
        self.step = 0
        self.epoch = 0
        self.total_steps = None
        self.stop_training = False  # a callback may set this to end the run after the current step
        self._seconds_before = 0.0  # training time of earlier sessions of a resumed run
        self._t0 = time.perf_counter()

    # ----------------------------------------------------------------- one step
    def train_step(self, xb, yb):
        """Forward, loss, backward and update on one batch; returns (loss, number correct)."""
        self.optimizer.zero_grad()
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite loss is reported below instead
            out = self.model(Tensor(xb))
            loss = self.loss_fn(out, yb)
        value = float(loss.data)
        if not math.isfinite(value):
            return value, 0
        loss.backward()
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        correct = int(np.sum(np.argmax(out.data, axis=-1) == yb)) if _is_classification(out, yb) else 0
        return value, correct

    # ----------------------------------------------------------------- the loop
    def fit(self, X, y, *, epochs=None, iterations=None, batch_size=128, shuffle=True, replacement=False,
            drop_last=False, rng=0, val=None, resume=False, config=None):
        """Run until ``epochs`` epochs or ``iterations`` steps (one of them) are done.

        The loop in named steps: :meth:`_start` (arguments, batches, run folder, resume), then per
        epoch :meth:`_replay_epoch_order`, :meth:`_run_batches` (steps, metrics, callbacks, periodic
        checkpoints) and :meth:`_end_epoch` (the evaluation row, the epoch-boundary checkpoint), and
        :meth:`_write_results` (model.npz and summary.json). Progress reaches a front end through
        the callbacks only. Ctrl-C ends the run after the current step: with a ``run_dir`` the
        checkpoint is written and the history returned with ``interrupted`` set (``mlplab train
        --resume`` continues it); without one, ``KeyboardInterrupt`` is raised after that step.
        """
        keep_freed_memory()  # fresh arrays reuse the heap's pages instead of faulting new ones in
        it, rng, run = self._start(X, y, epochs, iterations, batch_size, shuffle, replacement, drop_last, rng,
                                   resume, config)
        history = History()
        finished_before = resume and self.step >= self.total_steps  # a finished run: nothing to train or rewrite
        metrics = open(self.run_dir / METRICS_FILE, "a") if self.run_dir is not None else None
        t0 = self._t0 = time.perf_counter()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            with _Interrupt() as interrupt:
                while self.step < self.total_steps and not self.stop_training:
                    self._replay_epoch_order(run, rng)
                    self._run_batches(it, run, history, interrupt, metrics)
                    if history.diverged:
                        break
                    epoch_complete = run.done_in_epoch >= len(it)
                    if history.interrupted and not epoch_complete:
                        break
                    self._end_epoch(run, rng, epoch_complete, val, metrics)
        finally:
            if metrics is not None:
                metrics.close()
            history.loss = np.asarray(run.losses, dtype=np.float64)
            history.evals = run.evals
            history.steps = self.step
            history.seconds = self._seconds_before + time.perf_counter() - t0  # over all sessions of the run
            for cb in self.callbacks:
                cb.on_train_end(self)
        if history.interrupted and self.run_dir is None:
            # Without a run folder there is no checkpoint to continue from, so a history cut short at Ctrl-C
            # would pass for a finished run (a lab study or a sweep trial went on with it): stop, as Python does.
            raise KeyboardInterrupt
        if self.run_dir is not None and not history.interrupted and not history.diverged and not finished_before:
            self._write_results(history)
        return history

    def _start(self, X, y, epochs, iterations, batch_size, shuffle, replacement, drop_last, rng, resume, config):
        """Check the arguments, build the batch iterator, prepare the run folder, restore a checkpoint."""
        if (epochs is None) == (iterations is None):
            raise ValueError("fit(): give exactly one of epochs= or iterations=")
        if (epochs is not None and int(epochs) < 1) or (iterations is not None and int(iterations) < 1):
            raise ValueError(f"fit(): epochs/iterations must be positive, got {epochs or iterations}")
        if len(X) != len(y):
            raise ValueError(f"fit(): X has {len(X)} rows but y has {len(y)}")
        if resume and self.run_dir is None:
            raise ValueError("fit(resume=True) needs the run_dir the checkpoint was written to")
        rng = as_generator(rng)
        it = BatchIterator(X, y, batch_size=batch_size, shuffle=shuffle, rng=rng, drop_last=drop_last,
                           replacement=replacement)
        self.total_steps = int(iterations) if iterations is not None else int(epochs) * len(it)
        if self.run_dir is not None:
            # a run folder, marked as one; a sweep's or lab's folder is refused (their summary.json would be lost)
            folderkind.claim(self.run_dir, "run", "a Trainer", "run_dir")
            if config is not None and not resume:
                write_json(self.run_dir / "config.json", config)
            if not resume and (self.run_dir / METRICS_FILE).exists():
                (self.run_dir / METRICS_FILE).unlink()
        return it, rng, self._restore() if resume else _RunState()

    def _restore(self) -> _RunState:
        """Load model, optimizer, schedule and loop position from the run folder's checkpoint."""
        ck = load_checkpoint(self.run_dir)
        try:
            self.model.load_state_dict(ck["model"])
            self.optimizer.load_state_dict(ck["optimizer"])
            if self.schedule is not None and ck.get("schedule") is not None:
                self.schedule.load_state_dict(ck["schedule"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{self.run_dir / CHECKPOINT_FILE} does not fit this run's network, optimizer and "
                                  f"schedule ({type(e).__name__}: {' '.join(str(e).split())[:150]}); it is damaged or "
                                  "from another run: delete it to start over") from None
        self.step, self.epoch = ck["step"], ck["epoch"]
        self._seconds_before = float(ck.get("seconds", 0.0))
        run = _RunState(losses=list(ck["losses"]), evals=list(ck["evals"]), skip=ck["batch_in_epoch"],
                        epoch_state=ck["epoch_rng_state"], totals=EpochTotals.from_list(ck["epoch_acc"]))
        self._truncate_metrics(self.step, len(run.evals))
        return run

    @staticmethod
    def _replay_epoch_order(run, rng):
        """The epoch's batch order is drawn from the Generator's state at its start: remember that
        state (a checkpoint saves it) or, resuming mid-epoch, put it back so the same order comes."""
        if run.epoch_state is None:
            run.epoch_state = rng.bit_generator.state
        else:
            rng.bit_generator.state = run.epoch_state
        run.done_in_epoch = run.skip

    def _run_batches(self, it, run, history, interrupt, metrics):
        """The epoch's steps (skipping those done before a resume), each logged and shown to the
        callbacks; a checkpoint every ``checkpoint_every`` steps and at the end."""
        for b, (xb, yb) in enumerate(it):
            if b < run.skip:
                continue
            loss, correct = self.train_step(xb, yb)
            if not math.isfinite(loss):
                self._diverged(history, loss, xb)
                break
            self.step += 1
            run.done_in_epoch = b + 1
            run.losses.append(loss)
            run.totals.add(loss, correct, len(xb))
            if metrics is not None and self.step % self.log_every == 0:
                metrics.write(json.dumps({"step": self.step, "epoch": self.epoch + 1, "loss": loss,
                                          "lr": self._lr()}) + "\n")
            for cb in self.callbacks:
                cb.on_step_end(self, self.step, loss)
            if interrupt.hit:
                history.interrupted = self.stop_training = True
            finished = self.step >= self.total_steps or self.stop_training
            if finished or (self.checkpoint_every and self.step % self.checkpoint_every == 0):
                self._save_checkpoint(run.epoch_state, run.done_in_epoch, run.totals.as_list(), run.losses,
                                      run.evals)
            if finished:
                break
        run.skip = 0

    def _end_epoch(self, run, rng, epoch_complete, val, metrics):
        """One evaluation row (train loss/accuracy of the epoch so far, validation if given), then
        the checkpoint at an epoch boundary or at the end, with the state the next epoch starts from."""
        row = {"epoch": self.epoch + 1, "step": self.step, **run.totals.row()}
        if val is not None:
            row["val_loss"], row["val_acc"] = evaluate(self.model, val[0], val[1], loss=self.loss_fn)
        run.evals.append(row)
        if metrics is not None:
            metrics.write(json.dumps({"kind": "eval", **row}) + "\n")
            metrics.flush()
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch + 1, row)
        if epoch_complete:
            self.epoch += 1
            run.epoch_state, run.totals = None, EpochTotals()
        if self.run_dir is not None and (epoch_complete or self.step >= self.total_steps):
            self._save_checkpoint(run.epoch_state or rng.bit_generator.state,
                                  0 if epoch_complete else run.done_in_epoch, run.totals.as_list(), run.losses,
                                  run.evals)

    def _write_results(self, history):
        self.model.save(self.run_dir / MODEL_FILE)
        write_json(self.run_dir / "summary.json", {"steps": self.step, "seconds": history.seconds,
                                                   "final": history.final})

    def _diverged(self, history, loss, xb):
        message = (f"training diverged at step {self.step + 1} (epoch {self.epoch + 1}): the loss is {loss}; "
                   f"{_first_nonfinite(self.model, xb)}. Lower the learning rate or use a smaller initialization"
                   + self._checkpoint_note() + ".")
        history.diverged = {"step": self.step + 1, "message": message}
        if self.on_divergence == "raise":
            raise TrainingDiverged(message, self.step + 1)
        self.stop_training = True

    def _checkpoint_note(self):
        """Where a diverged run can be continued from: only a checkpoint that exists is named."""
        if self.run_dir is None:
            return ""
        ck = self.run_dir / CHECKPOINT_FILE
        if ck.exists():
            return f"; the last good checkpoint (before the divergence) is kept in {ck}"
        return f"; it diverged before its first checkpoint, so {self.run_dir} holds nothing to resume: start it again"

    # ----------------------------------------------------------------- checkpoints
    def _lr(self):
        lr = getattr(self.optimizer, "lr", None)
        return float(lr) if isinstance(lr, (int, float, np.floating)) else None

    def _save_checkpoint(self, epoch_state, batch_in_epoch, acc, losses, evals):
        """Write everything a resume needs (atomically: temporary file, then rename), in the format of
        :mod:`mlplab.checkpoint`: arrays in an .npz, the rest JSON; nothing in it can run code when read."""
        if self.run_dir is None:
            return
        ck = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": batch_in_epoch,
              "epoch_rng_state": epoch_state, "epoch_acc": list(acc),
              "model": dict(self.model.state_dict()), "optimizer": self.optimizer.state_dict(),
              "schedule": self.schedule.state_dict() if self.schedule is not None else None,
              "losses": np.asarray(losses, dtype=np.float64), "evals": [dict(r) for r in evals],
              "seconds": self._seconds_before + time.perf_counter() - self._t0}
        write_checkpoint(self.run_dir / CHECKPOINT_FILE, ck)

    def _truncate_metrics(self, step, n_evals):
        """Drop rows written after the checkpoint, so a resumed file equals an uninterrupted one."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return
        keep, evals_seen = [], 0
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the interruption
                continue
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                continue  # not a row the Trainer wrote: a damaged line, dropped like a cut-short one
            if row.get("kind") == "eval":
                evals_seen += 1
                if evals_seen <= n_evals:
                    keep.append(line)
            elif row["step"] <= step:
                keep.append(line)
        path.write_text("".join(line + "\n" for line in keep))
