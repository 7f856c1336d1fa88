"""The activations' functions and Gaussian expectations the check-up's theory needs: φ and φ′ by name
(:func:`activation_fn`), E[f(z)] for z ~ N(0, q) by the trapezoid rule on a grid that resolves both the Gaussian's
and the activation's scale (:func:`gaussian_expectation`, and at many variances at once:
:func:`gaussian_expectations_at`), and E[φ(z)²], E[φ′(z)²] (:func:`second_moment`, :func:`derivative_moment`,
:func:`moments_at`), :mod:`mlplab.theory`'s maps wherever it has them. Split from
:mod:`mlplab.diagnose.statistics` (which re-exports these names) so that the measuring and the integrals each
have a module of their own."""

from __future__ import annotations

import math

import numpy as np

from .. import theory
from ..theory.maps import mean_squares as _mean_squares

# --------------------------------------------------------------------------- activation functions
#: Activations the check-up meets that the theory does not cover: ReLU capped at 6 (PyTorch's ReLU6), whose
#: moments are :func:`gaussian_expectation`'s (a clipped line has no closed form in :mod:`mlplab.theory`).
_NOT_THEORY = {"relu6": ((lambda z: np.clip(z, 0.0, 6.0)), (lambda z: ((z > 0) & (z < 6)).astype(float)))}


def _theory_act(name, slope: float = 0.01):
    """The :class:`mlplab.theory.TheoryActivation` of ``name`` (any spelling; leaky relu with ``slope``), looked up
    once per name and slope (issue 30's time budget: the theory of a layer asks for it about ten times, and each
    look-up normalises the name again)."""
    k = (name, slope) if type(name) is str else None
    got = _ACTS.get(k) if k is not None else None
    if got is None:
        got = theory.theory_activation(name, slope=slope)
        if k is not None and len(_ACTS) < _CACHE_MAX:
            _ACTS[k] = got
    return got


_ACTS: dict = {}  # (name, slope) -> TheoryActivation (immutable: one object shared)
_KEYS: dict = {}  # a spelling -> its canonical name
_CACHE_MAX = 256  # spellings and slopes kept (a caller passing many distinct slopes does not grow it forever)


def activation_fn(name: str, slope: float = 0.01):
    """``(φ, φ')`` as NumPy functions for an activation name: :mod:`mlplab.theory`'s own (relu, leaky_relu, tanh,
    sigmoid, identity; erf, gelu, silu, elu, which only PyTorch networks have, see mlplab.diagnose.pytorch), and
    relu6. GELU is the exact x Φ(x) (erf form), as torch's ``nn.GELU()`` computes by default
    (``approximate='none'``); the tanh approximation differs by under 5e-4 in φ, 1e-3 in φ′."""
    key = _key(name)
    if key in _NOT_THEORY:
        return _NOT_THEORY[key]
    act = _theory_act(key, slope)
    return act.phi, act.dphi


def _key(name) -> str:
    """The canonical activation name of the theory (relu6 passes through); ValueError for an unknown one."""
    got = _KEYS.get(name) if type(name) is str else None
    if got is None:
        key = str(name).strip().lower().replace("-", "_")
        got = key if key in _NOT_THEORY else _theory_act(name).name
        if type(name) is str and len(_KEYS) < _CACHE_MAX:
            _KEYS[name] = got
    return got


_UNIT_GRID = np.linspace(-12.0, 12.0, 4001)
_FIXED_GRID = np.linspace(-20.0, 20.0, 4001)
_UNIT_GRID.flags.writeable = _FIXED_GRID.flags.writeable = False
# their halves z >= 0 (both grids hold 0 exactly): for functions that are 0 below 0 (gaussian_expectations_at)
_UNIT_HALF, _FIXED_HALF = _UNIT_GRID[_UNIT_GRID >= 0.0], _FIXED_GRID[_FIXED_GRID >= 0.0]
_FIXED_ABS = np.abs(_FIXED_GRID)  # (read-only, as the grids)
_FIXED_ABS.flags.writeable = False


def gaussian_expectation(f, var: float) -> float:
    """E[f(z)] for z ~ N(0, var), by the trapezoid rule on a grid that resolves both the
    Gaussian's scale (√var · [-12, 12]) and the activation's own (z in [-20, 20], where tanh and
    sigmoid bend). Gauss-Hermite alone misses the bend once √var ≫ 1; this is accurate to ~1e-6
    for bounded smooth or piecewise-linear f at every variance."""
    return gaussian_expectations([f], var)[0]


