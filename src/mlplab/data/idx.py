"""The IDX file format (MNIST's): parsing and checking raw or gzipped bytes; the data package's
exceptions, :class:`DataError` and :class:`FetchError`.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np


class DataError(Exception):
    """A data file is malformed, truncated or fails verification (message says which and what to do)."""


class FetchError(DataError):
    """No source could supply a verified copy of a dataset file.

    ``str(e)`` lists every source's failure for every file, one per line; ``e.summary`` says the
    same in one line (the reasons grouped by source, and what to do), which the command prints.
    """

    def __init__(self, message: str, summary: str | None = None):
        super().__init__(message)
        self.summary = summary or " ".join(message.split())


# --------------------------------------------------------------------------------------------- IDX
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (gzip-compressed or raw, told apart by magic bytes) into a native-endian array.

    Checks the magic number, dtype code, dimensions and exact length; anything wrong raises
    :class:`DataError` naming ``name`` and the problem -- never another exception.
    """
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{name}: corrupt gzip data ({e}); delete the file and fetch it again") from None
    hint = "it is not a valid IDX file; delete it and fetch it again"
    if len(data) < 4:
        raise DataError(f"{name}: only {len(data)} bytes, too short for an IDX header; {hint}")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: bad magic number 0x{data[:4].hex()} (must start with 0x0000); {hint}")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02x}; {hint}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares zero dimensions; {hint}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated header ({len(data)} of {header} bytes); {hint}")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if 0 in dims:
        raise DataError(f"{name}: dimension {dims.index(0)} of {dims} is zero, no data; {hint}")
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long (trailing bytes)"
        raise DataError(f"{name}: {what}: shape {dims} needs {expected} bytes, file has {len(data)}; {hint}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip or raw, detected by magic bytes, not the extension)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_idx(data, str(path))
