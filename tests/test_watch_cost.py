"""What a watch frame costs, kept down without changing a number: the frame's JSON line (msgspec), the bin counts by
searches around the edges (mlplab.watch.bins), ReLU against kept zeros."""

from __future__ import annotations

import json
import math
import time

import numpy as np

from mlplab.runtime.fileio import finite
from mlplab.watch import bins, record
from mlplab.watch import stats as wstats


def _frame(rng) -> dict:
    """A frame line as the worker writes it: per layer five histograms and the row's numbers, from real arrays."""
    layers = []
    for _ in range(5):
        row = {k: wstats.histogram(rng.normal(scale=10.0 ** rng.integers(-6, 2), size=12800).astype(np.float32))
               for k in ("z", "a", "gz", "w", "dw")}
        row.update({"z_std": float(rng.random()), "a_std": float("nan"), "dead": 0.0, "zero": 0.5,
                    "saturated": float("inf"), "update_ratio": 1e-3 * rng.random(), "grad_norm": None,
                    "verdict": "ok", "level": 0, "reason": "é ∂L/∂z"})
        layers.append(row)
    return {"type": "frame", "frame": 3, "step": 120, "time": 1.25, "loss": float(rng.random()), "layers": layers,
            "events": [{"layer": 1, "from": None, "to": "dead"}]}


def _best(f, n=15) -> float:
    t = []
    for _ in range(n):
        c = time.perf_counter()
        f()
        t.append(time.perf_counter() - c)
    return min(t)


def test_a_frame_line_says_the_same_in_a_fraction_of_the_standard_encoders_time():
    """encode_line (msgspec) writes the values json.dumps would (floats round-trip exactly, NaN and ±inf as null,
    one line), a NumPy scalar through json.dumps; and a frame's line in under a third of json.dumps' time (it was
    json.dumps: 8-15 % of the MLP's frame in the worker)."""
    rng = np.random.default_rng(0)
    frame = _frame(rng)
    line = record.encode_line(frame)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    want = json.loads(json.dumps(finite(frame), allow_nan=False))
    assert json.loads(line) == want
    assert json.loads(line)["layers"][0]["a_std"] is None and json.loads(line)["layers"][0]["saturated"] is None
    xs = (rng.normal(size=2000) * 10.0 ** rng.integers(-300, 300, 2000)).tolist() + [5e-324, -0.0, 1e308]
    back = json.loads(record.encode_line({"x": xs}))["x"]
    assert back == xs and all(math.copysign(1, a) == math.copysign(1, b) for a, b in zip(back, xs))
    assert json.loads(record.encode_line({"v": np.float64(0.5), "n": 3})) == {"v": 0.5, "n": 3}
    ours = _best(lambda: record.encode_line(frame))
    std = _best(lambda: json.dumps(frame, separators=(",", ":"), allow_nan=True))
    assert ours < std / 3, (ours, std)


def _documented_bins(x, lo, hi, bins=32):
    """Bin i holds lo + i·w ≤ x < lo + (i+1)·w as computed, ⌊(x − lo)/w⌋ in float64, x = hi in the last bin."""
    x = np.asarray(x, dtype=np.float64).ravel()
    w = (hi - lo) / bins
    inside = x[(x >= lo) & (x <= hi)]
    idx = np.minimum(np.floor((inside - lo) / w), bins - 1).astype(int)
    return np.bincount(idx, minlength=bins).tolist(), int(np.sum(x < lo)), int(np.sum(x > hi))