def gaussian_expectations(fs, var: float) -> list[float]:
    """:func:`gaussian_expectation` of each function of ``fs`` at one variance, on one grid and density (the
    check-up asks for a layer's mean activation and its saturated fraction: issue 30's time budget)."""
    var = float(var)
    if not var >= 0:
        raise ValueError(f"variance must be >= 0, got {var}")
    if var == 0:
        return [float(f(np.zeros(1))[0]) for f in fs]
    sd = math.sqrt(var)
    # the union of the two grids within ±12 sd (the fixed grid cut first: the same points, a smaller sort)
    fixed = _FIXED_GRID[np.abs(_FIXED_GRID) <= 12.0 * sd]
    z = np.union1d(sd * _UNIT_GRID, fixed)  # sd·12 is 12·sd exactly: every point is within the cut
    pdf = np.exp(-0.5 * z * z / var) / (sd * math.sqrt(2.0 * math.pi))
    return [float(np.trapezoid(f(z) * pdf, z)) for f in fs]


def gaussian_expectations_at(fs, variances, zero_below: bool = False) -> list[np.ndarray]:
    """:func:`gaussian_expectations` at many variances at once (each ≥ 0): arrays, one value per variance.
    ``fs``: a list of functions, or one function returning a tuple of arrays (functions of one evaluation of φ,
    such as a layer's mean activation and its saturated fraction: φ on the grid once, not once each). Each
    variance's grid is the same union of points, laid out as one row of an array so that every φ and the density
    are evaluated once for all the rows (issue 30's time budget: the check-up asks this of every layer). The
    fixed grid's points beyond ±12 sd are moved onto ±12 sd instead of being cut, and points the two grids share
    are kept twice: either way an interval of width 0, adding exactly 0 to the trapezoid sum, so the result is
    :func:`gaussian_expectations`' up to the order of its additions.

    ``zero_below``: every function is 0 for z <= 0 (a ReLU's mean): the grids' halves z >= 0 only (the integral
    over z >= 0: for an even function, half its expectation, as the check-up takes tanh's saturated fraction).
    Both grids hold 0 itself, so every interval of the full grid below it adds exactly 0 (0 · density): the same
    sum without them, up to the order of its additions, at half the work (issue 30's time budget: a 20-layer ReLU net's
    means were a tenth of its check-up)."""
    var = np.asarray(variances, dtype=float).ravel()
    if callable(fs):
        many = fs
    else:
        def many(z, fs=tuple(fs)):
            return [f(z) for f in fs]
    if var.size == 1 and var[0] > 0:  # one variance (a chain's layer, most often alone): one row, fewer calls
        return _expectations_one(many, float(var[0]), zero_below)
    if np.any(~(var >= 0)):
        raise ValueError(f"variances must be >= 0, got {var[~(var >= 0)][0]}")
    out = [np.empty(var.size) for _ in many(np.zeros(1))]
    zero = var == 0
    if zero.any():
        for o, v in zip(out, many(np.zeros(1))):
            o[zero] = float(v[0])
    pos = np.flatnonzero(~zero)
    if pos.size:
        v = var[pos][:, None]
        sd = np.sqrt(v)
        unit, grid = (_UNIT_HALF, _FIXED_HALF) if zero_below else (_UNIT_GRID, _FIXED_GRID)
        fixed = grid[np.abs(grid) <= 12.0 * float(sd.max())]  # what no row reaches: cut, as before
        z = np.concatenate([sd * unit, np.clip(fixed, -12.0 * sd, 12.0 * sd)], axis=1)
        z.sort(axis=1, kind="stable")  # two sorted runs: merged (timsort), half quicksort's time; the same array
        pdf = np.exp(-0.5 * z * z / v) / (sd * math.sqrt(2.0 * math.pi))
        d = np.diff(z, axis=1)  # np.trapezoid's own sum, on one diff of the grid for every function
        for o, v in zip(out, many(z)):
            y = v * pdf
            o[pos] = (d * (y[:, 1:] + y[:, :-1]) / 2.0).sum(1)
    return out


