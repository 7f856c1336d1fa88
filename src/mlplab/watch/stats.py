"""What a watch frame says about one layer, from plain arrays (NumPy only: the frame worker imports no torch).

**Histograms that survive outliers.** TensorBoard bins a histogram over the values' whole range, so one
outlier (a single 1e6) squeezes everything else into one bucket (tensorboard#1571), and its fixed ~30
exponential buckets make a narrow distribution look flat (#1803). Here the range is the central part of the
values, found by quantiles:

    [lo, hi] = [q_τ(x), q_{1−τ}(x)],   τ = TAIL = 0.001,

cut into ``BINS`` equal bins (bin i holds lo + i·w ≤ x < lo + (i+1)·w, w = (hi − lo)/BINS, the last bin also
holds x = hi); the values below lo and above hi are counted apart (``below``, ``above``) with the true
``min`` and ``max``, and non-finite values apart again (``nonfinite``). So an outlier moves ``max`` and
``above`` by one and leaves the shape alone, and a narrow distribution gets all 32 bins over its own range.

An array of more than ``SAMPLE`` finite values (a 784×100 weight matrix, a convolution's activations) is
binned on a fixed random subset of ``SAMPLE`` of them, as the live page does (``mlplab.live.histograms``:
the shape of a histogram needs thousands of values, not all of them): the subset is the sorted
``default_rng(0).choice(n, SAMPLE, replace=False)`` of the flattened finite values, the same for every frame,
so frames compare like with like; ``sampled`` says how many were binned. min, max, mean and std are taken
over all values. (Binning all 78,400 weights of the first layer made the MLP's frame cost the worker
15-34 ms; the worker shares the two cores with training.)

**Per-layer statistics** (:func:`layer_row`), with ``mlplab diagnose``'s definitions
(:mod:`mlplab.diagnose.statistics`): the spread of z and a = φ(z); for ReLU the fraction of outputs that are 0 and of
*dead* units (0 on every captured example and position; a unit is a Linear's output feature, a
convolution's channel); for sigmoid/tanh the fraction within ``SATURATION_EPS`` of a bound; ‖∂L/∂W‖, the
update ratio ‖W_t − W_{t−1}‖/‖W_{t−1}‖ and ‖∂L/∂z‖. :func:`judge` hands the rows to
:func:`mlplab.diagnose.verdicts.judge_rows`, the rules ``diagnose`` uses, so a layer reads "dead" here when diagnose
would call it dead.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .bins import bin_all, histogram_dict, quantile_range

__all__ = ["BINS", "TAIL", "SAMPLE", "histogram", "spread", "activate", "layer_row", "judge", "ACTIVATIONS"]

BINS = 32
TAIL = 0.001
SAMPLE = 8192
SATURATION_EPS = 0.01  # mlplab.diagnose.statistics.SATURATION_EPS (checked by the tests)
_BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
_SAMPLES: dict[tuple[int, int], np.ndarray] = {}


def _no_pause() -> None:
    return None


#: NumPy's floating-point errors are ignored already (the frame worker's ``np.seterr(all="ignore")``): no
#: ``np.errstate`` around each activation (2-5 µs each, three a layer)
QUIET = False

#: called between the histograms of a row: a point where the frame worker may give its core back (``os.sched_yield``
#: with :data:`mlplab.watch.worker.SLICES`)
PAUSE = _no_pause


def _indices(n: int, cap: int) -> np.ndarray:
    """The fixed subset of ``cap`` of ``n`` values (sorted positions), the same for every frame."""
    idx = _SAMPLES.get((n, cap))
    if idx is None:
        idx = _SAMPLES[(n, cap)] = np.sort(np.random.default_rng(0).choice(n, cap, replace=False))
    return idx


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


_range = quantile_range  # (the name the tests and the benchmark use)


def _empty(bins: int, size: int, nonfinite: int = 0) -> dict:
    return {"lo": None, "hi": None, "counts": [0] * bins, "below": 0, "above": 0, "min": None, "max": None,
            "mean": None, "std": None, "nonfinite": nonfinite, "size": size, "sampled": 0}


_F64 = np.float64
_ONE_PASS = 2.0 ** -10  # Σ (x − mean)² from Σ x² when it keeps all but 10 bits (_histogram)
_SCRATCH = threading.local()


_KEEP = 1 << 21  # values: arrays up to 16 MB are kept (six of them at most); a larger one is made each time


def _scratch(name: str, n: int) -> np.ndarray:
    """A float64 work array of ``n`` values, kept between calls (one per ``name`` and thread) up to ``_KEEP`` values:
    a fresh 600 kB array for the first layer's 78,400 weights cost its page faults on every frame."""
    if n > _KEEP:
        return np.empty(n, dtype=_F64)
    kept = _SCRATCH.__dict__
    buf = kept.get(name)
    if buf is None or buf.size < n:
        buf = kept[name] = np.empty(max(n, 1024), dtype=_F64)
    return buf[:n]


