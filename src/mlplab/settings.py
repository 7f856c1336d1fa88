"""The one place where user-supplied training settings are checked.

Settings reach mlplab from command-line flags, from a TOML file (``mlplab train --config``), from
a run's saved ``config.json`` (``--resume``) and later from the browser's JSON. Every front end
passes them through this module, so each mistake gets the same one-line message naming the
option: a wrong type (TOML ``batch_size = true``, ``lr = "0.1"``), a value out of range, a name
no registry knows (activations, initializers, optimizers, schedules, datasets, with the valid
choices), a hyperparameter the chosen optimizer does not take ("adam has no momentum; its
settings are lr, betas, ..."), ``epochs`` together with ``iterations``, or a resumed run asked
to continue with other settings than it was trained with.

Options are named the way the user wrote them: ``namer(key)`` turns a key into a label
(``--batch-size`` for a flag, by default; ``batch_size in run.toml`` for a file).

This module imports no front end (no argparse, no rich); :class:`SettingsError` is a
``ValueError`` whose message is the whole story.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .activations import canonical_activation, normalize_name

__all__ = ["SettingsError", "read_toml", "TRAIN_DEFAULTS", "DIAGNOSE_DEFAULTS", "flag", "check_int", "check_number",
           "check_name", "parse_layers", "check_activation", "check_init", "check_optimizer", "check_blas_threads",
           "check_keys", "validate_train", "validate_diagnose", "resume_differences", "optimizer_hparams"]

#: Defaults of ``mlplab train`` (and of a TOML file's keys; ``out`` is accepted too).
TRAIN_DEFAULTS = {
    "dataset": "mnist", "layers": "784,100,100,100,100,10", "activation": "relu", "init": "he",
    "bias_init": "zeros", "optimizer": "adam", "lr": None, "momentum": None, "weight_decay": 0.0,
    "batch_size": 128, "epochs": 5, "iterations": None, "seed": 0, "schedule": None,
    "checkpoint_every": 500, "subset": None, "val_split": None, "dtype": "float32",
    "lr_changes": None, "momentum_changes": None, "weight_decay_changes": None,  # mlplab.changes: "300:0.01,..."
}
#: Defaults of ``mlplab diagnose``.
DIAGNOSE_DEFAULTS = {"layers": "784,256,256,10", "activation": "relu", "init": "he", "bias_init": "zeros",
                     "dataset": "mnist", "batch_size": 256, "steps": 5, "optimizer": "sgd", "seed": 0, "lr": None,
                     "input_std": None}
#: The settings the training loop does not depend on: they may differ when a run is resumed.
RESUME_FREE = ("out", "blas_threads", "checkpoint_every")
_OPTIMIZER_HPARAMS = ("lr", "momentum", "weight_decay")


class SettingsError(ValueError):
    """A bad setting; the message is one line that names the option and what to do."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def flag(key: str) -> str:
    """``batch_size`` -> ``--batch-size`` (the default way of naming an option)."""
    return "--" + key.replace("_", "-")


# ------------------------------------------------------------------------------ values
def _describe(value) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return repr(value)