def _expectations_one(many, v: float, zero_below: bool) -> list[np.ndarray]:
    """:func:`gaussian_expectations_at` at one variance ``v`` > 0, the same steps on one row as a 1-D array: the same
    grid (the fixed grid's points within ±12 sd, which its clip to ±12 sd leaves as they are), density, differences
    and trapezoid sums, so the same numbers bit for bit (tested), without the rows' bookkeeping (a dozen NumPy
    calls of a few µs each: issue 30's time budget)."""
    sd = math.sqrt(v)  # (np.sqrt's correctly rounded square root)
    unit, grid, size = (_UNIT_HALF, _FIXED_HALF, _FIXED_HALF) if zero_below else (_UNIT_GRID, _FIXED_GRID, _FIXED_ABS)
    z = np.concatenate([sd * unit, grid[size <= 12.0 * sd]])
    z.sort(kind="stable")
    pdf = np.exp(-0.5 * z * z / v) / (sd * math.sqrt(2.0 * math.pi))
    d = np.diff(z)
    out = []
    for f in many(z):
        y = f * pdf
        out.append(np.array([(d * (y[1:] + y[:-1]) / 2.0).sum()]))
    return out


def _by_activation(activations, slopes) -> dict[tuple, list[int]]:
    """(activation, slope) → the positions where it occurs, in order of first occurrence."""
    groups: dict[tuple, list[int]] = {}
    for j, key in enumerate(zip(activations, slopes)):
        groups.setdefault(key, []).append(j)
    return groups


def moments_at(which: str, activations, slopes, variances) -> np.ndarray:
    """:func:`second_moment` (``which`` "phi") or :func:`derivative_moment` ("dphi") of each (activation, slope)
    at its variance, one call of :mod:`mlplab.theory` per distinct activation (its maps take arrays)."""
    q = np.asarray(variances, dtype=float).ravel()
    out = np.empty(q.size)
    for (name, slope), idx in _by_activation(activations, slopes).items():
        key = _key(name)
        if key in _NOT_THEORY:
            one = second_moment if which == "phi" else derivative_moment
            for j in idx:
                out[j] = one(name, q[j], slope)
            continue
        fn = theory.mean_square if which == "phi" else theory.derivative_mean_square
        out[idx] = fn(_theory_act(key, slope), q[idx])
    return out


def moments_both_at(activations, slopes, variances) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`moments_at` "phi", :func:`moments_at` "dphi") of each (activation, slope) at its variance in one
    call of :mod:`mlplab.theory` per distinct activation (``theory.maps.mean_squares``: E[φ²] and E[φ′²] from one
    evaluation of φ on the nodes where both are quadratures; the same numbers, bit for bit)."""
    q = np.asarray(variances, dtype=float).ravel()
    phi, dphi = np.empty(q.size), np.empty(q.size)
    for (name, slope), idx in _by_activation(activations, slopes).items():
        key = _key(name)
        if key in _NOT_THEORY:
            for j in idx:
                phi[j], dphi[j] = second_moment(name, q[j], slope), derivative_moment(name, q[j], slope)
            continue
        phi[idx], dphi[idx] = _mean_squares(_theory_act(key, slope), q[idx])
    return phi, dphi


def second_moment(activation: str, var: float, slope: float = 0.01) -> float:
    """E[φ(z)²] for z ~ N(0, var): :func:`mlplab.theory.mean_square` (closed forms for relu, leaky relu, the
    identity, erf and elu; Gauss–Hermite or, for var > 100, panels that resolve φ's bend, otherwise)."""
    key = _key(activation)
    if key in _NOT_THEORY:
        phi = _NOT_THEORY[key][0]
        return gaussian_expectation(lambda z: phi(z) ** 2, var)
    return float(theory.mean_square(_theory_act(key, slope), float(var)))


def derivative_moment(activation: str, var: float, slope: float = 0.01) -> float:
    """E[φ'(z)²] for z ~ N(0, var): :func:`mlplab.theory.derivative_mean_square` (1/2 for ReLU, 1 for the
    identity, the theory's quadrature otherwise)."""
    key = _key(activation)
    if key in _NOT_THEORY:
        dphi = _NOT_THEORY[key][1]
        return gaussian_expectation(lambda z: dphi(z) ** 2, var)
    return float(theory.derivative_mean_square(_theory_act(key, slope), float(var)))
