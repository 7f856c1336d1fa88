"""One measurement of a model's curvature as plain numbers (what ``mlplab curvature`` prints and saves).

:func:`measure` takes any object with ``hvp``, ``n_params`` and ``blocks`` (:class:`~.hvp.NetworkCurvature`,
:class:`~.torch_hvp.TorchCurvature`) and returns a JSON-ready dict: the top-k and most negative
eigenvalues (Lanczos), Hutchinson's trace ± its standard error, the SLQ density's nodes and weights, and
per layer (the diagonal blocks) the top eigenvalue and the trace. :func:`exact_check` builds the dense
Hessian (n² float64 numbers) after checking that it fits in memory, and compares.
"""

from __future__ import annotations

import time

import numpy as np

from .spectrum import block_hvp, dense_matrix, hutchinson_trace, slq, top_eigen

__all__ = ["measure", "exact_check", "check_k", "dense_bytes", "check_dense_fits", "load_run"]


def check_k(k, n_params) -> int:
    if int(k) < 1 or int(k) > n_params:
        raise ValueError(f"--k {k}: the model has {n_params} parameters, so k must lie in 1..{n_params}")
    return int(k)


def measure(curv, k=5, bottom=1, samples=50, probes=4, steps=40, seed=0, per_layer=True, lr=None) -> dict:
    """The numbers of one model at its current weights; every random draw from ``seed``."""
    n = curv.n_params
    check_k(k, n)
    t0 = time.perf_counter()
    top, vecs = top_eigen(curv.hvp, n, k=k, which="LA", rng=np.random.default_rng([seed, 0]))
    low, _ = top_eigen(curv.hvp, n, k=min(bottom, n), which="SA", rng=np.random.default_rng([seed, 1])) \
        if bottom else (np.zeros(0), None)
    trace = hutchinson_trace(curv.hvp, n, samples=samples, rng=np.random.default_rng([seed, 2]))
    dens = slq(curv.hvp, n, probes=probes, steps=min(steps, n), rng=np.random.default_rng([seed, 3]))
    out = {"n_params": n, "top": top.tolist(), "bottom": low.tolist(), "trace": trace.value,
           "trace_stderr": trace.stderr, "trace_samples": samples, "density": dens.as_dict(), "seed": seed}
    if lr is not None:
        out["lr"] = lr
        out["gd_limit"] = 2.0 / lr
    if per_layer:
        layers = []
        for i, (name, sl) in enumerate(curv.blocks):
            f, size = block_hvp(curv.hvp, n, sl)
            lam = top_eigen(f, size, k=1, rng=np.random.default_rng([seed, 4, i]))[0][0]
            tr = hutchinson_trace(f, size, samples=max(2, samples // 2), rng=np.random.default_rng([seed, 5, i]))
            layers.append({"name": name, "size": size, "top": float(lam), "trace": tr.value, "trace_stderr": tr.stderr})
        out["layers"] = layers
    out["seconds"] = time.perf_counter() - t0
    return out


def dense_bytes(n_params) -> int:
    """Memory of the exact check: H and its eigen-decomposition's workspace, about 3 n² float64 numbers."""
    return 3 * 8 * int(n_params) ** 2


def check_dense_fits(n, available=None) -> None:
    """Raise :class:`mlplab.runtime.memory.NotEnoughMemory` (one line, both numbers) when the dense n×n check
    cannot fit."""
    from ..runtime.memory import NotEnoughMemory, available_memory, format_bytes

    need = dense_bytes(n)
    room, source = available if available is not None else available_memory()
    if room is None:  # nothing says how much there is: assume a modest machine rather than try terabytes
        room, source = 8 * 10**9, "no memory figure could be read, so 8 GB is assumed"
    if need > room:
        raise NotEnoughMemory(f"--exact builds the {n}×{n} Hessian, {format_bytes(need)}, but only "
                              f"{format_bytes(room)} is available ({source}); drop --exact, or check a smaller model")


def exact_check(curv, result, available=None) -> dict:
    """The dense Hessian's eigenvalues and trace beside the matrix-free ones (raises
    :class:`mlplab.runtime.memory.NotEnoughMemory` when n² does not fit)."""
    check_dense_fits(curv.n_params, available)
    n = curv.n_params
    w = np.linalg.eigvalsh(dense_matrix(curv.hvp, n))
    top = np.asarray(result["top"])
    exact_top = w[::-1][:len(top)]
    return {"top": exact_top.tolist(), "trace": float(w.sum()), "bottom": w[:len(result["bottom"])].tolist(),
            "max_rel_error_top": float(np.max(np.abs(top - exact_top) / np.maximum(np.abs(exact_top), 1e-300))),
            "trace_z": float((result["trace"] - w.sum()) / result["trace_stderr"]) if result["trace_stderr"] else 0.0}


def load_run(run_dir):
    """(model, config) of a run folder of ``mlplab train``: config.json says which network, model.npz (or the
    checkpoint) holds its weights; nothing read can run code. Every problem is a one-line ValueError."""
    import json
    from pathlib import Path

    from .. import folderkind, nn
    from ..train import CHECKPOINT_FILE, MODEL_FILE, load_checkpoint

    d = Path(run_dir)
    if not d.is_dir():
        raise ValueError(f"{d} is not a folder: give a run folder of `mlplab train` (config.json + model.npz)")
    folderkind.check(d, "run", "mlplab curvature", reads=True)
    if not (d / "config.json").is_file():
        raise ValueError(f"{d} holds no config.json: not a run folder written by `mlplab train`")
    try:
        cfg = json.loads((d / "config.json").read_text())
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
        layers = cfg.get("layers", "784,100,10")
        sizes = [int(s) for s in (layers.split(",") if isinstance(layers, str) else layers)]
    except (ValueError, OSError, TypeError) as e:
        raise ValueError(f"{d / 'config.json'} is damaged ({e}); it cannot say which network to build") from None
    model = nn.MLP(sizes, activation=cfg.get("activation", "relu"), weight_init="zeros", bias_init="zeros",
                   dtype=np.dtype(cfg.get("dtype", "float32")))
    if (d / MODEL_FILE).is_file():
        try:
            model.load(d / MODEL_FILE)
        except Exception as e:  # not a zip, cut short, another network's arrays
            raise ValueError(f"{d / MODEL_FILE} cannot be read as this run's network ({type(e).__name__}); it is "
                             "damaged or from another run") from None
    elif (d / CHECKPOINT_FILE).is_file():
        try:
            model.load_state_dict(load_checkpoint(d)["model"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{d / CHECKPOINT_FILE} does not hold this run's network ({type(e).__name__})") from None
    else:
        raise ValueError(f"{d} holds neither {MODEL_FILE} nor {CHECKPOINT_FILE}: no trained model to measure "
                         "(train one with `mlplab train --out DIR`)")
    return model, cfg
