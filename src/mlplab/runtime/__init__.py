"""The process around the math: what a long run needs from the machine, kept apart from the network code.

One concept per module:

* :mod:`.threads` — how many BLAS/torch threads to use, from the cores that are free now (never
  oversubscribe a machine shared with other work);
* :mod:`.allocator` — keep freed memory in the process (glibc's ``mallopt``), so a training step's
  temporaries are not faulted in again each step;
* :mod:`.memory` — estimate a run's memory before it starts, and refuse it over a limit;
* :mod:`.runlock` — one writer per folder (a lock that names its holder and notices a dead one);
* :mod:`.fileio` — atomic writes (a crash leaves the old file or the new one, never half of one).

The old top-level names (``mlplab.threads``, ``mlplab.fileio``, ...) still import, as aliases of these.
"""
