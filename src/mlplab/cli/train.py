"""``mlplab train`` and ``mlplab demo``: train an MLP on MNIST or Fashion-MNIST from options or a TOML file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ..runtime.fileio import write_json
from ..runtime.threads import auto_blas_threads
from ..settings import (
    TRAIN_DEFAULTS,
    SettingsError,
    check_blas_threads,
    check_keys,
    flag,
    optimizer_hparams,
    read_toml,
    resume_differences,
    validate_train,
)
from ..train import CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE, Callback, has_checkpoint
from .folders import check_kind, run_folder
from .options import (
    EXIT_DIVERGED,
    EXIT_INTERRUPTED,
    UsageError,
    blas_threads,
    blas_threads_in_use,
    console,
)


def _load_config(path) -> dict:
    """The ``[train]`` table (or the top level) of a TOML file, keys checked against the settings."""
    path = Path(path)
    try:
        raw = read_toml(path, f"--config {path}")
    except ValueError as e:
        raise UsageError(str(e)) from None
    table = raw.get("train", raw)
    if not isinstance(table, dict):
        raise UsageError(f"--config {path}: [train] must be a table of settings")
    return check_keys(table, [*TRAIN_DEFAULTS, "out"], f"--config {path}")


def _run_value(key, value, s):
    """A saved setting as the message shows it: None means the optimizer's default, or the other length."""
    if value is not None:
        return repr(value)
    if key in ("lr", "momentum"):
        from ..optim import optimizer_defaults

        default = optimizer_defaults(s["optimizer"]).get(key)
        return f"{s['optimizer']}'s default, {default}" if default is not None else "none"
    if key == "epochs":
        return f"no epoch count: it trains for {s['iterations']} iterations"
    if key == "iterations":
        return f"no iteration count: it trains for {s['epochs']} epochs"
    return "none"


def _train_settings(args):
    """The run's settings and folder: defaults < TOML file < flags; when resuming, the run's saved
    config.json, which the given settings must agree with (a resumed run continues bit for bit).

    Returns ``(settings, out, saved)``; ``saved`` is the run's config.json when resuming, else None.
    """
    given, label = {}, {}
    cfg = _load_config(args.config) if args.config else {}
    for key, value in cfg.items():
        if key != "out":
            given[key], label[key] = value, f"{key} in {args.config}"
    for key in TRAIN_DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            given[key], label[key] = value, flag(key)
    if "epochs" in given and "iterations" in given and label["epochs"] != label["iterations"]:
        # a flag overrides the file's key of the same name; epochs vs iterations is a conflict, not an override
        raise UsageError(f"give {label['epochs']} or {label['iterations']}, not both: an epoch count and a "
                         "step count cannot both decide when training ends")
    namer = lambda k: label.get(k, flag(k))  # noqa: E731
    out = args.out or cfg.get("out")
    if out is not None and not isinstance(out, str):
        raise UsageError(f"out in {args.config} must be a folder name, got {out!r}")
    if getattr(args, "trust_pickle", False) and not args.resume:
        raise UsageError("--trust-pickle converts the old checkpoint of a run being resumed: give it with --resume "
                         "--out DIR")
    if not args.resume:
        return validate_train(given, namer), Path(out) if out else None, None
    if not out:
        raise UsageError("--resume needs --out: the folder of the run to continue")
    out = Path(out)
    check_kind(out, "run", "mlplab train --resume")  # a sweep or lab folder: say what it holds, not "config.json"
    config_file = out / "config.json"
    if not config_file.is_file():
        raise UsageError(f"--resume: {config_file} is missing, so the run's settings are unknown; "
                         f"{out} is not a run folder of `mlplab train` (start a new run without --resume)")
    try:
        saved = json.loads(config_file.read_text())
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (ValueError, OSError) as e:
        raise UsageError(f"--resume: {config_file} is damaged ({e}); start a new run with another --out") from None
    try:
        s = validate_train({k: saved.get(k) for k in TRAIN_DEFAULTS}, lambda k: f"{k} in {config_file}")
    except SettingsError as e:
        raise UsageError(f"--resume: {e}") from None
    # the given settings on top of the run's, checked together (momentum for an sgd run is refused as such)
    merged = {k: v for k, v in s.items() if k in TRAIN_DEFAULTS and v is not None}
    merged.pop("iterations" if "epochs" in given else "epochs" if "iterations" in given else "", None)
    wanted = validate_train({**merged, **given}, lambda k: label.get(k, f"{k} in {config_file}"))
    diffs = resume_differences(s, {k: wanted[k] for k in given})
    args.new_length = None
    length = [d for d in diffs if d[0] in ("epochs", "iterations") and d[1] is not None]  # same unit, new count
    if length and not s.get("schedule"):  # the loop never reads its length: the run continues as if begun so
        diffs.remove(length[0])
        args.new_length = length[0]
        s[length[0][0]] = length[0][2]
    elif length:
        key, old, new = length[0]
        raise UsageError(f"--resume: {namer(key)} {new} would change {out}'s result, not only its length: its "
                         f"{s['schedule']} schedule is fitted to the run's length ({key} {old}), so every step's "
                         "learning rate would differ from the run's so far; start a new run with another --out")
    if diffs:
        told = "; ".join(f"{namer(k)} {new!r} (the run has {_run_value(k, old, s)})" for k, old, new in diffs)
        raise UsageError(f"--resume continues {out} with the settings it was trained with; this command asks for "
                         f"{told}. Resume without these options, or start a new run with another --out")
    s["blas_threads"] = saved.get("blas_threads")
    return s, out, saved


