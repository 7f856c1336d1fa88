"""A sweep's settings: which optimizers, which search space each, how many seeds, what problem.

Built from command-line options (:meth:`SweepSettings.from_options`) or from a TOML file
(:meth:`SweepSettings.from_toml`), checked in one place so both give the same one-line messages
(``ValueError``). A TOML file::

    optimizers = ["sgd", "momentum", "adam"]
    seeds = 5                 # seeds 0..4 (or a list: [0, 1, 7])
    method = "grid"           # grid | random | sobol
    points = 8                # grid: values per searched dimension; random/sobol: points in all
    search_seed = 0           # the random/sobol draw
    metric = "accuracy"       # selection metric on the validation split: accuracy | loss
    book = true               # also test each optimizer at the source book's setting
    [problem]                 # as `mlplab train`: dataset, layers, activation, init, batch_size,
    epochs = 1                # epochs | iterations, train_size, val_size, test_size, data_seed
    [space.momentum]          # per optimizer; unlisted optimizers search lr on the default range
    lr = { log = [1e-4, 0.3] }
    momentum = { range = [0.8, 0.99] }
    [space.adam]
    lr = { log = [1e-5, 1e-2] }
    eps = { choice = [1e-8, 1e-6] }
    betas = [0.9, 0.999]      # a plain value: fixed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .problem import validate_problem
from .space import DEFAULT_LR_RANGE, METHODS, Choice, LogRange, Range, Space, default_space

__all__ = ["SweepSettings", "BOOK_FOUR"]

BOOK_FOUR = ["sgd", "momentum", "adagrad", "adam"]  # the source book's race
_KEYS = {"optimizers", "seeds", "method", "points", "search_seed", "metric", "book", "problem", "space", "stack",
         "lr_range"}


def _dim(opt, name, spec):
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in ("log", "range", "choice"):
            raise ValueError(f"space.{opt}.{name}: give one of log = [lo, hi], range = [lo, hi], choice = [...]")
        kind, v = next(iter(spec.items()))
        try:
            if kind == "choice":
                return Choice(tuple(v))
            lo, hi = (float(u) for u in v)
            return LogRange(lo, hi) if kind == "log" else Range(lo, hi)
        except (TypeError, ValueError) as e:
            raise ValueError(f"space.{opt}.{name}: {e}") from None
    return None


def _budget(problem: dict) -> dict:
    """Unset values dropped (the defaults apply); iterations given without epochs replace the epochs."""
    p = {k: v for k, v in problem.items() if v is not None}
    if p.get("iterations") is not None and "epochs" not in p:
        p["epochs"] = None
    return p


@dataclass
class SweepSettings:
    optimizers: list = field(default_factory=lambda: list(BOOK_FOUR))
    spaces: dict = field(default_factory=dict)  # optimizer -> Space
    seeds: list = field(default_factory=lambda: [0, 1, 2, 3, 4])
    method: str = "grid"
    points: int = 8
    search_seed: int = 0
    metric: str = "accuracy"
    book: bool = True
    stack: str | bool = "auto"
    problem: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self):
        from ..settings import check_optimizer

        if not self.optimizers:
            raise ValueError("give at least one optimizer")
        self.optimizers = [check_optimizer(o, {}, key="optimizers")[0] for o in self.optimizers]
        if len(set(self.optimizers)) != len(self.optimizers):
            raise ValueError(f"an optimizer is listed twice: {self.optimizers}")
        extra = sorted(set(self.spaces) - set(self.optimizers))
        if extra:
            raise ValueError(f"a search space is given for {extra}, which are not among the optimizers")
        for o in self.optimizers:
            self.spaces.setdefault(o, default_space(o))
        if self.method not in METHODS:
            raise ValueError(f"unknown search method {self.method!r}; valid: {', '.join(METHODS)}")
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 1:
            raise ValueError(f"points (--lr-grid) must be a positive integer, got {self.points!r}")
        if isinstance(self.seeds, int) and not isinstance(self.seeds, bool):
            if self.seeds < 1:
                raise ValueError(f"seeds must be at least 1, got {self.seeds}")
            self.seeds = list(range(self.seeds))
        if not isinstance(self.seeds, list) or not self.seeds or not all(isinstance(s, int) for s in self.seeds):
            raise ValueError(f"seeds: give a count or a list of integers, got {self.seeds!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: {self.seeds} lists a seed twice")
        if self.metric not in ("accuracy", "loss"):
            raise ValueError(f"metric must be accuracy or loss, got {self.metric!r}")
        if self.stack not in ("auto", True, False):
            raise ValueError(f"stack must be auto, true or false, got {self.stack!r}")
        self.problem = validate_problem(self.problem)
        from ..optim import get_optimizer
        from ..tensor import Tensor

        probe = [Tensor([1.0], requires_grad=True)]
        for o in self.optimizers:  # a bad fixed hyperparameter fails here, not in 160 trials
            sp = self.spaces[o]
            for pt in (sp.point([0.0] * len(sp.dims)), sp.point([1.0] * len(sp.dims))):
                try:
                    get_optimizer(o, probe, **pt)
                except (TypeError, ValueError) as e:
                    raise ValueError(f"space.{o}: {e}") from None

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_options(cls, optimizers=None, lr_grid=8, lr_range=None, seeds=5, method="grid", search_seed=0,
                     metric="accuracy", book=True, stack="auto", **problem):
        opts = list(BOOK_FOUR) if optimizers is None else [o.strip().lower().replace("-", "_")
                                                            for o in optimizers.split(",") if o.strip()]
        spaces = {}
        if lr_range is not None:
            lo, hi = lr_range
            spaces = {o: default_space(o, (lo, hi)) for o in opts}
        return cls(optimizers=opts, spaces=spaces, seeds=seeds, method=method, points=lr_grid,
                   search_seed=search_seed, metric=metric, book=book, stack=stack, problem=_budget(problem))

    @classmethod
    def from_toml(cls, path, overrides: dict | None = None, problem_overrides: dict | None = None,
                  label: str | None = None):
        """Read ``path``; ``overrides`` (top-level keys) and ``problem_overrides`` win over the file.
        Messages start with ``label`` (default: the path; the CLI passes ``--config PATH``)."""
        from ..settings import read_toml

        path = Path(path)
        where = label or str(path)
        raw = read_toml(path, where)
        raw = raw.get("sweep", raw)
        raw = {str(k).replace("-", "_"): v for k, v in raw.items()}
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; valid: {', '.join(sorted(_KEYS))}")
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        opts = raw.get("optimizers", list(BOOK_FOUR))
        if isinstance(opts, str):
            opts = [o.strip() for o in opts.split(",")]
        opts = [str(o).lower().replace("-", "_") for o in opts]
        lr_range = raw.get("lr_range")
        spaces = {}
        for o, spec in (raw.get("space") or {}).items():
            if not isinstance(spec, dict):
                raise ValueError(f"{where}: [space.{o}] must be a table of hyperparameters")
            dims, fixed = {}, {}
            for name, v in spec.items():
                d = _dim(o, name, v)
                if d is None:
                    fixed[name] = tuple(v) if isinstance(v, list) else v
                else:
                    dims[name] = d
            if "lr" not in dims and "lr" not in fixed:
                lo, hi = lr_range or DEFAULT_LR_RANGE.get(o, (1e-4, 1.0))
                dims = {"lr": LogRange(lo, hi), **dims}
            try:
                spaces[o] = Space(o, dims, fixed)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        if lr_range:
            for o in opts:
                spaces.setdefault(o, default_space(o, tuple(lr_range)))
        problem = raw.get("problem") or {}
        if not isinstance(problem, dict):
            raise ValueError(f"{where}: [problem] must be a table")
        problem = {str(k).replace("-", "_"): v for k, v in problem.items()}
        problem.update({k: v for k, v in (problem_overrides or {}).items() if v is not None})
        problem = _budget(problem)
        return cls(optimizers=opts, spaces=spaces, seeds=raw.get("seeds", 5), method=raw.get("method", "grid"),
                   points=raw.get("points", 8), search_seed=raw.get("search_seed", 0),
                   metric=raw.get("metric", "accuracy"), book=raw.get("book", True), stack=raw.get("stack", "auto"),
                   problem=problem)

    def to_dict(self) -> dict:
        def dim(d):
            if isinstance(d, Choice):
                return {"choice": list(d.values)}
            return {"log" if isinstance(d, LogRange) else "range": [d.low, d.high]}

        return {"optimizers": self.optimizers, "seeds": self.seeds, "method": self.method, "points": self.points,
                "search_seed": self.search_seed, "metric": self.metric, "book": self.book, "stack": self.stack,
                "problem": self.problem,
                "space": {o: {**{k: dim(d) for k, d in s.dims.items()},
                              **{k: list(v) if isinstance(v, tuple) else v for k, v in s.fixed.items()}}
                          for o, s in self.spaces.items()}}