def histogram(x, bins: int = BINS, tail: float = TAIL, cap: int = SAMPLE) -> dict:
    """``{"lo", "hi", "counts", "below", "above", "min", "max", "mean", "std", "nonfinite", "size", "sampled"}``
    of the flattened ``x`` (see the module's docstring): the range and the counts from the fixed subset of at
    most ``cap`` finite values (``sampled`` of them), min, max, mean and std from all of them; an empty or
    all-non-finite array has no range (None)."""
    return _histogram(x, bins, tail, cap)[0]


def _histogram(x, bins: int = BINS, tail: float = TAIL, cap: int = SAMPLE, ready=None, wide=None, pending=None):
    """:func:`histogram`, and what the layer's row reuses: ``(h, s, sq)`` with ``s`` the sorted sample (None if
    there is none) and ``sq`` = Σ x² over the finite values (‖x‖² without another pass).

    ``ready``: ``(s, min, max)`` when the caller has them for an all-finite ``x``: φ(z) for a ReLU-type φ, which
    is monotone, so φ of z's sorted sample *is* the sorted sample of φ(z) (the same positions: the same size), and
    φ(min z), φ(max z) are its extremes. Only mean and std then take a pass over the values. ``wide``: the
    float64 copy of a float32 ``x`` when the caller has made it (the weights: W is also needed in float64 for ΔW).

    How it is cheap (the frame worker makes 15-25 of these a frame, on a core training may want): the sum in
    float64 also tells whether every value is finite (a sum of finite float32 values cannot overflow float64),
    so the finiteness pass is skipped in the usual case; the spread comes from Σ x² (one BLAS dot) as
    Σ (x − mean)² = Σ x² − mean·Σ x, unless that loses more than 10 of the 53 bits (Σ (x − mean)² < 2⁻¹⁰ Σ x²: a
    narrow distribution far from 0), where the second pass over x − mean is made; the sample is *sorted* once
    (NumPy's vectorised sort of 8,192 values costs less than one multi-``kth`` ``np.partition``), which gives
    both quantiles by indexing, ``below``, ``above`` and the bin counts by binary searches (the bin index
    ⌊(x − lo)/w⌋ is non-decreasing along the sorted values: each rounded operation is monotone; with ``pending``
    the searches of all the frame's histograms are made together, :mod:`mlplab.watch.bins`), and, when every value
    is in the sample, min and max."""
    flat = (x if isinstance(x, np.ndarray) else np.asarray(x)).reshape(-1)
    n = flat.size
    if n == 0:
        return _empty(bins, 0), None, 0.0
    if flat.dtype == _F64:
        d = flat
    elif wide is not None:
        d = wide.reshape(-1)
    else:
        d = _scratch("d", n)
        np.copyto(d, flat)  # float64 (exact): one conversion, then float64 loops (NumPy's casting loops cost 2x)
    total = float(np.add.reduce(d))
    v, nonfinite = flat, 0
    if not math.isfinite(total):  # some value is NaN or ±inf (or float64 values overflowed the sum)
        finite = np.isfinite(flat)
        nonfinite = int(n - np.count_nonzero(finite))
        if nonfinite:
            ready = None
            v = flat[finite]
            if v.size == 0:
                return _empty(bins, n, nonfinite), None, 0.0
            d = _scratch("d", v.size)
            np.copyto(d, v)
            total = float(np.add.reduce(d))
    m = v.size
    mean = total / m
    sq = float(d.dot(d))  # (the frame worker has one BLAS thread)
    ss = sq - mean * total
    if not (ss >= _ONE_PASS * sq and sq < math.inf):  # cancellation, an overflow: the two passes keep the digits
        c = _scratch("c", m)
        np.subtract(d, mean, out=c)
        ss = float(c.dot(c))
    if ready is not None:
        s, mn, mx = ready
    elif m > cap:
        s = v.take(_indices(m, cap))
        s.sort()
        mn, mx = float(np.minimum.reduce(v)), float(np.maximum.reduce(v))  # (ndarray.min's Python layer: 1 µs each)
    else:
        s = np.sort(v)
        mn, mx = float(s[0]), float(s[-1])
    return _binned(s, bins, tail, mn, mx, mean, math.sqrt(max(ss / m, 0.0)), nonfinite, n, pending), s, sq


