"""What every trial of a sweep trains on: the data, the network, the budget.

A *problem* is a plain dict, part of every trial's description (so a trial's key changes when it
does):

``dataset``   "mnist", "fashion-mnist" or "spirals" (two interleaved 2-D spirals, for small nets)
``train_size`` how many training examples to use (None: all), drawn with ``data_seed``
``val_size``  how many of those are held out for selection (the validation split)
``test_size`` how many test examples the final evaluation uses (None: all)
``layers``, ``activation``, ``init``    the network, as in ``mlplab train``
``batch_size``, ``epochs`` or ``iterations``  the budget of every trial
``eval_points``, ``eval_size``  only for a time-to-target (``--target``): a selection trial scores
              itself this many times during training, evenly spaced, on the first ``eval_size``
              validation examples (absent otherwise, so other sweeps' trial keys do not change)

:func:`problem_data` builds the arrays once per process and caches them: a forked worker inherits
the parent's cache, a Dask worker builds its own on its first trial ("data converted once per
worker"). The selection phase trains on ``train`` and scores on ``val``; the final phase retrains on
``train + val`` (every example the selection saw) and is scored once on ``test``.
"""

from __future__ import annotations

import json

import numpy as np

__all__ = ["DEFAULT_PROBLEM", "DATASETS", "problem_data", "spirals", "validate_problem", "n_params", "split_facts"]

DATASETS = ("mnist", "fashion-mnist", "spirals")

DEFAULT_PROBLEM = {
    "dataset": "mnist", "train_size": None, "val_size": 10_000, "test_size": None, "data_seed": 0,
    "layers": [784, 100, 100, 100, 100, 10], "activation": "relu", "init": "he",
    "batch_size": 128, "epochs": 1, "iterations": None,
}

#: the spirals' training points when --train-size is not given (a fifth of them validate, unless --val-split)
SPIRALS_TRAIN = 2000

#: optional settings, present in a problem only when set (see the module docstring)
OPTIONAL_PROBLEM = {"eval_points": None, "eval_size": None}

_CACHE: dict = {}


