"""Where the page's Export may write: a new or empty folder below the server's runs folder.

The runs folder is the folder ``mlplab live`` was started in, or ``--runs-dir``. The page names
the export folder relative to it (by default ``runs/live-<run>``); an absolute path, a ``..``
part, or a path that a symbolic link leads out of the runs folder is refused, and so is a folder
that holds anything (a run, or anything else: an export never mixes its files with others).
:meth:`mlplab.live.session.TrainSession.export` checks once more after making the folder, and
creates each file exclusively (``O_EXCL``: never through a link planted in between).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from .validate import SettingsError

__all__ = ["export_folder", "check_below", "check_empty"]


def check_below(root: Path, path: Path, given) -> Path:
    """``path`` resolved (every symbolic link followed) if it lies below ``root``; else a one-line refusal."""
    real_root, real = Path(root).resolve(), Path(path).resolve()
    if real == real_root or real_root not in real.parents:
        via = " (through a symbolic link)" if real != Path(os.path.abspath(path)) else ""
        raise SettingsError(f"export writes only below {real_root}: {given!r} leads to {real}{via}; "
                            "give a new folder name below it")
    return real


def check_empty(path: Path) -> None:
    """Refuse a folder that holds anything (or a file in the way)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise SettingsError(f"{path} exists and is not a folder; export writes into a new or empty folder")
    if path.is_dir():
        entries = os.listdir(path)
        if "config.json" in entries:
            raise SettingsError(f"{path} already holds a run; choose another directory")
        if entries:
            raise SettingsError(f"{path} is not empty ({len(entries)} entr{'ies' if len(entries) != 1 else 'y'}); "
                                "export writes only into a new or empty folder: choose another name")


def export_folder(root, out) -> Path:
    """The folder ``out`` (relative to ``root``) an export may write, resolved; else :class:`SettingsError`."""
    if not isinstance(out, str) or not out.strip():
        raise SettingsError("the export folder (out) must be a folder name, relative to the runs folder")
    root = Path(root)
    if "\0" in out:
        raise SettingsError("the export folder name holds a NUL character")
    if PurePosixPath(out).is_absolute() or PureWindowsPath(out).anchor or out.startswith("~"):
        raise SettingsError(f"export writes only below {root.resolve()}: give a folder name relative to it, "
                            f"not {out!r}")
    if ".." in PurePosixPath(out.replace("\\", "/")).parts:
        raise SettingsError(f"export writes only below {root.resolve()}: '..' is not allowed in {out!r}")
    real = check_below(root, root / out, out)
    check_empty(real)
    return real
