"""``mlplab sweep``: each optimizer at its own tuned learning rate, over seeds, with confidence intervals.

``mlplab sweep --optimizers sgd,momentum,adagrad,adam --lr-grid 8 --seeds 5 --epochs 1 --out DIR``
runs (or resumes) a sweep; ``mlplab sweep --config sweep.toml`` takes the full settings from a file
(options given on the command line win); ``mlplab sweep report DIR`` draws the figures and writes
the section. Every bad option or TOML key is one line and exit status 2, as is a damaged
``trials.sqlite`` or a malformed ``--scheduler``. A machine problem is one line and status 5: the
folder in use, read-only or on a full disk, a scheduler where nothing listens, an executor lost
mid-sweep (trials the infrastructure could not run are never stored: the same command runs them);
a worker that cannot read the data is status 4. Ctrl-C and SIGTERM keep every finished trial (130).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .errors import one_line
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
           "search_space": args.space, "budget": args.budget, "target": args.target_accuracy,
           "search_seed": args.search_seed, "metric": args.metric, "stack": stack,
           "book": False if args.no_book else None,
           "lr_range": list(_lr_range(args.lr_range)) if args.lr_range else None}
    try:
        if args.config:
            return SweepSettings.from_toml(args.config, overrides=top, problem_overrides=_problem(args),
                                           label=f"--config {args.config}")
        return SweepSettings.from_options(
            optimizers=args.optimizers, lr_grid=args.lr_grid, space=args.space, budget=args.budget,
            target=args.target_accuracy,
            lr_range=_lr_range(args.lr_range) if args.lr_range else None, seeds=_default(args.seeds, 5),
            method=args.method, search_seed=_default(args.search_seed, 0),
            metric=_default(args.metric, "accuracy"), book=not args.no_book, stack=_default(stack, "auto"),
            **_problem(args))
    except ValueError as e:
        raise UsageError(str(e)) from None


def _print_summary(con, summary):
    from rich.table import Table

    from ..sweep.stats import SEED_INTERVAL_MIN, interval_text, time_to_target_text, too_few_seeds

    n = len(summary["settings"]["seeds"])
    table = Table(title=f"tuned on validation {summary['metric']}; test accuracy over {n} seeds: mean "
                        "[95 % t-interval over seeds, cut at 0 and 100 %], W: 95 % Wilson interval of every seed's "
                        "test answers pooled")
    for col in ("optimizer", "best", "val", "test accuracy (%)", "book setting: test (%)", "diverged", "rank"):
        table.add_column(col)
    ranks = {r["optimizer"]: r for r in summary.get("ranking", [])}

    def ci(entry):
        return interval_text(entry.get("accuracy"), entry.get("pooled"), compact=True) if entry else "—"

    for o, e in summary["optimizers"].items():
        r = ranks.get(o)
        best = _hparams_text(e["best"])
        sel = e.get("selection")
        table.add_row(o, (best or ("— (nothing learned)" if e.get("nothing_learned") else "—"))
                      + (" (edge!)" if e.get("best_on_grid_edge") else ""),
                      f"{100 * sel['mean']:.2f}" if sel and sel["mean"] is not None else "—",
                      ci(e.get("test")), ci(e.get("book_test")),
                      f"{100 * e['diverged_fraction']:.0f} %",
                      "—" if not r else f"{r['rank']}" + (f" (tied: {', '.join(r['tied_with'])})" if r["tied_with"]
                                                          else ""))
    con.print(table)
    if n < SEED_INTERVAL_MIN:
        con.print(f"{too_few_seeds(n)} (W still says how precisely the test set scored them)", highlight=False)
    for o, e in summary["optimizers"].items():
        tt = e.get("time_to_target")
        if tt:
            con.print(f"{o}: {time_to_target_text(tt)}", highlight=False)
    if summary.get("ranking_verdict"):
        con.print(f"verdict: {summary['ranking_verdict']['text']}", highlight=False)
    inc = summary.get("inclusion")
    if inc and inc.get("pairs"):
        con.print(f"inclusion (Choi et al. 2019): {inc['verdict']}: {inc['text']}", highlight=False)


def _hparams_text(hp: dict) -> str:
    """``lr=0.01, momentum=0.9``: settings as a person writes them, not a Python dict."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in (hp or {}).items())


