"""``mlplab.watch``: the live page's per-layer view for your own PyTorch training loop, recorded and replayable.

::

    from mlplab.watch import watch
    w = watch(model, optimizer, record="runs/w1", port=0)   # w.url: the page, live
    ...your loop...                                          # nothing else (w.step(loss) for the loss curve)
    w.close()                                                # then: mlplab live --replay runs/w1

:mod:`~mlplab.watch.core` (the hooks, what the loop pays), :mod:`~mlplab.watch.layers` (which layers),
:mod:`~mlplab.watch.worker` (the process that makes and records the frames), :mod:`~mlplab.watch.stats`
(quantile histograms, statistics, ``diagnose``'s verdicts), :mod:`~mlplab.watch.record` (the folder's format),
:mod:`~mlplab.watch.server` (the page, live or replayed), :mod:`~mlplab.watch.sharpness` (``sharpness=``: λ₁ against
the optimizer's stability limit).
"""

from .core import Watch, watch
from .record import Recording, RecordingError, read
from .sharpness import Sharpness

__all__ = ["watch", "Watch", "read", "Recording", "RecordingError", "Sharpness"]
