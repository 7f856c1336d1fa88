"""How much memory a training run needs, and how much the machine can give it, before allocating.

A 3·10⁶-wide layer would otherwise grow a process to many gigabytes before anything stops it,
and a 3·10⁸-wide one ends in NumPy's allocation traceback. :func:`estimate_training` adds up what
:class:`~mlplab.train.Trainer` holds at its peak, in bytes, with ``s`` the dtype's item size
(4 for float32), ``P`` the number of parameters, ``W`` the largest layer's parameter count,
``B`` the batch size and ``n_i`` the layer widths (input first):

==========================  =========================================================
held all along
parameters                  ``P·s``
gradients                   ``P·s`` (one array per parameter, kept until the next step)
optimizer state             ``k·P·s``; ``k`` arrays per parameter, counted by running
                            the optimizer once on a 3-element parameter (SGD 0,
                            momentum 1, Adam 2, Adam with amsgrad 3, ...)
data                        the images and labels, given by the caller
plus the largest of these phases (they do not overlap)
activations of one batch    ``B·s·(n_0 + Σ n_i)`` kept for backward (``2×`` for
                            activations other than the fused ReLU), ``3·B·max(n_i)·s``
                            for the gradients and the derivative's temporaries in
                            backward (``2.25·B·max(n_i)·s`` for the fused ReLU, whose
                            derivative is a one-byte mask), ``W·s`` for an update
                            temporary
evaluation batch            ``2000·s·max(n_i + n_{i+1})``: evaluation runs 2000 rows at
                            a time without a graph, one layer's input and output alive
checkpoint copy             ``((1 + k)·P + W)·s``: the checkpoint copies the weights and
                            the state before pickling them, and pickling serializes the
                            largest array once more
initialization              ``16·W`` bytes: a layer's weights are drawn as float64
                            (two 8-byte arrays) before the cast, when gradients and
                            state do not exist yet (so ``16·W - (1 + k)·P·s`` more)
==========================  =========================================================

:func:`available_memory` reads what the run may still take: ``MemAvailable`` from
``/proc/meminfo``, the cgroup's limit minus its usage (v2 ``memory.max``, v1
``memory.limit_in_bytes``: containers and CI runners), and the address-space limit
(``ulimit -v``), whichever is smallest. tests/test_memory.py compares the estimate with the
growth of a real process's peak RSS for several sizes.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

__all__ = ["MemoryEstimate", "NotEnoughMemory", "estimate_training", "available_memory", "check_fits",
           "optimizer_state_arrays", "format_bytes"]

EVAL_BATCH = 2000  # train.evaluate's chunk size


class NotEnoughMemory(Exception):
    """The run would need more memory than is available; the message gives both numbers."""


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KB', 3.2e9 -> '3.2 GB' (powers of 1000, as people read them)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


@dataclass
class MemoryEstimate:
    """Bytes per part of a run at its peak; ``total`` is their sum."""

    parts: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    def describe(self, top: int = 4) -> str:
        """'about 5.1 GB (parameters 1.2 GB, adam state 2.4 GB, ...)': the largest parts."""
        big = sorted(self.parts.items(), key=lambda kv: -kv[1])[:top]
        return f"about {format_bytes(self.total)} (" + ", ".join(f"{k} {format_bytes(v)}" for k, v in big) + ")"


_STATE_CACHE: dict = {}


def optimizer_state_arrays(name: str, hparams: dict | None = None) -> int:
    """How many parameter-sized arrays the optimizer keeps per parameter, by running it once."""
    import numpy as np

    from .. import optim
    from ..tensor import Tensor

    key = (name, tuple(sorted((hparams or {}).items())))
    if key not in _STATE_CACHE:
        p = Tensor(np.ones(3), requires_grad=True)
        p.grad = np.full(3, 0.5)
        opt = optim.get_optimizer(name, [p], **(hparams or {}))
        opt.step()
        arrays = [v for s in opt.state if s for v in s.values() if isinstance(v, np.ndarray) and v.size == 3]
        _STATE_CACHE[key] = len(arrays)
    return _STATE_CACHE[key]


def estimate_training(sizes, batch_size, optimizer="adam", hparams=None, dtype="float32", activation="relu",
                      data_bytes=0, checkpoints=True, eval_rows=EVAL_BATCH) -> MemoryEstimate:
    """The peak memory of training an MLP of ``sizes`` (see the module docstring for each term)."""
    import numpy as np

    s = np.dtype(dtype).itemsize
    sizes = [int(n) for n in sizes]
    layer_params = [a * b + b for a, b in zip(sizes[:-1], sizes[1:])]
    P, W = sum(layer_params), max(layer_params)
    k = optimizer_state_arrays(optimizer, hparams)
    b = int(batch_size)
    per_node = 1 if activation == "relu" else 2
    backward = 2.25 if activation == "relu" else 3  # g, g·mask (+ the bool mask) / g, σ'(z), g·σ'(z)
    parts = {"parameters": P * s, "gradients": P * s, f"{optimizer} state": k * P * s, "data": int(data_bytes)}
    # the phases of a step do not overlap: only the largest of them adds to the arrays above
    phases = {
        "activations of one batch": b * s * (sizes[0] + per_node * sum(sizes[1:])) + backward * b * max(sizes) * s
        + W * s,  # forward outputs kept for backward; backward's gradients and mask; an update temporary
        "evaluation batch": int(eval_rows) * s * max(a + per_node * c for a, c in zip(sizes[:-1], sizes[1:])),
        "checkpoint copy": ((1 + k) * P + W) * s if checkpoints else 0,
        # float64 draws (two arrays of 8 bytes) before the cast, while gradients and state do not exist yet
        "initialization": 16 * W - (1 + k) * P * s,
    }
    name = max(phases, key=phases.get)
    parts[name] = phases[name]
    return MemoryEstimate({name: int(v) for name, v in parts.items() if v})


def _read_text(path) -> str:
    """A small file of /proc or /sys, read with os.read (OSError as open's): a fifth of ``Path.read_text``'s time,
    which was most of :func:`available_memory`'s 0.13 ms (issue 30's time: every ``diagnose`` asks it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                return b"".join(chunks).decode()
            chunks.append(b)
    finally:
        os.close(fd)


def _read_int(path) -> int | None:
    try:
        text = _read_text(path).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) is not a number


