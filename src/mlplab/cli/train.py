"""``mlplab train`` and ``mlplab demo``: train an MLP on MNIST or Fashion-MNIST from options or a TOML file."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .options import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    UsageError,
    blas_threads,
    blas_threads_in_use,
    check_threads,
    console,
)

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
    from .. import data, nn, optim

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
    from .. import optim

    settings = {"step": {"step_size": max(1, total // 3), "gamma": 0.1},  # lr / 10 at 1/3 and 2/3
                "exponential": {"gamma": 0.01 ** (1 / total)},  # lr / 100 by the end
                "inverse_time": {"k": 10 / total},  # η0 / (1 + 10 t / T)
                "cosine": {"total_steps": total},
                "warmup_cosine": {"warmup_steps": max(1, total // 20), "total_steps": total}}
    return optim.get_schedule(name, opt, **settings[name])


def cmd_train(args):
    import numpy as np

    from .. import data, nn, optim
    from ..train import Trainer, TrainingDiverged, evaluate
    from .progress import ProgressBar

    s = _train_settings(args)
    sizes, opt_name, hp = _validate_train(s)
    out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{opt_name}")
    if not args.resume and (out / "checkpoint.pkl").exists():
        raise UsageError(f"{out} already holds a run; continue it with --resume or choose another --out")
    # BLAS threads change float32 rounding (OpenBLAS splits products by thread count), so a resumed
    # run keeps the count it was trained with unless told otherwise: that keeps resume bit-identical.
    trained_with = s.get("blas_threads") if args.resume else None
    threads = args.blas_threads if args.blas_threads is not None else (trained_with or 0)
    check_threads(threads)  # before any work
    dtype = np.dtype(s["dtype"])
    model = nn.MLP(sizes, activation=s["activation"], weight_init=s["init"], bias_init=s["bias_init"],
                   rng=s["seed"], dtype=dtype)
    try:
        opt = optim.get_optimizer(opt_name, model.parameters(), **hp)
    except (ValueError, TypeError) as e:
        raise UsageError(f"--optimizer {opt_name}: {e}") from None
    con = console()
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
    trainer = Trainer(model, opt, schedule=schedule, callbacks=[] if args.quiet else [ProgressBar()], run_dir=out,
                      checkpoint_every=s["checkpoint_every"])
    if not args.quiet:
        length = f"{s['epochs']} epochs" if s["epochs"] else f"{s['iterations']} iterations"
        con.print(f"[bold]mlplab train[/]: {s['dataset']} {'-'.join(map(str, sizes))} {s['activation']}, "
                  f"init {s['init']}, {opt_name} {hp or optim.DEFAULT_HPARAMS[opt_name]}, batch {s['batch_size']}, "
                  f"{length}, seed {s['seed']}")
    try:
        with blas_threads(threads):
            in_use = blas_threads_in_use()
            if trained_with and in_use and in_use != trained_with:
                console(stderr=True).print(
                    f"note: this run was trained with {trained_with} BLAS threads and continues with {in_use}; "
                    "float32 rounding differs, so it will not end bit-identical to an uninterrupted run")
            hist = trainer.fit(X, y, epochs=s["epochs"], iterations=s["iterations"] if not s["epochs"] else None,
                               batch_size=s["batch_size"], rng=s["seed"], val=(Xv, yv), resume=args.resume,
                               config={**s, "out": str(out), "blas_threads": in_use})
    except TrainingDiverged as e:
        console(stderr=True).print(f"[red]error:[/] {e}")
        return EXIT_DIVERGED
    if hist.interrupted:
        console(stderr=True).print(f"interrupted after step {hist.steps}; checkpoint saved. Continue with:\n"
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


def cmd_demo(args):
    """A short first run: fetch MNIST, train the book's network for one epoch, print accuracy."""
    ns = argparse.Namespace(**{k: None for k in TRAIN_DEFAULTS}, config=None, resume=False, quiet=args.quiet,
                            out=args.out, blas_threads=0)
    ns.epochs, ns.optimizer = 1, "adam"
    return cmd_train(ns)


def register(sub):
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


def register_demo(sub):
    demo = sub.add_parser("demo", help="fetch MNIST and train the book's network for one epoch")
    demo.add_argument("--out", default=None)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=cmd_demo)
