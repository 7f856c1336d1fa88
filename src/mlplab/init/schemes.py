"""The initializers themselves: the shared helpers (a Generator from a seed, fans, gains, drawing
from a named distribution) and every scheme as a function ``fn(shape, rng, dtype=np.float32, **params)``
whose docstring states the distribution and its variance. Names are resolved in :mod:`mlplab.init.registry`.
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import ACTIVATION_INFO, canonical_activation, normalize_name

# Std of N(0, 1) truncated to [-2, 2]; Keras' VarianceScaling divides by it so the truncated
# samples end up with the intended std.
TRUNCATED_STD_2SIGMA = 0.87962566103423978


# ----------------------------------------------------------------------------- helpers
def as_generator(rng=None) -> np.random.Generator:
    """The one conversion of a ``rng`` argument, used by every module that draws.

    A Generator passes through; an int seed, a sequence of ints (``[seed, k]``) or a SeedSequence
    seeds ``np.random.default_rng``; None gives a fresh, unseeded one. Anything else (a string, a
    bool, a float) is a TypeError rather than a silently different stream.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    if isinstance(rng, np.random.SeedSequence) or (
            isinstance(rng, (list, tuple)) and rng
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in rng)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed (or a sequence of them) or None, "
                    f"got {type(rng).__name__}")


def compute_fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out) = (shape[-2], shape[-1])`` for a weight stored ``(in, out)``.

    A shape with leading dimensions, e.g. ``(K, in, out)`` for K stacked networks, is a *batch* of
    matrices: the fans are still ``shape[-2]`` and ``shape[-1]``. (Unlike torch/Keras, leading
    dimensions are not a convolution's receptive field and do not multiply the fans.) A 1-D shape has no
    fans: ValueError.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fans need a shape with at least 2 dimensions (in, out), got {shape}")
    return shape[-2], shape[-1]


def _fan(shape, mode: str) -> float:
    fan_in, fan_out = compute_fans(shape)
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    if mode not in fans:
        raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(fans)}")
    if fans[mode] <= 0:
        raise ValueError(f"{mode} of shape {tuple(shape)} is 0")
    return fans[mode]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain for a nonlinearity (the table of ``torch.nn.init.calculate_gain``).

    linear/identity/sigmoid: 1, tanh: 5/3, relu: sqrt(2), leaky_relu: sqrt(2 / (1 + a^2)) with negative
    slope ``a = param`` (default 0.01), selu: 3/4. Names in any spelling of :mod:`mlplab.activations`.
    """
    if normalize_name(nonlinearity) == "selu":
        return 0.75
    try:
        key = canonical_activation(nonlinearity)
    except ValueError:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; valid: linear, identity, sigmoid, tanh, "
                         "relu, leaky_relu, selu") from None
    return ACTIVATION_INFO[key].gain_for(param)


def truncated_std_factor(bound: float = 2.0) -> float:
    """Std of N(0, 1) truncated to [-bound, bound]: sqrt(1 - 2 b phi(b) / (2 Phi(b) - 1))."""
    pdf = math.exp(-bound**2 / 2) / math.sqrt(2 * math.pi)
    return math.sqrt(1.0 - 2 * bound * pdf / math.erf(bound / math.sqrt(2)))


def _float_dtype(dtype):
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"random initializers need a floating dtype, got {dt}")
    return dt


def _check_std(std):
    if not std >= 0:  # also rejects nan
        raise ValueError(f"std must be >= 0, got {std}")


def _draw(shape, rng, dtype, std: float, distribution: str, bound: float = 2.0) -> np.ndarray:
    """Zero-mean samples with standard deviation ``std`` from the named distribution.

    "normal": N(0, std^2).  "uniform": U(-sqrt(3) std, sqrt(3) std).  "truncated_normal": N(0, s^2) with
    values beyond ``bound * s`` re-drawn, s = std / truncated_std_factor(bound) so the result has std ``std``.
    """
    dtype, rng, shape = _float_dtype(dtype), as_generator(rng), tuple(shape)
    if distribution == "normal":
        x = std * rng.standard_normal(shape)
    elif distribution == "uniform":
        limit = math.sqrt(3.0) * std
        x = rng.uniform(-limit, limit, shape)
    elif distribution == "truncated_normal":
        x = std / truncated_std_factor(bound) * _truncated_standard_normal(rng, shape, bound)
    else:
        raise ValueError(f"unknown distribution {distribution!r}; valid: normal, uniform, truncated_normal")
    return x.astype(dtype)


def _truncated_standard_normal(rng, shape, bound: float) -> np.ndarray:
    if not bound > 0:
        raise ValueError(f"truncation bound must be > 0 (in units of std), got {bound}")
    x = rng.standard_normal(shape)
    outside = np.abs(x) > bound
    while outside.any():  # re-draw only the rejected values (~4.6% per round for bound 2)
        x[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(x) > bound
    return x


# ----------------------------------------------------------------------------- constant schemes
def zeros(shape, rng=None, dtype=np.float32) -> np.ndarray:
    """All zeros. Fine for biases; for weights it keeps every unit identical (symmetry is never broken)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng=None, dtype=np.float32) -> np.ndarray:
    """All ones (e.g. a normalization scale). Same symmetry problem as zeros for weights."""
    return np.ones(shape, dtype=dtype)


