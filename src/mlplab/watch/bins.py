"""A watch histogram's range and bin counts from its *sorted* sample, for all of a frame's histograms at once.

The definition is :mod:`mlplab.watch.stats`' (its docstring): the range [lo, hi] is the ``TAIL`` and ``1 − TAIL``
quantiles of the sample as ``np.quantile`` computes them, w = (hi − lo)/bins, bin i holds the values with
⌊(x − lo)/w⌋ = i computed in float64 (the last bin also x = hi and whatever rounds to bins), ``below`` the values
< lo and ``above`` those > hi.

**How it is cheap.** ⌊(x − lo)/w⌋ ≥ i is monotone in x, so on the sorted sample bin i begins at one position, and
only values close to the edge e_i = lo + i·w need the formula: the computed (x − lo)/w is within 2u of the exact
one, relatively (u = 2⁻⁵³: two roundings), so every x below e_i − δ_i is before the edge and every x above
e_i + δ_i after it, for δ_i = 16u·(|lo| + i·w) (wider than that bound and than the roundings of e_i ± δ_i).
Two binary searches per edge find the values between (on float32 samples with float32 keys rounded outwards, so
no float64 copy is made; ``below`` and ``above`` with the least float32 ≥ lo and the greatest ≤ hi, which count
the same float32 values), and the values inside a margin (almost always none) are put by the formula itself.
That is two ``searchsorted`` calls a histogram, the keys of all the frame's histograms made together
(:func:`bin_all`): the formula over every value (a float64 copy, a subtraction, a division, a floor: 8,192
values each) and its dozen NumPy calls a histogram took 0.4 ms of the MLP's frame in the worker. A sample
whose margins hold more than ``WINDOW`` values (one quantized to a few float32 steps per bin) is binned by the
formula over every value (:func:`_by_formula`), as before.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["quantile_range", "histogram_dict", "bin_all"]

_F64 = np.float64
_F32 = np.float32
_U = 2.0 ** -53  # float64's unit roundoff
WINDOW = 64  # values in a sample's margins that are put one by one before the formula is used on all of it
_AT: dict[tuple[int, float], tuple[np.ndarray, float, float]] = {}
_J: dict[int, np.ndarray] = {}
_ZERO: dict[int, np.ndarray] = {}
_WAY: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def quantile_range(s: np.ndarray, tail: float) -> tuple[float, float]:
    """The ``tail`` and ``1 − tail`` quantiles of the *sorted* ``s`` as ``np.quantile`` computes them: linear between
    the order statistics at (n−1)·p, with numpy's own interpolation (its ``_lerp``); the four order statistics read
    in one ``take``."""
    at = _AT.get((s.size, tail))
    if at is None:
        n = s.size
        pos = [p * (n - 1) for p in (tail, 1.0 - tail)]
        f = [int(math.floor(x)) for x in pos]
        at = _AT[(n, tail)] = (np.array([f[0], min(n - 1, f[0] + 1), f[1], min(n - 1, f[1] + 1)]),
                               pos[0] - f[0], pos[1] - f[1])
    idx, g0, g1 = at
    a0, b0, a1, b1 = s.take(idx).tolist()  # (float32 values are exact as Python floats)
    return (a0 + (b0 - a0) * g0 if g0 < 0.5 else b0 - (b0 - a0) * (1.0 - g0),
            a1 + (b1 - a1) * g1 if g1 < 0.5 else b1 - (b1 - a1) * (1.0 - g1))


def histogram_dict(s, bins, tail, mn, mx, mean, std, nonfinite, n, pending: list | None = None) -> dict:
    """The histogram's dict from the *sorted* sample ``s`` (its range and counts) and the moments of all values.
    With ``pending`` (a list) the counts are left for :func:`bin_all` (the dict and its sample are appended);
    without, they are made now."""
    lo, hi = quantile_range(s, tail)
    if not hi > lo:  # a constant (or nearly): a range around it
        pad = 0.5 * max(abs(lo), 1e-12)
        lo, hi = lo - pad, hi + pad
    h = {"lo": lo, "hi": hi, "counts": None, "below": 0, "above": 0, "min": float(mn), "max": float(mx),
         "mean": mean, "std": std, "nonfinite": nonfinite, "size": n, "sampled": s.size}
    if pending is None:  # (one histogram: the searches' fixed cost, about 50 µs, is more than the formula's)
        _by_formula(h, s, bins)
    else:
        pending.append((h, s, bins))
    return h


def _by_formula(h: dict, s: np.ndarray, bins: int) -> None:
    """The counts by ⌊(x − lo)/w⌋ over every in-range value (searches on those, which are non-decreasing)."""
    lo, hi, k = h["lo"], h["hi"], s.size
    w = (hi - lo) / bins
    s64 = s if s.dtype == _F64 else s.astype(_F64)
    # values < lo, and values ≤ hi (= values < the next double after hi): one search
    below, top = s64.searchsorted((lo, math.nextafter(hi, math.inf))).tolist()
    idx = np.subtract(s64[below:top], lo)  # bin i: lo + i·w ≤ x < lo + (i+1)·w; x = hi (or a rounding) in the last
    idx /= w
    np.floor(idx, out=idx)
    edges = [0, *idx.searchsorted(_edges_j(bins), "left").tolist(), top - below]
    h["counts"] = [b - a for a, b in zip(edges, edges[1:])]  # edges[i]: how many are in the bins before bin i
    h["below"], h["above"] = below, k - top


def _edges_j(bins: int) -> np.ndarray:
    j = _J.get(bins)
    if j is None:
        j = _J[bins] = np.arange(1, bins, dtype=_F64)
    return j


def _ways(bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per key of :func:`bin_all`'s row, the way its float32 rounding must go (+1 up, −1 down) and the float32
    infinity toward which one step goes back."""
    got = _WAY.get(bins)
    if got is None:
        way = np.concatenate([[1.0], -np.ones(bins - 1), np.ones(bins - 1), [-1.0]])
        got = _WAY[bins] = (way, np.where(way > 0, np.inf, -np.inf).astype(_F32))
    return got


