"""Checkpoints in a format that cannot run code when it is read: arrays in an ``.npz``, the rest JSON.

A checkpoint is a nested structure of dicts, lists, tuples, numbers, strings and NumPy arrays (the
model's and the optimizer's arrays, the schedule's scalars, a Generator's ``bit_generator.state``,
the losses so far). Python's pickle could store it in one call, but reading a pickle runs whatever
the file says (``__reduce__`` names any callable and its arguments), so a run folder someone shared,
or that a server wrote, would run their code on ``--resume``. PyTorch made ``torch.load`` default
to ``weights_only=True`` for the same reason.

The file ``checkpoint.npz`` is a zip (as ``np.savez`` writes) holding

* one ``.npy`` member per array, written and read with ``allow_pickle=False`` (an object array is
  refused both ways), named after where it sits in the structure (``model/layers.0.weight``);
* ``checkpoint.json``: the structure itself, in which an array is ``{"$array": NAME}``, a NumPy
  scalar ``{"$scalar": NAME}`` (a 0-d member, so a float32 stays a float32), a tuple
  ``{"$tuple": [...]}``, a dict whose keys are not all plain strings ``{"$dict": [[key, value], ...]}``
  and a float that JSON cannot hold (NaN, ±inf) ``{"$float": "nan"}``.

Python floats go through JSON as their shortest round-trip repr and ints exactly (a PCG64 state is
a 128-bit int), so ``read(write(x)) == x`` bit for bit, types included: ``--resume`` continues
exactly. Anything else (an object, a function) is refused when writing, never silently turned into
something else. Reading decodes only these tags; any other shape is "damaged", one line.

:func:`convert_pickle_checkpoint` reads an old ``checkpoint.pkl`` once, on the user's explicit
word (``mlplab train --resume --trust-pickle``), writes the new file, checks that it reads back
equal, and removes the pickle.

A run folder's training checkpoint (the Trainer's, ``checkpoint.npz`` in the folder): :func:`load_checkpoint`
reads it and checks it has the Trainer's layout (a damaged or foreign file is one line, an old pickle is never
read), :func:`has_checkpoint` says whether there is one, :func:`convert_legacy_checkpoint` converts the old
``checkpoint.pkl``. :mod:`mlplab.train` re-exports them.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

from .runtime.fileio import atomic_write

__all__ = ["write_checkpoint", "read_checkpoint", "convert_pickle_checkpoint", "CheckpointError",
           "PickleCheckpoint", "META_MEMBER", "FORMAT", "VERSION", "CHECKPOINT_FILE", "LEGACY_CHECKPOINT_FILE",
           "load_checkpoint", "has_checkpoint", "convert_legacy_checkpoint"]

META_MEMBER = "checkpoint.json"
FORMAT = "mlplab-checkpoint"
VERSION = 1
_TAGS = ("$array", "$scalar", "$tuple", "$dict", "$float")
_MAX_META = 64 << 20  # bytes: the evaluations of a very long run are kilobytes


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (cut short, not a checkpoint, hostile); the message is one line."""


class PickleCheckpoint(CheckpointError):
    """An old ``checkpoint.pkl``: never unpickled unless the user says they trust it."""


# ------------------------------------------------------------------------------ writing
def _join(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _encode(x, path: str, arrays: dict):
    if isinstance(x, np.str_ | np.bytes_):  # text, not numbers: JSON holds it (as a str)
        x = str(x) if isinstance(x, np.str_) else x.decode("latin-1")
    if isinstance(x, np.ndarray | np.generic):
        arr = np.asarray(x)
        if arr.dtype.hasobject or arr.dtype.kind not in "biufc":
            raise TypeError(f"checkpoint: {path or 'the value'} is an array of {arr.dtype}, which cannot be stored "
                            "without pickle")
        name = path or "value"
        while name in arrays:
            name += "_"
        arrays[name] = arr
        return {"$scalar" if isinstance(x, np.generic) else "$array": name}
    if x is None or isinstance(x, bool | int | str):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"$float": repr(x)}
    if isinstance(x, tuple):
        return {"$tuple": [_encode(v, _join(path, i), arrays) for i, v in enumerate(x)]}
    if isinstance(x, list):
        return [_encode(v, _join(path, i), arrays) for i, v in enumerate(x)]
    if isinstance(x, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in x):
            return {k: _encode(v, _join(path, k), arrays) for k, v in x.items()}
        return {"$dict": [[_encode(k, _join(path, "key"), arrays), _encode(v, _join(path, k), arrays)]
                          for k, v in x.items()]}
    raise TypeError(f"checkpoint: {path or 'the value'} is a {type(x).__name__}; a checkpoint holds only numbers, "
                    "strings, lists, tuples, dicts and NumPy arrays")


