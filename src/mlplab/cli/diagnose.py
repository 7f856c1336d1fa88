"""``mlplab diagnose``: options, validation and the rich table for :mod:`mlplab.diagnose`'s check-up."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
    p.add_argument("--sharpness", action="store_true",
                   help="add the sharpness line: the loss's top Hessian eigenvalue on the batch against 2/η for the "
                        "learning rate (Lanczos: tens of Hessian-vector products, each ~2-4 forward+backward passes)")
    t = p.add_argument_group("a PyTorch network (needs pip install mlplab[torch])")
    t.add_argument("--torch", metavar="FILE.py:FACTORY", help="diagnose the torch.nn.Module that FACTORY() returns")
    t.add_argument("--input-shape", help="one example's shape, e.g. 784 or 1,28,28 (input: N(0, S²), S = "
                                         "--input-std, default 1); with --input-vocab the shape of the token ids")
    t.add_argument("--input-vocab", type=int, metavar="N",
                   help="the input is integer token ids drawn uniformly from [0, N) (an Embedding's input)")
    t.add_argument("--output", metavar="KEY|INDEX",
                   help="which part of the forward's result to train on when it returns a tuple or a dict "
                        "(default: the first tensor, or the 'logits' key)")
    t.add_argument("--overfit-batch", type=int, metavar="N",
                   help="also take N optimizer steps on the one batch and say whether its loss is driven down "
                        "(below 10%% of its start)")
    t.add_argument("--max-memory", metavar="SIZE",
                   help="refuse (exit 5) if the check-up's memory estimate exceeds SIZE, e.g. 4GB (it is always "
                        "refused beyond what the machine has available)")
    t.add_argument("--blas-threads", type=int, metavar="N",
                   help="torch's thread count for the check-up (default: the free cores)")
    t.add_argument("--state-dict", metavar="W.pt", help="load these weights (torch.save(model.state_dict(), W))")
    t.add_argument("--fix", choices=("he", "xavier", "lsuv", "critical"),
                   help="re-initialise a copy and diagnose it again: critical puts σ_w² on the critical line χ₁ = 1 "
                        "for each layer's activation and measured σ_b² (an mlplab network too); lsuv: --torch only")
    t.add_argument("--fix-weights", choices=("normal", "orthogonal"),
                   help="--fix critical's weights: Gaussian (default) or orthogonal of the same variance")
    t.add_argument("--fix-out", metavar="PATH", help="where --fix saves the weights (--torch: default "
                                                     "FILE_FACTORY_METHOD.pt here; an mlplab network: only if given)")
    t.add_argument("--fail-on", choices=("error", "warning"),
                   help="exit with status 1 if the overall verdict is this bad (for CI)")


def _validate(args) -> dict:
    """The options, checked by :func:`mlplab.settings.validate_diagnose` (the messages train gives too)."""
    keys = ("layers", "activation", "init", "bias_init", "dataset", "batch_size", "steps", "optimizer", "seed", "lr",
            "input_std")
    return validate_diagnose({k: getattr(args, k, None) for k in keys}, run_dir=bool(getattr(args, "run_dir", None)))


_STYLE = {"measured": "cyan", "healthy": "green", "vanishing": "yellow", "exploding": "red", "saturating": "magenta",
          "dead": "red", "symmetric": "red", "not_updated": "red", "no_signal": "yellow"}


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


def _print(result, title: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    if title:
        con.print(escape(title), style="bold")
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
    th = result.get("theory") or {}
    if th.get("applies"):
        con.print(escape(f"theory: {th['sentence']}"))
    if result.get("sharpness"):
        con.print(escape(f"check: {result['sharpness']['sentence']}"))
    v = result["verdict"]
    con.print(f"[bold]verdict: [{_STYLE[v]}]{v}[/][/] — {escape(result['reason'])}")
    con.print(f"[bold]recommendation:[/] {escape(result['recommendation'])}")


def main(args) -> int:
    """Run the diagnosis for parsed ``args``; prints a rich table (or JSON with ``--json``)."""
    from ..diagnose.network import diagnose_config, diagnose_run

    if getattr(args, "torch", None):
        return _main_torch(args)
    for opt in ("input_shape", "state_dict", "input_vocab", "output", "overfit_batch", "max_memory",
                "blas_threads"):
        if getattr(args, opt, None) is not None:
            raise UsageError(f"--{opt.replace('_', '-')} needs --torch FILE.py:FACTORY")
    fix, fix_weights, fix_out = _fix_options(args)
    if fix == "lsuv":
        raise UsageError("--fix lsuv rescales on a traced torch forward: it needs --torch FILE.py:FACTORY; an mlplab "
                         "network takes --fix critical, he or xavier")
    if fix_out is not None and not Path(fix_out).parent.is_dir():
        raise UsageError(f"--fix-out {fix_out!r}: the folder {str(Path(fix_out).parent)!r} does not exist")
    s = _validate(args)
    try:
        if getattr(args, "run_dir", None):
            result = diagnose_run(args.run_dir, input_std=s["input_std"], dataset=getattr(args, "dataset", None),
                                  batch_size=s["batch_size"], steps=s["steps"],
                                  optimizer=getattr(args, "optimizer", None) and s["optimizer"], lr=s["lr"],
                                  seed=s["seed"], fix=fix, fix_weights=fix_weights,
                                  sharpness=bool(getattr(args, "sharpness", False)))
        else:
            from ..runtime import memory

            est = memory.estimate_training(s["sizes"], s["batch_size"], s["optimizer"], {"lr": s["lr"]} if s["lr"]
                                           else None, activation=s["activation"], checkpoints=False,
                                           eval_rows=s["batch_size"])
            memory.check_fits(est, f"--layers {','.join(map(str, s['sizes']))} with --batch-size {s['batch_size']}")
            result = diagnose_config(s["sizes"], s["activation"], s["init"], s["bias_init"], s["dataset"],
                                     s["input_std"], s["batch_size"], s["steps"], s["optimizer"], s["lr"], s["seed"],
                                     fix=fix, fix_weights=fix_weights,
                                     sharpness=bool(getattr(args, "sharpness", False)))
    except ValueError as e:
        raise UsageError(str(e)) from None
    fixed = result.pop("fix", None)
    if fixed is not None and fix_out is not None:
        try:
            fixed["model"].save(fix_out)
        except OSError as e:
            raise UsageError(f"--fix-out {fix_out!r}: cannot write it ({e.strerror or e})") from None
    if getattr(args, "json", False):
        from ..diagnose.pytorch import from_result  # the same Diagnosis (and JSON schema) as --torch gives

        out = {**result, "diagnosis": from_result(result).to_dict()}
        if fixed is not None:
            out["fix"] = {**{k: v for k, v in fixed.items() if k != "model"}, "saved_to": fix_out,
                          "diagnosis": from_result(fixed["result"]).to_dict()}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _print(result)
        if fixed is not None:
            print()
            how = f" ({fixed['weights']} weights)" if fixed["weights"] else ""
            _print(fixed["result"], f"after --fix {fix}{how}"
                   + (f", weights saved to {fix_out}" if fix_out else " (not saved: --fix-out PATH saves them)"))
            for line in _critical_lines(fixed.get("critical")):
                print(f"  --fix critical: {line}")
    return _fail_on(args, result)


def _fix_options(args):
    """(--fix, --fix-weights, --fix-out), checked against each other."""
    fix, weights, out = getattr(args, "fix", None), getattr(args, "fix_weights", None), getattr(args, "fix_out", None)
    if weights is not None and fix != "critical":
        raise UsageError("--fix-weights goes with --fix critical")
    if out is not None and not fix:
        raise UsageError("--fix-out needs --fix critical|he|xavier|lsuv")
    return fix, weights or "normal", out


def _critical_lines(notes) -> list[str]:
    """One line per run of layers that got the same (activation, σ_w², σ_b²) from --fix critical."""
    runs: list[list] = []  # [key, first layer, last layer]
    for n in notes or []:
        key = (n["activation"], n["sigma_w2"], n["sigma_b2"])
        if runs and runs[-1][0][0] == key[0] and abs(runs[-1][0][1] - key[1]) <= 1e-3 * key[1] \
                and abs(runs[-1][0][2] - key[2]) <= 1e-3 * max(key[2], 1e-12):
            runs[-1][2] = n["layer"]
        else:
            runs.append([key, n["layer"], n["layer"]])
    return [(f"layers {a}–{b}" if a != b else f"layer {a}") + f": {k[0]} at σ_b² = {k[2]:.3g} → σ_w² = {k[1]:.4g} "
            "(χ₁ = 1)" for k, a, b in runs]


def _fail_on(args, result) -> int:
    """1 if ``--fail-on LEVEL`` and the overall verdict (ok < warning < error) is at least LEVEL."""
    level = getattr(args, "fail_on", None)
    if not level:
        return 0
    from ..diagnose.pytorch import LEVELS, from_result

    overall = result.overall if hasattr(result, "overall") else from_result(result).overall
    return 1 if LEVELS.index(overall) >= LEVELS.index(level) else 0


class _UserPrints:
    """stdout while the user's code runs: its prints go to standard error (never into --json), counted."""

    def __init__(self):
        self.lines = 0

    def write(self, text):
        self.lines += str(text).count("\n")
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


