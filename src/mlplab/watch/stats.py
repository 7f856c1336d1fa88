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

from .bins import bin_all, histogram_dict, quantile_range, quantile_ranges

__all__ = ["BINS", "TAIL", "SAMPLE", "histogram", "spread", "activate", "layer_row", "layer_rows", "judge",
           "ACTIVATIONS"]

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
_F32 = np.float32
_ONE_PASS = 2.0 ** -10  # Σ (x − mean)² from Σ x² when it keeps all but 10 bits (_histogram)
_SCRATCH = threading.local()
_GROUP_OFF = True


_KEEP = 1 << 21  # values: arrays up to 16 MB are kept (six of them at most); a larger one is made each time


def _scratch(name: str, n: int, dtype=_F64) -> np.ndarray:
    """A work array of ``n`` values (float64 unless ``dtype``), kept between calls (one per ``name`` and thread) up to
    ``_KEEP`` values: a fresh 600 kB array for the first layer's 78,400 weights cost its page faults on every frame."""
    if n > _KEEP:
        return np.empty(n, dtype=dtype)
    kept = _SCRATCH.__dict__
    buf = kept.get(name)
    if buf is None or buf.size < n:
        buf = kept[name] = np.empty(max(n, 1024), dtype=dtype)
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


# ---------------------------------------------------------------------- arrays of several layers together
def _rows_dot(D: np.ndarray) -> list[float]:
    """Σ x² of each row of the 2-D float64 ``D``: ``matmul`` of (k, 1, n) by (k, n, 1), whose vector-by-vector inner
    loop is the BLAS dot ``ndarray.dot`` calls, so each is ``D[i].dot(D[i])`` bit for bit (the tests check it), in one
    call."""
    return np.matmul(D[:, None, :], D[:, :, None]).reshape(D.shape[0]).tolist()


def _stack(xs: list, name: str = "") -> np.ndarray:
    """The arrays ``xs`` (one type, float32 or float64, one size) made float64 as the rows of a kept work array, one
    conversion a row (``np.stack`` into a float64 array casts by buffers: 3x slower)."""
    D = _scratch("D" + name, len(xs) * xs[0].size).reshape(len(xs), xs[0].size)
    for x, row in zip(xs, D):
        np.copyto(row, x.reshape(-1))
    return D


def _stacked(xs: list, readies: list, pending, bins: int = BINS, tail: float = TAIL, cap: int = SAMPLE) -> list[tuple]:
    """:func:`_histogram` of each of ``xs`` (one type, float32 or float64, one size; ``readies`` each one's ``ready``,
    all None or none), the same ``(h, s, sq)``: the moments one array at a time (a float64 copy in one work array,
    as :func:`_histogram` does), the samples taken into the rows of one array and sorted by one row-wise sort, the
    quantiles of all rows by one ``take``. An array with a non-finite value goes alone through :func:`_histogram`."""
    k, n = len(xs), xs[0].size
    ready = readies[0] is not None
    big = n > cap
    if not ready:
        S = np.empty((k, min(n, cap)), dtype=xs[0].dtype)
        at = _indices(n, cap) if big else None
    mom, alone = [], []
    d = _scratch("d", n) if xs[0].dtype != _F64 else None
    for i, x in enumerate(xs):
        flat = x.reshape(-1)
        if d is None:
            v = flat
        else:
            v = d
            np.copyto(d, flat)
        total = float(np.add.reduce(v))
        if not math.isfinite(total):
            alone.append(i)
            mom.append(None)
            continue
        sq = float(v.dot(v))
        mean = total / n
        ss = sq - mean * total
        if not (ss >= _ONE_PASS * sq and sq < math.inf):
            c = _scratch("c", n)
            np.subtract(v, mean, out=c)
            ss = float(c.dot(c))
        mm = None
        if not ready:
            if big:
                np.take(flat, at, out=S[i], mode="clip")  # (in range: "clip" writes straight into the row)
                mm = (float(np.minimum.reduce(flat)), float(np.maximum.reduce(flat)))
            else:
                np.copyto(S[i], flat)
        mom.append((mean, math.sqrt(max(ss / n, 0.0)), sq, mm))
    if not ready:
        S.sort(axis=1)
        ends = quantile_ranges(S, tail)
    out = []
    for i in range(k):
        if mom[i] is None:
            out.append(_histogram(xs[i], bins, tail, cap, ready=readies[i], pending=pending))
            continue
        mean, std, sq, mm = mom[i]
        if ready:
            s, mn, mx = readies[i]
            out.append((histogram_dict(s, bins, tail, mn, mx, mean, std, 0, n, pending), s, sq))
        else:
            s = S[i]
            mn, mx = mm if mm is not None else (float(s[0]), float(s[-1]))
            out.append((histogram_dict(s, bins, tail, mn, mx, mean, std, 0, n, pending, ends[i]), s, sq))
    return out


