"""Output folders of the commands that write one (train, demo, lab run, report, sweep).

:func:`check_out_folder` refuses, before any work, an ``--out`` that is a file, lies under a file,
or cannot be written (permissions, a read-only or immutable place): it tries to create a file
there rather than trusting permission bits, which say nothing about read-only mounts or root.

:func:`run_folder` then holds the folder's lock (:class:`mlplab.runtime.runlock.RunLock`: one writer per
folder, a stale lock of a killed process taken over with a note) for the whole command, and
if the command fails it removes what the command itself created there, so nothing half-written
stays behind; what was there before is never touched, nor a run that can be resumed.

:func:`check_kind` (and ``run_folder(..., kind=...)``) refuses a folder that holds another kind of
results (:mod:`mlplab.folderkind`): a sweep given to ``mlplab train``, a run given to ``mlplab sweep``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..folderkind import WrongFolderKind, check
from ..runtime.runlock import RunLock, describe_owner
from .errors import os_error_line
from .options import UsageError


def check_out_folder(path, option: str = "--out") -> Path:
    """``path`` as a Path if a command can make and write it; a one-line :class:`UsageError` if not."""
    path = base = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{option} {path} is a file, not a folder; give a folder name (new or existing)")
        base = path
        while not base.exists() and base.parent != base:
            base = base.parent
        if not base.is_dir():
            raise UsageError(f"{option} {path}: {base} is a file, so no folder can be made under it; "
                             "choose another folder")
        fd, probe = tempfile.mkstemp(dir=base, prefix=".mlplab-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        e.filename = None
        raise UsageError(f"{option} {path}: cannot write in {base} ({os_error_line(e)})") from None
    return path


def check_kind(path, kinds, command: str, option: str = "--out", reads: bool = False):
    """:func:`mlplab.folderkind.check` as a one-line :class:`UsageError`: ``path`` must hold ``kinds`` or nothing
    of any kind (``command`` is how the message names the command, e.g. "mlplab train")."""
    try:
        return check(path, kinds, command, option, reads=reads)
    except WrongFolderKind as e:
        raise UsageError(str(e)) from None


def _note_stale(owner):
    print(f"note: took over the lock of a run folder left by {describe_owner(owner)}, which is no longer running",
          file=sys.stderr, flush=True)


@contextlib.contextmanager
def run_folder(path, command: str, option: str = "--out", keep=None, resumable: bool = False, kind=None):
    """Check ``path`` (and that it holds no results of another ``kind`` than this command writes), lock it
    for ``command``, and clean up after a failure.

    On an exception, entries this command created in the folder are removed, unless ``keep()``
    says the folder now holds something worth keeping (e.g. a checkpoint to resume from); a
    folder the lock created is removed if it ends empty. Ctrl-C keeps everything of a
    ``resumable`` command (train: its checkpoint continues the run) and cleans up after the others.
    """
    path = check_out_folder(path, option)
    if kind is not None:
        check_kind(path, kind, f"mlplab {command}", option)
    try:
        before = set(os.listdir(path)) if path.is_dir() else set()
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot read the folder ({os_error_line(e)})") from None
    try:
        lock = RunLock(path, command=command, on_stale=_note_stale)
        lock.acquire()
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot create or lock the folder ({os_error_line(e)})") from None
    try:
        yield path
    except BaseException as e:
        interrupted = not isinstance(e, Exception)  # Ctrl-C, SystemExit
        if not (interrupted and resumable) and (keep is None or not keep()):
            _remove_new(path, before)
        raise
    finally:
        lock.release()


def _remove_new(path: Path, before: set) -> None:
    try:
        names = set(os.listdir(path)) - before
    except OSError:
        return
    for name in names:
        if name.startswith(".mlplab.lock"):
            continue
        p = path / name
        try:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        except OSError:
            pass