def _workers(args, settings, con) -> int:
    """--jobs capped at the trials that can run at once and the usable cores, said in one line when it bites."""
    from ..sweep.executor import usable_cores
    from ..sweep.runner import _stacking, group_trials, plan_selection

    cores = usable_cores()
    trials = [t for cs in plan_selection(settings).values() for _, ts in cs for t in ts]
    tasks = len(group_trials(trials, _stacking(settings)))
    wanted = args.jobs or cores
    jobs = max(1, min(wanted, cores, tasks))
    if args.jobs and jobs < args.jobs:
        why = []
        if tasks < args.jobs:
            why.append(f"the sweep has {tasks} task{'s' if tasks != 1 else ''} to run at a time")
        if cores < args.jobs:
            why.append(f"this machine has {cores} usable core{'s' if cores != 1 else ''}")
        con.print(f"note: --jobs {args.jobs}: using {jobs} worker process{'es' if jobs != 1 else ''} "
                  f"({'; '.join(why)})", highlight=False, soft_wrap=True)
    return jobs


def _stop_signals():
    """Ctrl-C (SIGINT) and SIGTERM stop the sweep alike: every finished trial kept, the executor closed,
    the lock released. Besides raising KeyboardInterrupt, the handler asks the runner to stop
    (:func:`~mlplab.sweep.runner.request_stop`), since Python may deliver the exception inside a
    finalizer, where it is ignored. Returns the previous handlers (None off the main thread)."""
    import signal
    import threading

    from ..sweep.runner import clear_stop, request_stop

    if threading.current_thread() is not threading.main_thread():
        return None
    clear_stop()

    def stop(signum, frame):
        request_stop()
        raise KeyboardInterrupt

    return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}


def cmd_sweep(args):
    if args.target:
        if args.target[0] != "report" or len(args.target) != 2:
            raise UsageError(f"unexpected {' '.join(args.target)!r}: use `mlplab sweep [options]` or "
                             "`mlplab sweep report DIR`")
        return _cmd_report(Path(args.target[1]))
    import signal

    from ..sweep.executor import BadSchedulerAddress, ExecutorError, make_executor, quiet_dask_logs
    from ..sweep.runner import OtherSweep, TrialsNotRun, run_sweep
    from ..sweep.store import DamagedStore

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive number of processes, got {args.jobs}")
    if args.scheduler and args.executor == "local":
        raise UsageError("--scheduler needs the Dask executor (leave out --executor local)")
    if args.scheduler and args.jobs is not None:
        raise UsageError("--jobs does not apply to --scheduler: the cluster's own workers run the trials (start more "
                         "with `dask worker`)")
    if args.worker_wait is not None and not args.scheduler:
        raise UsageError("--worker-wait applies to --scheduler only (a LocalCluster starts its own workers)")
    if args.worker_wait is not None and not (0 < args.worker_wait < float("inf")):
        raise UsageError(f"--worker-wait must be a positive number of seconds, got {args.worker_wait:g}")
    settings = _settings(args)
    out = Path(args.out or time.strftime("sweeps/%Y%m%d-%H%M%S"))
    from .folders import check_kind

    check_kind(out, "sweep", "mlplab sweep")  # before any worker starts: a run or lab folder is refused
    con = console()
    jobs = 1 if args.scheduler else _workers(args, settings, con)
    previous = _stop_signals()
    executor = None
    try:
        if args.scheduler or args.executor == "dask":
            quiet_dask_logs()  # the command says what went wrong in its own line (Dask logs each retry)
        try:
            executor = make_executor(args.executor or "local", jobs, args.scheduler,
                                     **({"worker_wait": args.worker_wait} if args.worker_wait is not None else {}))
        except BadSchedulerAddress as e:
            raise UsageError(str(e)) from None
        except ExecutorError as e:
            if type(e) is ExecutorError:  # Dask missing, a bad worker count
                raise UsageError(str(e)) from None
            raise _Environment(str(e)) from None
        return _run(args, settings, out, executor, con, run_sweep)
    except (OtherSweep, DamagedStore) as e:
        raise UsageError(str(e)) from None
    except TrialsNotRun as e:
        from ..data import DataError

        if isinstance(e.cause, DataError):
            raise DataError(f"{e.missing} of {e.total} {e.phase} trials did not run: a worker cannot read the "
                            f"data ({one_line(getattr(e.cause, 'summary', None) or e.cause)[:300]}); nothing was "
                            "stored for them: fix the worker's data (`mlplab data fetch` there, or MLPLAB_DATA) and "
                            "run the same command again") from None
        raise _Environment(f"{e}; summary.json is marked partial" if e.partial_written else str(e)) from None
    except KeyboardInterrupt:
        if executor is not None and not hasattr(executor, "_pool"):
            quiet_dask_logs()
        con.print(f"interrupted: every finished trial is kept in {out}; run the same command again to resume",
                  highlight=False, soft_wrap=True)
        return EXIT_INTERRUPTED
    finally:
        if executor is not None:
            if hasattr(executor, "_pool"):
                executor.shutdown(wait=False, cancel_futures=True)
            else:
                executor.shutdown()
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)


