"""``WatchCallback``: :func:`mlplab.watch.watch` for a PyTorch Lightning ``Trainer`` (``pip install lightning``).

::

    from mlplab.watch.lightning import WatchCallback
    trainer = lightning.Trainer(callbacks=[WatchCallback(record="runs/w1", port=0)])
    trainer.fit(model, data)               # then: mlplab live --replay runs/w1

At the start of fitting it calls ``watch(pl_module, optimizer, ...)`` with the Trainer's optimizer (the torch
optimizer under Lightning's wrapper: its steps drive the frames through the step post-hook, the closure's
forward and backward running inside ``optimizer.step`` as in any loop); after each training batch it adds the
batch's loss (``training_step``'s returned loss) to the page's curve; at the end of fitting, or on an
exception, it closes the recording (the end line names the exception). With several optimizers, or manual
optimization, none is given to ``watch`` and each training batch is one step (``w.step(loss)``). The
arguments are :func:`~mlplab.watch.watch`'s (``every``, ``port``, ``record``, ``fps``, ``sample``,
``sharpness``); ``callback.watch`` is the :class:`~mlplab.watch.Watch` while it fits (None before).
"""

from __future__ import annotations

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError:
        raise ImportError("mlplab.watch.lightning needs PyTorch Lightning: pip install lightning") from None

__all__ = ["WatchCallback"]


class WatchCallback(Callback):
    """Watch a Lightning module while the Trainer fits it (see the module's docstring)."""

    def __init__(self, every=None, port=None, record=None, fps: float = 11.0, sample: int | None = None,
                 sharpness=None, worker: str = "process"):
        from .core import SAMPLE, WORKERS
        from .sharpness import settings

        settings(sharpness)  # a bad setting is said now, not when fitting starts
        if worker not in WORKERS:
            raise ValueError(f"worker= is one of {', '.join(map(repr, WORKERS))}, got {worker!r}")
        self.kwargs = {"every": every, "port": port, "record": record, "fps": fps,
                       "sample": SAMPLE if sample is None else sample, "sharpness": sharpness, "worker": worker}
        self.watch = None

    def on_fit_start(self, trainer, pl_module) -> None:
        from .core import watch

        opts = list(getattr(trainer, "optimizers", []) or [])
        auto = getattr(pl_module, "automatic_optimization", True)
        optimizer = opts[0] if len(opts) == 1 and auto else None
        self.watch = watch(pl_module, optimizer, **self.kwargs)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.watch is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        try:
            self.watch.step(loss)
        except TypeError:  # not a loss (a training_step returning something else): the step still counts
            self.watch.step(None)

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.watch is not None:
            self.watch.close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self.watch is not None:
            self.watch.close(f"an exception: {type(exception).__name__}: {exception}")