def bin_all(pending: list) -> None:
    """Fill in ``counts``, ``below`` and ``above`` of every ``(h, s, bins)`` in ``pending`` (see the module's
    docstring), then empty it."""
    groups: dict[tuple, list] = {}
    for item in pending:
        h, s, bins = item
        lo, hi = h["lo"], h["hi"]
        w = (hi - lo) / bins
        if (s.dtype not in (_F32, _F64) or not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(w))
                or w < 1e-290):
            _by_formula(h, s, bins)
        else:
            groups.setdefault(bins, []).append(item)
    pending.clear()
    for bins, items in groups.items():  # (float32 and float64 samples together: NumPy's calls on small arrays, not
        # their work, are the cost here, and after a frame's rows each takes several µs, its code and data out of cache)
        f32 = [s.dtype == _F32 for _, s, _ in items]
        j = _edges_j(bins)
        lohi = np.array([(h["lo"], h["hi"]) for h, _, _ in items])
        lo, hi = lohi[:, :1], lohi[:, 1:]
        w = (hi - lo) / bins
        e = j * w
        d = np.abs(lo) + e
        d *= 16.0 * _U
        e += lo
        # one search a sample, all "left" (count of x < key): [lo, e_i − δ_i …, after(e_i + δ_i) …, after(hi)], with
        # after(k) the next number up (x ≤ k ⟺ x < after(k))
        keys = np.concatenate([lo, e - d, e + d, hi], axis=1)
        k32 = None
        if any(f32):  # float32 keys rounded each its way (_WAY): x < lo ⟺ x < the least float32 ≥ lo, the margins'
            # lower ends down and upper ends up, x ≤ hi ⟺ x ≤ the greatest float32 ≤ hi
            way, toward = _ways(bins)
            k32 = keys.astype(_F32)
            wrong = (k32 - keys) * way < 0  # rounded the other way: one float32 step back
            k32 = np.where(wrong, np.nextafter(k32, toward), k32)
            k32[:, bins:] = np.nextafter(k32[:, bins:], _F32(np.inf))
            fin32 = np.isfinite(k32)
        if not all(f32):
            keys[:, bins:] = np.nextafter(keys[:, bins:], np.inf)
        fin = np.isfinite(keys)
        if fin.all() and (k32 is None or fin32.all()):
            ok = [True] * len(items)
        else:
            ok = [bool((fin32 if f32[r] else fin)[r].all()) for r in range(len(items))]
        zero = _ZERO.setdefault(bins, np.zeros(2 * bins, dtype=np.intp))
        found = np.array([s.searchsorted(k32[r] if f32[r] else keys[r]) if ok[r] else zero
                          for r, (_h, s, _) in enumerate(items)])
        a, b = found[:, :bins], found[:, bins:]  # [below, a_1 … a_{bins−1}], [b_1 … b_{bins−1}, top]
        span = b[:, :-1] - a[:, 1:]
        wide = span.sum(axis=1).tolist()
        cut = np.concatenate([a, b[:, -1:]], axis=1)
        cut[:, 1:-1] = np.minimum(np.maximum(cut[:, 1:-1], a[:, :1]), b[:, -1:])
        counts = (cut[:, 1:] - cut[:, :-1]).tolist()
        belows, tops = a[:, 0].tolist(), b[:, -1].tolist()
        for r, (h, s, _) in enumerate(items):
            if not ok[r] or wide[r] > WINDOW:
                _by_formula(h, s, bins)
                continue
            if wide[r]:  # values within a margin of an edge: put by the formula itself
                lo_r, w_r = h["lo"], float(w[r, 0])
                row = [belows[r], *a[r, 1:].tolist(), tops[r]]  # (before the clipping to [below, top])
                for i in np.flatnonzero(span[r]).tolist():
                    x = s[a[r, i + 1]:b[r, i]].astype(_F64)
                    row[i + 1] += int(np.count_nonzero(np.floor((x - lo_r) / w_r) < j[i]))
                row[1:-1] = [min(max(p, row[0]), row[-1]) for p in row[1:-1]]
                counts[r] = [y - x for x, y in zip(row, row[1:])]
            h["counts"], h["below"], h["above"] = counts[r], belows[r], s.size - tops[r]
