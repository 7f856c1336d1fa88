"""``mlplab curvature``: the Hessian's top eigenvalues, trace and spectral density of a trained run or a
PyTorch model (:mod:`mlplab.curvature`); a table, ``--json``, and the density figure with ``--figure``."""

from __future__ import annotations

import json
import math
import sys

import numpy as np

from .options import UsageError


def register(sub) -> None:
    p = sub.add_parser("curvature", help="sharpness, trace and spectral density of a trained run or a PyTorch model",
                       description="The loss's Hessian at a model's weights, matrix-free: the top-k eigenvalues "
                                   "(Lanczos), the most negative one, the trace (Hutchinson ± standard error), the "
                                   "spectral density (stochastic Lanczos quadrature) and each layer's block.")
    p.add_argument("run_dir", nargs="?", help="a run folder of `mlplab train` (config.json + model.npz)")
    p.add_argument("--k", type=int, default=5, help="how many top eigenvalues (default 5)")
    p.add_argument("--examples", type=int, default=1000,
                   help="training examples the loss is averaged over (default 1000)")
    p.add_argument("--loss", choices=("cross_entropy", "mse", "half_mse"), default="cross_entropy",
                   help="the loss (default cross_entropy; half_mse = ½‖f − onehot‖² averaged over examples)")
    p.add_argument("--samples", type=int, default=50, help="Hutchinson probes for the trace (default 50)")
    p.add_argument("--probes", type=int, default=4, help="SLQ probes for the density (default 4)")
    p.add_argument("--steps", type=int, default=40, help="Lanczos steps per SLQ probe (default 40)")
    p.add_argument("--no-layers", action="store_true", help="skip the per-layer blocks")
    p.add_argument("--exact", action="store_true",
                   help="also build the dense Hessian and compare (small models only: n² numbers)")
    p.add_argument("--lr", type=float, help="compare the sharpness with 2/lr (a run: its own lr by default)")
    p.add_argument("--seed", type=int, default=0, help="seed for the examples and the probes (default 0)")
    p.add_argument("--figure", metavar="PATH.png", help="save the spectral density figure here")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON only")
    t = p.add_argument_group("a PyTorch model (needs pip install mlplab[torch])")
    t.add_argument("--torch", metavar="FILE.py:FACTORY", help="the torch.nn.Module that FACTORY() returns")
    t.add_argument("--input-shape", help="one example's shape, e.g. 784 or 1,28,28 (input N(0, 1), random labels)")
    t.add_argument("--state-dict", metavar="W.pt", help="load these weights (torch.save(model.state_dict(), W))")
    p.set_defaults(func=run)


def _check(args) -> None:
    for name in ("k", "examples", "samples", "probes", "steps"):
        v = getattr(args, name)
        if v < (2 if name == "samples" else 1):
            raise UsageError(f"--{name} {v}: must be at least {2 if name == 'samples' else 1}")
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be 0 or more")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr {args.lr}: must be a positive number")
    if bool(args.run_dir) == bool(args.torch):
        raise UsageError("give either a run folder or --torch FILE.py:FACTORY (with --input-shape)")
    if args.torch and not args.input_shape:
        raise UsageError("--torch needs --input-shape (one example's shape, e.g. 784 or 1,28,28)")
    if not args.torch and (args.input_shape or args.state_dict):
        raise UsageError("--input-shape and --state-dict describe a --torch model; drop them for a run folder")
    if args.figure and not args.figure.lower().endswith((".png", ".svg", ".pdf")):
        raise UsageError(f"--figure {args.figure}: give a .png, .svg or .pdf file name")


def _run_curvature(args):
    from .. import data
    from ..curvature import NetworkCurvature
    from ..curvature.summary import load_run

    model, cfg = load_run(args.run_dir)
    dataset = cfg.get("dataset", "mnist")
    X, y = data.load(dataset, "train")
    if args.examples > len(X):
        raise ValueError(f"--examples {args.examples}: {dataset} has {len(X)} training images")
    rows = np.random.default_rng([args.seed, 7]).choice(len(X), size=args.examples, replace=False)
    X, y = np.asarray(X[rows]), np.asarray(y[rows])
    return NetworkCurvature(model, X, y, loss=args.loss), _run_lr(args, cfg), f"{args.run_dir}"


def _run_lr(args, cfg):
    """The learning rate the sharpness is compared with: --lr, else the run's own when it trained with plain
    gradient steps (SGD: 2/η is its limit); an adaptive or momentum run's limit is another (see
    mlplab.curvature.stability), so no 2/η line is printed for it unless --lr asks."""
    from ..optim.registry import canonical_optimizer, optimizer_defaults

    if args.lr is not None:
        return args.lr
    try:
        opt = canonical_optimizer(cfg.get("optimizer") or "sgd")
    except (ValueError, KeyError):
        return None
    if opt != "sgd" or cfg.get("momentum"):
        return None
    lr = cfg.get("lr") if cfg.get("lr") is not None else optimizer_defaults(opt).get("lr")
    return float(lr) if lr else None