def _binned(s, bins, tail, mn, mx, mean, std, nonfinite, n, pending=None) -> dict:
    """The histogram's dict from the *sorted* sample ``s`` and the moments of all values (its range and counts by
    :mod:`mlplab.watch.bins`; with ``pending`` the counts are filled in later, by ``bin_all(pending)``)."""
    return histogram_dict(s, bins, tail, mn, mx, mean, std, nonfinite, n, pending)


#: values a block: the float64 work arrays of :func:`_weights` (three of 128 kB) stay in the core's cache
BLOCK = 16384


def _weights(w, before, gw=None, bins: int = BINS, tail: float = TAIL, cap: int = SAMPLE, pending=None):
    """``(h_w, h_dw, Σ ΔW², ‖W_before‖², ‖∂L/∂W‖²)`` for a large float32 W (more than two ``BLOCK``s) and W_before,
    both finite (and ∂L/∂W of W's shape and type, or None: its term is then None); None otherwise (the caller then
    takes the arrays one by one).

    The same numbers as W's and ΔW's own histograms (up to the last bits of the sums: here added a block at a
    time), in one pass over W and W_before by blocks of ``BLOCK`` values made float64 in a work array that stays
    in the cache: the first layer's 78,400 weights as three float64 arrays of 627 kB (W, W_before, ΔW) were
    read from the shared cache, not the core's own, and the weights' part of that layer's row took 0.56 ms; ΔW's
    sample is its values at the fixed positions, W(i) − W_before(i) in float64 as ΔW's own sample would be."""
    fw, fb = w.reshape(-1), before.reshape(-1)
    fg = gw.reshape(-1) if gw is not None and gw.dtype == w.dtype and gw.size == w.size else None
    n = fw.size
    cw, cb, cd = _scratch("cw", BLOCK), _scratch("cb", BLOCK), _scratch("cd", BLOCK)
    tw = qw = qb = td = qd = qg = 0.0
    lo, hi = math.inf, -math.inf
    for a in range(0, n, BLOCK):
        k = min(BLOCK, n - a)
        x, y, d = cw[:k], cb[:k], cd[:k]
        np.copyto(x, fw[a:a + k])
        np.copyto(y, fb[a:a + k])
        np.subtract(x, y, out=d)
        tw += float(np.add.reduce(x))
        qw += float(x.dot(x))
        qb += float(y.dot(y))
        td += float(np.add.reduce(d))
        qd += float(d.dot(d))
        lo = min(lo, float(np.minimum.reduce(d)))
        hi = max(hi, float(np.maximum.reduce(d)))
        if fg is not None:
            np.copyto(x, fg[a:a + k])
            qg += float(x.dot(x))
    if not all(math.isfinite(t) for t in (tw, qw, qb, td, qd)):
        return None
    mw, md = tw / n, td / n
    ssw, ssd = qw - mw * tw, qd - md * td
    if not (ssw >= _ONE_PASS * qw and ssd >= _ONE_PASS * qd):  # the two passes: by the arrays' own histograms
        return None
    at = _indices(n, cap) if n > cap else None
    sw = fw.take(at) if at is not None else fw.copy()
    sd = sw.astype(_F64)  # (W's sample before it is sorted: one read of W at the positions, not two)
    sd -= fb.take(at) if at is not None else fb
    sw.sort()
    sd.sort()
    hw = _binned(sw, bins, tail, float(np.minimum.reduce(fw)), float(np.maximum.reduce(fw)), mw,
                 math.sqrt(max(ssw / n, 0.0)), 0, n, pending)
    hd = _binned(sd, bins, tail, lo, hi, md, math.sqrt(max(ssd / n, 0.0)), 0, n, pending)
    return hw, hd, qd, qb, qg if fg is not None else None