def _grouped(jobs: list, pending) -> list[tuple]:
    """``(h, s, sq)`` of :func:`_histogram` for each ``(x, ready)`` of ``jobs`` (``(None, None, 0.0)`` for x None): the
    float32 and float64 arrays of one type and size with ``ready`` alike taken together (:func:`_stacked`), the
    others one by one."""
    out: list = [(None, None, 0.0)] * len(jobs)
    groups: dict[tuple, list[int]] = {}
    for j, (x, ready) in enumerate(jobs):
        if x is None:
            continue
        if isinstance(x, np.ndarray) and x.dtype in (_F32, _F64) and 0 < x.size <= 2 * BLOCK:
            groups.setdefault((x.dtype.str, x.size, ready is None), []).append(j)
        else:
            out[j] = _histogram(x, ready=ready, pending=pending)
    for js in groups.values():
        if len(js) == 1 or _GROUP_OFF:
          for j0 in js:
            out[j0] = _histogram(jobs[j0][0], ready=jobs[j0][1], pending=pending)
          continue
        if len(js) == 1:
            out[js[0]] = _histogram(jobs[js[0]][0], ready=jobs[js[0]][1], pending=pending)
            continue
        xs = [jobs[j][0] for j in js]
        for j, r in zip(js, _stacked(xs, [jobs[j][1] for j in js], pending)):
            out[j] = r
    return out


