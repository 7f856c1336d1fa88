"""One writer per run folder: a lock file that names its owner and dies with it.

``with RunLock(folder, command="train"):`` holds ``folder/.mlplab.lock`` for the duration of the
block. A second command that wants the same folder is refused at once with
``FolderInUse("X is in use by process PID (mlplab train since 2026-11-25 19:58:03)")``.

How the lock works (Linux/macOS, local file systems):

* The owner writes its record (PID, host, command, start time, the PID's own start time) into a
  private temporary file, takes an exclusive ``flock`` on it, and then publishes it with
  ``os.link(tmp, lock)``. ``link`` fails if the name exists, so creation is atomic (like
  ``O_CREAT | O_EXCL``) and the published file is complete and locked from its first instant:
  nobody ever reads a half-written record. (Where hard links are not supported the lock is
  created with ``O_CREAT | O_EXCL`` instead.)
* The kernel drops a ``flock`` when its process ends, however it ends: ``kill -9``, a crash, a
  power cut of the process. So a lock file whose ``flock`` can be taken is *stale*: its owner is
  gone. The newcomer holds the stale file's ``flock`` while it atomically ``rename``\\ s its own
  record over it, so two newcomers cannot both take over. The takeover is reported
  (:attr:`RunLock.stale`, and the ``on_stale`` callback the CLI uses to print a note).
* Without ``fcntl`` (Windows) the PID in the record decides: a lock whose process is gone is stale.
* A ``flock`` belongs to the open file, shared by every process that holds a descriptor of it: a
  worker forked while the lock is held would keep it held after its parent died, and the next run
  would be refused with "in use by process <the dead PID>". The descriptor is opened
  non-inheritable (``O_CLOEXEC``: nothing started through ``exec`` gets it), and a forked child
  closes it at once (``os.register_at_fork``), so the lock lives exactly as long as its owner.
* Release (normal exit, an exception, Ctrl-C) removes the file while still holding the ``flock``.
  Where the file cannot be removed (the folder was made read-only or immutable meanwhile) the
  ``flock`` is still dropped, so the next command takes the leftover file over with a note.
  A folder the lock itself created is removed again if it is empty at release, so a command that
  fails before writing anything leaves nothing behind.

Within one process the lock is re-entrant: ``lab run`` may hold a folder and call code that locks
it again.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["RunLock", "FolderInUse", "LOCK_FILE", "read_lock"]

LOCK_FILE = ".mlplab.lock"

_held: dict[str, list] = {}  # resolved folder -> [count, RunLock]; re-entrancy within this process
_held_guard = threading.Lock()


def _drop_in_forked_child():
    """In a child just forked: close the inherited lock descriptors (the parent keeps its locks) and
    forget them, so the child neither holds nor releases the parent's folders."""
    for _, lock in list(_held.values()):
        if lock._fd is not None:
            try:
                os.close(lock._fd)
            except OSError:
                pass
            lock._fd = None
    _held.clear()
    global _held_guard
    _held_guard = threading.Lock()  # in case the fork happened while another thread held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_in_forked_child)


class FolderInUse(Exception):
    """Another live process holds the folder's lock; the message names it."""

    def __init__(self, folder, owner: dict):
        self.folder = Path(folder)
        self.owner = owner
        super().__init__(f"{folder} is in use by {describe_owner(owner)}; wait for it to finish or choose another "
                         "folder")


def describe_owner(owner: dict) -> str:
    """'process 1234 (mlplab train since 2026-11-25 19:58:03)', with the host when it is another machine."""
    pid = owner.get("pid", "?")
    where = "" if owner.get("host") in (None, socket.gethostname()) else f" on {owner['host']}"
    since = owner.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    return f"process {pid}{where} (mlplab {owner.get('command', '?')} since {when})"


