"""Worker processes that never outlive the process that started them.

A forked worker of ``mlplab sweep`` or of a lab study's pool (:func:`mlplab.lab.base.parallel_map`) asks
the kernel to SIGKILL it when its parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux), then checks that the
parent it was forked from is still its parent (the parent may have died between the fork and the
``prctl``). So ``kill -9`` of the command leaves no worker behind, busy on trials nobody will read.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """In a worker process: be killed (SIGKILL) when the parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the getppid check below remains
            pass
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)
