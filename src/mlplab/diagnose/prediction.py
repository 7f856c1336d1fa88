"""What signal-propagation theory predicts for a fully-connected network's layers: the mean-field recursion.

The source texts' recursion (CMU *Deep Learning Systems*; deeplearning.ai's *Initializing neural networks*): with
iid zero-mean weights of variance σ_l² and fan-in n_l,

    Var z_{l+1} = n_{l+1} σ_{l+1}² E[φ(z_l)²]  (+ Var b),      z_l ~ N(0, Var z_l)

and backwards E[(∂L/∂z_l)²] = E[φ'(z_l)²] · n_out σ_{l+1}² · E[(∂L/∂z_{l+1})²]; every E[φ(z)²] and E[φ'(z)²] is
:mod:`mlplab.theory`'s (through :mod:`mlplab.diagnose.gaussian`). :mod:`mlplab.diagnose.statistics` measures what this
predicts (and re-exports these names), and
:func:`mlplab.diagnose.statistics.predict_for_model` reads a network's fans, activations and weights into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaussian import derivative_moment, second_moment

__all__ = ["SignalPrediction", "predict_signal"]


@dataclass
class SignalPrediction:
    """The mean-field prediction for each layer l = 1..L (arrays of length L).

    ``pre_var`` Var z_l; ``act_sq`` E[φ_l(z_l)²]; ``factor`` Var z_l / Var z_{l-1} (for l = 1:
    Var z_1 / E[x²]); ``grad_sq`` E[(∂L/∂z_l)²] if an output gradient was given (else None).
    """

    fan_in: np.ndarray
    fan_out: np.ndarray
    weight_var: np.ndarray
    activation: list[str]
    input_sq: float
    pre_var: np.ndarray
    act_sq: np.ndarray
    factor: np.ndarray
    grad_sq: np.ndarray | None = None

    def act_norm(self, batch: int) -> np.ndarray:
        """Predicted Frobenius norm of a batch of activations: sqrt(batch · n_out · E[φ(z)²])."""
        return np.sqrt(batch * self.fan_out * self.act_sq)

    def pre_grad_norm(self, batch: int) -> np.ndarray | None:
        """Predicted ‖∂L/∂z_l‖ over a batch: sqrt(batch · n_out · E[(∂L/∂z_l)²])."""
        return None if self.grad_sq is None else np.sqrt(batch * self.fan_out * self.grad_sq)

    def weight_grad_norm(self, batch: int) -> np.ndarray | None:
        """Predicted ‖∂L/∂W_l‖ = ‖a_{l-1}‖ ‖∂L/∂z_l‖ / sqrt(batch) (examples' terms independent)."""
        if self.grad_sq is None:
            return None
        prev_sq = np.concatenate([[self.input_sq], self.act_sq[:-1]])
        return np.sqrt(batch * self.fan_in * self.fan_out * prev_sq * self.grad_sq)


def predict_signal(fan_in, fan_out, weight_var, activations, input_sq: float, bias_var=0.0,
                   output_grad_sq: float | None = None, slope: float = 0.01) -> SignalPrediction:
    """Propagate variances through L layers: Var z_l = n_l σ_l² E[φ_{l-1}(z_{l-1})²] + Var b_l,
    starting from E[x²] = ``input_sq``; backwards from E[(∂L/∂z_L)²] = ``output_grad_sq`` with
    E[(∂L/∂z_l)²] = E[φ_l'(z_l)²] · n_{l+1}' σ_{l+1}² · E[(∂L/∂z_{l+1})²] (n' = fan-out).

    ``weight_var``, ``bias_var`` are per layer (or one number for all), ``activations`` the names
    of φ_1..φ_L ("identity" for the logits layer).
    """
    fan_in = np.asarray(fan_in, dtype=float)
    fan_out = np.asarray(fan_out, dtype=float)
    L = len(fan_in)
    wv = np.broadcast_to(np.asarray(weight_var, dtype=float), (L,))
    bv = np.broadcast_to(np.asarray(bias_var, dtype=float), (L,))
    acts = list(activations)
    if len(acts) != L or len(fan_out) != L:
        raise ValueError(f"predict_signal: {L} layers but {len(fan_out)} fan-outs and {len(acts)} activations")
    pre, act, factor = np.zeros(L), np.zeros(L), np.zeros(L)
    prev = float(input_sq)
    prev_var = prev
    for l in range(L):
        pre[l] = fan_in[l] * wv[l] * prev + bv[l]
        act[l] = second_moment(acts[l], pre[l], slope)
        factor[l] = pre[l] / prev_var if prev_var > 0 else np.inf
        prev, prev_var = act[l], pre[l]
    grad = None
    if output_grad_sq is not None:
        grad = np.zeros(L)
        grad[-1] = float(output_grad_sq) * derivative_moment(acts[-1], pre[-1], slope)
        for l in range(L - 2, -1, -1):
            back = fan_out[l + 1] * wv[l + 1] * grad[l + 1]  # E[(∂L/∂a_l)²]
            grad[l] = derivative_moment(acts[l], pre[l], slope) * back
    return SignalPrediction(fan_in, fan_out, np.array(wv), acts, float(input_sq), pre, act, factor, grad)
