"""The results store: one SQLite file (Python's standard library), one row per finished trial.

A row is written and committed the moment its trial's result reaches the main process, so a crash,
a kill or Ctrl-C loses at most the trials still running. The key is the SHA-1 of the trial's
description (:func:`~mlplab.sweep.trial.trial_key`) and is the table's primary key: a trial is
stored once whatever happens (``INSERT OR IGNORE``: a result that arrives twice, say from a task the
cluster re-ran after its worker died, is not counted twice). Re-running the same sweep reads the
keys already present and runs only the others.

Columns: key, phase, optimizer, hparams (JSON), seed, status (done | diverged | failed), metrics
(JSON), curve (JSON: the training loss, at most 100 means of consecutive steps), steps, seconds,
error, trial (the full JSON description), finished (UTC time).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

__all__ = ["Store", "STORE_FILE"]

STORE_FILE = "trials.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY, phase TEXT NOT NULL, optimizer TEXT NOT NULL, hparams TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL, metrics TEXT NOT NULL, curve TEXT NOT NULL,
    steps INTEGER, seconds REAL, error TEXT, trial TEXT NOT NULL, finished TEXT NOT NULL
)"""


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
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path} is not a usable results store ({e}); move it away to start over") from None

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