def check_int(key, value, minimum=1, namer=flag, maximum=None, what=None):
    """A whole number >= ``minimum`` (and <= ``maximum``); booleans, strings and fractions refused."""
    ok_type = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not ok_type and isinstance(value, float) and value.is_integer():
        value, ok_type = int(value), True
    if not ok_type:
        raise SettingsError(key, f"{namer(key)} must be a whole number, got {_describe(value)}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        rng = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        kind = what or ("a positive integer" if minimum == 1 and maximum is None else f"a whole number {rng}")
        raise SettingsError(key, f"{namer(key)} must be {kind}, got {value}")
    return value


def check_number(key, value, namer=flag, low=None, high=None, low_open=False, high_open=False):
    """A finite real number in [low, high] (open ends where asked); booleans and strings refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SettingsError(key, f"{namer(key)} must be a number, got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise SettingsError(key, f"{namer(key)} must be a finite number, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low and low == 0 and low_open and high is None:
        raise SettingsError(key, f"{namer(key)} must be positive, got {value:g}")
    if too_low or too_high:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        raise SettingsError(key, f"{namer(key)} must be {' and '.join(parts)}, got {value:g}")
    return value


def check_name(key, value, valid, namer=flag):
    """The one of ``valid`` that ``value`` names, case- and dash-insensitive like every other name
    (``"Fashion_MNIST"`` -> ``"fashion-mnist"``, ``"Cosine"`` -> ``"cosine"``); the valid ones listed otherwise."""
    if not isinstance(value, str):
        raise SettingsError(key, f"{namer(key)} must be a name, got {_describe(value)}; valid: {', '.join(valid)}")
    canonical = {normalize_name(v): v for v in valid}.get(normalize_name(value))
    if canonical is None:
        raise SettingsError(key, f"{namer(key)}: unknown {key.replace('_', ' ')} {value!r}; valid: {', '.join(valid)}")
    return canonical


def parse_layers(value, namer=flag, key="layers") -> list[int]:
    """``"784,100,10"`` or ``[784, 100, 10]`` -> ``[784, 100, 10]``; at least two sizes, all positive."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str):
        items = [v for v in value.replace(" ", "").split(",")]
    else:
        raise SettingsError(key, f"{namer(key)} must be comma-separated integers such as 784,100,10, "
                                 f"got {_describe(value)}")
    sizes = []
    for v in items:
        if isinstance(v, (bool, np.bool_)) or isinstance(v, float) and not v.is_integer():
            sizes = None
            break
        try:
            sizes.append(int(v))
        except (TypeError, ValueError):
            sizes = None
            break
    shown = value if isinstance(value, str) else ",".join(map(str, items))
    if sizes is None:
        raise SettingsError(key, f"{namer(key)} {shown!r}: give comma-separated integers, e.g. 784,100,10")
    if len(sizes) < 2 or min(sizes) < 1:
        raise SettingsError(key, f"{namer(key)} {shown!r}: need at least an input and an output size, all positive")
    return sizes


def check_activation(value, namer=flag, key="activation") -> str:
    """The canonical activation name for any accepted spelling ("ReLU", "leaky-relu", "linear")."""
    if not isinstance(value, str):
        raise SettingsError(key, f"{namer(key)} must be a name, got {_describe(value)}")
    try:
        return canonical_activation(value)
    except ValueError as e:
        raise SettingsError(key, f"{namer(key)}: {e}") from None


def check_init(value, activation="relu", namer=flag, key="init"):
    """An initializer spec (name, "std=0.01", "normal(0, 0.01)", a number) that resolves and draws
    a 2x2 weight (or a bias of 2) without error; returned as given."""
    from .init import get_initializer, resolve_initializer

    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, int, float)):
        raise SettingsError(key, f"{namer(key)} must be an initializer name or a number, got {_describe(value)} "
                                 "(see `mlplab init list`)")
    try:
        scheme, _ = resolve_initializer(value, activation=activation)
        fn = get_initializer(value, activation=activation)
        extra = {"fan_in": 2} if scheme.name == "torch_bias" else {}
        fn((2, 2), np.random.default_rng(0), **extra)
    except (ValueError, TypeError) as e:
        raise SettingsError(key, f"{namer(key)}: {e}") from None
    return value


def optimizer_hparams(s: dict) -> dict:
    """The optimizer keywords a settings dict sets: lr and momentum if given, weight decay if not 0."""
    hp = {k: s[k] for k in ("lr", "momentum") if s.get(k) is not None}
    if s.get("weight_decay"):
        hp["weight_decay"] = s["weight_decay"]
    return hp


def check_optimizer(name, hparams: dict, namer=flag, key="optimizer", allow_newton=False):
    """``(canonical name, hparams)``: the optimizer exists (Newton only where asked), takes every
    given hyperparameter ("adam has no momentum; its settings are ...") and accepts its value."""
    from . import optim
    from .tensor import Tensor

    if not isinstance(name, str):
        raise SettingsError(key, f"{namer(key)} must be a name, got {_describe(name)}")
    valid = [k for k in optim.OPTIMIZERS if allow_newton or k != "newton"]
    try:
        canon = optim.canonical_optimizer(name)
    except ValueError:
        canon = None
    if canon is None or canon not in valid:
        why = "" if allow_newton else " for training a network"
        hint = "" if allow_newton else " (Newton's method is for small problems: see `mlplab lab run quadratic`)"
        raise SettingsError(key, f"{namer(key)}: unknown optimizer {name!r}{why}; valid: {', '.join(valid)}{hint}")
    checked = {}
    for k, v in hparams.items():
        if v is None:
            continue
        if k == "lr":
            checked[k] = check_number(k, v, namer, low=0, low_open=True)
        elif k == "momentum":
            checked[k] = check_number(k, v, namer, low=0, high=1, high_open=True)
        elif k == "weight_decay":
            checked[k] = check_number(k, v, namer, low=0)
        else:
            checked[k] = v
    settings = optim.optimizer_settings(canon)
    unknown = [k for k in checked if k not in settings]
    if unknown:
        opts = " or ".join(namer(k) for k in unknown)
        raise SettingsError(unknown[0], f"{canon} has no {', '.join(unknown)} ({opts}); its settings are "
                                        f"{', '.join(settings)}")
    try:  # the constructor's own checks (betas, eps, ...), on a throw-away parameter
        optim.get_optimizer(canon, [Tensor(np.zeros(1), requires_grad=True)], **checked)
    except (ValueError, TypeError) as e:
        raise SettingsError(key, f"{namer(key)} {canon}: {e}") from None
    return canon, checked


