"""``mlplab sweep``: each optimizer at its own tuned learning rate, over seeds, with confidence intervals.

``mlplab sweep --optimizers sgd,momentum,adagrad,adam --lr-grid 8 --seeds 5 --epochs 1 --out DIR``
runs (or resumes) a sweep; ``mlplab sweep --config sweep.toml`` takes the full settings from a file
(options given on the command line win); ``mlplab sweep report DIR`` draws the figures and writes
the section. Every bad option or TOML key is one line and exit status 2.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .options import EXIT_INTERRUPTED, UsageError, console

PROBLEM_OPTIONS = ("dataset", "layers", "activation", "init", "batch_size", "epochs", "iterations", "train_size",
                   "val_split", "test_size", "data_seed")


def _lr_range(text):
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--lr-range {text!r}: give two numbers, e.g. 1e-4,1") from None
    return lo, hi


def _problem(args):
    p = {k: getattr(args, k) for k in PROBLEM_OPTIONS if getattr(args, k) is not None}
    if "val_split" in p:
        p["val_size"] = p.pop("val_split")
    return p


def _default(value, default):
    return default if value is None else value


def _settings(args):
    from ..sweep.settings import SweepSettings

    stack = {"auto": "auto", "on": True, "off": False}[args.stack] if args.stack else None
    top = {"optimizers": args.optimizers, "points": args.lr_grid, "seeds": args.seeds, "method": args.method,
           "search_seed": args.search_seed, "metric": args.metric, "stack": stack,
           "book": False if args.no_book else None,
           "lr_range": list(_lr_range(args.lr_range)) if args.lr_range else None}
    try:
        if args.config:
            return SweepSettings.from_toml(args.config, overrides=top, problem_overrides=_problem(args),
                                           label=f"--config {args.config}")
        return SweepSettings.from_options(
            optimizers=args.optimizers, lr_grid=_default(args.lr_grid, 8),
            lr_range=_lr_range(args.lr_range) if args.lr_range else None, seeds=_default(args.seeds, 5),
            method=_default(args.method, "grid"), search_seed=_default(args.search_seed, 0),
            metric=_default(args.metric, "accuracy"), book=not args.no_book, stack=_default(stack, "auto"),
            **_problem(args))
    except ValueError as e:
        raise UsageError(str(e)) from None


def _print_summary(con, summary):
    from rich.table import Table

    table = Table(title=f"tuned on validation {summary['metric']}; test accuracy over "
                        f"{len(summary['settings']['seeds'])} seeds (mean [95 % CI])")
    for col in ("optimizer", "best", "val", "test accuracy (%)", "book η: test (%)", "diverged", "rank"):
        table.add_column(col)
    ranks = {r["optimizer"]: r for r in summary.get("ranking", [])}

    def ci(st):
        if not st or st["mean"] is None:
            return "—"
        return f"{100 * st['mean']:.2f}" + (f" [{100 * st['ci'][0]:.2f}, {100 * st['ci'][1]:.2f}]" if st["ci"] else "")

    for o, e in summary["optimizers"].items():
        r = ranks.get(o)
        best = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in (e["best"] or {}).items())
        sel = e.get("selection")
        table.add_row(o, (best or "—") + (" (edge!)" if e.get("best_on_grid_edge") else ""),
                      f"{100 * sel['mean']:.2f}" if sel and sel["mean"] is not None else "—",
                      ci(e.get("test", {}).get("accuracy")), ci(e.get("book_test", {}).get("accuracy")),
                      f"{100 * e['diverged_fraction']:.0f} %",
                      "—" if not r else f"{r['rank']}" + (f" (tied: {', '.join(r['tied_with'])})" if r["tied_with"]
                                                          else ""))
    con.print(table)


def cmd_sweep(args):
    if args.target:
        if args.target[0] != "report" or len(args.target) != 2:
            raise UsageError(f"unexpected {' '.join(args.target)!r}: use `mlplab sweep [options]` or "
                             "`mlplab sweep report DIR`")
        return _cmd_report(Path(args.target[1]))
    from ..runlock import FolderInUse
    from ..sweep.executor import ExecutorError, make_executor
    from ..sweep.runner import OtherSweep, run_sweep

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive number of processes, got {args.jobs}")
    if args.scheduler and args.executor == "local":
        raise UsageError("--scheduler needs the Dask executor (leave out --executor local)")
    settings = _settings(args)
    out = Path(args.out or time.strftime("sweeps/%Y%m%d-%H%M%S"))
    from .folders import check_kind

    check_kind(out, "sweep", "mlplab sweep")  # before any worker starts: a run or lab folder is refused
    con = console()
    jobs = args.jobs or os.cpu_count() or 1
    try:
        executor = make_executor(args.executor or "local", jobs, args.scheduler)
    except ExecutorError as e:
        raise UsageError(str(e)) from None
    state = {"t": time.perf_counter(), "last": 0.0, "errors": set()}

    def progress(trial, result, done, total):
        now = time.perf_counter()
        error = result.get("error") if result["status"] == "failed" else None
        if error and error not in state["errors"]:  # why a trial failed, once per distinct reason
            state["errors"].add(error)
            print(f"  a trial failed ({trial['optimizer']} {trial['hparams']} seed {trial['seed']}): {error}",
                  file=sys.stderr, flush=True)
        if done == total or now - state["last"] > 2.0:
            state["last"] = now
            con.print(f"  {done}/{total} trials, {now - state['t']:.0f} s; last: {trial['optimizer']} "
                      f"{trial['hparams']} seed {trial['seed']} → {result['status']}", highlight=False)

    try:
        summary = run_sweep(settings, out, executor, log=lambda m: con.print(m, highlight=False), progress=progress)
    except (FolderInUse, OtherSweep) as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        con.print(f"interrupted: every finished trial is kept in {out}; run the same command again to resume")
        return EXIT_INTERRUPTED
    except OSError as e:
        raise UsageError(f"cannot write to {out}: {e.strerror or e}") from None
    finally:
        executor.shutdown(wait=False, cancel_futures=True) if hasattr(executor, "_pool") else executor.shutdown()
    _print_summary(con, summary)
    if args.report:
        _cmd_report(out)
    return 0


def render(folder) -> list[Path]:
    """Draw a sweep's figures and write section.md, numbers.json and meta.json into ``folder`` (the
    files of a lab study, so ``mlplab report DIR`` can put the sweep in the HTML report)."""
    import json

    from ..lab.optimizers_tuned import draw_sweep, write
    from ..sweep.runner import SUMMARY_FILE
    from .folders import check_kind

    folder = Path(folder)
    check_kind(folder, "sweep", "mlplab sweep report", reads=True)  # a run's summary.json is not a sweep's
    path = folder / SUMMARY_FILE
    if not path.exists():
        raise UsageError(f"no {SUMMARY_FILE} in {folder}: run `mlplab sweep --out {folder}` first")
    try:  # JSON only; a damaged or foreign file is one line, not a KeyError from the drawing code
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("settings", "optimizers", "metric") if k not in summary]
        if missing or not isinstance(summary["optimizers"], dict) or not isinstance(summary["settings"], dict):
            raise ValueError(f"it has no {', '.join(missing) or 'optimizers and settings tables'}")
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} is damaged ({' '.join(str(e).split())[:120]}); run the same `mlplab sweep` again "
                         "to rewrite it (its finished trials are kept in trials.sqlite)") from None
    figs = draw_sweep(summary, folder)
    (folder / "section.md").write_text(write(summary))
    (folder / "numbers.json").write_text(json.dumps(summary, indent=2) + "\n")
    meta = {"name": "sweep", "title": "Tuned optimizer comparison (mlplab sweep)",
            "description": "each optimizer at its own tuned learning rate, over seeds, with confidence intervals",
            "source": "mlplab sweep", "quick": False, "seed": summary["settings"]["seeds"][0], "seconds": 0,
            "settings": summary["settings"], "figures": [{"file": f, "caption": c} for f, c in figs],
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return [folder / f for f, _ in figs]


def _cmd_report(folder):
    files = render(folder)
    print(f"figures: {', '.join(str(f) for f in files)}; section: {folder / 'section.md'}")
    return 0


def register(sub):
    s = sub.add_parser("sweep", help="tune each optimizer's learning rate over seeds and compare fairly",
                       description="Tune each optimizer on a validation split, re-train the best over all seeds, "
                                   "test once; `mlplab sweep report DIR` draws the figures.")
    s.add_argument("target", nargs="*", help="`report DIR` to draw a finished sweep")
    s.add_argument("--config", help="TOML file with the full settings (see mlplab.sweep.settings)")
    s.add_argument("--optimizers", help="comma-separated (default sgd,momentum,adagrad,adam)")
    s.add_argument("--lr-grid", type=int, metavar="N", help="learning rates per optimizer (default 8)")
    s.add_argument("--lr-range", metavar="LO,HI", help="one log range for every optimizer (default: per optimizer)")
    s.add_argument("--method", help="grid (default), random or sobol")
    s.add_argument("--search-seed", type=int, help="seed of the random/sobol points (default 0)")
    s.add_argument("--seeds", type=int, help="seeds per configuration (default 5)")
    s.add_argument("--metric", help="selection metric on validation: accuracy (default) or loss")
    s.add_argument("--no-book", action="store_true", help="do not also test the book's learning rates")
    s.add_argument("--stack", choices=("auto", "on", "off"),
                   help="train a seed's trials as one stacked model (auto: networks up to 20,000 parameters)")
    s.add_argument("--dataset", help="mnist (default), fashion-mnist or spirals")
    s.add_argument("--layers", help="comma-separated sizes (default 784,100,100,100,100,10)")
    s.add_argument("--activation", help="relu (default), tanh, sigmoid, ...")
    s.add_argument("--init", help="weight initializer (default he)")
    s.add_argument("--batch-size", type=int, help="mini-batch size (default 128)")
    s.add_argument("--epochs", type=int, help="epochs per trial (default 1)")
    s.add_argument("--iterations", type=int, help="steps per trial instead of epochs")
    s.add_argument("--train-size", type=int, metavar="N", help="use N training examples (default all)")
    s.add_argument("--val-split", type=int, metavar="N", help="of which N are the validation split (default 10000)")
    s.add_argument("--test-size", type=int, metavar="N", help="test examples (default all)")
    s.add_argument("--data-seed", type=int, help="seed of the subsets and the split (default 0)")
    s.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core)")
    s.add_argument("--executor", choices=("local", "dask"), help="local forked workers (default) or a Dask "
                                                                  "LocalCluster")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask cluster's scheduler")
    s.add_argument("--out", help="the sweep's folder (default sweeps/<time>); the same folder resumes")
    s.add_argument("--report", action="store_true", help="also draw the figures when done")
    s.set_defaults(func=cmd_sweep)
