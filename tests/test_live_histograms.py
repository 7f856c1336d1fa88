"""A frame's histograms binned in one pass (mlplab.live.histograms), and the downsampled history that stays
bounded."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.live.histograms import histogram, histograms
from mlplab.live.session import Downsampled


# ------------------------------------------------------------------------------------ binning
def test_histogram_counts_everything_once():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 10_000), [50.0, np.inf, np.nan]])  # an outlier, two non-finite
    h = histogram(x, bins=16, cap=20_000)
    assert sum(h["counts"]) == 10_001 and h["nonfinite"] == 2
    assert h["hi"] < 50  # the range is mean ± 4 std, not the outlier's
    assert h["counts"][-1] >= 1  # ... which is counted in the last bin
    inside = x[np.isfinite(x) & (x >= h["lo"]) & (x <= h["hi"])]
    ref, _ = np.histogram(inside, bins=16, range=(h["lo"], h["hi"]))
    assert np.array_equal(np.array(h["counts"]) - ref, [0] * 15 + [1])
    assert sum(histogram(np.full(7, 3.0))["counts"]) == 7  # a constant still gets a range
    big = rng.normal(2.0, 0.5, 100_000)  # more than MAX_SAMPLE: a fixed subset stands for it
    h1, h2 = histogram(big), histogram(big.copy())
    assert h1 == h2 and sum(h1["counts"]) == h1["sampled"] == 2048 and h1["size"] == 100_000
    centers = h1["lo"] + (np.arange(32) + 0.5) * (h1["hi"] - h1["lo"]) / 32
    assert np.average(centers, weights=h1["counts"]) == pytest.approx(2.0, abs=0.045)  # 4 standard errors (0.5 / √2048)


def test_many_histograms_in_one_pass_equal_each_one_binned_alone():
    """The frame bins all its arrays at once (rows of one matrix, padded with copies of their own
    first value): every array's counts equal np.histogram's over its own range, whatever its
    neighbours hold, and equal what binning it alone gives."""
    rng = np.random.default_rng(1)
    arrays = [rng.normal(0, 1, 6400).astype(np.float32), np.zeros(0), np.full(5, -2.0),
              np.concatenate([rng.normal(3, 0.1, 500), [np.nan, -np.inf, 1e6]]), rng.uniform(-1, 1, (784, 100)),
              np.array([7.0]), np.array([np.nan, np.inf]), rng.exponential(1.0, 1000) + 40.0]
    hists = histograms(arrays, 16)
    for x, h in zip(arrays, hists):
        alone = histogram(x, bins=16)  # the same up to float64 summation order
        assert h["counts"] == alone["counts"] and h["nonfinite"] == alone["nonfinite"]
        assert (h["lo"], h["hi"]) == (pytest.approx(alone["lo"], rel=1e-9), pytest.approx(alone["hi"], rel=1e-9))
        flat = np.asarray(x, np.float64).ravel()
        assert h["size"] == flat.size and h["sampled"] == min(flat.size, 2048)
        if flat.size > 2048:
            continue  # the subset: checked in test_histogram_counts_everything_once
        fin = flat[np.isfinite(flat)]
        assert h["nonfinite"] == flat.size - fin.size and sum(h["counts"]) == fin.size
        if fin.size:
            lo, hi = max(fin.min(), fin.mean() - 4 * fin.std()), min(fin.max(), fin.mean() + 4 * fin.std())
            if hi > lo:
                assert (h["lo"], h["hi"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
            ref, _ = np.histogram(np.clip(fin, h["lo"], h["hi"]), bins=16, range=(h["lo"], h["hi"]))
            assert h["counts"] == ref.tolist()


def test_downsampled_history_stays_bounded():
    d = Downsampled(cap=100)
    for i in range(100_000):
        d.add(i)
    assert len(d.points) <= 100 and d.points[0] == 0
    steps = np.diff(d.points)
    assert len(set(steps.tolist())) == 1  # evenly spaced over the whole run
    assert d.points[-1] > 90_000
