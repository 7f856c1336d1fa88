"""``mlplab diagnose``: options, validation and the rich table for :mod:`mlplab.diagnose`'s check-up."""

from __future__ import annotations

import json
import sys

from ..settings import DIAGNOSE_DEFAULTS as DEFAULTS
from ..settings import validate_diagnose
from .options import UsageError


def add_arguments(p) -> None:
    """The options of ``mlplab diagnose`` (on the subparser ``p``)."""
    p.description = ("Check a network's initialization layer by layer: activation mean/std, saturated or dead "
                     "units, gradient norms and update sizes after a few steps, beside what theory predicts; "
                     "a verdict per layer and a recommended change.")
    p.add_argument("run_dir", nargs="?", help="a run directory of `mlplab train` (config.json + model.npz); "
                                              "omit to diagnose a fresh network from --layers/--activation/--init")
    p.add_argument("--layers", help=f"comma-separated layer sizes (default {DEFAULTS['layers']})")
    p.add_argument("--activation", help="relu (default), leaky_relu, tanh, sigmoid, identity (any case, - or _)")
    p.add_argument("--init", help="weight init: he (default), xavier, lecun, std=0.01, zeros, ... "
                                  "(see `mlplab init list`)")
    p.add_argument("--bias-init", help="bias init (default zeros)")
    p.add_argument("--dataset", help="mnist (default) or fashion-mnist: a batch of real images")
    p.add_argument("--input-std", type=float, help="use Gaussian input N(0, S²) with random labels instead")
    p.add_argument("--batch-size", type=int, help="probe/step batch size (default 256)")
    p.add_argument("--steps", type=int, help="optimizer steps before measuring update sizes (default 5)")
    p.add_argument("--optimizer", help="optimizer for the steps (default sgd; a run dir: the run's)")
    p.add_argument("--lr", type=float, help="learning rate for the steps (default: the optimizer's)")
    p.add_argument("--seed", type=int, help="seed for the weights and the batch (default 0)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON only")


def _validate(args) -> dict:
    """The options, checked by :func:`mlplab.settings.validate_diagnose` (the messages train gives too)."""
    keys = ("layers", "activation", "init", "bias_init", "dataset", "batch_size", "steps", "optimizer", "seed", "lr",
            "input_std")
    return validate_diagnose({k: getattr(args, k, None) for k in keys}, run_dir=bool(getattr(args, "run_dir", None)))


_STYLE = {"measured": "cyan", "healthy": "green", "vanishing": "yellow", "exploding": "red", "saturating": "magenta",
          "dead": "red", "symmetric": "red"}


def _g(x, pct=False) -> str:
    if x is None:
        return "–"
    if pct:
        return f"{x:.0%}"
    if abs(x) < 1e-12:  # also the rounding residue of integrals that are 0 by symmetry
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.1e}"


def _span(layers: list[int]) -> str:
    """[1, 2, 3, 7] -> "1–3, 7"."""
    parts, i = [], 0
    while i < len(layers):
        j = i
        while j + 1 < len(layers) and layers[j + 1] == layers[j] + 1:
            j += 1
        parts.append(str(layers[i]) if i == j else f"{layers[i]}–{layers[j]}")
        i = j + 1
    return ", ".join(parts)


