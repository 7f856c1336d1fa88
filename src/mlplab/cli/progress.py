"""A rich progress bar for the training loop, attached as a :class:`~mlplab.train.Callback`."""

from __future__ import annotations

import sys
import time

from ..train import Callback


class ProgressBar(Callback):
    """A rich progress bar with loss and speed; silent when standard error is not a terminal."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.progress = None

    def on_train_begin(self, trainer):
        if not self.stream.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[speed]:.0f} steps/s"),
            TimeRemainingColumn(), console=Console(file=self.stream), transient=False)
        self.progress.start()
        self.task = self.progress.add_task("train", total=trainer.total_steps, completed=trainer.step,
                                           epoch=trainer.epoch + 1, loss=float("nan"), speed=0.0)
        self.t0, self.s0 = time.perf_counter(), trainer.step

    def on_step_end(self, trainer, step, loss):
        if self.progress is not None and (step % 10 == 0 or step == trainer.total_steps):
            speed = (step - self.s0) / max(time.perf_counter() - self.t0, 1e-9)
            self.progress.update(self.task, completed=step, loss=loss, epoch=trainer.epoch + 1, speed=speed)

    def on_train_end(self, trainer):
        if self.progress is not None:
            self.progress.update(self.task, completed=trainer.step)
            self.progress.stop()