def check_fits(s):
    """Refuse layer sizes whose run cannot fit in memory, with the estimate next to what is available."""
    from ..runtime import memory

    n_images = 70_000  # MNIST and Fashion-MNIST: 60 000 + 10 000 images of 784 pixels, float32
    data_bytes = n_images * 784 * 4 * (3 if s["dtype"] == "float64" else 1)
    est = memory.estimate_training([int(v) for v in s["layers"].split(",")], s["batch_size"], s["optimizer"],
                                   optimizer_hparams(s), s["dtype"], s["activation"], data_bytes=data_bytes)
    memory.check_fits(est, f"--layers {s['layers']} with --batch-size {s['batch_size']} and {s['optimizer']}")


def convert_pickle(out):
    """``--trust-pickle``: the user vouches for the folder's old checkpoint.pkl; unpickle it once (this runs any
    code it names), write checkpoint.npz and remove the pickle."""
    from ..checkpoint import CheckpointError
    from ..train import convert_legacy_checkpoint

    if not (out / LEGACY_CHECKPOINT_FILE).exists():
        held = (f"its checkpoint is already {CHECKPOINT_FILE}, which needs no trust"
                if (out / CHECKPOINT_FILE).exists() else "it has no checkpoint")
        raise UsageError(f"--trust-pickle: {out} holds no {LEGACY_CHECKPOINT_FILE} to convert ({held}); resume "
                         "without --trust-pickle")
    try:
        convert_legacy_checkpoint(out)
    except CheckpointError as e:
        raise UsageError(f"--trust-pickle: {e}") from None
    print(f"note: converted {out / LEGACY_CHECKPOINT_FILE} to {out / CHECKPOINT_FILE} (arrays and JSON, nothing in it "
          "runs code) and removed the pickle", file=sys.stderr, flush=True)


def check_checkpoint(out, s):
    """Before resuming: the checkpoint exists, reads, and fits the network the settings build."""
    from ..train import load_checkpoint

    try:
        ck = load_checkpoint(out)
    except FileNotFoundError:
        raise UsageError(f"--resume: {out} has no {CHECKPOINT_FILE} (the run stopped before its first checkpoint); "
                         "start it again without --resume, with another --out or after deleting the folder") from None
    except ValueError as e:
        raise UsageError(f"--resume: {e}") from None
    sizes = [int(v) for v in s["layers"].split(",")]
    want = {f"layers.{2 * i}.{k}": shape for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
            for k, shape in (("weight", (a, b)), ("bias", (b,)))}
    model = ck.get("model") if isinstance(ck, dict) else None
    shapes = {k: tuple(getattr(v, "shape", ())) for k, v in model.items()} if isinstance(model, dict) else None
    keys = ("step", "epoch", "optimizer", "epoch_rng_state")
    if shapes != want or not all(k in ck for k in keys):
        raise UsageError(f"--resume: {out / CHECKPOINT_FILE} does not hold a checkpoint of this run's network "
                         f"({s['layers']}); it is damaged or from another run: delete it to start over")
    from .. import optim

    saved_opt = ck["optimizer"].get("optimizer") if isinstance(ck["optimizer"], dict) else None
    if saved_opt is not None and saved_opt != optim.registry.optimizer_class(s["optimizer"]).__name__:
        raise UsageError(f"--resume: {out / CHECKPOINT_FILE} holds {saved_opt} state but config.json says "
                         f"{s['optimizer']}; the folder mixes two runs: delete it to start over")
    return ck