def _torch_curvature(args):
    from ..curvature.torch_hvp import TorchCurvature
    from ..diagnose.pytorch.user_model import input_batch, load_model, parse_shape

    model = load_model(args.torch, args.state_dict)
    shape = parse_shape(args.input_shape)
    X = input_batch(shape, batch_size=args.examples, seed=args.seed)
    import torch

    try:
        with torch.no_grad():
            out = model(torch.as_tensor(X[:2]))
    except Exception as e:
        raise ValueError(f"--torch: the model does not accept input of shape {shape} "
                         f"({type(e).__name__}: {' '.join(str(e).split())[:150]}); check --input-shape") from None
    if out.ndim != 2:
        raise ValueError(f"--torch: the model's output has shape {tuple(out.shape)}; the loss needs (batch, classes)")
    y = np.random.default_rng([args.seed, 8]).integers(0, out.shape[1], size=len(X))
    return TorchCurvature(model, X, y, loss=args.loss, dtype=torch.float64), args.lr, args.torch


def run(args) -> int:
    from ..curvature.summary import check_dense_fits, check_k, exact_check, measure

    _check(args)
    try:
        curv, lr, source = _torch_curvature(args) if args.torch else _run_curvature(args)
        check_k(args.k, curv.n_params)
        if args.exact:  # refuse before the long part when the dense matrix cannot fit
            check_dense_fits(curv.n_params)
        result = measure(curv, k=args.k, samples=args.samples, probes=args.probes, steps=args.steps, seed=args.seed,
                         per_layer=not args.no_layers, lr=lr)
        if args.exact:
            result["exact"] = exact_check(curv, result)
    except ValueError as e:
        raise UsageError(str(e)) from None
    result["source"] = source
    result["loss"] = args.loss
    result["examples"] = args.examples
    if args.figure:
        _figure(result, args.figure)
    if args.json:
        print(json.dumps(result))
    else:
        _print(result)
    return 0


def _figure(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..curvature import SLQ, density

    d = result["density"]
    res = SLQ([np.array(t) for t in d["nodes"]], [np.array(w) for w in d["weights"]], d["n"])
    lo = min(t.min() for t in res.nodes)
    hi = max(t.max() for t in res.nodes)
    pad = 0.05 * (hi - lo or 1)
    grid = np.linspace(lo - pad, hi + pad, 800)
    sigma = max((hi - lo) / 200, 1e-12)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.semilogy(grid, np.maximum(density(res, grid, sigma), 1e-12), color="C0")
    for lam in result["top"]:
        ax.axvline(lam, color="C3", lw=0.6, alpha=0.6)
    if result.get("gd_limit"):
        ax.axvline(result["gd_limit"], color="k", ls="--", lw=1, label=f"2/η = {result['gd_limit']:.3g}")
        ax.legend()
    ax.set_xlabel("eigenvalue λ of the Hessian")
    ax.set_ylabel("density (SLQ, log scale)")
    ax.set_title(f"spectral density; top-{len(result['top'])} in red; trace {result['trace']:.3g} "
                 f"± {result['trace_stderr']:.2g}", fontsize=9)
    fig.tight_layout()
    fig.set_layout_engine(None)  # tight_layout leaves a placeholder engine, and savefig would lay it out again
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print(result) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(file=sys.stdout)
    con.print(f"[bold]{result['source']}[/]: {result['n_params']:,} parameters, {result['loss']} over "
              f"{result['examples']:,} examples")
    top = ", ".join(f"{v:.5g}" for v in result["top"])
    con.print(f"top-{len(result['top'])} eigenvalues: {top}")
    if result["bottom"]:
        con.print(f"most negative eigenvalue: {result['bottom'][0]:.4g}")
    con.print(f"trace: {result['trace']:.5g} ± {result['trace_stderr']:.2g} (Hutchinson, {result['trace_samples']} "
              "probes; ± one standard error)")
    if result.get("gd_limit"):
        ratio = result["top"][0] / result["gd_limit"]
        con.print(f"sharpness / (2/η) = {ratio:.3g} at η = {result['lr']:g} "
                  f"({'unstable' if ratio > 1 else 'stable'} for gradient descent, whose limit 2/η is)")
    if result.get("layers"):
        t = Table(title="per layer (diagonal blocks)")
        for c in ("parameter", "size", "top eigenvalue", "trace ± s.e."):
            t.add_column(c, justify="left" if c == "parameter" else "right")
        for r in result["layers"]:
            t.add_row(r["name"], f"{r['size']:,}", f"{r['top']:.4g}", f"{r['trace']:.4g} ± {r['trace_stderr']:.2g}")
        con.print(t)
    if result.get("exact"):
        e = result["exact"]
        con.print(f"exact check: top-k relative error {e['max_rel_error_top']:.1e}; exact trace {e['trace']:.5g} "
                  f"(the estimate is {e['trace_z']:+.2f} standard errors away)")