def spirals(n: int, rng: np.random.Generator | int = 0, noise: float = 0.2, turns: float = 1.5):
    """Two interleaved spirals in the plane: ``n`` points (float32 (n, 2)) and labels 0/1.

    Point i of class c sits at radius r ∈ (0, 1] and angle φ = 2π·turns·r + πc, plus Gaussian
    noise of std ``noise``·0.1: a classic set that a 2-8-8-2 network needs non-linear units for.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    y = rng.integers(0, 2, n)
    r = rng.uniform(0.05, 1.0, n)
    phi = 2 * np.pi * turns * r + np.pi * y
    X = np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1) + rng.normal(0, noise * 0.1, (n, 2))
    return X.astype(np.float32), y.astype(np.int64)


def _raw(problem):
    name = problem["dataset"]
    if name == "spirals":
        n_train = problem.get("train_size") or SPIRALS_TRAIN
        X, y = spirals(n_train, np.random.default_rng([problem.get("data_seed", 0), 7]))
        Xt, yt = spirals(problem.get("test_size") or 2000, np.random.default_rng([problem.get("data_seed", 0), 8]))
        return X, y, Xt, yt
    from ..data import load, subset

    X, y = load(name, "train")
    Xt, yt = load(name, "test")
    seed = problem.get("data_seed", 0)
    if problem.get("train_size"):
        X, y = subset(X, y, n=int(problem["train_size"]), rng=np.random.default_rng([seed, 1]))
    if problem.get("test_size"):
        Xt, yt = subset(Xt, yt, n=int(problem["test_size"]), rng=np.random.default_rng([seed, 2]))
    return X, y, Xt, yt


def problem_data(problem: dict) -> dict:
    """``{"train": (X, y), "val": (X, y), "full": (X, y), "test": (X, y)}`` for ``problem`` (cached).

    The validation examples are a random ``val_size`` of the training examples (``data_seed``);
    "full" is train + val, in the original order.
    """
    keys = ("dataset", "train_size", "val_size", "test_size", "data_seed")
    key = json.dumps({k: problem.get(k) for k in keys}, sort_keys=True)
    if key not in _CACHE:
        X, y, Xt, yt = _raw(problem)
        n_val = int(problem.get("val_size") or 0)
        if not 0 < n_val < len(X):
            raise ValueError(f"val_size must be between 1 and {len(X) - 1} (the training examples), got {n_val}")
        perm = np.random.default_rng([problem.get("data_seed", 0), 3]).permutation(len(X))
        val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        _CACHE.clear()  # one problem per process at a time: keep memory flat
        _CACHE[key] = {"train": (X[tr_idx], y[tr_idx]), "val": (X[val_idx], y[val_idx]), "full": (X, y),
                       "test": (Xt, yt)}
    return _CACHE[key]


def split_facts(problem: dict) -> dict:
    """``{"val": {"n", "chance"}, "test": {"n", "chance"}}``: how many examples each scoring split has and
    its chance level, the accuracy of always answering its commonest class (what a network that learned
    nothing scores: 11.35 % on MNIST's test set, not 10 %). The main process of a sweep calls it once; it
    does not keep the images cached there unless they already were (the workers hold their own)."""
    keys = ("dataset", "train_size", "val_size", "test_size", "data_seed")
    cached = json.dumps({k: problem.get(k) for k in keys}, sort_keys=True) in _CACHE
    data = problem_data(problem)
    out = {}
    for name in ("val", "test"):
        y = np.asarray(data[name][1])
        out[name] = {"n": int(len(y)), "chance": float(np.bincount(y).max() / len(y)) if len(y) else 0.0}
    if not cached:
        _CACHE.clear()
    return out


def n_params(layers) -> int:
    return sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:]))


def validate_problem(problem: dict) -> dict:
    """A complete, checked copy of ``problem`` (defaults filled in); ValueError with one line if wrong.

    Names and numbers go through :mod:`mlplab.settings`, the checks every front end shares (so
    ``--layers``, ``--activation`` and ``--init`` read as they do for ``mlplab train``)."""
    from ..settings import check_activation, check_init, check_int, check_name, parse_layers

    p = {**DEFAULT_PROBLEM, **{k: v for k, v in problem.items() if not (k in OPTIONAL_PROBLEM and v is None)}}
    if p["dataset"] == "spirals" and problem.get("val_size") is None:  # MNIST's 10,000 is more than the spirals
        p["val_size"] = (p["train_size"] or SPIRALS_TRAIN) // 5  # hold out a fifth of the training points
    unknown = sorted(set(p) - set(DEFAULT_PROBLEM) - set(OPTIONAL_PROBLEM))
    if unknown:
        raise ValueError(f"unknown problem settings {unknown}; valid: {', '.join(DEFAULT_PROBLEM)}")
    p["dataset"] = check_name("dataset", p["dataset"], list(DATASETS))
    layers = parse_layers(p["layers"])
    n_in, n_out = (2, 2) if p["dataset"] == "spirals" else (784, 10)
    if layers[0] != n_in or layers[-1] != n_out:
        raise ValueError(f"--layers {','.join(map(str, layers))} does not fit {p['dataset']}: the sizes must start "
                         f"with {n_in} and end with {n_out}")
    p["layers"] = layers
    p["activation"] = check_activation(p["activation"])
    check_init(p["init"], activation=p["activation"])
    if (p["epochs"] is None) == (p["iterations"] is None):
        raise ValueError("give exactly one budget: --epochs or --iterations")
    for k in ("batch_size", "epochs", "iterations", "train_size", "val_size", "test_size"):
        if p[k] is not None:
            p[k] = check_int("val_split" if k == "val_size" else k, p[k])
    p["data_seed"] = check_int("data_seed", p["data_seed"], minimum=0)
    for k in OPTIONAL_PROBLEM:
        if k in p:
            p[k] = check_int(k, p[k])
    n_train = p["train_size"] if p["train_size"] is not None else SPIRALS_TRAIN if p["dataset"] == "spirals" else None
    if n_train is not None and p["val_size"] is not None and p["val_size"] >= n_train:
        raise ValueError(f"--val-split {p['val_size']} must be smaller than --train-size {n_train}: the "
                         "validation examples are taken out of the training examples")
    return p
