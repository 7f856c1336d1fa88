"""The recording of a watched run: a folder, JSON only, append-only, readable after any crash.

Format ``mlplab-watch`` version 1 (``FORMAT``, ``VERSION``)::

    DIR/
      .mlplab-folder.json   {"kind": "watch", "version": 1}       (mlplab.folderkind)
      meta.json             {"format": "mlplab-watch", "version": 1, "created": ISO time, "model": class name,
                             "optimizer": its class name or null, "every": N or null, "fps": frames/s or null,
                             "bins": 32, "tail": 0.001, "torch": version, "worker": where frames were made,
                             "process" or "inline" (absent in recordings before it; informative only),
                             "layers": [{"name", "kind", "shape", "activation", "slope", "norm", "norm_module",
                                         "out_shape", "rows"}],
                             "not_watched": [{"where", "what", "why"}]}
      frames.jsonl          one JSON object per line, in order:
                            {"type": "frame", "frame": k (0, 1, ...), "step": optimizer steps done,
                             "time": seconds since watch() began, "loss": mean of the losses given since the
                             previous frame (null if none), "losses": how many, "in_std": the input's spread,
                             "layers": [per layer: histograms "z", "a", "gz" (∂L/∂z), "w", "dw" (the last
                                        update), each {"lo", "hi", "counts", "below", "above", "min", "max",
                                        "mean", "std", "nonfinite", "size"} or null; "z_std", "a_std", "dead",
                                        "zero", "saturated", "update_ratio", "grad_norm", "gz_norm",
                                        "verdict", "level", "reason"],
                             "events": [{"layer", "name", "from", "to", "reason"}: verdicts that changed],
                             optional "sharpness": {"step" measured at, "value" λ₁ or null, "limit" or null,
                                        "formula", "preconditioned", "reason" (no limit), "residual", "products",
                                        "ms", "examples", "parameters", "dtype", "optimizer", "error" (failed)}:
                                        watch(sharpness=)'s newest measurement (mlplab.watch.sharpness)}
                            {"type": "end", "step", "frames", "reason": "closed" | "an exception: ..."}

meta.json is written once, atomically (:func:`mlplab.runtime.fileio.write_json`), when the first batch has shown
which layers there are. Each line of frames.jsonl is written by one ``write`` call on a file opened for
appending, so a run killed at any moment (``kill -9``) leaves whole lines followed by at most one partial
last line, which the reader drops: the recording reads up to its last complete frame. No line is ever
rewritten. Numbers that are not finite are written as null (strict JSON). Nothing in the folder is
executed or unpickled: it is read as JSON.

:func:`read` refuses a folder that is not a recording in one line (:class:`RecordingError`): missing, of
another kind, a meta.json that is not this format or of a newer version, or a damaged line before the last.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..runtime.fileio import finite as _finite  # strict JSON: NaN and inf as null

__all__ = ["FORMAT", "VERSION", "META", "FRAMES", "RecordingError", "Recording", "read", "check_folder",
           "encode_line", "LineWriter"]

FORMAT = "mlplab-watch"
VERSION = 1
META = "meta.json"
FRAMES = "frames.jsonl"
_MAX_META = 10_000_000


class RecordingError(ValueError):
    """The folder is not a readable recording; the message is one line saying what and what to do."""


_ENCODER = None


def _encoder():
    global _ENCODER
    if _ENCODER is None:
        try:
            import msgspec

            _ENCODER = msgspec.json.Encoder().encode
        except ImportError:  # (a pinned dependency; the standard library's encoder if it is missing)
            _ENCODER = False
    return _ENCODER


def encode_line(obj: dict) -> bytes:
    """One line of frames.jsonl: strict JSON (non-finite numbers as null), newline-terminated.

    By msgspec's encoder, which writes NaN and ±inf as null itself: a frame of the 784-100×4-10 MLP (185 floats,
    911 ints) took 0.24-0.45 ms with the standard library's ``json.dumps`` (its float ``repr`` and int formatting,
    8-15 % of the frame worker's CPU), 0.02-0.03 ms with it; the same values (shortest round-trip floats). A value
    msgspec does not take (a NumPy scalar) goes through ``json.dumps``."""
    enc = _encoder()
    if enc:
        try:
            return enc(obj) + b"\n"
        except TypeError:
            pass
    try:
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode("utf-8")


class LineWriter:
    """Appends whole lines to a file, each in one ``os.write`` on an ``O_APPEND`` descriptor."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, obj: dict) -> None:
        data = encode_line(obj)
        view = memoryview(data)
        while view:  # a regular file takes it in one call; a short write (a full disk) is finished or raises
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def check_folder(folder, command: str = "mlplab live --replay") -> Path:
    """The folder as a Path if it can be read as a recording (a meta.json of this format); else RecordingError."""
    from ..folderkind import detect

    folder = Path(folder).expanduser()
    if not folder.exists():
        raise RecordingError(f"{folder}: no such folder; give the folder watch(record=...) wrote")
    if not folder.is_dir():
        raise RecordingError(f"{folder} is a file, not a folder; give the folder watch(record=...) wrote")
    kind = detect(folder)
    if kind is not None and kind.name != "watch":
        raise RecordingError(f"{folder} holds {kind.describe()}; {command} reads watch recordings "
                             "(the folder watch(record=...) wrote): give another folder")
    if not waiting(folder):
        read_meta(folder)
    return folder