def check_blas_threads(value, namer=flag, key="blas_threads", cores=None) -> int:
    """0 (the BLAS library's own choice) or a thread count from 1 to the machine's CPU count."""
    cores = cores or os.cpu_count() or 1
    return check_int(key, value, minimum=0, maximum=cores, namer=namer,
                     what=f"0 (the BLAS library's default) or a thread count from 1 to {cores} "
                          f"(this machine's CPU count)")


def read_toml(path, label: str | None = None) -> dict:
    """The contents of the TOML file ``path``; a missing file, a folder or bad TOML is a one-line
    ``ValueError`` starting with ``label`` (default: the path), e.g. ``--config run.toml``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    label = label or str(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{label} is a folder; give a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{label}: not valid TOML ({e})") from None


def check_keys(cfg: dict, valid, where: str) -> dict:
    """Keys with dashes read as underscores; an unknown key refused with the valid ones."""
    cfg = {str(k).replace("-", "_"): v for k, v in cfg.items()}
    unknown = sorted(set(cfg) - set(valid))
    if unknown:
        raise SettingsError(unknown[0], f"{where}: unknown keys {unknown}; valid: {', '.join(sorted(valid))}")
    return cfg


# ------------------------------------------------------------------------------ whole commands
def validate_train(given: dict, namer=flag) -> dict:
    """Check the settings a user gave (only those; any source) and return the full settings of a
    run: defaults filled in, names canonical (activation, optimizer), layers as "784,100,10".

    ``epochs`` and ``iterations`` exclude each other: giving both is refused; giving
    ``iterations`` alone drops the default epochs.
    """
    from . import data, optim

    given = {k: v for k, v in given.items() if v is not None}
    unknown = sorted(set(given) - set(TRAIN_DEFAULTS))
    if unknown:
        raise SettingsError(unknown[0], f"unknown settings {unknown}; valid: {', '.join(TRAIN_DEFAULTS)}")
    if "epochs" in given and "iterations" in given:
        raise SettingsError("epochs", f"give {namer('epochs')} or {namer('iterations')}, not both: an epoch count "
                                      "and a step count cannot both decide when training ends")
    s = {**TRAIN_DEFAULTS, **given}
    if "iterations" in given:
        s["epochs"] = None
    s["dataset"] = check_name("dataset", s["dataset"], list(data.DATASETS), namer)
    sizes = parse_layers(s["layers"], namer)
    if sizes[0] != 784 or sizes[-1] != 10:
        raise SettingsError("layers", f"{namer('layers')} {','.join(map(str, sizes))} does not fit {s['dataset']}: "
                                      "its images have 784 pixels and it has 10 classes, so the sizes must start "
                                      "with 784 and end with 10")
    s["layers"] = ",".join(map(str, sizes))
    s["activation"] = check_activation(s["activation"], namer)
    check_init(s["init"], s["activation"], namer, "init")
    check_init(s["bias_init"], s["activation"], namer, "bias_init")
    for key in ("batch_size", "epochs", "iterations", "checkpoint_every", "subset", "val_split"):
        if s[key] is not None:
            s[key] = check_int(key, s[key], 1, namer)
    s["seed"] = check_int("seed", s["seed"], 0, namer, what="a whole number >= 0")
    s["dtype"] = check_name("dtype", s["dtype"], ["float32", "float64"], namer)
    if s["schedule"] is not None:
        s["schedule"] = check_name("schedule", s["schedule"], list(optim.SCHEDULES), namer)
    if s["weight_decay"] is not None:
        s["weight_decay"] = check_number("weight_decay", s["weight_decay"], namer, low=0)
    s["optimizer"], hp = check_optimizer(s["optimizer"], optimizer_hparams(s), namer)
    s.update({k: hp[k] for k in ("lr", "momentum") if k in hp})
    _check_changes(s, hp, namer)
    return s


def _check_changes(s: dict, hp: dict, namer) -> None:
    """``lr_changes`` and the like (:mod:`mlplab.changes`): readable, each value one the optimizer
    takes (checked as that setting would be), none for a setting the optimizer does not have, and no
    learning-rate change beside a schedule; stored in the canonical "step:value,..." form."""
    from . import optim
    from .changes import KEYS, ChangeError, format_changes, parse_changes

    for name, key in KEYS.items():
        if s.get(name) is None:
            continue
        try:
            changes = parse_changes(s[name], namer(name))
        except ChangeError as e:
            raise SettingsError(name, str(e)) from None
        if key == "lr" and s.get("schedule") is not None:
            raise SettingsError(name, f"{namer(name)} and {namer('schedule')} both set the learning rate; give one")
        for step, value in changes:
            if key == "weight_decay":
                check_number(name, value, lambda k, at=step: f"{namer(k)} at step {at}", low=0)
                continue
            allowed = optim.optimizer_settings(s["optimizer"])
            if key not in allowed:
                raise SettingsError(name, f"{namer(name)}: {s['optimizer']} has no {key}; its settings are "
                                          f"{', '.join(allowed)}")
            check_optimizer(s["optimizer"], {**hp, key: value}, lambda k, n=name, at=step: f"{namer(n)} at step {at}")
        s[name] = format_changes(changes)


def validate_diagnose(given: dict, namer=flag, run_dir: bool = False) -> dict:
    """The settings of ``mlplab diagnose`` (defaults filled in); for a run directory (``run_dir``)
    the network's own settings come from the run, so layers/activation/init are refused, not ignored."""
    from . import data

    given = {k: v for k, v in given.items() if v is not None}
    network = [k for k in ("layers", "activation", "init", "bias_init") if k in given]
    if run_dir and network:
        names = ", ".join(namer(k) for k in network)
        raise SettingsError(network[0], f"{names} describe{'s' if len(network) == 1 else ''} a fresh network, but "
                                        "a run directory's network is the trained one in its config.json and "
                                        f"model.npz; drop {names}, or omit the run directory to diagnose a fresh "
                                        "network")
    s = {**DIAGNOSE_DEFAULTS, **given}
    for key in ("batch_size", "steps"):
        s[key] = check_int(key, s[key], 1, namer)
    s["seed"] = check_int("seed", s["seed"], 0, namer, what="a whole number >= 0")
    if s["input_std"] is not None:
        s["input_std"] = check_number("input_std", s["input_std"], namer, low=0, low_open=True)
    hp = {"lr": s["lr"]} if s["lr"] is not None else {}
    s["optimizer"], hp = check_optimizer(s["optimizer"], hp, namer)
    s["lr"] = hp.get("lr")
    if "dataset" in given or not run_dir:
        s["dataset"] = check_name("dataset", s["dataset"], list(data.DATASETS), namer)
    if run_dir:
        return s
    s["sizes"] = parse_layers(s["layers"], namer)
    s["activation"] = check_activation(s["activation"], namer)
    check_init(s["init"], s["activation"], namer, "init")
    check_init(s["bias_init"], s["activation"], namer, "bias_init")
    return s


def resume_differences(saved: dict, wanted: dict) -> list[tuple[str, object, object]]:
    """``(key, saved value, wanted value)`` for every training setting a resume would change.

    A resumed run continues the saved run bit for bit, so it keeps its settings; the ones the
    loop does not depend on (:data:`RESUME_FREE`: out, BLAS threads, checkpoint interval) may change.
    """
    diffs = []
    for key in TRAIN_DEFAULTS:
        if key in RESUME_FREE or key not in wanted:
            continue
        old, new = saved.get(key, TRAIN_DEFAULTS[key]), wanted[key]
        if old != new and not (isinstance(old, (int, float)) and isinstance(new, (int, float)) and float(old) == new):
            diffs.append((key, old, new))
    return diffs
