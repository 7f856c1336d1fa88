"""The toy 2-D sets (spirals, circles, XOR): seeded, balanced, typed, and drawn as their definitions say."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab import toydata


# ------------------------------------------------------------------------------------ toy data
@pytest.mark.parametrize("name", list(toydata.TOY_DATASETS))
def test_toy_sets_are_seeded_balanced_and_typed(name):
    X, y = toydata.load_toy(name, "train", seed=3)
    X2, y2 = toydata.load_toy(name, "train", seed=3)
    X3, _ = toydata.load_toy(name, "train", seed=4)
    Xt, _ = toydata.load_toy(name, "test", seed=3)
    k = toydata.toy_info(name)["classes"]
    assert X.dtype == np.float32 and X.shape == (1000, 2) and y.dtype == np.int64
    assert np.array_equal(X, X2) and np.array_equal(y, y2)  # same seed, same numbers
    assert not np.array_equal(X, X3)  # another seed, other numbers
    assert not np.array_equal(X[:500], Xt)  # the test split is another draw
    counts = np.bincount(y, minlength=k)
    # spirals and circles alternate the classes; xor's labels follow uniform points (binomial, sd ≈ 16)
    assert len(counts) == k and counts.max() - counts.min() <= (80 if name == "xor" else 1)
    assert y[:50].tolist() != sorted(y[:50].tolist())  # shuffled: no class order leaks into batches


def test_toy_geometry_matches_the_definitions():
    X, y = toydata.xor(n=2000, margin=0.1, rng=0)
    assert np.all((X[:, 0] * X[:, 1] < 0) == (y == 1)) and np.min(np.abs(X)) >= 0.1
    X, y = toydata.circles(n=4000, factor=0.4, noise=0.0, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.allclose(r[y == 0], 1.0, atol=1e-6) and np.allclose(r[y == 1], 0.4, atol=1e-6)
    X, y = toydata.spirals(n=3000, classes=3, noise=0.0, rng=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() >= 0.05 - 1e-6 and r.max() <= 1.0 + 1e-6
    # an arm: angle = 2π(turns·r + k/K) (mod 2π), exactly, without noise
    angle = np.arctan2(X[:, 1], X[:, 0])
    expected = 2 * np.pi * (0.75 * r + y / 3)
    assert np.allclose(np.angle(np.exp(1j * (angle - expected))), 0, atol=1e-4)
    with pytest.raises(ValueError, match="unknown toy dataset"):
        toydata.load_toy("moons")