def test_a_frames_bins_found_by_searches_are_the_documented_bins(monkeypatch):
    """bin_all (two binary searches around each edge, the values within a few roundings of an edge put by the
    formula) against the definition on every value: float32 and float64 samples, values placed on the computed
    edges and one step either side, ties, a narrow distribution far from 0, ReLU's zeros, heavy tails; the searches
    are the path taken for continuous samples, and the formula over every value gives the same numbers."""
    rng = np.random.default_rng(11)
    cases = []
    for dt in (np.float32, np.float64):
        cases.append(rng.normal(size=8192).astype(dt))
        cases.append(np.maximum(rng.normal(size=8192), 0).astype(dt))  # half zeros: lo = 0
        cases.append((1.0 + 1e-5 * rng.normal(size=8192)).astype(dt))  # narrow, far from 0 (float32: quantized)
        cases.append(np.round(rng.normal(size=8192), 1).astype(dt))  # ties
        cases.append((rng.standard_t(1.5, size=3000) * 1e-4).astype(dt))  # heavy tails, small
    searched = []
    monkeypatch.setattr(bins, "_by_formula", lambda h, s, b, f=bins._by_formula: (searched.append(False), f(h, s, b)))
    for k, x in enumerate(cases):
        s = np.sort(x)
        lo, hi = bins.quantile_range(s, wstats.TAIL)
        w = (hi - lo) / wstats.BINS
        # values on the computed edges lo + i·w and a step either side, where the rounding decides (the tails kept,
        # so that these are the edges of the new sample too)
        e = lo + np.arange(1, wstats.BINS) * w
        near = np.concatenate([e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf)]).astype(x.dtype)
        near = np.concatenate([near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf)])
        near = near[(near > s[9]) & (near < s[-10])]
        mid = s[10:-10]
        y = np.sort(np.concatenate([s[:10], s[-10:], near, mid[: mid.size - near.size]]))
        assert bins.quantile_range(y, wstats.TAIL) == (lo, hi)
        for v, window in ((s, bins.WINDOW), (y, 10_000)):  # y: every margin's values put one by one
            monkeypatch.setattr(bins, "WINDOW", window)
            pending, searched[:] = [], []
            got = bins.histogram_dict(v, wstats.BINS, wstats.TAIL, v[0], v[-1], 0.0, 1.0, 0, v.size, pending)
            assert got["counts"] is None
            bins.bin_all(pending)
            assert (got["counts"], got["below"], got["above"]) == _documented_bins(v, got["lo"], got["hi"]), k
            assert not searched or (v is s and k in (2, 3, 8))  # (quantized: ties near the edges, the formula)
            alone = bins.histogram_dict(v, wstats.BINS, wstats.TAIL, v[0], v[-1], 0.0, 1.0, 0, v.size)
            assert alone == got  # the formula over every value


def test_relu_against_kept_zeros_is_numpys_maximum_with_zero():
    """φ(z) for a ReLU is np.maximum(z, kept zeros): value for value np.maximum(z, 0) (NaN kept, +0.0 where z ≤ 0,
    −0.0 included), for each float type and shape, and the kept zeros are never written."""
    rng = np.random.default_rng(5)
    for dt in (np.float32, np.float64):
        for shape in ((4,), (128, 100), (2, 8, 5, 5), (40_000,)):
            z = rng.normal(size=shape).astype(dt)
            z.reshape(-1)[:4] = (np.nan, -0.0, np.inf, -np.inf)
            got, want = wstats.activate("relu", z), np.maximum(z, 0)
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got, want, equal_nan=True) and not np.signbit(got[~np.isnan(got)]).any()
            got[...] = 7  # the result is the caller's own array
            assert not wstats.activate("relu", np.full(shape, -1.0, dt)).any()
    assert np.array_equal(wstats.activate("relu", np.array([-2, 3])), [0, 3])  # (integers: np.maximum(z, 0))


