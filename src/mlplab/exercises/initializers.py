"""The initializer exercises (Xavier uniform, He normal, orthogonal): a draw from the ``rng`` argument, graded by
the statistics of the draw (scale and shape of the distribution; orthogonality), drawn twice from one seed to
catch ``np.random``. The solutions are :mod:`mlplab.init.schemes`."""

from __future__ import annotations

import math

import numpy as np

from ..init import schemes
from .base import DLAI, DLSYS, REGISTRY, SAITO, Exercise, _dtype, register

_BEFORE = set(REGISTRY)


# ----------------------------------------------------------------------------- initializers (random)
def _draw_summary(w):
    """(std, fraction beyond 2 std): the scale and whether the draw is normal (4.6 %) or uniform (0 %)."""
    w = np.asarray(w, dtype=np.float64)
    s = float(w.std())
    return np.array([s, float(np.mean(np.abs(w) > 2 * s)) if s > 0 else 0.0])


def _init_cases(extra, small=False):
    def cases(rng, hidden):
        out = []
        for k in range(3 if hidden else 2):
            lo, hi, public = (15, 60, [(90, 30), (24, 70)]) if small else (60, 200, [(300, 100), (80, 250)])
            fi = int(rng.integers(lo, hi))
            # fan ratios chosen so that every wrong variant's std differs from the others' by > 5 %
            fi, fo = (fi, max(2, round(fi * float(rng.choice([0.25, 0.4, 4.0, 6.0]))))) if hidden else public[k]
            out.append((f"{'hidden' if hidden else 'public'}-{k + 1}",
                        {"shape": (fi, fo), "seed": int(rng.integers(2**31)), "dtype": _dtype(rng, hidden),
                         **extra(rng, hidden, k)}))
        return out
    return cases


def _random_call(impl, args):
    """Draw twice from Generators of the same seed: the two must agree (the draw uses the rng argument)."""
    kw = {k: v for k, v in args.items() if k != "seed"}
    a = impl(rng=np.random.default_rng(args["seed"]), **kw)
    b = impl(rng=np.random.default_rng(args["seed"]), **kw)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and not np.array_equal(a, b):
        raise NotReproducible()
    return a


class NotReproducible(Exception):
    """Two draws with Generators of the same seed differ: the draw did not use the ``rng`` argument."""


def _gain(rng, hidden, k):
    # gains far from √3 and 1: "gain not applied" and "the normal's std as the bound" stay distinguishable
    return {"gain": float(rng.choice([0.4, 0.7, 1.5, 3.0])) if hidden else [1.0, 2.0][k]}


register(Exercise(
    "xavier_uniform", "random", "Xavier/Glorot uniform initialization", DLAI + "; " + DLSYS,
    "def xavier_uniform(shape, rng, dtype=np.float32, gain=1.0):",
    """Xavier (Glorot) uniform initialization of a weight of shape (fan_in, fan_out):

        W ~ U(−a, a),    a = gain · √(6 / (fan_in + fan_out))     (Var W = gain² · 2 / (fan_in + fan_out))

    Draw from the Generator ``rng`` (not np.random), return an array of ``shape`` and ``dtype``.""",
    schemes.xavier_uniform,
    {"fan-in only: a = gain √(6 / fan_in)": lambda shape, rng, dtype, gain: schemes.xavier_uniform(
        shape, rng, dtype, gain, mode="fan_in") * math.sqrt(2),
     "fan-out only: a = gain √(6 / fan_out)": lambda shape, rng, dtype, gain: schemes.xavier_uniform(
        shape, rng, dtype, gain, mode="fan_out") * math.sqrt(2),
     "the normal's std used as the bound: a = gain √(2 / (fan_in + fan_out))":
         lambda shape, rng, dtype, gain: schemes.xavier_uniform(shape, rng, dtype, gain / math.sqrt(3)),
     "gain not applied": lambda shape, rng, dtype, gain: schemes.xavier_uniform(shape, rng, dtype, 1.0),
     "normal instead of uniform": lambda shape, rng, dtype, gain: schemes.xavier_normal(shape, rng, dtype, gain)},
    _init_cases(_gain), call=_random_call, summary=_draw_summary))


register(Exercise(
    "he_normal", "random", "He (Kaiming) normal initialization", DLAI + "; " + SAITO,
    "def he_normal(shape, rng, dtype=np.float32):",
    """He initialization for ReLU layers, weight of shape (fan_in, fan_out):

        W ~ N(0, 2 / fan_in)          (std √(2 / fan_in))

    Draw from the Generator ``rng`` (not np.random), return an array of ``shape`` and ``dtype``.""",
    lambda shape, rng, dtype=np.float32: schemes.he_normal(shape, rng, dtype),
    {"fan-out instead of fan-in": lambda shape, rng, dtype: schemes.he_normal(shape, rng, dtype, mode="fan_out"),
     "the 2 missing: N(0, 1 / fan_in) (LeCun/Xavier)":
         lambda shape, rng, dtype: schemes.lecun_normal(shape, rng, dtype),
     "variance used as the std: N(0, (2 / fan_in)²)": lambda shape, rng, dtype: schemes.normal(
         shape, rng, dtype, std=2.0 / shape[0]),
     "uniform instead of normal": lambda shape, rng, dtype: schemes.he_uniform(shape, rng, dtype)},
    _init_cases(lambda rng, hidden, k: {}), call=_random_call, summary=_draw_summary))


def _orth_summary(w):
    """(gain, orthogonal?) with gain = rms · √max(in, out) and 1 when the rows or columns are orthonormal
    up to that gain."""
    w = np.asarray(w, dtype=np.float64)
    n = max(w.shape)
    gain = float(np.sqrt(np.mean(w * w) * n))
    m = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    ok = gain > 0 and np.max(np.abs(m / gain**2 - np.eye(m.shape[0]))) < 1e-3
    return np.array([gain, 1.0 if ok else 0.0])


register(Exercise(
    "orthogonal", "random", "orthogonal initialization", DLAI + "; Saxe et al. 2014",
    "def orthogonal(shape, rng, dtype=np.float32, gain=1.0):",
    """A (semi-)orthogonal weight of shape (fan_in, fan_out), scaled by ``gain``:

        A ~ N(0, 1)^(fan_in × fan_out),   Q R = A (QR; fix each column's sign by sign(diag R)),   W = gain · Q
        so Wᵀ W = gain² I when fan_in ≥ fan_out, W Wᵀ = gain² I otherwise.

    Draw from the Generator ``rng`` (not np.random), return an array of ``shape`` and ``dtype``.""",
    schemes.orthogonal,
    {"not orthogonalized (a Gaussian of the same scale)": lambda shape, rng, dtype, gain: schemes.normal(
        shape, rng, dtype, std=gain / math.sqrt(max(shape))),
     "gain not applied": lambda shape, rng, dtype, gain: schemes.orthogonal(shape, rng, dtype, 1.0),
     "gain² applied instead of gain": lambda shape, rng, dtype, gain: schemes.orthogonal(shape, rng, dtype, gain**2),
     "transposed: shape (fan_out, fan_in)": lambda shape, rng, dtype, gain: schemes.orthogonal(
         shape[::-1], rng, dtype, gain)},
    _init_cases(_gain, small=True), call=_random_call, summary=_orth_summary, tol={"rtol": 0.02, "atol": [0.0, 0.1]}))


NAMES = [n for n in REGISTRY if n not in _BEFORE]  # this topic's exercises, in the order written