def _gelu(z):
    from scipy.special import erf

    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


_ZEROS: dict[str, np.ndarray] = {}


def _zeros(z: np.ndarray) -> np.ndarray:
    """Zeros of ``z``'s shape and type (a kept buffer, read only): ``np.maximum(z, zeros)`` is ``np.maximum(z, 0)``
    value for value (NaN kept, +0.0 for z ≤ 0), and NumPy's loop for two arrays is 2.5x its loop for an array and a
    scalar (35 µs against 14 µs for the small CNN's 62,720 float32 values of a layer's z)."""
    buf = _ZEROS.get(z.dtype.str)
    if buf is None or buf.size < z.size:
        buf = _ZEROS[z.dtype.str] = np.zeros(max(z.size, 1024), dtype=z.dtype)
        buf.flags.writeable = False
    return buf[:z.size].reshape(z.shape)


def _relu(z):
    z = np.asarray(z)
    if z.dtype.kind != "f" or z.ndim == 0:
        return np.maximum(z, 0)
    return np.maximum(z, _zeros(z))


#: the activations the tracer names, as NumPy functions of z (a Leaky ReLU's slope is passed)
ACTIVATIONS = {
    "relu": lambda z, s: _relu(z),
    "relu6": lambda z, s: np.clip(z, 0, 6),
    "leaky_relu": lambda z, s: np.where(z > 0, z, z * np.asarray(s, z.dtype)),
    "elu": lambda z, s: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": lambda z, s: _gelu(z.astype(np.float64)).astype(z.dtype),
    "silu": lambda z, s: z / (1 + np.exp(-z)),
    "tanh": lambda z, s: np.tanh(z),
    "sigmoid": lambda z, s: 1 / (1 + np.exp(-z)),
}


def activate(name: str, z: np.ndarray, slope: float = 0.01):
    """φ(z) for the layer's activation (None for ``identity``, a logits layer)."""
    f = ACTIVATIONS.get(name)
    if f is None:
        return None
    if QUIET:
        return f(z, slope)
    with np.errstate(all="ignore"):
        return f(z, slope)


def spread(x) -> float:
    """``np.std(x, dtype=float64)`` (NaN if a value is not finite), in two float64 passes over a kept work array."""
    flat = np.asarray(x).reshape(-1)
    d = _scratch("d", flat.size)
    np.copyto(d, flat)
    d -= float(np.add.reduce(d)) / d.size
    return math.sqrt(float(d.dot(d)) / d.size)


def _norm(x) -> float:
    v = np.asarray(x).reshape(-1)
    if not v.size:
        return float("nan")
    if v.dtype != _F64:
        buf = _scratch("norm", v.size)
        np.copyto(buf, v)  # float32 squares are exact in float64
        v = buf
    return math.sqrt(float(v.dot(v)))  # (the frame worker has one BLAS thread)


def _std(h) -> float:
    return h["std"] if h is not None and h["std"] is not None and not h["nonfinite"] else float("nan")


def _units_last(a: np.ndarray, conv: bool) -> np.ndarray:
    """(examples·positions, units): a Linear's units are its last axis, a convolution's its channels (axis 1)."""
    if conv and a.ndim > 2:
        a = np.moveaxis(a, 1, -1)
    return a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)


#: activations whose NumPy form is monotone non-decreasing in floating point (a maximum, a clip, a product with a
#: slope ≥ 0): φ of z's sorted sample is φ(z)'s sorted sample (tanh, sigmoid, … are not assumed to be)
_MONOTONE = {"relu", "relu6", "leaky_relu"}