def _norms(xs: list) -> list:
    """``_norm`` of each array of ``xs`` (None stays None), those of one type and size in one float64 copy and one
    :func:`_rows_dot`."""
    out: list = [None] * len(xs)
    groups: dict[tuple, list[int]] = {}
    for j, x in enumerate(xs):
        if x is None:
            continue
        if isinstance(x, np.ndarray) and x.dtype in (_F32, _F64) and 0 < x.size <= 2 * BLOCK:
            groups.setdefault((x.dtype.str, x.size), []).append(j)
        else:
            out[j] = _norm(x)
    for js in groups.values():
        if len(js) == 1 or _GROUP_OFF:
          for j0 in js:
            out[j0] = _norm(xs[j0])
          continue
        if len(js) == 1:
            out[js[0]] = _norm(xs[js[0]])
            continue
        for j, sq in zip(js, _rows_dot(_stack([xs[j] for j in js], "g"))):
            out[j] = math.sqrt(sq)
    return out


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
    (without it, the row's own histograms are binned together before it is returned). :func:`layer_rows` makes the
    rows of all a frame's layers, the same numbers, in fewer NumPy calls."""
    return layer_rows([info], [(z, zn, gz, w, before, gw)], in_std, pending)[0]


def layer_rows(infos: list[dict], parts: list[tuple], in_std: float | None, pending: list | None = None) -> list[dict]:
    """:func:`layer_row` of each layer, ``parts`` its ``(z, zn, gz, w, before, gw)``: the same rows, bit for bit.

    How it is cheap: the layers of an MLP have arrays of equal shapes (the 784-100×4-10 MLP's z and ∂L/∂z are
    eight arrays of 128×100 values, its hidden weights three of 100×100), and after a frame's first rows each NumPy
    call costs several µs (its code and data out of the core's cache) whatever its work. So the arrays of one type
    and size, of all the layers, are stacked as the rows of one work array and each step of :func:`_histogram` is one
    call for all of them (:func:`_stacked`: the row sums, one batched BLAS dot, min and max along the rows, one
    ``take`` of the fixed positions, one row-wise sort of the samples); ΔW and ‖W_before‖ of stacked weights by one
    subtraction and one dot, the ‖∂L/∂W‖ likewise (:func:`_norms`). An array alone of its kind, a weight of more than
    two ``BLOCK``s (:func:`_weights`) and a row with a non-finite value go as before, one by one."""
    later = [] if pending is None else pending  # the histograms' counts, made together at the end
    k = len(infos)
    zg = _grouped([(p[0], None) for p in parts] + [(p[2], None) for p in parts], later)
    PAUSE()
    acts, a_jobs = [], []
    for info, (z, zn, _gz, _w, _b, _gw), (hz, sz, _) in zip(infos, parts, zg):
        act = info["activation"]
        slope = info.get("slope", 0.01)
        a = activate(act, zn, slope) if zn is not None else None
        ready = None
        if (a is not None and zn is z and sz is not None and act in _MONOTONE and slope >= 0
                and not hz["nonfinite"]):
            mn, mx = hz["min"], hz["max"]
            if act == "relu":  # (φ's extremes in Python: max(x, 0) with +0.0 for x ≤ 0, as np.maximum against zeros)
                ends = (mn if mn > 0 else 0.0, mx if mx > 0 else 0.0)
            else:
                ends = activate(act, np.array([mn, mx], dtype=z.dtype), slope).tolist()
            ready = (activate(act, sz, slope), float(ends[0]), float(ends[1]))
        acts.append(a)
        a_jobs.append((a, ready))
    ha = _grouped(a_jobs, later)
    PAUSE()
    weights = _weight_parts(parts, later)
    PAUSE()
    rows = [_row(info, p, zg[i][0], ha[i][0], zg[k + i], acts[i], weights[i], in_std)
            for i, (info, p) in enumerate(zip(infos, parts))]
    if pending is None:
        bin_all(later)
    return rows


def _weight_parts(parts: list[tuple], pending) -> list[tuple]:
    """Per layer ``(h_w, h_dw, ratio, grad_norm)``: W's and ΔW's histograms, ‖ΔW‖/‖W_before‖ and ‖∂L/∂W‖ (None where
    there is no such array). Weights of one type and shape with a W_before alike stacked (:func:`_stack`): ΔW in
    float64 (exact for float32 values) by one subtraction of the stacked float64 copies, ‖W_before‖² by one
    :func:`_rows_dot`."""
    k = len(parts)
    out: list = [None] * k
    groups: dict[tuple, list[int]] = {}
    for i, (_z, _zn, _gz, w, before, _gw) in enumerate(parts):
        if (w is not None and before is not None and isinstance(w, np.ndarray) and isinstance(before, np.ndarray)
                and w.dtype in (_F32, _F64) and before.dtype == w.dtype and w.shape == before.shape and w.size
                and w.size <= 2 * BLOCK):
            groups.setdefault((w.dtype.str, w.shape), []).append(i)
    grads: list = [None] * k  # ‖∂L/∂W‖ still to be taken
    for js in groups.values():
        if len(js) == 1 or _GROUP_OFF or True:
            continue
        ws, bs = [parts[i][3] for i in js], [parts[i][4] for i in js]
        Dw, Db = _stack(ws, "w"), _stack(bs, "b")
        hws = _stacked(Dw, ws, [None] * len(js), pending)
        DW = _scratch("DW", Dw.size).reshape(Dw.shape)
        np.subtract(Dw, Db, out=DW)  # W − W_before in float64 (exact for float32)
        hds = _stacked(DW, list(DW), [None] * len(js), pending)
        sqbs = _rows_dot(Db)
        for r, i in enumerate(js):
            hd, _, sq_d = hds[r]
            den = math.sqrt(sqbs[r])
            num = math.sqrt(sq_d) if not hd["nonfinite"] else _norm(DW[r])
            ratio = num / den if den > 0 else (math.inf if np.any(DW[r]) else 0.0)
            out[i] = (hws[r][0], hd, ratio, None)
            grads[i] = parts[i][5]
    for i, p in enumerate(parts):
        if out[i] is None:
            out[i] = _weight_part(*p[3:], pending)
    norms = _norms(grads)
    return [(hw, hd, ratio, _num(g) if g is not None else gn) for (hw, hd, ratio, gn), g in zip(out, norms)]


def _weight_part(w, before, gw, pending) -> tuple:
    """:func:`_weight_parts` of one layer: the blocked pass of a large float32 weight (:func:`_weights`), else W made
    float64 once (its histogram, ΔW and ‖W_before‖)."""
    nan = float("nan")
    both = None
    if (w is not None and before is not None and w.dtype == np.float32 and before.dtype == np.float32
            and w.shape == before.shape and w.size > 2 * BLOCK):
        both = _weights(w, before, gw, pending=pending)
    sq_gw = None  # ‖∂L/∂W‖² when the blocked pass had it
    ratio = nan
    if both is not None:
        hw, hd, sq_d, sq_b, sq_gw = both
        den, num = math.sqrt(sq_b), math.sqrt(sq_d)
        ratio = num / den if den > 0 else (math.inf if num > 0 else 0.0)
    else:
        wide = dw = None
        if w is not None and w.dtype != _F64:
            wide = _scratch("w", w.size).reshape(w.shape)
            np.copyto(wide, w)  # W in float64 once: its histogram's moments and ΔW
        hw = _histogram(w, wide=wide, pending=pending)[0] if w is not None else None
        PAUSE()
        if w is not None and before is not None:
            bwide = before
            if before.dtype != _F64:
                bwide = _scratch("b", before.size).reshape(before.shape)
                np.copyto(bwide, before)  # (a float64 − float32 subtraction is a casting loop: 4x these two)
            dw = _scratch("dw", w.size).reshape(w.shape)
            np.subtract(w if wide is None else wide, bwide, out=dw)  # W − W_before in float64 (exact for float32)
        hd, _, sq_d = _histogram(dw, pending=pending) if dw is not None else (None, None, 0.0)
        if dw is not None:
            den = _norm(bwide)
            num = math.sqrt(sq_d) if dw.size and not hd["nonfinite"] else _norm(dw)
            ratio = num / den if den > 0 else (math.inf if np.any(dw) else 0.0)
    grad_norm = None
    if gw is not None:
        grad_norm = _num(math.sqrt(sq_gw) if sq_gw is not None else _norm(gw))
    return hw, hd, ratio, grad_norm


def _row(info: dict, parts: tuple, hz, ha, g: tuple, a, weight: tuple, in_std) -> dict:
    """The row's dict from its histograms and norms (:func:`layer_rows`), the per-unit fractions counted here."""
    z, _zn, gz, w, _before, _gw = parts
    hg, _, sq_g = g
    hw, hd, ratio, grad_norm = weight
    conv = info["kind"] != "Linear"
    act = info["activation"]
    row = {"z": hz, "a": ha, "gz": hg, "w": hw, "dw": hd}
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
    z_std = _std(hz)  # (the histograms' std: NaN, as np.std's, when a value is not finite)
    a_std = _std(ha) if a is not None and a.size else z_std
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
        "weight_equal": bool(w is not None and w.size > 1 and not hw["nonfinite"] and hw["min"] == hw["max"]),
        "nonfinite": sum(h["nonfinite"] for h in (hz, ha, hg, hw) if h is not None),
    })
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
