"""Keep freed memory in the process: NumPy's fresh arrays then cost no page faults.

Every NumPy expression returns a fresh array, and a training step makes dozens of them: the
gradient of a 784×100 weight matrix, Adam's ``m̂`` and ``v̂``, a batch of activations. Each one
is a ``malloc`` from glibc, and glibc's defaults return freed memory to the kernel eagerly:

- a block above the *mmap threshold* (128 KiB at start) is its own ``mmap`` and is unmapped
  when freed (glibc raises the threshold to the size of a freed block, up to 32 MiB);
- the top of the heap is given back (``brk``) as soon as more than the *trim threshold* (twice
  the mmap threshold after it moved) is free there.

Either way, the next array of that size gets pages the kernel must fault in and zero again: a
313 KB array is about 77 page faults, each a trip into the kernel. How often this happens
depends on the process's history (the largest block freed so far sets both thresholds). Measured
on the 2-core test machine (``python benchmarks/allocator.py``): an Adam-like update of a 784×100
float32 array, four 313 KB temporaries alive at once, in a fresh process cost 242 page faults and
0.92 ms per update with the defaults, 0 faults and 0.11 ms with the memory kept (8x). Where data
and earlier arrays have already pushed glibc's thresholds up, the two are equally fast; a whole
``mlplab train`` run of the book network faults 18 % fewer pages and takes 0-4 % less time.

:func:`keep_freed_memory` fixes the two thresholds with ``mallopt``:

- ``M_MMAP_THRESHOLD`` = 32 MiB (the most glibc's own adjustment would reach): every array below
  it is carved from the heap and merged back into it when freed;
- ``M_TOP_PAD`` = ``pad`` (64 MiB by default): the heap grows by that much more than it needs,
  and trimming keeps that much free at its top.

So the pages of one step's temporaries stay mapped and the next step reuses them, in the main
thread and in worker threads' arenas alike. The process keeps at most about ``pad`` bytes per
arena it does not use; arrays of 32 MiB and more are still mapped and unmapped each time.
Caching allocators do the same job in PyTorch and other frameworks.

It is process-wide, so mlplab applies it where it owns the process or runs the training: the
``mlplab`` command, :class:`mlplab.train.Trainer`, sweep workers and the live server. It does
nothing on other C libraries (macOS, Windows, musl) and when ``MLPLAB_MALLOC_PAD=0`` is set;
``MLPLAB_MALLOC_PAD=N`` sets the pad to N MiB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory", "DEFAULT_PAD_MIB", "MMAP_THRESHOLD", "ENV"]

DEFAULT_PAD_MIB = 64
ENV = "MLPLAB_MALLOC_PAD"
M_TOP_PAD, M_MMAP_THRESHOLD = -2, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20

_applied: int | None = None  # the pad set in this process (bytes), None before the first call


def _pad_from_env() -> int:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_PAD_MIB << 20
    try:
        mib = int(raw)
    except ValueError:
        raise ValueError(f"{ENV} must be a whole number of MiB (0 turns this off), got {raw!r}") from None
    if mib < 0:
        raise ValueError(f"{ENV} must be 0 (off) or a positive number of MiB, got {mib}")
    return mib << 20


def _glibc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
            return None  # only glibc has mallopt with these parameters
    except OSError:
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc


def keep_freed_memory(pad_bytes: int | None = None) -> int:
    """Keep up to ``pad_bytes`` of freed memory in the process (default: ``MLPLAB_MALLOC_PAD`` MiB, else 64).

    Returns the pad now in effect in bytes (0: not applied: not glibc, or turned off). Calling it
    again with the same pad does nothing; a new pad replaces the old one.
    """
    global _applied
    pad = _pad_from_env() if pad_bytes is None else int(pad_bytes)
    if pad < 0:
        raise ValueError(f"pad_bytes must be >= 0, got {pad}")
    pad = min(pad, 2**31 - 1)  # mallopt takes an int
    if pad == _applied:
        return pad
    if pad == 0:
        return _applied or 0
    libc = _glibc()
    if libc is None or libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or libc.mallopt(M_TOP_PAD, pad) != 1:
        _applied = 0
        return 0
    _applied = pad
    return pad
