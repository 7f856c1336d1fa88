"""Signal-propagation theory: the mean-field maps of deep random networks, their fixed points, depth scales,
the critical line, and the Jacobian spectra of dynamical isometry.

Plain functions of arrays in the papers' notation (σ_w², σ_b², q, c): every argument broadcasts, so a whole
grid is one call, and everything is float64. Modules:

* :mod:`.functions` — φ, φ′ of the nine activations the theory covers, and the closed-form kernels
  (relu's arc-cosine kernel, erf's arcsine kernel);
* :mod:`.gauss` — Gauss–Hermite quadrature (order stated there) for every other Gaussian expectation;
* :mod:`.maps` — the length and correlation maps, q*, c*, χ₁, ξ_q, ξ_c (Schoenholz et al. 2017);
* :mod:`.critical` — the critical line χ₁ = 1 and the phases;
* :mod:`.isometry` — the input–output Jacobian's spectrum at initialization (Pennington, Schoenholz,
  Ganguli 2017; the Fuss–Catalan law of products of Gaussian matrices);
* :mod:`.deep_linear` — the mode-by-mode learning dynamics of deep linear networks (Saxe, McClelland,
  Ganguli 2014);
* :mod:`.width` — the spread of a relu network's output length at finite width (Hanin & Rolnick 2018).

The core's :mod:`mlplab.init` (the ``critical`` initializer) and the lab's studies call these functions and
never re-derive a formula. This package imports only NumPy, SciPy and :mod:`mlplab.activations`.
"""

from .critical import PHASES, critical_line, critical_point, phase, phase_names
from .functions import THEORY_ACTIVATIONS, TheoryActivation, theory_activation, theory_activation_names
from .gauss import ORDER_1D, ORDER_2D
from .maps import (
    Propagation,
    c_star,
    chi_1,
    correlation_map,
    correlation_slope,
    covariance_map,
    derivative_kernel,
    derivative_mean_square,
    iterates,
    kernel,
    length_map,
    mean_square,
    mean_square_slope,
    propagation,
    q_star,
    xi_c,
    xi_q,
)

__all__ = [
    "ORDER_1D", "ORDER_2D", "PHASES", "THEORY_ACTIVATIONS", "Propagation", "TheoryActivation", "c_star", "chi_1",
    "correlation_map", "correlation_slope", "covariance_map", "critical_line", "critical_point",
    "derivative_kernel", "derivative_mean_square", "iterates", "kernel", "length_map", "mean_square",
    "mean_square_slope", "phase", "phase_names", "propagation", "q_star", "theory_activation",
    "theory_activation_names", "xi_c", "xi_q",
]
