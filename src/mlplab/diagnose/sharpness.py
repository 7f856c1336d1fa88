"""The sharpness line of ``mlplab diagnose --sharpness``: the top Hessian eigenvalue of the loss on the diagnosis
batch against the stability limit of the learning rate (issue 27 §1).

Gradient descent on a quadratic is stable only for η < 2/λ_max; on a network, full-batch GD drives the sharpness
λ_max(H) up to 2/η and hovers there (Cohen, Kaur, Li, Kolter, Talwalkar 2021, *Gradient Descent on Neural Networks
Typically Occurs at the Edge of Stability*). The line measures λ_max(H) of the cross-entropy on the check-up's batch
by implicitly restarted Lanczos (:func:`mlplab.curvature.top_eigen`, ARPACK, to a relative tolerance :data:`TOL`; a
fixed number of Lanczos steps, :func:`mlplab.curvature.sharpness`, is a lower bound that was 6 % low after 10 steps
on a small tanh network; the tests compare with the converged eigenvalue) at the weights diagnosed (before the
check-up's steps), with :class:`mlplab.curvature.NetworkCurvature` for an mlplab network and
:class:`mlplab.curvature.torch_hvp.TorchCurvature` for a PyTorch model (on copies: the model is untouched), and
compares it with 2/η (SGD), (2 + 2β)/η (SGD with momentum β); Adam's limit (2 + 2β₁)/((1 − β₁)η) bounds its
*preconditioned* sharpness, which this line does not measure, so for Adam it says so.

Why opt-in: one Hessian-vector product costs about 2–4 forward+backward passes and ARPACK takes 20 or more of
them, so the line costs tens of forward+backward passes (measured: README's diagnose section), beyond the
check-up's budget of ≤ 10 forward+backward passes.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["TOL", "for_mlplab", "for_torch", "line"]

ADAPTIVE = ("adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam", "radam")  # preconditioned: another limit
TOL = 1e-4  # ARPACK's relative tolerance on λ_max: a fixed 10 Lanczos steps were 6 % low on a small tanh network


def line(hvp, n_params: int, lr: float, optimizer: str = "sgd", momentum: float = 0.0, seed: int = 0,
         where: str = "the diagnosis batch") -> dict:
    """``{"sharpness", "limit", "ratio", "lr", "optimizer", "hvp_products", "seconds", "sentence"}`` for the
    Hessian-vector product ``hvp`` of ``n_params`` parameters, at learning rate ``lr``."""
    from .. import curvature

    calls = [0]

    def counted(v):
        calls[0] += 1
        return hvp(v)

    import scipy.sparse.linalg  # noqa: F401  (loads SciPy's own BLAS before the limit, so that it applies to it too)
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    # NumPy's BLAS on one thread for the Lanczos vectors' products (small: a few flops per parameter), as watch's
    # sharpness does: with its default two threads on a busy 2-core machine each call waited for them (the
    # curvature cell 6x slower)
    with threadpool_limits(limits=1, user_api="blas"):
        lam = float(curvature.top_eigen(counted, n_params, k=1, rng=seed, tol=TOL)[0][0])
    seconds = time.perf_counter() - t0
    steps = calls[0]
    lam = float(lam)
    opt = str(optimizer).lower()
    if opt in ("sgd", "momentum", "nesterov") and momentum:
        limit = curvature.heavy_ball_limit(lr, momentum)
        name = f"(2 + 2β)/η = {limit:.4g}"
    else:
        limit = curvature.gd_limit(lr)
        name = f"2/η = {limit:.4g}"
    ratio = lam / limit
    head = (f"sharpness λ_max(H) = {lam:.4g} on {where} ({steps} Hessian-vector products, {seconds:.2g} s) "
            f"against {name} for lr {lr:g}: {ratio:.2g} of the limit")
    if opt in ADAPTIVE:
        tail = (f"; that limit is plain gradient descent's — {opt}'s (Adam's (2 + 2β₁)/((1 − β₁)η)) bounds its "
                "preconditioned sharpness, not measured here")
    elif ratio > 1:
        tail = ("; above it: gradient descent at this lr cannot settle here along the top eigenvector (full-batch "
                "GD oscillates or diverges, or hovers at the edge of stability; Cohen et al. 2021)")
    else:
        tail = "; below it: gradient descent at this lr is stable along the sharpest direction here"
    return {"sharpness": lam, "limit": float(limit), "ratio": float(ratio), "lr": float(lr), "optimizer": opt,
            "hvp_products": int(steps), "seconds": seconds, "sentence": head + tail}


def for_mlplab(model, X, y, lr: float, optimizer: str = "sgd", momentum: float = 0.0, seed: int = 0) -> dict:
    """The line for an mlplab network on (X, y) with its cross-entropy (the check-up's loss)."""
    from ..curvature import NetworkCurvature

    curv = NetworkCurvature(model, np.asarray(X), np.asarray(y), loss="cross_entropy")
    return line(curv.hvp, curv.n_params, lr, optimizer, momentum, seed)


def _skipped(why: str) -> dict:
    return {"skipped": why, "sentence": f"sharpness not measured: {why}"}


def for_torch(model, x, lr: float, optimizer: str = "sgd", seed: int = 0, labels=None, threads: int | None = None
              ) -> dict:
    """The line for a torch module on the input batch ``x`` with the check-up's loss: cross-entropy on the random
    labels it draws (the same draw, ``default_rng([seed, 2])``), or on integer ``labels`` if given. ``{"skipped":
    reason, "sentence"}`` where the check-up's input or loss is not a plain (batch, features) tensor to (batch,
    classes) logits."""
    import torch

    if isinstance(x, np.ndarray) and x.dtype.kind == "f":  # the CLI's N(0, S²) batch, an array like the check-up's
        x = torch.as_tensor(x)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return _skipped("the input is not one float tensor (token ids, a tuple or a dict)")
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype)
    x = x.to(dtype)
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] < 2:
        return _skipped("the output is not (batch, classes) logits, whose cross-entropy the line measures")
    if labels is None:
        labels = np.random.default_rng([seed, 2]).integers(0, int(out.shape[1]), size=int(out.shape[0]))
    labels = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if labels.dtype.kind not in "iu" or labels.shape != (int(out.shape[0]),):
        return _skipped("the labels are not one class index per example")
    from ..curvature.torch_hvp import TorchCurvature
    from .pytorch.hygiene import torch_threads

    # torch's threads as the check-up takes them (from the free cores): on this busy 2-core machine one
    # Hessian-vector product of a 20-layer, 64-wide tanh chain took 2.8 s with torch's default 2 threads, 0.05 s with 1
    with torch_threads(torch, threads):
        curv = TorchCurvature(model, x.detach().cpu().numpy(), labels, loss="cross_entropy")
        return line(curv.hvp, curv.n_params, lr, optimizer, 0.0, seed)