def _print(result) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    cfg = result["config"]
    arch = "-".join(map(str, cfg["layers"]))
    src = (f"Gaussian input (std {cfg['input_std']:g})" if cfg.get("input_std") else f"a batch of {cfg.get('dataset')}")
    st = result["steps"]
    origin = f" ({cfg['source']})" if cfg.get("source") not in (None, "config") else ""
    con.print(escape(f"mlplab diagnose: {arch} {cfg['activation']}, init {cfg.get('init')}{origin}; {src}, "
                     f"{result['input']['examples']} examples (std {result['input']['std']:.3g}); "
                     f"theory from {result['theory_basis']}"), style="bold")
    table = Table(caption="measured (theory); sat./dead: sigmoid/tanh outputs within 0.01 of a bound, "
                          "ReLU units 0 on the whole batch", caption_justify="left")
    for col in ("layer", "shape", "φ", "act mean", "act std", "sat./dead", "‖∂L/∂W‖", f"‖ΔW‖/‖W‖ @{st['steps']}",
                "verdict"):
        table.add_column(col, justify="left" if col in ("φ", "verdict") else "right", no_wrap=True)
    short = {"identity": "linear", "sigmoid": "sigmoid", "leaky_relu": "leaky"}
    for r in result["layers"]:
        th = r["theory"]
        if r["activation"] in ("sigmoid", "tanh"):
            sd = f"{_g(r['saturated'], True)} ({_g(th['saturated'], True)})"
        elif r["activation"] in ("relu", "leaky_relu"):
            sd = f"{_g(r['dead'], True)} (0%)"
        else:
            sd = ""
        v = r["verdict"]
        table.add_row(str(r["layer"]), f"{r['fan_in']}→{r['fan_out']}", short.get(r["activation"], r["activation"]),
                      f"{_g(r['act_mean'])} ({_g(th['act_mean'])})", f"{_g(r['act_std'])} ({_g(th['act_std'])})", sd,
                      f"{_g(r['weight_grad_norm'])} ({_g(th['weight_grad_norm'])})", _g(r["update_ratio"]),
                      f"[{_STYLE[v]}]{v}[/]")
    con.print(table)
    groups: dict[str, list[dict]] = {}
    for r in result["layers"]:
        if r["verdict"] not in ("healthy", "measured"):  # a trained run's measurements are no problem
            groups.setdefault(r["verdict"], []).append(r)
    for v, rows in groups.items():
        n = len(rows)
        con.print(f"  [{_STYLE[v]}]{v}[/] ({'layer' if n == 1 else 'layers'} {_span([r['layer'] for r in rows])}): "
                  + escape(f"layer {rows[0]['layer']}: {rows[0]['reason']}" if n > 1 else rows[0]["reason"]))
    loss = f"loss {_g(st['loss_before'])} → {_g(st['loss_after'])}"
    con.print(escape(f"{st['steps']} {st['optimizer']} step{'s' if st['steps'] != 1 else ''} (lr {_g(st['lr'])}): "
                     f"{loss}") + (f"; [red]{escape(st['diverged'])}[/]" if st["diverged"] else ""))
    v = result["verdict"]
    con.print(f"[bold]verdict: [{_STYLE[v]}]{v}[/][/] — {escape(result['reason'])}")
    con.print(f"[bold]recommendation:[/] {escape(result['recommendation'])}")


def main(args) -> int:
    """Run the diagnosis for parsed ``args``; prints a rich table (or JSON with ``--json``)."""
    from ..diagnose import diagnose_config, diagnose_run

    s = _validate(args)
    try:
        if getattr(args, "run_dir", None):
            result = diagnose_run(args.run_dir, input_std=s["input_std"], dataset=getattr(args, "dataset", None),
                                  batch_size=s["batch_size"], steps=s["steps"],
                                  optimizer=getattr(args, "optimizer", None) and s["optimizer"], lr=s["lr"],
                                  seed=s["seed"])
        else:
            from .. import memory

            est = memory.estimate_training(s["sizes"], s["batch_size"], s["optimizer"], {"lr": s["lr"]} if s["lr"]
                                           else None, activation=s["activation"], checkpoints=False,
                                           eval_rows=s["batch_size"])
            memory.check_fits(est, f"--layers {','.join(map(str, s['sizes']))} with --batch-size {s['batch_size']}")
            result = diagnose_config(s["sizes"], s["activation"], s["init"], s["bias_init"], s["dataset"],
                                     s["input_std"], s["batch_size"], s["steps"], s["optimizer"], s["lr"], s["seed"])
    except ValueError as e:
        raise UsageError(str(e)) from None
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print(result)
    return 0


def register(sub):
    dg = sub.add_parser("diagnose", help="check a network's initialization layer by layer")
    add_arguments(dg)
    dg.set_defaults(func=main)
