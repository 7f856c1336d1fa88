"""Tests for mlplab.data's IDX reader: every dtype code round trip, plain and gzipped; damaged files refused with
the file's name; arbitrary and mutated bytes (hypothesis) give a DataError, never another exception."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplab import data
from mlplab.data import DataError

CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    """Encode ``arr`` as IDX with the given dtype code."""
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=CODES[code]).tobytes()


# ------------------------------------------------------------------------------------------ IDX
@pytest.mark.parametrize("code", sorted(CODES))
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, code, shape, compress):
    rng = np.random.default_rng(code)
    arr = rng.integers(-100 if code in (0x09, 0x0B, 0x0C) else 0, 100, size=shape)
    if code in (0x0D, 0x0E):
        arr = rng.normal(size=shape)
    raw = idx_bytes(arr, code)
    path = tmp_path / "noext"  # the extension must not matter
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = data.read_idx(path)
    assert out.shape == shape and out.dtype == np.dtype(CODES[code]).newbyteorder("=")
    np.testing.assert_array_equal(out, arr.astype(CODES[code]))
    out[...] = 0  # writable
    np.testing.assert_array_equal(data.parse_idx(raw), arr.astype(CODES[code]))


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize("blob, words", [
    (b"\x01\x00" + GOOD[2:], "magic"),
    (GOOD[:2] + b"\x0a" + GOOD[3:], "dtype code"),
    (GOOD[:-1], "truncated"),
    (GOOD[:10], "truncated header"),
    (GOOD + b"\x00", "too long"),
    (b"\x00\x00\x08\x00", "zero dimensions"),
    (bytes([0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 4]), "is zero"),
    (b"\x00\x00", "too short"),
    (b"", "too short"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
    (gzip.compress(GOOD)[:-8], "corrupt gzip"),
])
def test_idx_rejects_with_file_name(tmp_path, blob, words):
    path = tmp_path / "weird-file.idx"
    path.write_bytes(blob)
    with pytest.raises(DataError, match=words) as exc:
        data.read_idx(path)
    assert "weird-file.idx" in str(exc.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.idx: cannot read"):
        data.read_idx(tmp_path / "nope.idx")


def _parse_or_dataerror(blob: bytes) -> None:
    try:
        out = data.parse_idx(blob, "fuzz")
    except DataError as e:
        assert "fuzz" in str(e)
    else:
        assert isinstance(out, np.ndarray)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(blob):
    _parse_or_dataerror(blob)
    _parse_or_dataerror(gzip.compress(blob))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=st.integers(0, 255), ndim=st.integers(0, 4), dims=st.lists(st.integers(0, 2**32 - 1), max_size=4),
       body=st.binary(max_size=64), cut=st.integers(0, 100), gz=st.booleans())
def test_fuzz_mutated_headers(code, ndim, dims, body, cut, gz):
    header = bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    blob = (header + body)[: len(header) + cut]
    if gz:
        blob = gzip.compress(blob)[: max(2, len(blob) - cut)]
    _parse_or_dataerror(blob)