def constant(shape, rng=None, dtype=np.float32, value: float = 0.0) -> np.ndarray:
    """Every entry equal to ``value`` (variance 0)."""
    return np.full(shape, value, dtype=dtype)


def identity(shape, rng=None, dtype=np.float32, gain: float = 1.0) -> np.ndarray:
    """``gain * I``: the 1.5·I (exploding) and 0.5·I (vanishing) demonstration of deeplearning.ai.

    For a non-square (in, out) the scale goes on the main diagonal ``W[i, i]`` and the rest is zero, like
    ``torch.nn.init.eye_``; leading stack dimensions get one copy each. Deterministic: ``rng`` is unused.
    """
    rows, cols = compute_fans(shape)
    return np.broadcast_to(gain * np.eye(rows, cols), tuple(shape)).astype(dtype)


# ----------------------------------------------------------------------------- fixed-std schemes
def normal(shape, rng, dtype=np.float32, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """N(mean, std^2); variance std^2, independent of the layer size."""
    _check_std(std)
    return (mean + _draw(shape, rng, np.float64, std, "normal")).astype(_float_dtype(dtype))


def small_random(shape, rng, dtype=np.float32) -> np.ndarray:
    """N(0, 0.01^2), the texts' "small random numbers" (Saito §6.2; CS231n). With sigmoid the activations
    of a deep net collapse to 0.5 (little expressiveness); with ReLU they vanish layer after layer."""
    return normal(shape, rng, dtype, std=0.01)


def standard_normal(shape, rng, dtype=np.float32) -> np.ndarray:
    """N(0, 1): with sigmoid the activations saturate at 0 and 1, so gradients vanish (Saito §6.2)."""
    return normal(shape, rng, dtype, std=1.0)


def uniform(shape, rng, dtype=np.float32, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """U(low, high) (torch/NumPy default U(0, 1)); mean (low+high)/2, variance (high-low)^2 / 12."""
    if not high >= low:
        raise ValueError(f"uniform needs low <= high, got low={low}, high={high}")
    return as_generator(rng).uniform(low, high, tuple(shape)).astype(_float_dtype(dtype))


def truncated_normal(shape, rng, dtype=np.float32, std: float = 1.0, mean: float = 0.0,
                     bound: float = 2.0, correct_std: bool = False) -> np.ndarray:
    """N(mean, s^2) with values farther than ``bound * s`` from the mean re-drawn (tf.truncated_normal).

    The bound is relative to s, the std of the underlying normal. Without correction s = std and the
    samples' std is ``std * truncated_std_factor(bound)`` (0.8796·std for 2σ). With ``correct_std=True``,
    s = std / 0.87962566 as in Keras' VarianceScaling, so the samples have std ``std`` (bounds ±2.27·std).
    """
    _check_std(std)
    s = std / truncated_std_factor(bound) if correct_std else std
    x = mean + s * _truncated_standard_normal(as_generator(rng), tuple(shape), bound)
    return x.astype(_float_dtype(dtype))


def orthogonal(shape, rng, dtype=np.float32, gain: float = 1.0) -> np.ndarray:
    """``gain * Q`` with Q a (semi-)orthogonal matrix drawn uniformly (Haar), per stacked matrix.

    QR of a Gaussian matrix, columns' signs fixed by diag(R). For in >= out, W^T W = gain^2 I; otherwise
    W W^T = gain^2 I. Entries have variance gain^2 / max(in, out). Saxe et al. 2014; torch orthogonal_.
    """
    rows, cols = compute_fans(shape)
    rng = as_generator(rng)
    a = rng.standard_normal((*tuple(shape)[:-2], max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    if rows < cols:
        q = np.swapaxes(q, -1, -2)
    return (gain * q).astype(_float_dtype(dtype))


# ----------------------------------------------------------------------------- fan-scaled schemes
def variance_scaling(shape, rng, dtype=np.float32, scale: float = 1.0, mode: str = "fan_in",
                     distribution: str = "truncated_normal") -> np.ndarray:
    """Keras' general form: Var(W) = scale / n, n = fan_in, fan_out or (fan_in + fan_out) / 2 (``mode``).

    distribution "normal" (alias "untruncated_normal"): N(0, scale/n); "uniform": U(±sqrt(3 scale / n));
    "truncated_normal": 2σ-truncated with the std corrected by 0.87962566 (Keras' default).
    Xavier/Glorot, He/Kaiming, LeCun and the book's scheme are instances (scale 1, gain^2, 1, 2 or 1).
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    distribution = {"untruncated_normal": "normal"}.get(distribution, distribution)
    return _draw(shape, rng, dtype, math.sqrt(scale / _fan(shape, mode)), distribution)


def _xavier_std(shape, gain, mode):
    if not gain >= 0:
        raise ValueError(f"gain must be >= 0, got {gain}")
    return gain / math.sqrt(_fan(shape, mode))


def xavier_normal(shape, rng, dtype=np.float32, gain: float = 1.0, mode: str = "fan_avg") -> np.ndarray:
    """Xavier/Glorot normal: N(0, gain^2 · 2 / (fan_in + fan_out)) (mode "fan_avg", Glorot & Bengio 2010,
    torch xavier_normal_). Mode "fan_in" gives N(0, gain^2 / n_in), the texts' "Xavier" std 1/sqrt(n).
    For tanh/sigmoid/linear layers (symmetric, near-linear at 0). Keras' glorot_normal truncates instead.
    """
    return _draw(shape, rng, dtype, _xavier_std(shape, gain, mode), "normal")


def xavier_uniform(shape, rng, dtype=np.float32, gain: float = 1.0, mode: str = "fan_avg") -> np.ndarray:
    """Xavier/Glorot uniform: U(±gain · sqrt(6 / (fan_in + fan_out))), variance gain^2 · 2/(fan_in+fan_out)
    (torch xavier_uniform_, Keras glorot_uniform); mode "fan_in": U(±gain · sqrt(3 / n_in))."""
    return _draw(shape, rng, dtype, _xavier_std(shape, gain, mode), "uniform")


def _kaiming_std(shape, a, mode, nonlinearity):
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))


def he_normal(shape, rng, dtype=np.float32, a: float = 0.0, mode: str = "fan_in",
              nonlinearity: str = "leaky_relu") -> np.ndarray:
    """He/Kaiming normal: N(0, gain^2 / fan), gain = calculate_gain(nonlinearity, a); for ReLU 2 / n_in.

    For ReLU-family layers (He et al. 2015). Defaults are torch's kaiming_normal_ (leaky_relu with a = 0,
    i.e. ReLU); mode "fan_out" preserves the backward-pass variance. Keras' he_normal truncates instead.
    """
    return _draw(shape, rng, dtype, _kaiming_std(shape, a, mode, nonlinearity), "normal")


def he_uniform(shape, rng, dtype=np.float32, a: float = 0.0, mode: str = "fan_in",
               nonlinearity: str = "leaky_relu") -> np.ndarray:
    """He/Kaiming uniform: U(±gain · sqrt(3 / fan)), variance gain^2 / fan; ReLU: U(±sqrt(6 / n_in))."""
    return _draw(shape, rng, dtype, _kaiming_std(shape, a, mode, nonlinearity), "uniform")


def lecun_normal(shape, rng, dtype=np.float32) -> np.ndarray:
    """LeCun normal: N(0, 1 / n_in) (LeCun et al. 1998; for SELU, Klambauer et al. 2017). Keras truncates."""
    return _draw(shape, rng, dtype, 1.0 / math.sqrt(_fan(shape, "fan_in")), "normal")


def lecun_uniform(shape, rng, dtype=np.float32) -> np.ndarray:
    """LeCun uniform: U(±sqrt(3 / n_in)), variance 1 / n_in (Keras lecun_uniform)."""
    return _draw(shape, rng, dtype, 1.0 / math.sqrt(_fan(shape, "fan_in")), "uniform")


def uniform_fan_in(shape, rng, dtype=np.float32) -> np.ndarray:
    """U(±1 / sqrt(n_in)), variance 1 / (3 n_in): the "Xavier" uniform of the deeplearning.ai notes and
    blog texts. Same distribution as torch's nn.Linear weight (see torch_linear_weight)."""
    return _draw(shape, rng, dtype, 1.0 / math.sqrt(3.0 * _fan(shape, "fan_in")), "uniform")


# Names the book's scheme also takes that are not activations mlplab builds: the scheme's own names
# and ReLU-like activations of other libraries (all He's 2/n).
_BOOK_EXTRA = {"he": 2.0, "xavier": 1.0, "elu": 2.0, "gelu": 2.0, "silu": 2.0, "swish": 2.0}


def _book_std(shape, activation):
    key = normalize_name(activation) if isinstance(activation, str) else canonical_activation(activation)
    try:
        scale = _BOOK_EXTRA[key] if key in _BOOK_EXTRA else ACTIVATION_INFO[canonical_activation(key)].book_scale
    except ValueError:
        valid = [*ACTIVATION_INFO, *_BOOK_EXTRA]
        raise ValueError(f"book init: unknown activation {activation!r}; valid: {', '.join(valid)}") from None
    return math.sqrt(scale / _fan(shape, "fan_in"))


def book(shape, rng, dtype=np.float32, activation: str = "relu") -> np.ndarray:
    """The source book's scheme (Saito, *Deep Learning from Scratch* §6.2, ``weight_init_std``):
    N(0, 2 / n) for ReLU ("He"), N(0, 1 / n) for sigmoid/tanh ("Xavier"), n = nodes of the previous layer."""
    return normal(shape, rng, dtype, std=_book_std(shape, activation))


# ----------------------------------------------------------------------------- the critical line
def critical_variances(activation: str = "tanh", bias_var: float | None = None,
                       q_star: float | None = None) -> tuple[float, float]:
    """(σ_w², σ_b²) on the critical line χ₁ = σ_w² E[φ′(√q* z)²] = 1 (Schoenholz et al. 2017, *Deep Information
    Propagation*), from :mod:`mlplab.theory`: for the given σ_b² (``bias_var``, default 0), or for the given fixed
    length ``q_star`` (which sets σ_b² too: Pennington et al. 2017 use q* = 1/64 for tanh). Not both."""
    from ..theory import critical_line, critical_point, theory_activation

    if bias_var is not None and q_star is not None:
        raise ValueError("critical init: give bias_var (σ_b²) or q_star, not both (q_star sets σ_b²)")
    act = theory_activation(activation)
    if q_star is not None:
        if not q_star > 0:
            raise ValueError(f"critical init: q_star must be > 0, got {q_star}")
        if act.homogeneous:
            raise ValueError(f"critical init: {act.name} is critical at σ_w² = {1 / act.dslope2:g} for every q*; "
                             "give bias_var instead")
        w, b = critical_point(float(q_star), act)
        if not b >= 0:
            raise ValueError(f"critical init: no critical point of {act.name} has q* = {q_star:g} "
                             f"(it would need σ_b² = {float(b):.3g} < 0); choose a larger q_star")
        return float(w), float(b)
    b = 0.0 if bias_var is None else float(bias_var)
    if not b >= 0:
        raise ValueError(f"critical init: bias_var (σ_b²) must be >= 0, got {bias_var}")
    w, _ = critical_line(b, act)
    if not np.isfinite(w):
        raise ValueError(f"critical init: {act.name} has no critical point at σ_b² = {b:g} (q* up to 1e6 "
                         "searched); choose a larger bias_var or give q_star")
    return float(w), b


def critical(shape, rng, dtype=np.float32, activation: str = "tanh", bias_var: float | None = None,
             q_star: float | None = None, weights: str = "normal") -> np.ndarray:
    """Weights on the critical line (edge of chaos): Var(W) = σ_w² / n_in with σ_w² from
    :func:`critical_variances` (χ₁ = 1 for this activation and σ_b² or q*), so that correlations between inputs
    neither collapse nor decorrelate over depth (Schoenholz et al. 2017). ``weights="orthogonal"`` draws gain·Q
    with gain² = σ_w² · max(n_in, n_out)/n_in (the same variance; W Wᵀ or Wᵀ W a multiple of I): with tanh at a
    small q* that is dynamical isometry (Pennington, Schoenholz, Ganguli 2017). Draw the biases from N(0, σ_b²)
    to match (``critical_variances`` gives σ_b²); tanh at σ_b² = 0 gives σ_w² = 1."""
    sw2, _ = critical_variances(activation, bias_var, q_star)
    n_in, n_out = compute_fans(shape)
    if weights == "normal":
        return normal(shape, rng, dtype, std=math.sqrt(sw2 / n_in))
    if weights == "orthogonal":
        return orthogonal(shape, rng, dtype, gain=math.sqrt(sw2 * max(n_in, n_out) / n_in))
    raise ValueError(f"critical init: weights must be normal or orthogonal, got {weights!r}")


def _critical_std(p) -> float:
    sw2, _ = critical_variances(p["activation"], p["bias_var"], p["q_star"])
    return math.sqrt(sw2 / _fan(p["shape"], "fan_in"))


def torch_linear_weight(shape, rng, dtype=np.float32) -> np.ndarray:
    """PyTorch ``nn.Linear`` default: kaiming_uniform with a = sqrt(5), i.e. gain sqrt(1/3) and bound
    gain · sqrt(3 / n_in) = 1 / sqrt(n_in): U(±1 / sqrt(n_in)), variance 1 / (3 n_in)."""
    return he_uniform(shape, rng, dtype, a=math.sqrt(5.0))


def torch_linear_bias(shape, rng, dtype=np.float32, fan_in: int | None = None) -> np.ndarray:
    """PyTorch ``nn.Linear`` default bias: U(±1 / sqrt(fan_in)); ``fan_in`` of the weight is required
    (a bias shape (out,) or (K, 1, out) does not know it)."""
    if fan_in is None or fan_in <= 0:
        raise ValueError(f"torch_linear_bias needs fan_in=<weight's fan_in> > 0, got {fan_in}")
    bound = 1.0 / math.sqrt(fan_in)
    return uniform(shape, rng, dtype, low=-bound, high=bound)