class _Environment(OSError):
    """A machine problem that is not one file's (the executor lost): one line, exit status 5."""

    def __init__(self, text):
        super().__init__(text)
        self.errno, self.strerror, self.filename = None, text, None


def _run(args, settings, out, executor, con, run_sweep):
    state = {"t": time.perf_counter(), "last": 0.0, "errors": set()}

    def progress(trial, result, done, total):
        now = time.perf_counter()
        what = f"{trial['optimizer']} {_hparams_text(trial['hparams'])} seed {trial['seed']}"
        error = result.get("error") if result["status"] == "failed" else None
        if error and error not in state["errors"]:  # why a trial failed, once per distinct reason
            state["errors"].add(error)
            print(f"  a trial failed ({what}): {error}", file=sys.stderr, flush=True)
        if done == total or now - state["last"] > 2.0:
            state["last"] = now
            con.print(f"  {done}/{total} trials, {now - state['t']:.0f} s; last: {what} → {result['status']}",
                      highlight=False, soft_wrap=True)

    summary = run_sweep(settings, out, executor, log=lambda m: con.print(m, highlight=False, soft_wrap=True),
                        progress=progress, retry_failed=args.retry_failed)
    _print_summary(con, summary)
    failed = summary["trials"].get("failed", 0)
    if failed:
        con.print(f"note: {failed} trial{'s' if failed != 1 else ''} failed (see trials.sqlite's error column); "
                  "`--retry-failed` runs them again", highlight=False, soft_wrap=True)
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
        if summary.get("partial"):
            missing_why = summary.get("missing", {})
            reason = missing_why.get("reason", "trials are missing") if isinstance(missing_why, dict) else ""
            raise UsageError(f"{path} is partial ({reason or 'trials are missing'}); "
                             f"run the sweep again to complete it, then `mlplab sweep report {folder}`")
        missing = [k for k in ("settings", "optimizers", "metric") if k not in summary]
        if missing or not isinstance(summary["optimizers"], dict) or not isinstance(summary["settings"], dict):
            raise ValueError(f"it has no {', '.join(missing) or 'optimizers and settings tables'}")
    except UsageError:
        raise
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
    s.add_argument("--space", help="what is searched: lr (default), lr+momentum (and β₁), or choi (lr, 1 − momentum "
                                   "or 1 − β₁, 1 − β₂, ε on log scales, as Choi et al. 2019)")
    s.add_argument("--target", type=float, metavar="ACC", dest="target_accuracy",
                   help="also report the steps and seconds each optimizer takes to this validation accuracy "
                        "(e.g. 0.95)")
    s.add_argument("--budget", type=int, metavar="N", help="N quasi-random (Sobol) settings per optimizer, each on "
                                                            "every seed, instead of a grid")
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
    s.add_argument("--val-split", type=int, metavar="N",
                   help="of which N are the validation split (default 10000; spirals: a fifth of --train-size)")
    s.add_argument("--test-size", type=int, metavar="N", help="test examples (default all)")
    s.add_argument("--data-seed", type=int, help="seed of the subsets and the split (default 0)")
    s.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core)")
    s.add_argument("--executor", choices=("local", "dask"), help="local forked workers (default) or a Dask "
                                                                  "LocalCluster")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask cluster's scheduler")
    s.add_argument("--worker-wait", type=float, metavar="S",
                   help="with --scheduler: how long to wait for a worker when the cluster has none, at the start or "
                        "after all left (default 60 s), before stopping with what is stored kept")
    s.add_argument("--out", help="the sweep's folder (default sweeps/<time>); the same folder resumes")
    s.add_argument("--report", action="store_true", help="also draw the figures when done")
    s.add_argument("--retry-failed", action="store_true",
                   help="run the stored failed trials again (a trial whose training raised is stored as failed)")
    s.set_defaults(func=cmd_sweep)