def waiting(folder) -> bool:
    """A recording watch() has begun whose model has not yet run its first batch: marked, frames.jsonl empty,
    no meta.json yet. It is followed (the page waits for meta.json); anything else must have meta.json."""
    from ..folderkind import MARKER, _read_marker

    folder = Path(folder)
    try:
        return (_read_marker(folder) == "watch" and not (folder / META).exists()
                and (folder / FRAMES).stat().st_size == 0 and (folder / MARKER).is_file())
    except OSError:
        return False


def read_meta(folder) -> dict:
    path = Path(folder) / META
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if (Path(folder) / FRAMES).exists():
            raise RecordingError(f"{folder}: {META} is missing, so the frames cannot be read; the run stopped before "
                                 "its first batch, or the folder was damaged") from None
        raise RecordingError(f"{folder} is not a watch recording (no {META}); give the folder watch(record=...) "
                             "wrote") from None
    except OSError as e:
        raise RecordingError(f"{path}: cannot be read ({e.strerror})") from None
    if len(raw) > _MAX_META:
        raise RecordingError(f"{path} is {len(raw)} bytes, too large for a recording's meta.json: damaged?")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RecordingError(f"{path} is not valid JSON: the recording is damaged (delete the folder and record "
                             "again)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RecordingError(f"{path} is not a watch recording's (no \"format\": \"{FORMAT}\"); give the folder "
                             "watch(record=...) wrote")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise RecordingError(f"{path}: version {version!r} is not a version of this format: damaged")
    if version > VERSION:
        raise RecordingError(f"{path} is format version {version}, newer than this mlplab reads ({VERSION}): "
                             "upgrade mlplab")
    if not isinstance(meta.get("layers"), list):
        raise RecordingError(f"{path} has no list of layers: the recording is damaged")
    return meta


class Recording:
    """A recording read so far, and read further as it grows (:meth:`poll`): ``meta`` (None while the run has
    not passed its first batch), ``frames`` (the frame lines), ``end`` (the end line, None while running or
    after a crash)."""

    def __init__(self, folder):
        self.folder = check_folder(folder)
        self.meta = None if waiting(self.folder) else read_meta(self.folder)
        self.frames: list[dict] = []
        self.end: dict | None = None
        self._offset = 0
        self._line = 0
        self.poll()

    def poll(self) -> int:
        """Read the complete lines added since the last call; the number of new frames. A damaged line that is
        followed by others is an error (a crash leaves at most the last line partial)."""
        if self.meta is None:  # a run before its first batch: meta.json comes first
            if waiting(self.folder):
                return 0
            self.meta = read_meta(self.folder)
        path = self.folder / FRAMES
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        except OSError as e:
            raise RecordingError(f"{path}: cannot be read ({e.strerror})") from None
        cut = data.rfind(b"\n")
        if cut < 0:
            return 0
        new = 0
        for raw in data[:cut].split(b"\n"):
            self._line += 1
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise RecordingError(f"{path}, line {self._line}: damaged (not JSON), and lines follow it; "
                                     "the recording cannot be read past it") from None
            if not isinstance(obj, dict):
                raise RecordingError(f"{path}, line {self._line}: not a frame (a JSON object expected): damaged")
            if obj.get("type") == "frame":
                self.frames.append(obj)
                new += 1
            elif obj.get("type") == "end":
                self.end = obj
        self._offset += cut + 1
        return new

    @property
    def partial(self) -> bool:
        """Whether a partial last line follows the complete ones (a run killed mid-write)."""
        try:
            return (self.folder / FRAMES).stat().st_size > self._offset
        except OSError:
            return False


def read(folder) -> Recording:
    """The recording in ``folder`` as it stands (:class:`Recording`); RecordingError if it is not one."""
    return Recording(folder)
