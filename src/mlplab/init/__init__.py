"""Weight initializers: plain functions of a shape and an explicit ``numpy.random.Generator``.

Every initializer has the signature ``fn(shape, rng, dtype=np.float32, **params) -> np.ndarray``.
Our weights are stored ``(in, out)`` (``y = x @ W``), so ``fan_in = shape[-2]`` and ``fan_out = shape[-1]``;
see :func:`compute_fans`. Random numbers are drawn in float64 and then cast, so one seed gives the same
values (up to rounding) in every dtype.

Names resolve from strings with :func:`get_initializer` (``"he"``, ``"glorot_uniform"``, ``"std=0.01"``,
``"normal(0, 1)"``, ``"identity(1.5)"``, ...); :func:`theoretical_std` returns the std a scheme produces.
Every scheme is registered once in :data:`SCHEMES` (an :class:`InitScheme`: canonical name, family,
the variance as a function of the fans and as text, aliases); :func:`get_initializer`,
:func:`theoretical_std`, :func:`init_family`, ``mlplab init list`` and the diagnosis all read it.
This module is pure NumPy and imports only :mod:`mlplab.activations` from mlplab, and :mod:`mlplab.theory`
for the ``critical`` scheme (σ_w² on the critical line χ₁ = 1).
"""

from .registry import (
    INITIALIZERS,
    SCHEMES,
    InitScheme,
    get_initializer,
    init_family,
    list_initializers,
    resolve_initializer,
    theoretical_std,
)
from .schemes import (
    TRUNCATED_STD_2SIGMA,
    as_generator,
    book,
    calculate_gain,
    compute_fans,
    constant,
    critical,
    critical_variances,
    he_normal,
    he_uniform,
    identity,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    orthogonal,
    small_random,
    standard_normal,
    torch_linear_bias,
    torch_linear_weight,
    truncated_normal,
    truncated_std_factor,
    uniform,
    uniform_fan_in,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)

__all__ = [
    "INITIALIZERS", "SCHEMES", "InitScheme", "init_family", "resolve_initializer",
    "TRUNCATED_STD_2SIGMA", "as_generator", "book", "calculate_gain", "compute_fans",
    "constant", "critical", "critical_variances",
    "get_initializer", "he_normal", "he_uniform", "identity", "lecun_normal", "lecun_uniform",
    "list_initializers", "normal", "ones", "orthogonal", "small_random", "standard_normal",
    "theoretical_std", "torch_linear_bias", "torch_linear_weight", "truncated_normal",
    "truncated_std_factor", "uniform", "uniform_fan_in", "variance_scaling", "xavier_normal",
    "xavier_uniform", "zeros",
]
