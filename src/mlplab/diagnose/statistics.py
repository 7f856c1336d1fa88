"""Per-layer statistics of a network, and what signal-propagation theory predicts for them.

One forward pass (and, given labels, one backward pass) through a fully-connected network measures
for every Linear layer l and the activation φ_l that follows it:

* the pre-activations ``z_l = a_{l-1} W_l + b_l`` and activations ``a_l = φ_l(z_l)``: mean, std,
  second moment, Frobenius norm of the batch matrix;
* the fraction of activations saturated (sigmoid/tanh within ``eps`` of their bounds) and, for
  ReLU, the fraction of zero outputs and of dead units (zero on every example of the batch);
* with labels: the norms of the weight gradient ∂L/∂W_l and of the activation gradients ∂L/∂z_l,
  ∂L/∂a_l (kept on the intermediate tensors with ``retain_grad``).

:func:`probe` / :func:`layer_stats` do this for any model; :class:`StatsRecorder` is a training-loop
callback that does it every N steps on a fixed probe batch and also records the size of each
update relative to the weights; :func:`relative_change` gives ‖W − W₀‖ / ‖W₀‖ per layer.

The theory (:func:`predict_signal`, whose home is :mod:`mlplab.diagnose.prediction`, importable from here too, and
:func:`predict_for_model`) is the mean-field recursion of the source texts (CMU *Deep Learning Systems*;
deeplearning.ai's *Initializing neural networks*): with iid zero-mean weights of variance σ_l² and fan-in n_l,

    Var z_{l+1} = n_{l+1} σ_{l+1}² E[φ(z_l)²]  (+ Var b),      z_l ~ N(0, Var z_l)

For ReLU E[φ(z)²] = Var z / 2, so each layer multiplies the variance by σ² n / 2 (1 for He's 2/n);
for the identity by σ² n; every E[φ(z)²] and E[φ'(z)²] is :mod:`mlplab.theory`'s (the one home of these
formulas, which the studies, the live page and the ``critical`` init use too); :func:`gaussian_expectation` is
only for what the theory has no map of (means, saturated fractions, relu6). Backwards,
E[(∂L/∂z_l)²] = E[φ'(z_l)²] · n_out σ_{l+1}² · E[(∂L/∂z_{l+1})²]. Pure NumPy: the lab draws the figures, a
``diagnose`` command can print verdicts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache

import numpy as np

from ..activations import canonical_activation
from ..init import theoretical_std
from ..tensor import Tensor, cross_entropy, no_grad

# the activations' φ, φ′ and the Gaussian expectations live in .gaussian; these names stay importable from here
from .gaussian import (  # noqa: F401
    _FIXED_GRID,
    _NOT_THEORY,
    _UNIT_GRID,
    _key,
    _theory_act,
    activation_fn,
    derivative_moment,
    gaussian_expectation,
    gaussian_expectations,
    gaussian_expectations_at,
    moments_at,
    moments_both_at,
    second_moment,
)
from .prediction import SignalPrediction, predict_signal  # noqa: F401  (their home is .prediction)

__all__ = [
    "LayerStats", "Probe", "SignalPrediction", "StatsRecorder", "activation_fn", "columns",
    "count_distinct_units", "derivative_moment", "gaussian_expectation", "gaussian_expectations", "layer_plan",
    "layer_stats", "predict_for_model", "predict_signal", "probe", "relative_change", "second_moment", "weight_arrays",
]

SATURATION_EPS = 0.01  # sigmoid below 0.01 / above 0.99, tanh beyond ±0.99

_BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


# --------------------------------------------------------------------------- the network's layers
@dataclass
class _Layer:
    linear: object  # a mlplab.nn.Linear
    modules: list  # activation modules that follow it (empty for a logits layer)
    activation: str  # "identity" if none
    slope: float = 0.01


def _activation_name(module) -> tuple[str, float]:
    try:
        key = canonical_activation(module)
    except ValueError:
        raise ValueError(f"diagnostics: do not know the activation module {type(module).__name__}") from None
    return key, float(getattr(module, "negative_slope", 0.01))


def layer_plan(model) -> list[_Layer]:
    """Split a Sequential/MLP into (Linear, following activation) pairs, input to output."""
    from ..nn import Linear  # nn imports init/tensor only; kept local so this module stays light

    layers = getattr(model, "layers", None)
    if layers is None:
        raise TypeError("diagnostics needs a Sequential / MLP (a model with a .layers list)")
    plan: list[_Layer] = []
    for m in layers:
        if isinstance(m, Linear):
            plan.append(_Layer(m, [], "identity"))
        elif not plan:
            raise ValueError("diagnostics: the model must start with a Linear layer")
        else:
            plan[-1].modules.append(m)
            name, slope = _activation_name(m)
            if name != "identity":
                plan[-1].activation, plan[-1].slope = name, slope
    return plan


def weight_arrays(model) -> list[np.ndarray]:
    """Copies of every Linear layer's weight, input to output (e.g. W₀ before training)."""
    return [lay.linear.weight.data.copy() for lay in layer_plan(model)]


