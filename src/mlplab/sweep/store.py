"""The results store: one SQLite file (Python's standard library), one row per finished trial.

A row is written and committed the moment its trial's result reaches the main process, so a crash,
a kill or Ctrl-C loses at most the trials still running. The key is the SHA-1 of the trial's
description (:func:`~mlplab.sweep.trial.trial_key`) and is the table's primary key: a trial is
stored once whatever happens (``INSERT OR IGNORE``: a result that arrives twice, say from a task the
cluster re-ran after its worker died, is not counted twice). Re-running the same sweep reads the
keys already present and runs only the others.

The file is opened with a rollback journal (``journal_mode=DELETE``) and no memory map
(``mmap_size=0``). Both are about failing with a message rather than a signal: in WAL mode SQLite
writes its index through a shared memory map of ``trials.sqlite-shm``, and a write to a mapped page
of a file made immutable meanwhile (``chattr +i``) kills the process with SIGBUS, without a word. A
rollback journal is created and removed at each commit, so a folder made read-only or immutable
mid-run fails the very next commit, with an error this module words as an :class:`OSError` (the
``errno`` of a write probed next to the file: ``EROFS``, ``EPERM``, ``ENOSPC``, ...). A file that is
not a store (truncated, overwritten, another kind of file) is :class:`DamagedStore`, found when it
is opened (``PRAGMA quick_check``).

Columns: key, phase, optimizer, hparams (JSON), seed, status (done | diverged | failed), metrics
(JSON), curve (JSON: the training loss, at most 100 means of consecutive steps), steps, seconds,
error, trial (the full JSON description), finished (UTC time).
"""

from __future__ import annotations

import errno
import json
import math
import os
import sqlite3
import struct
import time
from pathlib import Path

__all__ = ["Store", "STORE_FILE", "DamagedStore", "INFRASTRUCTURE_ERRORS"]

STORE_FILE = "trials.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY, phase TEXT NOT NULL, optimizer TEXT NOT NULL, hparams TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL, metrics TEXT NOT NULL, curve TEXT NOT NULL,
    steps INTEGER, seconds REAL, error TEXT, trial TEXT NOT NULL, finished TEXT NOT NULL
)"""


# the exception names of failures that were the infrastructure's, not the training's: stores written
# before mlplab told them apart hold such rows as failed trials (``--retry-failed`` runs them again)
INFRASTRUCTURE_ERRORS = ("CancelledError", "KilledWorker", "CommClosedError", "BrokenProcessPool", "FetchError",
                         "DataError", "TimeoutError", "OSError", "FileNotFoundError", "PermissionError")


class DamagedStore(ValueError):
    """``trials.sqlite`` is not a usable results store (truncated, overwritten, not a database)."""


def _dumps(x) -> str:
    """JSON with NaN/inf written as null (JSON has neither)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(u) for k, u in v.items()}
        if isinstance(v, list):
            return [clean(u) for u in v]
        return v
    return json.dumps(clean(x), sort_keys=True)


def _nan(x):
    if x is None:
        return math.nan
    if isinstance(x, dict):
        return {k: _nan(v) for k, v in x.items()}
    return x


