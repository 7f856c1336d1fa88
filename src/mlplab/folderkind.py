"""Folder kinds: a run folder, lab results and a sweep each hold files of the same names (``summary.json``,
``numbers.json``, ``meta.json``, ``config.json``), so a command given another kind's folder overwrote them
(``mlplab sweep --out RUN`` and ``mlplab train --out SWEEP`` each replaced the other's summary.json, and
``sweep report`` then failed). Here each kind is named, recognised and claimed.

* The code that creates a folder marks it with ``.mlplab-folder.json``, ``{"kind": "run", "version": 1}``:
  the :class:`~mlplab.train.Trainer` (so ``mlplab train``, ``demo`` and the live page's runs and exports),
  :func:`mlplab.lab.run_study` and ``mlplab report`` (lab results), :func:`mlplab.sweep.run_sweep` (sweeps).
* :func:`detect` tells what a folder holds. Its files decide first, so folders made before the marker
  existed keep working and a marker cannot hide what is really there: ``trials.sqlite`` is a sweep,
  ``config.json`` with a checkpoint or model is a run, ``numbers.json`` or ``meta.json`` (of a study, or
  in study folders) or ``report.html`` are lab results. A folder whose files say nothing yet (a run
  before its first checkpoint) is what its marker says. A damaged or foreign marker is ignored; it is
  only JSON, read as such.
* :func:`check` refuses, in one line naming what the folder holds, a folder of another kind:
  "sweeps/race holds a sweep (trials.sqlite); mlplab train writes run folders: choose another --out".
  :func:`claim` checks and then marks; the writers above call it, and the commands call :func:`check`
  first, before any work, with their own names in the message.

A folder holding none of these (empty, or a user's own files) is of no kind and any command may use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MARKER", "KINDS", "Kind", "WrongFolderKind", "detect", "check", "claim", "mark"]

MARKER = ".mlplab-folder.json"
VERSION = 1
#: kind -> (what a message calls a folder of it, what a message calls such folders)
KINDS = {"run": ("a training run", "run folders"),
         "lab": ("lab results", "lab results"),
         "sweep": ("a sweep", "sweep folders")}


class WrongFolderKind(ValueError):
    """The folder holds another kind of results; the message is one line naming what it holds."""


@dataclass(frozen=True)
class Kind:
    name: str  # run | lab | sweep
    evidence: tuple[str, ...]  # the files that tell (or the marker)

    def describe(self) -> str:
        return f"{KINDS[self.name][0]} ({', '.join(self.evidence)})"


def _read_marker(folder: Path) -> str | None:
    try:
        text = (folder / MARKER).read_text(encoding="utf-8")
        if len(text) > 10_000:
            return None
        d = json.loads(text)
    except (OSError, ValueError):
        return None
    if isinstance(d, dict) and d.get("kind") in KINDS and d.get("version") == VERSION:
        return d["kind"]
    return None


def _by_contents(folder: Path) -> Kind | None:
    def has(name):
        return (folder / name).is_file()

    if has("trials.sqlite"):
        return Kind("sweep", ("trials.sqlite",))
    run_files = [n for n in ("checkpoint.npz", "checkpoint.pkl", "model.npz") if has(n)]
    if has("config.json") and run_files:
        return Kind("run", ("config.json", *run_files))
    own = [n for n in ("numbers.json", "meta.json", "report.html") if has(n)]
    if own:
        return Kind("lab", tuple(own))
    try:
        studies = sorted(p.parent.name for p in folder.glob("*/numbers.json"))[:2]
    except OSError:
        studies = []
    if studies:
        return Kind("lab", tuple(f"{s}/numbers.json" for s in studies))
    return None


def detect(folder) -> Kind | None:
    """What ``folder`` holds: a :class:`Kind`, or None for a missing folder or one of no kind."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return None
    except OSError:
        return None
    found = _by_contents(folder)
    if found is not None:
        return found
    marked = _read_marker(folder)
    return Kind(marked, (MARKER,)) if marked else None


def check(folder, kinds, command: str, option: str = "--out", reads: bool = False) -> Kind | None:
    """Refuse ``folder`` unless it is of one of ``kinds`` (a name or a tuple) or of no kind. ``command`` is how
    the message names the writer ("mlplab train"); ``reads`` says the command reads the folder, not writes it."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    found = detect(folder)
    if found is None or found.name in kinds:
        return found
    wanted = " and ".join(KINDS[k][1] for k in kinds)
    if reads:
        raise WrongFolderKind(f"{folder} holds {found.describe()}; {command} reads {wanted}: give another folder")
    raise WrongFolderKind(f"{folder} holds {found.describe()}; {command} writes {wanted}: choose another {option}")


def mark(folder, kind: str) -> None:
    """Write the marker of ``kind`` into the existing ``folder`` (atomically), unless it is there already."""
    from .runtime.fileio import write_json

    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}; one of {', '.join(KINDS)}")
    folder = Path(folder)
    if _read_marker(folder) != kind:
        write_json(folder / MARKER, {"kind": kind, "version": VERSION})


def claim(folder, kind: str, command: str, option: str = "--out") -> None:
    """:func:`check` that ``folder`` holds nothing of another kind, create it if needed, and :func:`mark` it."""
    check(folder, kind, command, option)
    Path(folder).mkdir(parents=True, exist_ok=True)
    mark(folder, kind)