def layer_row(info: dict, z, zn, gz, w, before, gw, in_std: float | None, pending: list | None = None) -> dict:
    """One layer's frame row. ``info``: the layer as meta.json describes it (activation, kind, slope);
    ``z``: its output (the captured examples), ``zn``: what the activation sees (the normalisation's output,
    or z; None when it could not be captured), ``gz``: ∂L/∂z, ``w``/``before``: the weight now and before the
    last update, ``gw``: ∂L/∂W; any may be None. ``in_std``: the network input's spread (for the signal gain).

    Work not done twice: a ReLU-type layer without a normalisation reuses z's sorted sample for φ(z)'s histogram
    (:func:`_histogram`'s ``ready``), ‖∂L/∂z‖ and ‖ΔW‖ come from their histograms' Σ x², and W and W_before
    are made float64 once (W's histogram, ΔW and ‖W_before‖ use those copies). ``pending``: a list that collects the
    histograms whose counts are still to be made, for one :func:`mlplab.watch.bins.bin_all` over the frame's rows
    (without it, the row's own histograms are binned together before it is returned)."""
    conv = info["kind"] != "Linear"
    act = info["activation"]
    slope = info.get("slope", 0.01)
    a = activate(act, zn, slope) if zn is not None else None
    row = {}
    later = [] if pending is None else pending  # the histograms' counts, made together at the end
    hz, sz, _ = _histogram(z, pending=later) if z is not None else (None, None, 0.0)
    row["z"] = hz
    PAUSE()
    ready = None
    if a is not None and zn is z and sz is not None and act in _MONOTONE and slope >= 0 and not hz["nonfinite"]:
        mn, mx = hz["min"], hz["max"]
        if act == "relu":  # (φ's extremes in Python: max(x, 0) with +0.0 for x ≤ 0, as np.maximum against zeros gives)
            ends = (mn if mn > 0 else 0.0, mx if mx > 0 else 0.0)
        else:
            ends = activate(act, np.array([mn, mx], dtype=z.dtype), slope).tolist()
        ready = (activate(act, sz, slope), float(ends[0]), float(ends[1]))
    row["a"] = _histogram(a, ready=ready, pending=later)[0] if a is not None else None
    PAUSE()
    hg, _, sq_g = _histogram(gz, pending=later) if gz is not None else (None, None, 0.0)
    row["gz"] = hg
    PAUSE()
    wide = dw = bwide = None
    both = None
    if (w is not None and before is not None and w.dtype == np.float32 and before.dtype == np.float32
            and w.shape == before.shape and w.size > 2 * BLOCK):
        both = _weights(w, before, gw, pending=later)
    sq_gw = None  # ‖∂L/∂W‖² when the blocked pass had it
    if both is not None:
        row["w"], hd, sq_d, sq_b, sq_gw = both
        PAUSE()
    else:
        if w is not None and w.dtype != _F64:
            wide = _scratch("w", w.size).reshape(w.shape)
            np.copyto(wide, w)  # W in float64 once: its histogram's moments and ΔW
        row["w"] = _histogram(w, wide=wide, pending=later)[0] if w is not None else None
        PAUSE()
        if w is not None and before is not None:
            bwide = before
            if before.dtype != _F64:
                bwide = _scratch("b", before.size).reshape(before.shape)
                np.copyto(bwide, before)  # (a float64 − float32 subtraction is a casting loop: 4x these two)
            dw = _scratch("dw", w.size).reshape(w.shape)
            np.subtract(w if wide is None else wide, bwide, out=dw)  # W − W_before in float64 (exact for float32)
        hd, _, sq_d = _histogram(dw, pending=later) if dw is not None else (None, None, 0.0)
        sq_b = None
    row["dw"] = hd
    PAUSE()
    nan = float("nan")
    zero = dead = sat = nan
    if a is not None and a.size and act in ("relu", "relu6"):
        zero = np.count_nonzero(a <= 0) / a.size
        # a unit is dead when its largest output is ≤ 0 (NaN, as a <= 0, is not); a convolution's channel reduced
        # in place over its examples and positions (moving the channels last copied the array: 0.2 ms a frame)
        top = (a.max(axis=(0, *range(2, a.ndim))) if conv and a.ndim > 2
               else np.maximum.reduce(_units_last(a, False), axis=0))
        dead = np.count_nonzero(top <= 0) / top.size
    if a is not None and a.size and act in _BOUNDS:
        lo, hi = _BOUNDS[act]
        sat = np.count_nonzero((a <= lo + SATURATION_EPS) | (a >= hi - SATURATION_EPS)) / a.size
    elif a is not None and a.size and act == "relu6":
        sat = np.count_nonzero(a >= 6 - SATURATION_EPS) / a.size
    z_std = _std(row["z"])  # (the histograms' std: NaN, as np.std's, when a value is not finite)
    a_std = _std(row["a"]) if a is not None and a.size else z_std
    ratio = nan
    if both is not None:
        den, num = math.sqrt(sq_b), math.sqrt(sq_d)
        ratio = num / den if den > 0 else (math.inf if num > 0 else 0.0)
    elif dw is not None:
        den = _norm(bwide)
        num = math.sqrt(sq_d) if dw.size and not hd["nonfinite"] else _norm(dw)
        ratio = num / den if den > 0 else (math.inf if np.any(dw) else 0.0)
    grad_norm = None
    if gw is not None:
        grad_norm = _num(math.sqrt(sq_gw) if sq_gw is not None else _norm(gw))
    gz_norm = None
    if gz is not None:
        gz_norm = _num(math.sqrt(sq_g) if gz.size and not hg["nonfinite"] else _norm(gz))
    shape = info["shape"]
    row.update({
        "z_std": _num(z_std) if z is not None and z.size else None,
        "a_std": _num(a_std), "dead": _num(dead), "zero": _num(zero), "saturated": _num(sat),
        "update_ratio": _num(ratio), "grad_norm": grad_norm,
        "gz_norm": gz_norm,
        "fan_in": math.prod(int(k) for k in shape[1:]), "fan_out": int(shape[0]),
        "signal_gain": _num(a_std / in_std) if in_std and in_std > 0 else None,
        "weight_equal": bool(w is not None and w.size > 1 and not row["w"]["nonfinite"]
                             and row["w"]["min"] == row["w"]["max"]),
        "nonfinite": sum(h["nonfinite"] for h in (row[k] for k in ("z", "a", "gz", "w")) if h is not None),
    })
    if pending is None:
        bin_all(later)
    return row


