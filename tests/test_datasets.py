"""Tests for mlplab.data's datasets: train/validation splits, subsets, one-hot, mini-batches, and the real MNIST
and Fashion-MNIST files against their checksums and class counts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mlplab import data
from mlplab.data import BatchIterator


@pytest.fixture(autouse=True)  # as in test_data.py: the real files are fetched from no mirror named by the environment
def _no_env_mirror(monkeypatch):
    monkeypatch.delenv("MLPLAB_MIRROR", raising=False)


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