def relative_change(model, reference: list[np.ndarray]) -> np.ndarray:
    """‖W_l − R_l‖ / ‖R_l‖ per layer (Frobenius); R = W₀ gives how far training moved each layer."""
    out = []
    for lay, ref in zip(layer_plan(model), reference):
        w = lay.linear.weight.data.astype(np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        den = np.linalg.norm(ref)
        out.append(np.linalg.norm(w - ref) / den if den > 0 else np.inf if np.any(w != ref) else 0.0)
    return np.array(out)


# --------------------------------------------------------------------------- measurement
@dataclass
class LayerStats:
    """What one Linear layer and its activation look like on a batch. Norms are Frobenius norms
    of the whole batch matrix (examples × units); gradient fields are NaN without labels."""

    layer: int  # 1-based
    fan_in: int
    fan_out: int
    activation: str  # "identity" for the logits layer
    weight_mean: float
    weight_std: float
    weight_norm: float
    pre_mean: float  # z = a_{l-1} W + b
    pre_std: float
    pre_sq: float  # mean of z², what Var z_l of the theory predicts
    act_mean: float  # a = φ(z)
    act_std: float
    act_sq: float  # mean of a², E[φ(z)²]
    act_norm: float
    saturated: float  # fraction within SATURATION_EPS of sigmoid/tanh bounds; NaN for unbounded φ
    zero: float  # fraction of exactly-zero outputs (ReLU); NaN otherwise
    dead: float  # fraction of units that are zero on every example (ReLU); NaN otherwise
    weight_grad_norm: float = float("nan")
    bias_grad_norm: float = float("nan")
    pre_grad_norm: float = float("nan")  # ‖∂L/∂z_l‖
    act_grad_norm: float = float("nan")  # ‖∂L/∂a_l‖
    update_ratio: float = float("nan")  # ‖ΔW‖ / ‖W‖ of the last optimizer step (StatsRecorder)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Probe:
    """The result of one :func:`probe`: the loss (NaN without labels), the per-layer statistics,
    and (if asked for) the activations a_l themselves, for histograms."""

    loss: float
    layers: list[LayerStats]
    activations: list[np.ndarray] = field(default_factory=list)


def _f(x) -> float:
    return float(x)


def _at_most(dtype, c: float):
    """A bound b of ``dtype`` with x <= b exactly when x <= c for every x of ``dtype``: for float32, the largest
    float32 not above c (comparing float32 values with it needs no float64 cast of the array, a third of the time of
    a bounded layer's saturated fraction); otherwise c as a float64 (a strong scalar)."""
    if dtype != np.float32:
        return np.float64(c)
    b = np.float32(c)
    return b if float(b) <= c else np.nextafter(b, np.float32(-np.inf))


def _at_least(dtype, c: float):
    """As :func:`_at_most` for x >= c: for float32, the smallest float32 not below c."""
    if dtype != np.float32:
        return np.float64(c)
    b = np.float32(c)
    return b if float(b) >= c else np.nextafter(b, np.float32(np.inf))


class Scratch:
    """One float64 buffer that a check-up's per-layer temporaries of the same size reuse, instead of a fresh array
    each (issue 30's time): a layer's 256 × 64 float64 deviations are 128 KiB, at glibc's default mmap threshold,
    so a fresh one may be mapped, faulted in page by page and unmapped again, depending on the process's history
    (glibc moves its thresholds as blocks are freed; ``mlplab.runtime.allocator`` fixes them for the ``mlplab``
    command, not for a library call): a 20-layer MLP's check-up faulted 127-700 pages without the buffer, 56-402
    with it (five processes each). The values written into it are those of the fresh array, so
    every number is the same. Owned by one phase of one check-up (freed with it), never shared between threads;
    an array of more than :attr:`MAX` values is made fresh (its faults are small beside its passes, and a large
    buffer kept through the phase would add to the check-up's peak memory)."""

    MAX = 1 << 19  # values (4 MiB): a 784-wide input's 256 rows fit

    def __init__(self):
        self.buf = np.empty(0)

    def f64(self, shape) -> np.ndarray:
        """A C-contiguous float64 array of ``shape`` over the buffer (grown when too small); its values are the
        caller's to write."""
        n = math.prod(shape)
        if n > self.MAX:
            return np.empty(shape)
        if self.buf.size < n:
            self.buf = np.empty(n)
        return self.buf[:n].reshape(shape)


def _summary(i, lay, z, a, eps, full: bool = True, scratch: Scratch | None = None):
    """The :class:`LayerStats` of one layer from its pre-activations ``z`` and activations ``a`` (units last).
    ``full=False``: only what the PyTorch check-up reads (fan-in and -out, the activation's mean and std, the
    saturated, zero and dead fractions; E[z²] it takes itself), the same numbers to rounding, the rest NaN — the
    weight's moments and the norms are passes over the batch a small model's check-up paid for without reading
    them (issue 30's time)."""
    w = lay.linear.weight.data
    n_units = a.shape[-1]
    sat = zero = dead = float("nan")
    if lay.activation in _BOUNDS:  # against the float64 bounds exactly (a float32 a: see _at_most)
        lo, hi = _BOUNDS[lay.activation]
        low, high = _at_most(a.dtype, lo + eps), _at_least(a.dtype, hi - eps)
        sat = np.count_nonzero((a <= low) | (a >= high)) / max(a.size, 1) if a.size else float("nan")
    if lay.activation == "relu":  # the fractions as counts over sizes: np.mean's value of a bool array, exactly
        off = a <= 0
        zero = np.count_nonzero(off) / off.size if off.size else float("nan")
        dead = np.count_nonzero(np.all(off.reshape(-1, n_units), axis=0)) / n_units if off.size else float("nan")
    if not full:
        # accumulated in float64 from the float32 arrays, without float64 copies of them (two 256 KB copies were
        # half of a 256 × 128 layer's statistics): the mean, then the deviations; E[z²] is the caller's (NaN here:
        # the PyTorch check-up takes it by torch's float64 norm, which casts as it reads)
        nan = float("nan")
        # np.mean's sum and division without its Python wrapper (the same number; issue 30's time)
        mean = float(np.add.reduce(a, axis=None, dtype=np.float64)) / a.size if a.size else nan
        dev = np.subtract(a, mean, dtype=np.float64) if scratch is None else \
            np.subtract(a, mean, out=scratch.f64(a.shape), dtype=np.float64)
        dev = dev.ravel()
        return LayerStats(
            layer=i + 1, fan_in=int(w.shape[-2]), fan_out=int(w.shape[-1]), activation=lay.activation,
            weight_mean=nan, weight_std=nan, weight_norm=nan, pre_mean=nan, pre_std=nan, pre_sq=nan,
            act_mean=mean, act_std=math.sqrt(_f(np.dot(dev, dev)) / dev.size) if dev.size else nan, act_sq=nan,
            act_norm=nan, saturated=_f(sat), zero=zero, dead=dead)
    z64, a64 = z.astype(np.float64), a.astype(np.float64)
    return LayerStats(
        layer=i + 1, fan_in=int(w.shape[-2]), fan_out=int(w.shape[-1]), activation=lay.activation,
        weight_mean=_f(w.mean()), weight_std=_f(w.std()), weight_norm=_f(np.linalg.norm(w)),
        pre_mean=_f(z64.mean()), pre_std=_f(z64.std()), pre_sq=_f(np.mean(z64**2)),
        act_mean=_f(a64.mean()), act_std=_f(a64.std()), act_sq=_f(np.mean(a64**2)),
        act_norm=_f(np.linalg.norm(a64)), saturated=sat, zero=zero, dead=dead)


def probe(model, X, y=None, loss=None, keep_activations: bool = False,
          eps: float = SATURATION_EPS) -> Probe:
    """Forward ``X`` through ``model`` layer by layer and measure every layer; with labels ``y``
    also backpropagate ``loss(logits, y)`` (default softmax cross-entropy) for the gradient norms.

    The model's parameter ``.grad`` values are left as they were (saved and restored), so a probe
    can run inside a training loop.
    """
    plan = layer_plan(model)
    X = X.data if isinstance(X, Tensor) else np.asarray(X)
    dtype = plan[0].linear.weight.dtype
    x = Tensor(np.asarray(X, dtype=dtype))
    want_grad = y is not None
    params = [p for lay in plan for p in (lay.linear.weight, lay.linear.bias) if p is not None]
    saved = [p.grad for p in params]
    zs, acts = [], []
    try:
        if want_grad:
            for p in params:
                p.grad = None
            h = x
            for lay in plan:
                z = lay.linear(h).retain_grad()
                a = z
                for m in lay.modules:
                    a = m(a)
                if a is not z:
                    a.retain_grad()
                zs.append(z)
                acts.append(a)
                h = a
            out = (loss or cross_entropy)(h, y)
            value = _f(out.data)
            if out.requires_grad:
                out.backward()
        else:
            with no_grad():
                h = x
                for lay in plan:
                    z = lay.linear(h)
                    a = z
                    for m in lay.modules:
                        a = m(a)
                    zs.append(z)
                    acts.append(a)
                    h = a
            value = float("nan")
        stats = []
        for i, (lay, z, a) in enumerate(zip(plan, zs, acts)):
            s = _summary(i, lay, z.data, a.data, eps)
            if want_grad:
                def norm(t):
                    return _f(np.linalg.norm(t.grad)) if t.grad is not None else 0.0
                s.weight_grad_norm = norm(lay.linear.weight)
                s.bias_grad_norm = norm(lay.linear.bias) if lay.linear.bias is not None else float("nan")
                s.pre_grad_norm = norm(z)
                s.act_grad_norm = norm(a)
            stats.append(s)
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    return Probe(value, stats, [a.data for a in acts] if keep_activations else [])


def layer_stats(model, X, y=None, loss=None, eps: float = SATURATION_EPS) -> list[LayerStats]:
    """Per-layer :class:`LayerStats` of ``model`` on ``X`` (gradient norms too if ``y`` is given)."""
    return probe(model, X, y, loss=loss, eps=eps).layers


def columns(stats: list[LayerStats]) -> dict[str, np.ndarray]:
    """A list of LayerStats as columns: ``columns(s)["act_std"]`` is the per-layer array."""
    return {f.name: np.array([getattr(s, f.name) for s in stats]) for f in fields(LayerStats)}


@lru_cache(maxsize=8)
def _projections(n: int) -> tuple[np.ndarray, np.ndarray, float, list[float]]:
    """count_distinct_units' random directions for ``n`` examples (seeded: the same every call; read-only) and
    their L1 norms (the bounds' factors)."""
    r, rs = np.random.default_rng(0).standard_normal(n), np.random.default_rng(1).standard_normal((8, n))
    r.flags.writeable = rs.flags.writeable = False
    return r, rs, float(np.sum(np.abs(r))), [float(np.sum(np.abs(rk))) for rk in rs]


def count_distinct_units(a: np.ndarray, rtol: float = 1e-5, amax: float | None = None,
                         scratch: Scratch | None = None) -> int:
    """How many different units a layer really has: columns of ``a`` (examples × units) that agree
    within ``rtol`` × (largest |value| in the batch) count as one (symmetry: identical units).

    The largest |value| and the all-zero columns are read from ``a`` as it is (a float32 array: its values are
    exactly their float64 casts, at half the bytes); projections and comparisons are in float64. ``amax``: that
    largest |value| where the caller has it (the check-up takes it to know that the values are finite: one pass
    over the layer's outputs, not two); ``scratch``: a :class:`Scratch` for the float64 copy."""
    a32 = np.asarray(a)
    a32 = a32.reshape(-1, np.shape(a32)[-1])
    if a32.shape[1] < 2:
        return int(a32.shape[1])
    tol = rtol * max(float(np.max(np.abs(a32))) if amax is None else float(amax), 1e-30)
    if a32.dtype == np.float64:
        a = a32
    elif scratch is None or not a32.flags.c_contiguous:
        a = a32.astype(np.float64)  # (BLAS takes one dtype: a float64 copy)
    else:  # the same copy (C order, as astype makes of a C-contiguous array) in the check-up's reused buffer
        a = scratch.f64(a32.shape)
        np.copyto(a, a32)
    # columns within tol everywhere have projections on r within tol·‖r‖₁: a necessary condition that leaves
    # few candidates to compare in full (fast for 512 units; the count is the same)
    r, rs, r1, rs1 = _projections(a.shape[0])
    proj, bound = a.T @ r, tol * r1 * (1 + 1e-6)
    # a column whose projection has no neighbour within the bound can match no other column: it is a unit of its
    # own, and only the others (e.g. a ReLU layer's all-zero units) go through the loop
    order = np.argsort(proj)
    close = np.diff(proj[order]) <= bound
    cand = np.zeros(a.shape[1], dtype=bool)
    cand[order[1:][close]] = True
    cand[order[:-1][close]] = True
    if not cand.any():
        return int(a.shape[1])
    # a column equal to an earlier candidate matches whatever that one matched (or became): only the first of
    # the all-zero columns (a ReLU layer's dead units, up to half of a deep one) needs the comparisons
    zero = ~a32.any(axis=0) & cand
    dropped = max(int(np.count_nonzero(zero)) - 1, 0)
    if dropped:
        cand &= ~zero
        cand[np.flatnonzero(zero)[0]] = True
    # the same test on 8 more projections, each among the columns still candidates (two columns that match stay
    # neighbours in every projection, so both stay): a sigmoid layer's units, all near 0.5, leave most columns
    # candidates of the first projection alone
    for rk, rk1 in zip(rs, rs1):
        idx = np.flatnonzero(cand)
        if idx.size < 3:
            break
        pk = a[:, idx].T @ rk
        o = np.argsort(pk)
        near_k = np.diff(pk[o]) <= tol * rk1 * (1 + 1e-6)
        keep = np.zeros(idx.size, dtype=bool)
        keep[o[1:][near_k]] = True
        keep[o[:-1][near_k]] = True
        cand[idx[~keep]] = False
    k0 = int(np.count_nonzero(~cand)) - dropped
    idx = np.flatnonzero(cand)
    reps = np.empty((idx.size, a.shape[0]))  # representatives, one per row
    rep_proj = np.empty(idx.size)
    k = 0
    for j in idx:
        col = a[:, j]
        near = np.flatnonzero(np.abs(rep_proj[:k] - proj[j]) <= bound)
        if not near.size or not np.any(np.max(np.abs(reps[near] - col), axis=1) <= tol):
            reps[k], rep_proj[k] = col, proj[j]
            k += 1
    return k0 + k


# --------------------------------------------------------------------------- theory
def predict_for_model(model, X, init=None, output_grad_sq: float | None = None) -> SignalPrediction:
    """:func:`predict_signal` for ``model`` on inputs ``X``: fans and activations from the model,
    E[x²] from ``X``, σ_l² from the initializer ``init`` (``theoretical_std``; a zero-mean iid
    scheme) or, without it, the measured mean square of each weight matrix (exact for orthogonal
    and scaled-identity weights too). Biases count with their measured mean square."""
    plan = layer_plan(model)
    fan_in = [lay.linear.in_features for lay in plan]
    fan_out = [lay.linear.out_features for lay in plan]
    acts = [lay.activation for lay in plan]
    if init is None:
        wv = [float(np.mean(lay.linear.weight.data.astype(np.float64) ** 2)) for lay in plan]
    else:
        wv = [theoretical_std(init, lay.linear.weight.shape, activation=lay.activation) ** 2 for lay in plan]
    bv = [float(np.mean(lay.linear.bias.data.astype(np.float64) ** 2)) if lay.linear.bias is not None
          else 0.0 for lay in plan]
    X = np.asarray(X.data if isinstance(X, Tensor) else X, dtype=np.float64)
    return predict_signal(fan_in, fan_out, wv, acts, float(np.mean(X**2)), bv, output_grad_sq,
                          slope=plan[0].slope)


# --------------------------------------------------------------------------- training callback
class StatsRecorder:
    """Trainer callback: every ``every`` steps, :func:`probe` the model on a fixed batch
    (``X``, ``y``) and record the per-layer statistics, plus ‖ΔW‖/‖W‖ of that step's update.

    After training: ``steps`` (the steps recorded), ``losses`` (probe loss), ``records`` (a list of
    lists of LayerStats), ``series("act_std")`` → array (records × layers). Step 0 (before any
    update) is recorded at ``on_train_begin``.
    """

    def __init__(self, X, y=None, every: int = 10, loss=None, keep_activations: bool = False):
        if int(every) < 1:
            raise ValueError(f"StatsRecorder: every must be >= 1, got {every}")
        self.X, self.y, self.every, self.loss = X, y, int(every), loss
        self.keep_activations = keep_activations
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.records: list[list[LayerStats]] = []
        self.activations: list[list[np.ndarray]] = []
        self._before: list[np.ndarray] | None = None

    def record(self, model, step: int, update_ratio=None) -> None:
        p = probe(model, self.X, self.y, loss=self.loss, keep_activations=self.keep_activations)
        if update_ratio is not None:
            for s, r in zip(p.layers, update_ratio):
                s.update_ratio = float(r)
        self.steps.append(int(step))
        self.losses.append(p.loss)
        self.records.append(p.layers)
        if self.keep_activations:
            self.activations.append(p.activations)

    # the Trainer's hooks (any object with these methods is a callback)
    def on_train_begin(self, trainer) -> None:
        self.record(trainer.model, trainer.step)
        self._before = weight_arrays(trainer.model) if (trainer.step + 1) % self.every == 0 else None

    def on_step_end(self, trainer, step, loss) -> None:
        # steps are counted from 1 after the first update; snapshot weights one step early so
        # the recorded step's own update size can be measured.
        step = int(step)
        if step % self.every == 0:
            ratio = relative_change(trainer.model, self._before) if self._before is not None else None
            self.record(trainer.model, step, ratio)
        self._before = weight_arrays(trainer.model) if (step + 1) % self.every == 0 else None

    def on_epoch_end(self, trainer, epoch, metrics) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def series(self, name: str) -> np.ndarray:
        """One statistic over time: array of shape (records, layers)."""
        return np.array([[getattr(s, name) for s in rec] for rec in self.records])
