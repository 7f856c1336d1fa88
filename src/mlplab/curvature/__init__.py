"""Curvature of a network's loss, matrix-free: Hessian-vector products and the algorithms that take only them.

* :mod:`.hvp` — v ↦ H v (and the Gauss–Newton G v) of the loss over a data set, for mlplab networks
  (forward-over-reverse, chunked) and any mlplab Module (reverse-over-reverse through the autodiff).
* :mod:`.spectrum` — top/bottom eigenpairs (Lanczos), power iteration, Hutchinson's trace ± its
  standard error, the spectral density by stochastic Lanczos quadrature, per-layer diagonal blocks.
* :mod:`.stability` — 2/η, (2 + 2β)/η, 38/η and the preconditioned sharpness λ₁(P⁻¹H) of Adam/RMSProp.

* :mod:`.torch_hvp` — the same products for a ``torch.nn.Module`` (``mlplab[torch]``), the model untouched.

Dense Hessians exist only as the test oracle (:func:`spectrum.dense_matrix`). The core: no rich, no
matplotlib, no CLI.
"""

from .hvp import LOSSES, AutodiffHVP, NetworkCurvature, as_operator, param_blocks
from .spectrum import (
    SLQ,
    Trace,
    block_hvp,
    dense_matrix,
    density,
    hutchinson_trace,
    power_iteration,
    sharpness,
    slq,
    top_eigen,
)
from .stability import adam_limit, gd_limit, heavy_ball_limit, preconditioned_hvp, preconditioner

__all__ = [
    "LOSSES", "AutodiffHVP", "NetworkCurvature", "as_operator", "param_blocks", "SLQ", "Trace", "block_hvp",
    "dense_matrix", "density", "hutchinson_trace", "power_iteration", "sharpness", "slq", "top_eigen", "adam_limit",
    "gd_limit", "heavy_ball_limit", "preconditioned_hvp", "preconditioner",
]
