"""The ``mlplab`` command: train networks, fetch data, run the lab, build reports, diagnose inits.

Every subcommand checks its options before doing any work and answers a bad one with what was
wrong and the valid choices (exit status 2). rich draws the tables and progress bars.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED, EXIT_DATA = 2, 3, 130, 4


class UsageError(Exception):
    """A bad option: reported in one line with the valid choices, before any work is done."""


def _console(stderr=False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _blas_threads(n):
    """Limit BLAS threads for the command (n >= 1), or leave the library's default (n = 0).

    The studies multiply small matrices (batch 128 by 100 units): one BLAS thread per process is
    as fast there and much steadier when other processes share the two cores (measured: the whole
    lab in 92 s with one thread, 105-121 s with two); large layers gain from more threads.
    """
    import contextlib

    _check_threads(n)
    if not n:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n), user_api="blas")


def _check_threads(n):
    if n is None or n < 0:
        raise UsageError(f"--blas-threads must be 0 (the default) or a positive number, got {n}")


def _blas_threads_in_use():
    """How many threads NumPy's BLAS uses right now (None if threadpoolctl finds no BLAS)."""
    from threadpoolctl import threadpool_info

    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else None


def _threads_arg(p, default, what):
    p.add_argument("--blas-threads", type=int, default=default, metavar="N",
                   help=f"BLAS threads (0 = the BLAS library's default; default {default}: {what})")


# ------------------------------------------------------------------------------------------- train
TRAIN_DEFAULTS = {
    "dataset": "mnist", "layers": "784,100,100,100,100,10", "activation": "relu", "init": "he",
    "bias_init": "zeros", "optimizer": "adam", "lr": None, "momentum": None, "weight_decay": 0.0,
    "batch_size": 128, "epochs": 5, "iterations": None, "seed": 0, "schedule": None,
    "checkpoint_every": 500, "subset": None, "val_split": None, "dtype": "float32",
}


def _load_config(path):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--config {path}: not valid TOML ({e})") from None
    cfg = {str(k).replace("-", "_"): v for k, v in raw.get("train", raw).items()}
    unknown = sorted(set(cfg) - set(TRAIN_DEFAULTS) - {"out"})
    if unknown:
        raise UsageError(f"--config {path}: unknown keys {unknown}; valid: {', '.join(sorted(TRAIN_DEFAULTS))}, out")
    if isinstance(cfg.get("layers"), list):
        cfg["layers"] = ",".join(str(v) for v in cfg["layers"])
    return cfg


def _train_settings(args):
    """Defaults < config file (or the run's saved config when resuming) < explicit options."""
    settings = dict(TRAIN_DEFAULTS)
    if args.resume and args.out and (Path(args.out) / "config.json").exists():
        settings.update(json.loads((Path(args.out) / "config.json").read_text()))
    if args.config:
        settings.update(_load_config(args.config))
    for key in TRAIN_DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    if settings.get("iterations") is not None and getattr(args, "epochs", None) is None:
        settings["epochs"] = None
    return settings