def judge(rows: list[dict], activations: list[str], norms: list, optimizer: str | None) -> list[dict]:
    """``{"verdict", "level", "reason"}`` per layer by ``mlplab diagnose``'s rules (:mod:`mlplab.diagnose.verdicts`),
    on the frame's numbers: the gradient gain is ‖∂L/∂z_l‖/‖∂L/∂z_out‖ over the captured examples, the update
    ratio that of the last step; the signal gain of the logits layer is not judged (training grows the
    logits on purpose)."""
    from ..diagnose.verdicts import judge_rows

    last_gz = rows[-1].get("gz_norm") if rows else None
    judged = []
    for r, act, norm in zip(rows, activations, norms):
        j = {
            "fan_in": r["fan_in"], "fan_out": r["fan_out"], "activation": act, "normalization": norm,
            "weight_std0": 0.0 if r["weight_equal"] else 1.0, "weight_mean0": float("nan"),
            "dead": r["dead"] if r["dead"] is not None else float("nan"),
            "zero": r["zero"] if r["zero"] is not None else float("nan"),
            "saturated": r["saturated"] if r["saturated"] is not None else float("nan"),
            "signal_gain": r["signal_gain"] if r["signal_gain"] is not None else float("nan"),
            "grad_gain": (r["gz_norm"] / last_gz if r["gz_norm"] is not None and last_gz else float("nan")),
            "update_ratio": r["update_ratio"] if r["update_ratio"] is not None else float("nan"),
            "distinct_units": None,
        }
        # inf/NaN anywhere is diagnose's "exploding"; a number not captured is left out (not judged)
        for key, value in (("act_std", r["a_std"]), ("weight_grad_norm", r["grad_norm"])):
            if r["nonfinite"]:
                j[key] = float("nan")
            elif value is not None:
                j[key] = value
        judged.append(j)
    if judged:
        judged[-1]["signal_gain"] = float("nan")
    judge_rows(judged, optimizer=optimizer)
    return [{"verdict": j["verdict"], "level": j["level"], "reason": j["reason"]} for j in judged]
