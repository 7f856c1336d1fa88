"""Histograms for the live view, binned on the server: many arrays in one pass.

A frame of the book's network carries 19 histograms (per Linear layer its pre-activations z,
activations a, weight gradient ∂L/∂W and weights W). Each is ``BINS`` counts over

    [lo, hi] = [max(min x, μ − 4σ), min(max x, μ + 4σ)],   μ, σ the mean and std of x,

values outside the range counted in the end bins and non-finite values counted apart. Binning
them one by one cost about a dozen NumPy calls each, most of a frame's time; :func:`histograms`
makes the arrays the rows of one matrix and computes every row's μ, σ, min, max and bin counts
with one NumPy call per statistic and one ``bincount`` (row ``r``'s bin ``i`` is cell
``r·BINS + i``). :func:`histogram` is the same computation for one array.

An array larger than its cap (a 784×100 weight matrix) is represented by a fixed random subset
of ``cap`` entries (Generator seeded 0, sorted for memory order, the same subset for every frame
of a run, so frames compare like with like): the shape of a histogram needs thousands of values,
not all of them. ``sampled`` says how many entries stand for ``size``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BINS", "MAX_SAMPLE", "histogram", "histograms"]

BINS = 32
MAX_SAMPLE = 2048

_SAMPLES: dict[tuple[int, int], np.ndarray] = {}
_HUGE = float(np.finfo(np.float64).max)  # the width of a range that overflowed


def _sample(x: np.ndarray, cap: int | None) -> np.ndarray:
    """At most ``cap`` entries of the flat array ``x`` (all of them when ``cap`` is None)."""
    if cap is None or x.size <= cap:
        return x
    idx = _SAMPLES.get((x.size, cap))
    if idx is None:
        idx = _SAMPLES[(x.size, cap)] = np.sort(np.random.default_rng(0).choice(x.size, cap, replace=False))
    return x[idx]


def histogram(x: np.ndarray, bins: int = BINS, cap: int | None = MAX_SAMPLE) -> dict:
    """The histogram of one array: ``{"lo", "hi", "counts", "nonfinite", "size", "sampled"}``."""
    return histograms([x], bins, [cap])[0]


def histograms(arrays, bins: int = BINS, caps=None) -> list[dict]:
    """Histograms of every array in ``arrays`` (each flattened; ``caps``: one cap per array, None
    for all entries, default ``MAX_SAMPLE`` for all).

    The (sampled) arrays become the rows of one matrix, each padded to the longest with copies
    of its own first value: a copy changes neither the row's min nor max, and its share of the
    row's sums and of its first value's bin is known and taken off again. So every statistic is
    one NumPy call over the whole matrix, with per-row parameters broadcast along the rows, and
    the counts are one ``bincount`` of ``row·bins + bin``. Arrays with non-finite values (a
    diverging run) take :func:`_one`, which drops them first.
    """
    k = len(arrays)
    caps = [MAX_SAMPLE] * k if caps is None else list(caps)
    flats = [np.asarray(a).ravel() for a in arrays]
    parts = [_sample(f, c) for f, c in zip(flats, caps)]
    out = [{"lo": 0.0, "hi": 0.0, "counts": [0] * bins, "nonfinite": 0, "size": int(f.size), "sampled": int(p.size)}
           for f, p in zip(flats, parts)]
    rows = [i for i, p in enumerate(parts) if p.size]
    if not rows:
        return out
    n = np.array([parts[i].size for i in rows], dtype=np.float64)
    X = np.empty((len(rows), int(n.max())))
    for r, i in enumerate(rows):
        p = parts[i]
        X[r, :p.size] = p
        X[r, p.size:] = p[0]
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(X).all(axis=1)
    if not finite.all():  # the slow path for the rows with NaN or inf; the rest stay batched
        for r in np.flatnonzero(~finite):
            out[rows[r]].update(_one(parts[rows[r]], bins))
        keep = np.flatnonzero(finite)
        if keep.size == 0:
            return out
        X, n, rows = X[keep], n[keep], [rows[r] for r in keep]
    pad, first = X.shape[1] - n, X[:, 0]
    with np.errstate(over="ignore", invalid="ignore"):
        mean = (X.sum(axis=1) - pad * first) / n
        var = (np.einsum("ij,ij->i", X, X) - pad * first * first) / n - mean * mean
        std = np.sqrt(np.maximum(var, 0.0))
        lo, hi = _range(X.min(axis=1), X.max(axis=1), mean, std)
        scale = bins / np.where(np.isfinite(hi - lo), hi - lo, _HUGE)
        idx = ((X - lo[:, None]) * scale[:, None]).astype(np.intp)  # bin i holds [lo + i·w, lo + (i+1)·w)
    np.clip(idx, 0, bins - 1, out=idx)
    idx += (np.arange(len(rows)) * bins)[:, None]
    counts = np.bincount(idx.ravel(), minlength=len(rows) * bins)
    np.subtract.at(counts, idx[:, 0], pad.astype(np.intp))  # the padding copies of each row's first value
    counts = counts.reshape(len(rows), bins)
    for r, i in enumerate(rows):
        out[i].update(lo=float(lo[r]), hi=float(hi[r]), counts=counts[r].tolist())
    return out


def _range(mn, mx, mean, std):
    """[max(min, μ − 4σ), min(max, μ + 4σ)]; a constant gets a range around it."""
    lo, hi = np.maximum(mn, mean - 4 * std), np.minimum(mx, mean + 4 * std)
    flat = ~(hi > lo)
    lo = np.where(flat, lo - 0.5 * np.maximum(np.abs(lo), 1e-12), lo)
    hi = np.where(flat, hi + 0.5 * np.maximum(np.abs(hi), 1e-12), hi)
    return lo, hi


def _one(x: np.ndarray, bins: int) -> dict:
    """One array with non-finite values: those are counted apart, the rest binned as above."""
    x = x.astype(np.float64)
    finite = np.isfinite(x)
    x = x[finite]
    res = {"nonfinite": int(finite.size - x.size)}
    if x.size == 0:
        return res
    mean = x.sum() / x.size
    std = np.sqrt(max(float(x @ x) / x.size - mean * mean, 0.0))
    lo, hi = (float(v[0]) for v in _range(np.array([x.min()]), np.array([x.max()]), np.array([mean]),
                                            np.array([std])))
    width = hi - lo if np.isfinite(hi - lo) else _HUGE
    idx = np.clip(((x - lo) * (bins / width)).astype(np.intp), 0, bins - 1)
    res.update(lo=lo, hi=hi, counts=np.bincount(idx, minlength=bins).tolist())
    return res