def write_checkpoint(path, state) -> Path:
    """Write ``state`` to ``path`` (an ``.npz``) atomically: a reader sees the old file or the new one."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": VERSION, "state": _encode(state, "", arrays)}
    text = json.dumps(meta, allow_nan=False)
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr(META_MEMBER, text)
        for name, arr in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr) if arr.ndim else arr, allow_pickle=False)
    return path


# ------------------------------------------------------------------------------ reading
def _damaged(path, why) -> CheckpointError:
    return CheckpointError(f"{path} is damaged ({why}); delete it to start over")


def _decode(x, arrays: dict, path):
    if isinstance(x, list):
        return [_decode(v, arrays, path) for v in x]
    if not isinstance(x, dict):
        return x  # None, bool, int, float, str: what json gives
    tags = [k for k in x if k.startswith("$")]
    if not tags:
        return {k: _decode(v, arrays, path) for k, v in x.items()}
    if len(x) != 1 or tags[0] not in _TAGS:
        raise _damaged(path, f"unknown entry {tags[0]!r}")
    tag, value = tags[0], x[tags[0]]
    if tag in ("$array", "$scalar"):
        if not isinstance(value, str) or value not in arrays:
            raise _damaged(path, f"no array {value!r}")
        arr = arrays[value]
        if tag == "$scalar":
            if arr.ndim:
                raise _damaged(path, f"{value!r} is not a scalar")
            return arr[()]
        return arr
    if tag == "$float":
        if value not in ("nan", "inf", "-inf"):
            raise _damaged(path, f"{value!r} is not a float")
        return float(value)
    if not isinstance(value, list):
        raise _damaged(path, f"{tag} holds a {type(value).__name__}")
    if tag == "$tuple":
        return tuple(_decode(v, arrays, path) for v in value)
    if not all(isinstance(kv, list) and len(kv) == 2 for kv in value):
        raise _damaged(path, "a $dict entry is not a [key, value] pair")
    out = {}
    for k, v in value:
        k = _decode(k, arrays, path)
        if isinstance(k, list | dict | np.ndarray):
            raise _damaged(path, f"a {type(k).__name__} cannot be a key")
        out[k] = _decode(v, arrays, path)
    return out


def _parse_constant(name):
    raise ValueError(f"{name} is not JSON")


def read_checkpoint(path):
    """The structure :func:`write_checkpoint` wrote to ``path``; :class:`CheckpointError` (one line) if the
    file is cut short, is not such a checkpoint, or holds anything but plain arrays and JSON."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if META_MEMBER not in names:
                raise _damaged(path, f"no {META_MEMBER} in it: not a checkpoint of mlplab")
            if z.getinfo(META_MEMBER).file_size > _MAX_META:  # the arrays are members; the JSON part is small
                raise _damaged(path, f"{META_MEMBER} is {z.getinfo(META_MEMBER).file_size} bytes, not a checkpoint's")
            meta = json.loads(z.read(META_MEMBER).decode("utf-8"), parse_constant=_parse_constant)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or "state" not in meta:
                raise _damaged(path, f"{META_MEMBER} does not describe an mlplab checkpoint")
            if meta.get("version") != VERSION:
                raise CheckpointError(f"{path} is a checkpoint of format version {meta.get('version')!r}; this "
                                      f"mlplab reads version {VERSION}: use the mlplab that wrote it")
            arrays = {}
            for name in names:
                if name == META_MEMBER:
                    continue
                if not name.endswith(".npy"):
                    raise _damaged(path, f"unexpected member {name!r}")
                with z.open(name) as member:
                    arrays[name[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise _damaged(path, f"not a complete zip file: {e}") from None
    except UnicodeDecodeError:
        raise _damaged(path, f"{META_MEMBER} is not text") from None
    except json.JSONDecodeError as e:
        raise _damaged(path, f"{META_MEMBER} is not valid JSON: {e}") from None
    except (ValueError, OSError, MemoryError, TypeError) as e:  # object arrays, bad headers, cut-short members
        raise _damaged(path, " ".join(f"{type(e).__name__}: {e}".split())[:200]) from None
    return _decode(meta["state"], arrays, path)


# ------------------------------------------------------------------------------ the old pickle format
def _same(a, b) -> bool:
    """Equal in value and type, arrays bit for bit (NaN equal to NaN)."""
    if isinstance(a, np.ndarray | np.generic) or isinstance(b, np.ndarray | np.generic):
        return (type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
                and np.array_equal(a, b, equal_nan=np.asarray(a).dtype.kind in "fc"))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and type(a) is type(b):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def convert_pickle_checkpoint(pickle_path, new_path, prepare=None) -> Path:
    """Read the pickle at ``pickle_path`` (this RUNS whatever it says: call it only on the user's explicit
    word that they trust the file), write its content to ``new_path`` in the safe format, check that it
    reads back equal, and remove the pickle. ``prepare(state)`` may turn the old layout into the new one."""
    import collections
    import pickle

    pickle_path, new_path = Path(pickle_path), Path(new_path)
    try:
        with open(pickle_path, "rb") as f:
            state = pickle.load(f)  # noqa: S301 - the user said they trust this file (--trust-pickle)
    except Exception as e:
        raise CheckpointError(f"{pickle_path} cannot be read even as a pickle ({type(e).__name__}: "
                              f"{' '.join(str(e).split())[:150]}); delete it to start over") from None
    if isinstance(state, collections.OrderedDict):
        state = dict(state)
    if prepare is not None:
        state = prepare(state)
    try:
        write_checkpoint(new_path, state)
    except TypeError as e:
        raise CheckpointError(f"{pickle_path} holds what a safe checkpoint cannot ({e}); it was not written by "
                              "mlplab's Trainer") from None
    if not _same(read_checkpoint(new_path), state):  # pragma: no cover - a bug of this module
        new_path.unlink()
        raise CheckpointError(f"{pickle_path}: the converted checkpoint did not read back equal; nothing was changed")
    pickle_path.unlink()
    return new_path


# ------------------------------------------------------------------ a run folder's training checkpoint
CHECKPOINT_FILE = "checkpoint.npz"  # arrays as .npy members, the rest JSON (above)
LEGACY_CHECKPOINT_FILE = "checkpoint.pkl"  # the pickle of mlplab before 2026-12: never read unless trusted


def has_checkpoint(run_dir) -> bool:
    """Whether ``run_dir`` holds a checkpoint, in the current format or the old pickle one."""
    return (Path(run_dir) / CHECKPOINT_FILE).exists() or (Path(run_dir) / LEGACY_CHECKPOINT_FILE).exists()


def _pickle_message(run_dir) -> str:
    return (f"{Path(run_dir) / LEGACY_CHECKPOINT_FILE} is a checkpoint in mlplab's old pickle format, which can run "
            "any code when it is read, so it is not read; if you trust where this folder came from, convert it once "
            f"with `mlplab train --out {run_dir} --resume --trust-pickle`")


def load_checkpoint(run_dir):
    """Read a run directory's checkpoint (a dict; ``losses`` a list of floats); a one-line error if there is none
    (FileNotFoundError), it is damaged (:class:`~mlplab.checkpoint.CheckpointError`, a ValueError) or it is an old
    pickle (:class:`~mlplab.checkpoint.PickleCheckpoint`, never unpickled here)."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        if (Path(run_dir) / LEGACY_CHECKPOINT_FILE).exists():
            raise PickleCheckpoint(_pickle_message(run_dir))
        raise FileNotFoundError(f"no checkpoint in {run_dir}: nothing to resume (start the run without --resume)")
    ck = read_checkpoint(path)
    wrong = _wrong_entry(ck)
    if wrong:
        raise CheckpointError(f"{path} is damaged (it does not hold a training checkpoint: {wrong}); delete it to "
                              "start over")
    ck["losses"] = np.asarray(ck["losses"], dtype=np.float64).tolist()
    return ck


_CHECKPOINT_TYPES = {"step": int, "epoch": int, "batch_in_epoch": int, "epoch_rng_state": dict | None,
                     "epoch_acc": list, "model": dict, "optimizer": dict, "schedule": dict | None,
                     "losses": np.ndarray, "evals": list, "seconds": float | int}


def _wrong_entry(ck) -> str | None:
    """What is missing or of the wrong type in a checkpoint read from disk (None: it has the Trainer's layout)."""
    if not isinstance(ck, dict):
        return f"a {type(ck).__name__}, not a dict"
    for key, kind in _CHECKPOINT_TYPES.items():
        if key not in ck:
            return f"no {key}"
        if not isinstance(ck[key], kind) or isinstance(ck[key], bool):
            return f"{key} is a {type(ck[key]).__name__}"
    if not all(isinstance(v, np.ndarray) for v in ck["model"].values()):
        return "the model holds something else than arrays"
    if ck["losses"].ndim != 1 or ck["losses"].dtype.kind != "f":
        return "losses is not a list of numbers"
    if not all(isinstance(r, dict) for r in ck["evals"]) or len(ck["epoch_acc"]) != 3:
        return "evals or epoch_acc has the wrong shape"
    return None


def convert_legacy_checkpoint(run_dir) -> Path:
    """Convert ``run_dir``'s old ``checkpoint.pkl`` to ``checkpoint.npz`` and remove the pickle. This UNPICKLES the
    file, which runs any code it names: only on the user's explicit word (``--trust-pickle``)."""
    old = Path(run_dir) / LEGACY_CHECKPOINT_FILE
    if not old.exists():
        raise FileNotFoundError(f"{run_dir} holds no {LEGACY_CHECKPOINT_FILE} to convert")

    def prepare(ck):
        if isinstance(ck, dict):
            ck = {**ck, "model": dict(ck["model"]) if isinstance(ck.get("model"), dict) else ck.get("model")}
            if isinstance(ck.get("losses"), list):
                ck["losses"] = np.asarray(ck["losses"], dtype=np.float64)
        return ck

    return convert_pickle_checkpoint(old, Path(run_dir) / CHECKPOINT_FILE, prepare=prepare)
