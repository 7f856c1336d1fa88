"""Writing files so that a reader never sees half of one: :func:`atomic_write` and :func:`write_json`.

The content goes to a temporary file in the same folder (same file system, so the final rename
is atomic), is flushed to disk, and replaces the target with ``os.replace``; if writing fails the
temporary file is removed and the old target, if any, is untouched. Checkpoints, models,
summaries and configs of a run are written this way, so Ctrl-C or ``kill -9`` at any moment
leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "write_json", "current_umask", "finite", "unlink_quietly"]


def finite(x):
    """``x`` with every non-finite float (NaN, ±inf) replaced by None, through dicts, lists and tuples: strict
    JSON has no NaN, and a browser's ``JSON.parse`` refuses it (the live page's answers, a watch recording)."""
    import math

    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def unlink_quietly(path) -> None:
    """Remove the file ``path`` (None: nothing) if it is there. An ``OSError`` (gone already, or the folder
    read-only) is ignored: this is the clean-up of a scratch file a frame worker's shared arrays were
    in, which must never stop closing the worker, and whose name is forgotten afterwards either way."""
    if path is None:
        return
    try:
        os.unlink(path)
    except OSError:
        pass


def unlink_if_same(path, ident) -> None:
    """Remove ``path`` if its name still holds the file ``ident`` = (st_dev, st_ino) (a frame worker's last act:
    a parent killed before it unlinked the shared file would leave it in /dev/shm; a file made since under
    the same name is not ours, and stays)."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return  # unlinked by the parent already
    if (st.st_dev, st.st_ino) == tuple(ident):
        unlink_quietly(path)


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc/self/status`` on Linux ≥ 4.7); elsewhere
    set and restored at once. A file written atomically gets ``0o666 & ~umask``, as ``open()`` would
    give it, so every file of a run has the same mode (mkstemp alone makes 0600)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", encoding: str | None = "utf-8"):
    """``with atomic_write(path, "wb") as f: ...``: ``f`` is a temporary file that becomes ``path``
    when the block ends without an exception (and disappears otherwise)."""
    path = Path(path)
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; the file gets open()'s mode
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path, obj, indent: int = 2) -> None:
    """``obj`` as JSON (NumPy scalars as floats), written atomically."""
    with atomic_write(path) as f:
        f.write(json.dumps(obj, indent=indent, default=float))