class Store:
    """``Store(folder)`` opens (or creates) ``folder/trials.sqlite``."""

    def __init__(self, folder):
        self.path = Path(folder) / STORE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as e:
            raise self._os_error(e) from None
        try:
            self.db.execute("PRAGMA mmap_size=0")
            if self.db.execute("PRAGMA journal_mode=DELETE").fetchone()[0].lower() != "delete":
                raise sqlite3.OperationalError("cannot leave WAL mode (the folder is not writable?)")
            check = self.db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(check)
            self.db.execute(_SCHEMA)
            self.db.execute("SELECT key, phase, optimizer, hparams, seed, status, metrics, curve, steps, seconds, "
                            "error, trial, finished FROM trials LIMIT 1").fetchall()
        except sqlite3.Error as e:
            self.db.close()
            if _is_write_error(e):
                raise self._os_error(e) from None
            raise DamagedStore(f"{self.path} is damaged or not a results store ({e}); move it away to start the "
                               "sweep over, or put back a copy") from None

    def _os_error(self, e) -> OSError:
        """An SQLite write failure as the OSError it comes from: the errno of creating a file beside the store."""
        code = errno.EIO
        if getattr(e, "sqlite_errorname", "") == "SQLITE_FULL" or "full" in str(e):
            code = errno.ENOSPC
        else:
            probe = self.path.parent / f".{STORE_FILE}.probe-{os.getpid()}"
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, b"x" * 4096)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    probe.unlink()
                if not os.access(self.path, os.W_OK) or _immutable(self.path):
                    code = errno.EPERM
            except OSError as probe_error:
                code = probe_error.errno or errno.EIO
        return OSError(code, f"{os.strerror(code)} (SQLite: {e})", str(self.path))

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def done_keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM trials")}

    def put(self, key: str, trial: dict, result: dict) -> bool:
        """Store one finished trial (committed at once); False if the key was already there."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO trials VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, trial["phase"], trial["optimizer"], _dumps(trial["hparams"]), trial["seed"], result["status"],
             _dumps(result.get("metrics", {})), _dumps(result.get("curve", [])), result.get("steps"),
             result.get("seconds"), result.get("error"), _dumps(trial),
             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        return cur.rowcount == 1

    def put_many(self, items) -> None:
        """Store (key, trial, result) triples in one transaction: all or none. An SQLite write failure
        (read-only or immutable folder, full disk) is raised as the OSError it is."""
        try:
            with self.db:
                self.db.execute("BEGIN")
                for key, trial, result in items:
                    self.put(key, trial, result)
        except sqlite3.Error as e:
            raise self._os_error(e) from None

    def forget_failed(self) -> int:
        """Delete the rows of failed trials (``--retry-failed``); returns how many."""
        try:
            with self.db:
                return self.db.execute("DELETE FROM trials WHERE status = 'failed'").rowcount
        except sqlite3.Error as e:
            raise self._os_error(e) from None

    def failures(self) -> dict[str, int]:
        """Stored failed trials by the exception name of their error: ``{"ValueError": 2, ...}``."""
        out: dict[str, int] = {}
        for (error,) in self.db.execute("SELECT error FROM trials WHERE status = 'failed'"):
            name = (error or "?").split(":", 1)[0].strip()
            out[name] = out.get(name, 0) + 1
        return out

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]

    def rows(self, keys=None) -> list[dict]:
        """Stored rows as dicts (JSON columns decoded, null back to NaN), all or those of ``keys``."""
        cur = self.db.execute("SELECT key, phase, optimizer, hparams, seed, status, metrics, curve, steps, seconds, "
                              "error FROM trials ORDER BY rowid")
        out = []
        wanted = None if keys is None else set(keys)
        for key, phase, opt, hp, seed, status, metrics, curve, steps, seconds, error in cur:
            if wanted is not None and key not in wanted:
                continue
            out.append({"key": key, "phase": phase, "optimizer": opt, "hparams": json.loads(hp), "seed": seed,
                        "status": status, "metrics": _nan(json.loads(metrics)),
                        "curve": [_nan(v) for v in json.loads(curve)], "steps": steps, "seconds": seconds,
                        "error": error})
        return out


def _is_write_error(e) -> bool:
    name = getattr(e, "sqlite_errorname", "")
    return name.startswith(("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")) or \
        any(w in str(e) for w in ("readonly", "disk is full", "disk I/O", "unable to open"))


def _immutable(path) -> bool:
    """The file carries the immutable attribute (Linux ``chattr +i``), which even root cannot write through."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, b"\0" * 8)[:4])[0]  # FS_IOC_GETFLAGS
        finally:
            os.close(fd)
    except OSError:
        return False
    return bool(flags & 0x10)  # FS_IMMUTABLE_FL
