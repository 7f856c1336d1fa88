"""From the cache to arrays: :func:`load` (hashing the bytes it reads), validation splits, subsets,
one-hot labels and the mini-batch iterator.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..init import as_generator
from .cache import fetch
from .idx import DataError, parse_idx
from .registry import FileSpec, _spec, data_dir

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
        if attempt == 0:  # fetch says "note: ... fails its SHA-256 check ...; fetching it again"
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