def _main_torch(args) -> int:
    """``--torch FILE.py:FACTORY``: diagnose a user's PyTorch network (mlplab.diagnose.pytorch)."""
    import contextlib
    import warnings
    from pathlib import Path

    from ..diagnose import pytorch as dt

    mlplab_only = [f"--{k.replace('_', '-')}" for k in ("layers", "activation", "init", "bias_init", "dataset")
                   if getattr(args, k, None) is not None]
    if getattr(args, "run_dir", None) or mlplab_only:
        raise UsageError(f"{', '.join((['RUN_DIR'] if getattr(args, 'run_dir', None) else []) + mlplab_only)} "
                         "describe an mlplab network; with --torch the network comes from FILE.py:FACTORY")
    if getattr(args, "input_shape", None) is None:
        raise UsageError("--torch needs --input-shape: one example's shape, e.g. 784 or 1,28,28"
                         + (" (for token ids: the sequence length, e.g. 32)" if args.input_vocab else ""))
    _fix_options(args)
    if args.input_vocab is not None and args.input_std is not None:
        raise UsageError("--input-vocab draws integer token ids; --input-std sets a Gaussian input: give one of them")
    batch = 256 if args.batch_size is None else args.batch_size
    steps = 3 if args.steps is None else args.steps
    opt = (args.optimizer or "sgd").lower()
    for flag, value, ok, what in (("--batch-size", batch, batch >= 1, "a whole number >= 1"),
                                  ("--steps", steps, steps >= 0, "a whole number >= 0"),
                                  ("--seed", args.seed, args.seed is None or args.seed >= 0, "a whole number >= 0"),
                                  ("--lr", args.lr, args.lr is None or args.lr > 0, "a number > 0"),
                                  ("--input-std", args.input_std, args.input_std is None or args.input_std > 0,
                                   "a number > 0"),
                                  ("--input-vocab", args.input_vocab, args.input_vocab is None or args.input_vocab >= 1,
                                   "a whole number >= 1 (the vocabulary size)"),
                                  ("--overfit-batch", args.overfit_batch,
                                   args.overfit_batch is None or args.overfit_batch >= 1, "a whole number >= 1"),
                                  ("--blas-threads", args.blas_threads,
                                   args.blas_threads is None or args.blas_threads >= 1, "a whole number >= 1")):
        if not ok:
            raise UsageError(f"{flag} must be {what}, got {value:g}")
    if opt not in ("sgd", "adam"):
        raise UsageError(f"--optimizer {args.optimizer!r}: a torch model takes sgd or adam")
    seed = args.seed or 0
    prints = _UserPrints()
    with contextlib.redirect_stdout(prints), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            output = dt.parse_output(args.output)
            max_memory = None if args.max_memory is None else dt.parse_bytes(args.max_memory)
            kw = {"steps": steps, "optimizer": opt, "lr": args.lr, "seed": seed, "output": output,
                  "overfit_batch": args.overfit_batch or 0, "max_memory": max_memory, "threads": args.blas_threads}
            dt._torch()
            shape = dt.parse_shape(args.input_shape)
            model = dt.load_model(args.torch, args.state_dict)
            x = dt.input_batch(shape, batch, args.input_std or 1.0, seed, vocab=args.input_vocab)
            d = _torch_run(dt.diagnose_torch, model, x, args, kw)
            if getattr(args, "sharpness", False):
                from ..diagnose.sharpness import for_torch

                d.checks["sharpness"] = for_torch(model, x, d.steps["lr"], opt, seed, threads=args.blas_threads)
            fixed = None
            if args.fix:
                import copy

                import torch

                state = _torch_run(lambda m, xb, **_: dt.fix_weights(m, args.fix, xb, seed,
                                                                     weights=_fix_options(args)[1]), model, x, args, {})
                file, _, factory = args.torch.rpartition(":")
                out = Path(args.fix_out or f"{Path(file).stem}_{factory}_{args.fix}.pt")
                if not out.parent.is_dir():  # torch.save says so with a RuntimeError
                    raise UsageError(f"--fix-out {str(out)!r}: the folder {str(out.parent)!r} does not exist")
                try:
                    torch.save(dict(state), out)
                except OSError as e:
                    raise UsageError(f"--fix-out {str(out)!r}: cannot write it ({e.strerror or e})") from None
                fixed_model = copy.deepcopy(model)
                fixed_model.load_state_dict(dict(state))
                fixed = (str(out), _torch_run(dt.diagnose_torch, fixed_model, x, args, kw), state.skipped,
                         state.critical)
        except ImportError as e:
            raise UsageError(str(e)) from None
        except ValueError as e:
            raise UsageError(str(e)) from None
    for w in {(str(w.category.__name__), " ".join(str(w.message).split())) for w in caught}:
        print(f"note: a warning during the check-up (one line, without its source path): {w[0]}: {w[1][:300]}",
              file=sys.stderr)
    if prints.lines:
        print(f"note: the model's code printed {prints.lines} line{'s' if prints.lines != 1 else ''} (above, on "
              "standard error, kept out of the report)", file=sys.stderr)
    if getattr(args, "json", False):
        out = {"model": args.torch, "diagnosis": d.to_dict()}
        if fixed:
            out["fix"] = {"method": args.fix, "saved_to": fixed[0], "skipped": fixed[2],
                          "diagnosis": fixed[1].to_dict()}
            if args.fix == "critical":
                out["fix"].update(weights=_fix_options(args)[1], critical=fixed[3])
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        what = (f"token ids in [0, {args.input_vocab})" if args.input_vocab
                else f"input N(0, {args.input_std or 1:g}²)")
        _print_torch(d, f"mlplab diagnose --torch {args.torch}: {what} of shape {(batch, *shape)}")
        if fixed:
            _print_torch(fixed[1], f"after --fix {args.fix} (weights saved to {fixed[0]}):")
            for line in fixed[2] + _critical_lines(fixed[3]):
                print(f"  --fix {args.fix}: {line}")
    return _fail_on(args, d)