def _cgroup_room(proc: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """The cgroup's memory limit minus its current usage (None when there is no limit). ``proc`` and ``root``:
    the process's cgroup file and the cgroup file system's mount (tests give a made-up tree).

    Paths are joined as strings (``pathlib`` took most of this function's ~50 µs: issue 30's time, as every
    ``diagnose`` asks), and a group's usage is read only where it has a limit (v2's ``memory.max`` is "max",
    or missing at the root, in most groups). For the process's own groups (the default ``proc``) the limit files
    that exist are found once per process (:func:`_limit_files`) and only they are read again: the limits and
    usages change, the groups a process is in practically never (reading ``/proc/self/cgroup`` and trying a file
    that is not there were half of this function's time on every check-up)."""
    files = _limit_files(proc, root)
    if files is None:
        return None
    rooms = []
    for limit_file, usage_file, v1 in files:
        limit = _read_int(limit_file)
        if limit is not None and not (v1 and limit >= 2 ** 60):
            used = _read_int(usage_file)
            rooms.append(limit - (used or 0))
    return min(rooms) if rooms else None


_LIMIT_FILES: dict = {}  # (pid, root) -> the process's own groups' limit files (see _limit_files)


def _limit_files(proc: str, root: str) -> list[tuple[str, str, bool]] | None:
    """(limit file, usage file, whether cgroup v1) for each group of ``proc`` and, in v2, its ancestors, in the
    order :func:`_cgroup_room` reads them; None when ``proc`` cannot be read. For the default ``proc`` the list of
    the files that exist is kept per process (a fork asks again); for any other it is made on every call."""
    own = proc == "/proc/self/cgroup"
    key = (os.getpid(), root)
    if own and key in _LIMIT_FILES:
        return _LIMIT_FILES[key]
    try:
        lines = _read_text(proc).splitlines()
    except OSError:
        return None
    files = []
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":  # cgroup v2: this group and its ancestors
            parts = rel.strip("/").split("/") if rel.strip("/") else []
            for depth in range(len(parts), -1, -1):
                base = "/".join((root, *parts[:depth]))
                files.append((base + "/memory.max", base + "/memory.current", False))
        elif "memory" in controllers.split(","):
            base = "/".join((root, "memory", *[q for q in rel.strip("/").split("/") if q]))
            files.append((base + "/memory.limit_in_bytes", base + "/memory.usage_in_bytes", True))
    if own:
        _LIMIT_FILES[key] = files = [f for f in files if os.path.exists(f[0])]
    return files


def _meminfo_available() -> int | None:
    try:
        text = _read_text("/proc/meminfo")
        at = text.find("MemAvailable:")  # (not a split into ~50 lines: a few µs of every diagnose)
        if at == 0 or (at > 0 and text[at - 1] == "\n"):
            return int(text[at:].split(None, 2)[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_room() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in _read_text(f"/proc/{os.getpid()}/status").splitlines():
            if line.startswith("VmSize:"):
                return soft - int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return soft


def available_memory() -> tuple[int | None, str]:
    """(bytes this process can still allocate, where that figure comes from); (None, ...) if unknown."""
    found = [(v, src) for v, src in ((_meminfo_available(), "MemAvailable in /proc/meminfo"),
                                     (_cgroup_room(), "the cgroup's memory limit"),
                                     (_address_space_room(), "the address-space limit (ulimit -v)"))
             if v is not None]
    if not found:
        return None, "unknown"
    return min(found)


def check_fits(estimate: MemoryEstimate, what: str, available: tuple[int | None, str] | None = None):
    """Raise :class:`NotEnoughMemory` when ``estimate`` exceeds the available memory.

    ``what`` names the setting responsible (e.g. "--layers 784,3000000,10"); the message puts the
    estimate next to what is available and says what to change.
    """
    room, source = available if available is not None else available_memory()
    if room is None or estimate.total <= room:
        return
    raise NotEnoughMemory(f"{what} needs {estimate.describe()}, but only {format_bytes(max(room, 0))} is available "
                          f"({source}); use narrower or fewer layers, a smaller --batch-size, or a machine with "
                          "more memory")