def _proc_start_ticks(pid):
    """The process's start time in clock ticks since boot (Linux), to tell a reused PID apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _pid_alive(pid, start_ticks=None) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError):
        return False
    now = _proc_start_ticks(pid)
    return start_ticks is None or now is None or now == start_ticks


def read_lock(folder) -> dict | None:
    """The record of the lock in ``folder`` (None if there is none or it cannot be read)."""
    try:
        return json.loads((Path(folder) / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None


class RunLock:
    """Exclusive use of ``folder`` by this process while the ``with`` block runs.

    Args:
        folder: the run / study / report folder; created (with parents) if missing.
        command: what holds it, shown to whoever is refused (``"train"``, ``"lab run"``, ...).
        on_stale: called with the dead owner's record when a stale lock was taken over.

    Attributes:
        stale: the dead owner's record after a takeover, else None.
        created: True when the lock created the folder (it is removed again at release if empty).

    Raises:
        FolderInUse: another live process holds the folder.
        OSError: the folder cannot be created or written (the caller words that for the user).
    """

    def __init__(self, folder, command="train", on_stale=None):
        self.folder = Path(folder)
        self.command = command
        self.on_stale = on_stale
        self.stale = None
        self.created = False
        self._fd = None
        self._key = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    # --- acquire -----------------------------------------------------------------------------
    def acquire(self):
        if not self.folder.is_dir():
            try:
                self.folder.mkdir(parents=True)
                self.created = True
            except FileExistsError:  # another process created it just now: then the lock decides
                if not self.folder.is_dir():
                    raise
        self._key = os.path.realpath(self.folder)
        with _held_guard:
            if self._key in _held:  # re-entrant within this process
                _held[self._key][0] += 1
                return self
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                  "started": time.time(), "pid_start": _proc_start_ticks(os.getpid())}
        try:
            self._fd = self._publish(record)
        except BaseException:
            if self.created:
                try:
                    self.folder.rmdir()  # only if empty: a racing process may be writing there now
                except OSError:
                    pass
                self.created = False
            raise
        with _held_guard:
            _held[self._key] = [1, self]
        if self.stale is not None and self.on_stale is not None:
            self.on_stale(self.stale)
        return self

    def _publish(self, record) -> int:
        data = (json.dumps(record) + "\n").encode()
        tmp = self.folder / f"{LOCK_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, data)
            os.fsync(fd)
            for _ in range(100):
                if self._try_link(tmp, fd, data):
                    return fd
                if self._try_take_over(tmp):
                    return fd
            raise OSError(errno.EAGAIN, f"could not take the lock {self.path} (it keeps changing hands)")
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise

    def _try_link(self, tmp, fd, data) -> bool:
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return False
        except OSError as e:  # no hard links here: fall back to O_EXCL on the name itself
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            try:
                fd2 = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o644)
            except FileExistsError:
                return False
            if fcntl is not None:
                fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd2, data)
            os.dup2(fd2, fd, inheritable=False)
            os.close(fd2)
        tmp.unlink(missing_ok=True)
        return True

    def _try_take_over(self, tmp) -> bool:
        """The name exists: refuse if its owner lives, take it over if it is stale. False: try again."""
        try:
            other = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False  # released in the meantime
        try:
            try:
                owner = json.loads(os.read(other, 65536).decode() or "{}")
            except ValueError:
                owner = {}
            if fcntl is not None:
                try:
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise FolderInUse(self.folder, owner) from None
            elif _pid_alive(owner.get("pid"), owner.get("pid_start")):  # pragma: no cover
                raise FolderInUse(self.folder, owner)
            try:  # the file we hold must still be the one under the name (not released and replaced)
                if os.fstat(other).st_ino != os.stat(self.path).st_ino:
                    return False
            except FileNotFoundError:
                return False
            os.replace(tmp, self.path)  # atomic: our complete, locked record replaces the stale one
            self.stale = owner
            return True
        finally:
            os.close(other)

    # --- release -----------------------------------------------------------------------------
    def release(self):
        with _held_guard:
            entry = _held.get(self._key)
            if entry is None:
                return
            if entry[1] is not self:  # an inner, re-entrant use
                entry[0] -= 1
                return
            entry[0] -= 1
            if entry[0] > 0:
                return
            del _held[self._key]
        try:
            if os.fstat(self._fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)
        except OSError:  # gone, or the folder became read-only: closing still drops the flock
            pass
        finally:
            os.close(self._fd)
            self._fd = None
        if self.created:
            try:
                self.folder.rmdir()  # only if empty: the command wrote nothing
            except OSError:
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