def _validate_train(s):
    """Check every option against the library's registries; returns parsed pieces."""
    from . import data, nn, optim

    if s["dataset"] not in data.DATASETS:
        raise UsageError(f"unknown dataset {s['dataset']!r}; valid: {', '.join(data.DATASETS)}")
    try:
        sizes = [int(v) for v in str(s["layers"]).split(",")]
    except ValueError:
        raise UsageError(f"--layers {s['layers']!r}: give comma-separated integers, e.g. 784,100,10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise UsageError(f"--layers {s['layers']!r}: need at least an input and an output size, all positive")
    if sizes[0] != 784 or sizes[-1] != 10:
        raise UsageError(f"--layers {s['layers']!r} does not fit {s['dataset']}: its images have 784 pixels "
                         f"and it has 10 classes, so the sizes must start with 784 and end with 10")
    if s["activation"] not in nn.ACTIVATIONS:
        raise UsageError(f"unknown activation {s['activation']!r}; valid: {', '.join(sorted(nn.ACTIVATIONS))}")
    try:
        # a 2x2 layer built exactly as the model's layers will be: any bad spec fails here, cheaply
        nn.Linear(2, 2, weight_init=s["init"], bias_init=s["bias_init"], rng=0, activation=s["activation"])
    except (ValueError, TypeError) as e:
        raise UsageError(f"--init/--bias-init: {e}") from None
    name = str(s["optimizer"]).lower().replace("-", "_")
    if name not in optim.OPTIMIZERS or name == "newton":
        valid = [k for k in optim.OPTIMIZERS if k != "newton"]
        raise UsageError(f"unknown optimizer {s['optimizer']!r} for training a network; valid: {', '.join(valid)} "
                         "(Newton's method is for small problems: see `mlplab lab run quadratic`)")
    for key in ("batch_size", "epochs", "iterations", "checkpoint_every", "subset", "val_split"):
        v = s.get(key)
        if v is not None and (not isinstance(v, int) or v < 1):
            raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, got {v!r}")
    if s.get("epochs") is None and s.get("iterations") is None:
        raise UsageError("give --epochs or --iterations")
    if s["dtype"] not in ("float32", "float64"):
        raise UsageError(f"--dtype must be float32 or float64, got {s['dtype']!r}")
    if s.get("schedule") and s["schedule"] not in optim.SCHEDULES:
        raise UsageError(f"unknown schedule {s['schedule']!r}; valid: {', '.join(optim.SCHEDULES)}")
    hp = {}
    if s.get("lr") is not None:
        hp["lr"] = s["lr"]
    if s.get("momentum") is not None:
        hp["momentum"] = s["momentum"]
    if s.get("weight_decay"):
        hp["weight_decay"] = s["weight_decay"]
    return sizes, name, hp


def _make_schedule(name, opt, total):
    """The CLI's schedules, each fitted to the run's length (the library takes any settings)."""
    from . import optim

    settings = {"step": {"step_size": max(1, total // 3), "gamma": 0.1},  # lr / 10 at 1/3 and 2/3
                "exponential": {"gamma": 0.01 ** (1 / total)},  # lr / 100 by the end
                "inverse_time": {"k": 10 / total},  # η0 / (1 + 10 t / T)
                "cosine": {"total_steps": total},
                "warmup_cosine": {"warmup_steps": max(1, total // 20), "total_steps": total}}
    return optim.get_schedule(name, opt, **settings[name])


def cmd_train(args):
    import numpy as np

    from . import data, nn, optim
    from .train import Trainer, TrainingDiverged, evaluate

    s = _train_settings(args)
    sizes, opt_name, hp = _validate_train(s)
    out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{opt_name}")
    if not args.resume and (out / "checkpoint.pkl").exists():
        raise UsageError(f"{out} already holds a run; continue it with --resume or choose another --out")
    # BLAS threads change float32 rounding (OpenBLAS splits products by thread count), so a resumed
    # run keeps the count it was trained with unless told otherwise: that keeps resume bit-identical.
    trained_with = s.get("blas_threads") if args.resume else None
    threads = args.blas_threads if args.blas_threads is not None else (trained_with or 0)
    _check_threads(threads)  # before any work
    dtype = np.dtype(s["dtype"])
    model = nn.MLP(sizes, activation=s["activation"], weight_init=s["init"], bias_init=s["bias_init"],
                   rng=s["seed"], dtype=dtype)
    try:
        opt = optim.get_optimizer(opt_name, model.parameters(), **hp)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--optimizer {opt_name}: {e}") from None
    con = _console()
    X, y = data.load(s["dataset"], "train")
    Xt, yt = data.load(s["dataset"], "test")
    if s.get("subset"):
        X, y = data.subset(X, y, n=s["subset"])
    try:  # per-epoch evaluation on a held-out part of the training set, or else on the test set
        X, y, Xv, yv = data.train_val_split(X, y, n_val=s["val_split"], rng=s["seed"]) if s.get("val_split") \
            else (X, y, Xt, yt)
    except ValueError as e:
        raise UsageError(f"--val-split: {e}") from None
    if dtype != X.dtype:
        X, Xt, Xv = X.astype(dtype), Xt.astype(dtype), Xv.astype(dtype)
    total = s["iterations"] or s["epochs"] * int(np.ceil(len(X) / s["batch_size"]))
    schedule = _make_schedule(s["schedule"], opt, total) if s.get("schedule") else None
    trainer = Trainer(model, opt, schedule=schedule, progress=not args.quiet, run_dir=out,
                      checkpoint_every=s["checkpoint_every"])
    if not args.quiet:
        length = f"{s['epochs']} epochs" if s["epochs"] else f"{s['iterations']} iterations"
        con.print(f"[bold]mlplab train[/]: {s['dataset']} {'-'.join(map(str, sizes))} {s['activation']}, "
                  f"init {s['init']}, {opt_name} {hp or optim.DEFAULT_HPARAMS[opt_name]}, batch {s['batch_size']}, "
                  f"{length}, seed {s['seed']}")
    try:
        with _blas_threads(threads):
            in_use = _blas_threads_in_use()
            if trained_with and in_use and in_use != trained_with:
                _console(stderr=True).print(
                    f"note: this run was trained with {trained_with} BLAS threads and continues with {in_use}; "
                    "float32 rounding differs, so it will not end bit-identical to an uninterrupted run")
            hist = trainer.fit(X, y, epochs=s["epochs"], iterations=s["iterations"] if not s["epochs"] else None,
                               batch_size=s["batch_size"], rng=s["seed"], val=(Xv, yv), resume=args.resume,
                               config={**s, "out": str(out), "blas_threads": in_use})
    except TrainingDiverged as e:
        _console(stderr=True).print(f"[red]error:[/] {e}")
        return EXIT_DIVERGED
    if hist.interrupted:
        _console(stderr=True).print(f"interrupted after step {hist.steps}; checkpoint saved. Continue with:\n"
                                    f"  mlplab train --out {out} --resume")
        return EXIT_INTERRUPTED
    test_loss, test_acc = evaluate(model, Xt, yt)
    summary_file = out / "summary.json"  # the Trainer's summary, plus the final test figures
    summary = json.loads(summary_file.read_text())
    summary["per_epoch_eval_on"] = "val" if s.get("val_split") else "test"
    summary["test"] = {"loss": test_loss, "acc": test_acc, "images": len(Xt)}
    summary_file.write_text(json.dumps(summary, indent=2))
    if args.quiet:
        print(f"test_loss {test_loss:.4f} test_acc {test_acc:.4f} run {out}")
    else:
        from rich.table import Table

        where = "val" if s.get("val_split") else "test"
        table = Table(title="per-epoch results")
        for col in ("epoch", "step", "train loss", "train acc", f"{where} loss", f"{where} acc"):
            table.add_column(col, justify="right")
        for r in hist.evals:
            table.add_row(str(r["epoch"]), str(r["step"]), f"{r.get('train_loss', float('nan')):.4f}",
                          f"{r.get('train_acc', 0):.2%}", f"{r['val_loss']:.4f}", f"{r['val_acc']:.2%}")
        con.print(table)
        con.print(f"final test loss [bold]{test_loss:.4f}[/], test accuracy [bold]{test_acc:.2%}[/] "
                  f"({len(Xt)} test images) after {hist.steps} steps in {hist.seconds:.1f} s")
        con.print(f"run written to {out}/ (config.json, metrics.jsonl, checkpoint.pkl, model.npz, summary.json)")
    return 0


# -------------------------------------------------------------------------------------------- data
def cmd_data(args):
    from . import data

    if args.data_cmd == "fetch":
        if args.name not in data.DATASETS:
            raise UsageError(f"unknown dataset {args.name!r}; valid: {', '.join(data.DATASETS)}")
        t0 = time.perf_counter()
        path = data.fetch(args.name, mirror=args.mirror, progress=not args.quiet)
        print(f"{args.name}: verified in {path} ({time.perf_counter() - t0:.1f} s)")
        return 0
    from rich.table import Table

    rows = data.info(rehash=args.verify)
    table = Table(title=f"datasets in {data.data_dir()}")
    for col in ("dataset", "file", "present", "verified", "size"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["dataset"], r["file"], "yes" if r["present"] else "no",
                      "[green]yes[/]" if r["verified"] else "[red]no[/]",
                      f"{r['size'] / 1e6:.1f} MB" if r.get("size") else "")
    _console().print(table)
    return 0


# --------------------------------------------------------------------------------------------- lab
def cmd_lab(args):
    from . import lab

    studies = lab.studies()
    if args.lab_cmd == "list":
        from rich.table import Table

        table = Table(title="mlplab lab studies (run one with: mlplab lab run NAME [--quick])")
        table.add_column("name", style="bold")
        table.add_column("what it shows")
        table.add_column("source")
        for st in studies.values():
            table.add_row(st.name, st.description, st.source)
        _console().print(table)
        return 0
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive number of processes, got {args.jobs}")
    names = list(studies) if args.name == "all" else [args.name]
    try:
        chosen = [lab.get_study(n) for n in names]
    except ValueError as e:
        raise UsageError(str(e)) from None
    out = Path(args.out)
    con = _console()
    t_all = time.perf_counter()
    with _blas_threads(args.blas_threads):
        for st in chosen:
            t0 = time.perf_counter()
            with con.status(f"[bold]{st.name}[/]: {st.description}"):
                result = lab.run_study(st, out, quick=args.quick, seed=args.seed, quiet=True, workers=args.jobs)
            con.print(f"[bold]{st.name}[/] done in {time.perf_counter() - t0:.1f} s: {len(result.figures)} "
                      f"figure(s), numbers and section.md in {out / st.name}")
    con.print(f"all done in {time.perf_counter() - t_all:.1f} s")
    if args.name == "all" or args.report:
        from .lab import report

        html, md = report.build_report([out / st.name for st in chosen], out)
        con.print(f"report: [bold]{html}[/] (and {md})")
    return 0


def cmd_report(args):
    from .lab import report

    dirs = []
    for d in args.run_dirs:
        d = Path(d)
        if (d / "meta.json").exists():
            dirs.append(d)
        elif d.is_dir():
            dirs.extend(sorted(p.parent for p in d.glob("*/meta.json")))
    if not dirs:
        raise UsageError(f"no study results (meta.json) found in {', '.join(args.run_dirs)}; "
                         "run `mlplab lab run NAME --out DIR` first")
    out = Path(args.out) if args.out else Path(args.run_dirs[0])
    html, md = report.build_report(dirs, out)
    print(f"report: {html} (and {md})")
    return 0


def cmd_diagnose(args):
    from . import diagnose

    return diagnose.main(args)


def cmd_demo(args):
    """A short first run: fetch MNIST, train the book's network for one epoch, print accuracy."""
    ns = argparse.Namespace(**{k: None for k in TRAIN_DEFAULTS}, config=None, resume=False, quiet=args.quiet,
                            out=args.out, blas_threads=0)
    ns.epochs, ns.optimizer = 1, "adam"
    return cmd_train(ns)


# ------------------------------------------------------------------------------------------ parser
def build_parser():
    p = argparse.ArgumentParser(
        prog="mlplab",
        description="Build and train fully-connected networks from scratch, and see why the optimizer "
                    "and the weight initialization decide whether they train.",
        epilog="Examples:\n  mlplab train --optimizer sgd --lr 0.01 --epochs 2\n  mlplab lab list\n"
               "  mlplab lab run paths --quick\n  mlplab lab run all --out lab-report\n"
               "  mlplab diagnose --layers 784,256,256,10 --activation tanh --init he",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mlplab {__import__('mlplab').__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train an MLP on MNIST or Fashion-MNIST",
                       description="Train an MLP. Options override --config (a TOML file with the same keys).")
    t.add_argument("--config", help="TOML file with the same keys as the options (dashes or underscores)")
    t.add_argument("--dataset", help="mnist (default) or fashion-mnist")
    t.add_argument("--layers", help="comma-separated layer sizes (default 784,100,100,100,100,10)")
    t.add_argument("--activation", help="relu (default), tanh, sigmoid, leaky_relu, identity")
    t.add_argument("--init", help="weight initializer: he (default), xavier, std=0.01, ... (see mlplab.init)")
    t.add_argument("--bias-init", help="bias initializer (default zeros)")
    t.add_argument("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default), adamw, nadam, ...")
    t.add_argument("--lr", type=float, help="learning rate (default: the optimizer's, e.g. adam 0.001)")
    t.add_argument("--momentum", type=float, help="momentum coefficient (momentum/nesterov)")
    t.add_argument("--weight-decay", type=float, help="L2 weight decay (default 0)")
    t.add_argument("--schedule", help="learning-rate schedule: step, exponential, inverse_time, cosine, warmup_cosine")
    t.add_argument("--batch-size", type=int, help="mini-batch size (default 128; 1 = single-sample SGD)")
    t.add_argument("--epochs", type=int, help="epochs (default 5)")
    t.add_argument("--iterations", type=int, help="train for this many steps instead of epochs")
    t.add_argument("--subset", type=int, help="use only the first N training images")
    t.add_argument("--val-split", type=int, metavar="N",
                   help="hold out N random training images to evaluate each epoch on (default: the test set)")
    t.add_argument("--dtype", help="float32 (default) or float64")
    t.add_argument("--seed", type=int, help="seed for weights and batch order (default 0)")
    t.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 500)")
    t.add_argument("--out", help="run directory (default runs/<time>-<optimizer>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar, one result line")
    t.add_argument("--blas-threads", type=int, metavar="N",
                   help="BLAS threads (default: the BLAS library's, all cores; --resume keeps the count "
                        "the run was trained with, which config.json records, so it ends bit-identical)")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser("data", help="fetch and inspect datasets")
    dsub = d.add_subparsers(dest="data_cmd", metavar="ACTION", required=True)
    f = dsub.add_parser("fetch", help="download (or copy) a dataset into the cache and verify it")
    f.add_argument("name", nargs="?", default="mnist", help="mnist (default) or fashion-mnist")
    f.add_argument("--mirror", help="a base URL or a local directory holding the IDX files (.gz or raw)")
    f.add_argument("--quiet", action="store_true")
    i = dsub.add_parser("info", help="what is cached, where, and whether it verifies")
    i.add_argument("--verify", action="store_true", help="re-hash every file instead of trusting the marker")
    d.set_defaults(func=cmd_data)

    lab_p = sub.add_parser("lab", help="run the source texts' experiments")
    lsub = lab_p.add_subparsers(dest="lab_cmd", metavar="ACTION", required=True)
    lsub.add_parser("list", help="list the studies")
    r = lsub.add_parser("run", help="run a study (or all) and write figures, numbers and Markdown")
    r.add_argument("name", help="a study name from `mlplab lab list`, or all")
    r.add_argument("--quick", action="store_true", help="the few-seconds variant")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="lab-out", help="output directory (default lab-out)")
    r.add_argument("--report", action="store_true", help="also build the HTML/Markdown report")
    _threads_arg(r, 1, "the studies' matrices are small")
    r.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="processes training a study's independent networks side by side (default: the CPU "
                        "count; 1 = all in this process). The numbers do not depend on it")
    lab_p.set_defaults(func=cmd_lab)

    rep = sub.add_parser("report", help="rebuild the HTML + Markdown report from saved study results")
    rep.add_argument("run_dirs", nargs="+", help="study directories, or a lab output directory holding them")
    rep.add_argument("--out", help="where to write report.html / report.md (default: the first directory)")
    rep.set_defaults(func=cmd_report)

    dg = sub.add_parser("diagnose", help="check a network's initialization layer by layer")
    try:
        from . import diagnose as _diag

        _diag.add_arguments(dg)
    except ImportError:  # pragma: no cover
        pass
    dg.set_defaults(func=cmd_diagnose)

    demo = sub.add_parser("demo", help="fetch MNIST and train the book's network for one epoch")
    demo.add_argument("--out", default=None)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from .data import DataError

    try:
        return args.func(args)
    except UsageError as e:
        print(f"mlplab {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except DataError as e:
        print(f"mlplab {args.command}: data error: {e}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