def test_float32_keys_rounded_each_its_way_count_the_values_at_lo_and_hi_and_at_float32s_ends():
    """bin_all's float32 keys (one where: the least float32 ≥ lo, the greatest ≤ hi, the margins outwards) against
    the documented bins on every value: ranges whose lo and hi are sample values (n − 1 a multiple of 1000: the
    quantiles land on order statistics) with ties at them and values one float32 step either side, negative and
    zero-crossing ranges, subnormals, values near float32's largest (keys that overflow go by the formula), and lo
    and hi a fraction of a float32 step above the order statistic below them (the nearest float32 is the wrong key);
    all of them, and their float64 copies, binned in one call as each alone."""
    rng = np.random.default_rng(23)
    f32 = np.float32
    cases = []
    for scale, shift in ((1.0, 0.0), (1e-3, -5.0), (1e-41, 0.0), (1e37, 0.0), (3e37, 3e38), (1.0, 1e7)):
        with np.errstate(over="ignore"):  # (beyond float32's largest: inf, dropped)
            x = (shift + scale * rng.normal(size=8001)).astype(f32)
        x = x[np.isfinite(x)]
        s = np.sort(x)
        cases.append(s)
        lo, hi = bins.quantile_range(s, wstats.TAIL)
        near = np.array([lo, hi], dtype=f32)  # the ends and a step either side, three times each (ties)
        near = np.concatenate([near, np.nextafter(near, f32(np.inf)), np.nextafter(near, f32(-np.inf))])
        y = np.sort(np.concatenate([s[:-near.size * 3], np.repeat(near, 3)]))
        cases.append(y[np.isfinite(y)])
    for scale in (1.0, 1e-30, 1e30):  # lo and hi between two adjacent float32 values (its order statistics): the
        s = np.sort((scale * rng.normal(size=8192)).astype(f32))  # nearest float32 would count one value wrong
        s[8], s[8182] = np.nextafter(s[9], f32(-np.inf)), np.nextafter(s[8183], f32(-np.inf))
        lo, hi = bins.quantile_range(s, wstats.TAIL)
        a, b, c, d = (float(s[i]) for i in (8, 9, 8182, 8183))
        assert a < lo < b and c < hi < d and f32(lo) == a and f32(hi) == d
        cases.append(s)
    alone, together, later = [], [], []
    for s in cases + [c.astype(np.float64) for c in cases]:
        pending = []
        got = bins.histogram_dict(s, wstats.BINS, wstats.TAIL, s[0], s[-1], 0.0, 1.0, 0, s.size, pending)
        bins.bin_all(pending)
        assert (got["counts"], got["below"], got["above"]) == _documented_bins(s, got["lo"], got["hi"])
        assert got == bins.histogram_dict(s, wstats.BINS, wstats.TAIL, s[0], s[-1], 0.0, 1.0, 0, s.size)
        alone.append(got)
        together.append(bins.histogram_dict(s, wstats.BINS, wstats.TAIL, s[0], s[-1], 0.0, 1.0, 0, s.size, later))
    order = rng.permutation(len(later))  # float32 and float64 samples, with and without overflowing keys, binned
    shuffled = [later[i] for i in order]  # in one call, in any order: each as alone
    bins.bin_all(shuffled)
    assert together == alone


def test_the_frame_ab_variants_measure_what_they_say(tmp_path):
    """`watch_frame_ab.py --variant` (the product decisions' savings README quotes): ``sample=N`` makes the copy of
    the package bin N values of every array (W's blocked pass and ΔW's too), this checkout's code still 8,192;
    ``rows=N`` gives the frame the first N rows of z, the norm's output and ∂L/∂z, the weights whole."""
    import importlib
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        ab = importlib.import_module("watch_frame_ab")
        stats = importlib.import_module(ab._working_package(str(tmp_path)) + ".watch.stats")
        ab._with_sample(stats, 4096)
    finally:
        sys.path.remove(str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
        sys.path.remove(str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.normal(size=20000).astype(np.float32)
    assert stats.histogram(x)["sampled"] == 4096 and wstats.histogram(x)["sampled"] == 8192
    assert stats._histogram(x)[0] == stats.histogram(x) and stats._histogram(x)[1].size == 4096
    w = rng.normal(size=(100, 784)).astype(np.float32)
    before = w - 1e-3 * rng.normal(size=w.shape).astype(np.float32)
    row = stats.layer_row({"kind": "Linear", "activation": "relu", "shape": [100, 784]}, x.reshape(200, 100),
                          x.reshape(200, 100), x.reshape(200, 100), w, before, w, None)
    assert {row[k]["sampled"] for k in ("z", "gz", "w", "dw")} == {4096}

    class Rec:
        def take(self, info):
            return [{"z": np.zeros((128, 4)), "zn": np.zeros((128, 4)), "gz": np.zeros((128, 4)),
                     "w": np.zeros((4, 3)), "x": np.zeros((10, 3))}]

    rec = Rec()
    ab._first_rows(rec, 64)
    got = rec.take({})[0]
    assert {k: v.shape for k, v in got.items()} == {"z": (64, 4), "zn": (64, 4), "gz": (64, 4), "w": (4, 3),
                                                    "x": (10, 3)}