def _make_schedule(name, opt, total):
    """The CLI's schedules, each fitted to the run's length (:func:`mlplab.schedules.schedule_for_run`)."""
    from ..schedules import schedule_for_run

    return schedule_for_run(name, opt, total)


def _shown_hparams(name, hp):
    from ..optim import optimizer_defaults

    return ", ".join(f"{k} {v}" for k, v in {**optimizer_defaults(name), **hp}.items())


def cmd_train(args):
    from .. import optim
    from ..exercises.student import load_checked_optimizer

    optim.registry.EXTERNAL_LOADER = load_checked_optimizer  # --optimizer hw1:Adam: a student's class
    s, out, saved = _train_settings(args)
    out = out or Path(f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{Path(s['optimizer']).name.replace(':', '-')}")
    check_fits(s)  # before the folder is made or anything allocated
    with run_folder(out, "demo" if getattr(args, "demo", False) else "train", keep=lambda: has_checkpoint(out),
                    resumable=True, kind="run"):
        return _train_in(args, s, out, saved)


class _LastEval(Callback):
    """Keeps the evaluation row this session computed last (a resumed run's earlier rows are not seen)."""

    row = None

    def on_epoch_end(self, trainer, epoch, metrics):
        self.row = metrics


def _extras(s) -> list[str]:
    """The settings the first line also names when they are not the defaults."""
    return [text for key, text in (("schedule", f"schedule {s.get('schedule')}"),
                                   ("subset", f"first {s.get('subset')} training images"),
                                   ("val_split", f"{s.get('val_split')} held out for validation"),
                                   ("dtype", s.get("dtype")), ("bias_init", f"bias init {s.get('bias_init')}"))
            if s.get(key) is not None and s.get(key) != TRAIN_DEFAULTS[key]]


def _train_in(args, s, out, saved):
    """The run itself, with ``out`` locked for this process."""
    import numpy as np

    from .. import data, nn, optim
    from ..changes import SettingChanges
    from ..checkpoint import CheckpointError
    from ..train import Trainer, TrainingDiverged, evaluate
    from .progress import ProgressBar

    sizes, opt_name, hp = [int(v) for v in s["layers"].split(",")], s["optimizer"], optimizer_hparams(s)
    if not args.resume and has_checkpoint(out):
        resume = f"`mlplab train --out {out} --resume`" if getattr(args, "demo", False) else "--resume"
        raise UsageError(f"{out} already holds a run; continue it with {resume} or choose another --out")
    if args.resume and getattr(args, "trust_pickle", False):
        convert_pickle(out)
    checkpoint_step = int(check_checkpoint(out, s)["step"]) if args.resume else None
    # BLAS threads change float32 rounding (OpenBLAS splits products by thread count), so a resumed
    # run keeps the count it was trained with unless told otherwise: that keeps resume bit-identical.
    trained_with = s.get("blas_threads") if args.resume else None
    why = None
    if args.blas_threads is not None:
        threads = check_blas_threads(args.blas_threads)
    elif trained_with:
        threads = min(trained_with, os.cpu_count() or 1)
    else:  # the cores that are free now (another CPU-bound process makes a second thread 3x slower)
        threads, why = auto_blas_threads()
    dtype = np.dtype(s["dtype"])
    model = nn.MLP(sizes, activation=s["activation"], weight_init=s["init"], bias_init=s["bias_init"],
                   rng=s["seed"], dtype=dtype)
    opt = optim.get_optimizer(opt_name, model.parameters(), **hp)  # settings checked the names and values
    con = console()
    X, y = data.load(s["dataset"], "train")
    Xt, yt = data.load(s["dataset"], "test")
    if s.get("subset"):
        if s["subset"] > len(X):
            raise UsageError(f"--subset {s['subset']}: {s['dataset']} has only {len(X)} training images; "
                             f"give at most {len(X)}")
        X, y = data.subset(X, y, n=s["subset"])
    if s.get("val_split") and s["val_split"] >= len(X):
        of = f"--subset {s['subset']} keeps" if s.get("subset") else f"{s['dataset']} has"
        raise UsageError(f"--val-split {s['val_split']} would leave no images to train on: {of} {len(X)} training "
                         f"images; give at most {len(X) - 1}")
    try:  # per-epoch evaluation on a held-out part of the training set, or else on the test set
        X, y, Xv, yv = data.train_val_split(X, y, n_val=s["val_split"], rng=s["seed"]) if s.get("val_split") \
            else (X, y, Xt, yt)
    except ValueError as e:
        raise UsageError(f"--val-split: {e}") from None
    if s["batch_size"] > len(X):  # a batch cannot hold more images than there are: not silently len(X)
        held = f" after --val-split {s['val_split']}" if s.get("val_split") else ""
        raise UsageError(f"--batch-size {s['batch_size']} is more than the {len(X)} training images{held}; give at "
                         f"most {len(X)} (that many is full-batch gradient descent)")
    if dtype != X.dtype:
        X, Xt = X.astype(dtype), Xt.astype(dtype)
        Xv = Xv.astype(dtype) if s.get("val_split") else Xt  # evaluating on the test set: one array
    total = s["iterations"] or s["epochs"] * int(np.ceil(len(X) / s["batch_size"]))
    if getattr(args, "new_length", None):  # --resume with another length (no schedule): see _train_settings
        key, old, new = args.new_length
        if checkpoint_step > total:
            raise UsageError(f"--resume: {out} has trained {checkpoint_step} steps, more than the {total} of "
                             f"{flag(key)} {new}; give at least the run's {key} {old}")
        per_epoch = int(np.ceil(len(X) / s["batch_size"]))
        extra = (f"; metrics.jsonl keeps the evaluation made when the run ended at step {checkpoint_step}, inside "
                 "an epoch" if key == "iterations" and checkpoint_step == old and old % per_epoch else "")
        print(f"note: {out} continues to {key} {new} (it had {key} {old}); without a learning-rate schedule, its "
              f"weights and metrics are exactly those {key} {new} gives uninterrupted{extra}", file=sys.stderr,
              flush=True)
        write_json(out / "config.json", {**saved, key: new})
    if checkpoint_step is not None and checkpoint_step >= total:  # say so: the command returns at once
        print(f"note: {out} had already finished ({checkpoint_step} of {total} steps); nothing is trained, these "
              "are its results", file=sys.stderr, flush=True)
    schedule = _make_schedule(s["schedule"], opt, total) if s.get("schedule") else None
    last = _LastEval()
    changes = SettingChanges.from_settings(s)  # --lr-changes and the like: applied after their steps
    trainer = Trainer(model, opt, schedule=schedule, callbacks=[last] + ([changes] if changes else [])
                      + ([] if args.quiet else [ProgressBar()]),
                      run_dir=out, checkpoint_every=s["checkpoint_every"])
    if not args.quiet:
        length = f"{s['epochs']} epochs" if s["epochs"] else f"{s['iterations']} iterations"
        con.print(f"[bold]mlplab train[/]: {s['dataset']} {'-'.join(map(str, sizes))} {s['activation']}, "
                  f"init {s['init']}, {opt_name} {_shown_hparams(opt_name, hp)}, batch {s['batch_size']}, "
                  f"{length}, seed {s['seed']}" + "".join(f", {v}" for v in _extras(s))
                  + (f"; {threads} BLAS thread{'s' if threads > 1 else ''} "
                                                    f"({why})" if why else ""))
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
    except TrainingDiverged as e:  # one line with the command's name, as every error; its own status (3)
        from .errors import one_line

        print(f"mlplab train: error: {one_line(e)}", file=sys.stderr, flush=True)
        return EXIT_DIVERGED
    except CheckpointError as e:  # it read, but does not fit this network and optimizer: one line
        raise UsageError(f"--resume: {e}") from None
    if hist.interrupted:
        console(stderr=True).print(f"interrupted after step {hist.steps}; checkpoint saved. Continue with:\n"
                                   f"  mlplab train --out {out} --resume")
        return EXIT_INTERRUPTED
    # The last epoch's row already evaluated these weights on the test set (unless it was a validation
    # split) with the same BLAS threads (float32 rounding depends on them): reuse it, the same numbers.
    row = last.row
    if row is not None and Xv is Xt and row["step"] == hist.steps and in_use == blas_threads_in_use():
        test_loss, test_acc = row["val_loss"], row["val_acc"]
    else:
        test_loss, test_acc = evaluate(model, Xt, yt)
    summary_file = out / "summary.json"  # the Trainer's summary, plus the final test figures
    try:
        summary = json.loads(summary_file.read_text())
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:  # a finished run's own file, damaged since: say so, change nothing
        raise UsageError(f"{summary_file} is damaged or missing ({' '.join(str(e).split())[:100]}); the run's "
                         "model.npz and metrics.jsonl are kept; train again with another --out for a new summary"
                         ) from None
    summary["per_epoch_eval_on"] = "val" if s.get("val_split") else "test"
    summary["test"] = {"loss": test_loss, "acc": test_acc, "images": len(Xt)}
    write_json(summary_file, summary)
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
        con.print(f"run written to {out}/ (config.json, metrics.jsonl, {CHECKPOINT_FILE}, model.npz, summary.json)")
    return 0


def cmd_demo(args):
    """A short first run: fetch MNIST, train the network of *Deep Learning from Scratch* ch. 6 for one
    epoch, print the accuracy."""
    ns = argparse.Namespace(**{k: None for k in TRAIN_DEFAULTS}, config=None, resume=False, quiet=args.quiet,
                            out=args.out, blas_threads=None)  # the free cores
    ns.epochs, ns.optimizer, ns.demo = 1, "adam", True  # demo has no --resume: its messages say `mlplab train`
    return cmd_train(ns)


def register(sub):
    t = sub.add_parser("train", help="train an MLP on MNIST or Fashion-MNIST",
                       description="Train an MLP. Options override --config (a TOML file with the same keys).")
    t.add_argument("--config", help="TOML file with the same keys as the options (dashes or underscores)")
    t.add_argument("--dataset", help="mnist (default) or fashion-mnist")
    t.add_argument("--layers", help="comma-separated layer sizes (default 784,100,100,100,100,10)")
    t.add_argument("--activation", help="relu (default), leaky_relu, tanh, sigmoid, identity (any case, - or _)")
    t.add_argument("--init", help="weight initializer: he (default), xavier, std=0.01, ... (see `mlplab init list`)")
    t.add_argument("--bias-init", help="bias initializer (default zeros)")
    t.add_argument("--optimizer", help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default), adamw, nadam, ... "
                                       "(see `mlplab optim list`)")
    t.add_argument("--lr", type=float, help="learning rate (default: the optimizer's, e.g. adam 0.001)")
    t.add_argument("--momentum", type=float, help="momentum coefficient (momentum, nesterov: default 0.9; rmsprop: 0)")
    t.add_argument("--weight-decay", type=float, help="L2 weight decay (default 0)")
    t.add_argument("--schedule", help="learning-rate schedule: step, exponential, inverse_time, cosine, warmup_cosine")
    for key, what in (("lr", "learning rate"), ("momentum", "momentum"), ("weight-decay", "weight decay")):
        t.add_argument(f"--{key}-changes", metavar="STEP:VALUE,...",
                       help=f"set the {what} anew after these steps, e.g. 300:0.01,800:0.001 (as mlplab live "
                            "records a change made while training)")
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
    t.add_argument("--trust-pickle", action="store_true",
                   help="with --resume: convert the run's old checkpoint.pkl (which can run any code when read) to "
                        "checkpoint.npz once; only for a folder whose origin you trust")
    t.add_argument("--quiet", action="store_true", help="no progress bar, one result line")
    t.add_argument("--blas-threads", type=int, metavar="N",
                   help="BLAS threads, 1 to the CPU count, or 0 for the BLAS library's default (default: as many "
                        "as there are free cores at start, a core counting when it was at least 70%% idle; "
                        "--resume keeps the count the run was trained with, which config.json records, so it ends "
                        "bit-identical)")
    t.set_defaults(func=cmd_train)


def register_demo(sub):
    what = "fetch MNIST and train Deep Learning from Scratch's 784-100x4-10 network for one epoch"
    demo = sub.add_parser("demo", help=what, description=f"A first run: {what} (ReLU, He init, Adam); the same as "
                                                         "`mlplab train --epochs 1`.")
    demo.add_argument("--out", default=None, help="run directory (default runs/<time>-adam)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar, one result line")
    demo.set_defaults(func=cmd_demo)