def _torch_run(fn, model, x, args, kw):
    """Run the user's forward; its failure on the input (a shape or dtype mismatch) is a one-line usage error
    that names the options that made the input."""
    from ..diagnose.pytorch import ForwardFailed

    try:
        return fn(model, x, **kw)
    except ForwardFailed as e:
        opts = "--input-shape and --input-vocab" if args.input_vocab else "--input-shape (or --input-vocab N for " \
            "token ids)"
        raise UsageError(f"{e}; check {opts}") from None


_LEVEL_STYLE = {"ok": "green", "warning": "yellow", "error": "red"}


def _print_torch(d, title) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..diagnose.pytorch import _COLUMNS, _cells

    con = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
    con.print(escape(title), style="bold")
    table = Table(caption="measured (theory); sat./dead: sigmoid/tanh outputs within 0.01 of a bound, ReLU units 0 "
                          "on the whole batch", caption_justify="left")
    for col in _COLUMNS:
        table.add_column(col, justify="left" if col in ("name", "φ", "verdict") else "right", no_wrap=True)
    for lay, row in zip(d.layers, _cells(d)):
        table.add_row(*map(escape, row[:-1]), f"[{_LEVEL_STYLE[lay.verdict]}]{escape(row[-1])}[/]")
    con.print(table)
    for s in d.not_analysed:
        con.print(escape(f"  not analysed: {s['what']} in {s['where']}"))
    for n in d.notes:
        con.print(escape(f"  note: {n}"))
    for lay in d.layers:
        if lay.verdict != "ok":
            con.print(f"  [{_LEVEL_STYLE[lay.verdict]}]layer {lay.index}[/] ({escape(lay.name)}): "
                      + escape(lay.sentence))
    if d.coverage:
        con.print(escape(f"coverage: {d.coverage['summary']}"))
    for c in d.checks.values():
        con.print(escape(f"check: {c['sentence']}"))
    if d.theory.get("applies"):
        con.print(escape(f"theory: {d.theory['sentence']}"))
    summary = d.summary[len(d.overall) + 1:].lstrip() if d.summary.startswith(d.overall + ":") else d.summary
    con.print(f"[bold]verdict: [{_LEVEL_STYLE[d.overall]}]{d.overall}[/][/] — {escape(summary)}")
    con.print(f"[bold]recommendation:[/] {escape(d.recommendation)}")


def register(sub):
    dg = sub.add_parser("diagnose", help="check a network's initialization layer by layer")
    add_arguments(dg)
    dg.set_defaults(func=main)
