"""Small 2-D classification sets, drawn from a seed: for fast feedback (``mlplab live``, tests).

Each generator returns ``(X, y)``: ``X`` float32 of shape (n, 2), ``y`` int64 class labels, the
classes interleaved so that no ordering leaks into mini-batches. Same seed, same numbers.

* :func:`spirals` — K arms r = t, angle = t·turns·2π + 2πk/K (t in [0.05, 1]), Gaussian noise of
  std ``noise``·r̄ on each coordinate; not linearly separable, the classic hard case.
* :func:`circles` — two concentric rings, radii 1 and ``factor`` (< 1), noise std ``noise``.
* :func:`xor` — points uniform in [−1, 1]², label 1 when x·y < 0 (the quadrants' XOR), points
  closer than ``margin`` to an axis dropped and redrawn so the classes are separable.

:func:`load_toy` splits one draw into a train and a test part (the test part from a different
stream of the same seed), the way :func:`mlplab.data.load` gives a split of a real dataset.
"""

from __future__ import annotations

import numpy as np

from .init import as_generator

__all__ = ["TOY_DATASETS", "spirals", "circles", "xor", "load_toy", "toy_info"]


def _gen(rng) -> np.random.Generator:
    return as_generator(rng)


def _finish(X, y, rng):
    order = rng.permutation(len(X))
    return np.ascontiguousarray(X[order], dtype=np.float32), y[order].astype(np.int64)


def spirals(n: int = 600, classes: int = 3, turns: float = 0.75, noise: float = 0.06, rng=0):
    """``classes`` interleaved spiral arms of about n/classes points each (see module docstring)."""
    if n < classes or classes < 2:
        raise ValueError(f"spirals: need classes >= 2 and n >= classes, got n={n}, classes={classes}")
    rng = _gen(rng)
    y = np.arange(n) % classes
    t = rng.uniform(0.05, 1.0, size=n)
    angle = 2 * np.pi * (turns * t + y / classes)
    X = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    X += rng.normal(0.0, noise, size=X.shape)
    return _finish(X, y, rng)


def circles(n: int = 600, factor: float = 0.5, noise: float = 0.08, rng=0):
    """Outer ring (class 0, radius 1) around an inner ring (class 1, radius ``factor``)."""
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must be in (0, 1), got {factor}")
    rng = _gen(rng)
    y = np.arange(n) % 2
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    r = np.where(y == 0, 1.0, factor)
    X = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    X += rng.normal(0.0, noise, size=X.shape)
    return _finish(X, y, rng)


def xor(n: int = 600, margin: float = 0.05, rng=0):
    """Uniform points in [−1, 1]², label 1 where x·y < 0, none within ``margin`` of an axis."""
    rng = _gen(rng)
    X = np.empty((0, 2))
    while len(X) < n:
        draw = rng.uniform(-1.0, 1.0, size=(2 * n, 2))
        X = np.concatenate([X, draw[np.min(np.abs(draw), axis=1) >= margin]])
    X = X[:n]
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    return _finish(X, y, rng)


TOY_DATASETS = {"spirals": spirals, "circles": circles, "xor": xor}
_CLASSES = {"spirals": 3, "circles": 2, "xor": 2}


def toy_info(name: str) -> dict:
    """Input size and class count of a toy set (what a network's first and last layer must be)."""
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy dataset {name!r}; valid: {', '.join(TOY_DATASETS)}")
    return {"inputs": 2, "classes": _CLASSES[name]}


def load_toy(name: str, split: str = "train", seed: int = 0, n_train: int = 1000, n_test: int = 500):
    """``(X, y)`` of a toy set's split: train from stream (seed, 0), test from stream (seed, 1)."""
    toy_info(name)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    stream = 0 if split == "train" else 1
    rng = np.random.default_rng([int(seed), stream])
    return TOY_DATASETS[name](n=n_train if split == "train" else n_test, rng=rng)
