"""A sweep's settings: which optimizers, which search space each, how many seeds, what problem.

Built from command-line options (:meth:`SweepSettings.from_options`) or from a TOML file
(:meth:`SweepSettings.from_toml`), checked in one place so both give the same one-line messages
(``ValueError``). A TOML file::

    optimizers = ["sgd", "momentum", "adam"]
    seeds = 5                 # seeds 0..4 (or a list: [0, 1, 7])
    method = "grid"           # grid | random | sobol
    points = 8                # grid: values per searched dimension; random/sobol: points in all
    search_space = "lr"       # lr | lr+momentum | choi: the spaces of unlisted optimizers (mlplab.sweep.space)
    budget = 32               # instead of method/points: 32 Sobol points per optimizer (each on every seed)
    target = 0.95             # time-to-target: steps and seconds to this validation accuracy (AlgoPerf-style)
    search_seed = 0           # the random/sobol draw
    metric = "accuracy"       # selection metric on the validation split: accuracy | loss
    book = true               # also test each optimizer at the source book's setting
    [problem]                 # as `mlplab train`: dataset, layers, activation, init, batch_size,
    epochs = 1                # epochs | iterations, train_size, val_size, test_size, data_seed
    [space.momentum]          # per optimizer; unlisted optimizers search lr on the default range
    lr = { log = [1e-4, 0.3] }
    momentum = { range = [0.8, 0.99] }   # or { log1m = [1e-3, 1] }: 1 − momentum on a log scale
    [space.adam]
    lr = { log = [1e-5, 1e-2] }
    eps = { choice = [1e-8, 1e-6] }
    betas = [0.9, 0.999]      # a plain value: fixed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .problem import validate_problem
from .space import METHODS, SPACES, Choice, LogComplement, LogRange, Range, Space, default_space, named_space

__all__ = ["SweepSettings", "BOOK_FOUR"]

BOOK_FOUR = ["sgd", "momentum", "adagrad", "adam"]  # the source book's race
_KEYS = {"optimizers", "seeds", "method", "points", "search_seed", "metric", "book", "problem", "space", "stack",
         "lr_range", "search_space", "budget", "target"}
EVAL_POINTS = 20  # with a target: validation checks per selection trial
EVAL_SIZE = 2000  # ... each on this many validation examples


def _dim(opt, name, spec):
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in ("log", "log1m", "range", "choice"):
            raise ValueError(f"space.{opt}.{name}: give one of log = [lo, hi], log1m = [lo, hi] (1 − x on a log "
                             "scale), range = [lo, hi], choice = [...]")
        kind, v = next(iter(spec.items()))
        try:
            if kind == "choice":
                return Choice(tuple(v))
            lo, hi = (float(u) for u in v)
            return {"log": LogRange, "log1m": LogComplement, "range": Range}[kind](lo, hi)
        except (TypeError, ValueError) as e:
            raise ValueError(f"space.{opt}.{name}: {e}") from None
    return None


def _search(space, budget, method, points):
    """(search space name, method, points) after ``budget`` (Sobol points per optimizer) is applied."""
    space = "lr" if space is None else str(space)
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid: {', '.join(SPACES)}")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"--budget must be a positive number of settings per optimizer, got {budget!r}")
        if method not in (None, "sobol", "random"):
            raise ValueError(f"--budget draws quasi-random (Sobol) or random points; it does not go with --method "
                             f"{method}")
        if points is not None and points != budget:
            raise ValueError("give --budget or --lr-grid/points, not both")
        return space, method or "sobol", budget
    return space, method or "grid", 8 if points is None else points


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
    target: float | None = None  # a validation accuracy: time-to-target reported beside final accuracy

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
        if self.target is not None:
            if isinstance(self.target, bool) or not isinstance(self.target, (int, float)) or not 0 < self.target < 1:
                raise ValueError(f"--target is a validation accuracy between 0 and 1 (e.g. 0.95), got {self.target!r}")
            self.target = float(self.target)
            self.problem.setdefault("eval_points", EVAL_POINTS)
            self.problem.setdefault("eval_size", min(EVAL_SIZE, int(self.problem.get("val_size") or EVAL_SIZE)))
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
    def from_options(cls, optimizers=None, lr_grid=None, lr_range=None, seeds=5, method=None, search_seed=0,
                     metric="accuracy", book=True, stack="auto", space=None, budget=None, target=None, **problem):
        """``space``: lr | lr+momentum | choi (every optimizer's search space); ``budget``: that many Sobol
        points per optimizer instead of a grid of ``lr_grid`` points per dimension."""
        opts = list(BOOK_FOUR) if optimizers is None else [o.strip().lower().replace("-", "_")
                                                            for o in optimizers.split(",") if o.strip()]
        space, method, lr_grid = _search(space, budget, method, lr_grid)
        spaces = {}
        if lr_range is not None or space != "lr":
            from ..settings import check_optimizer

            for o in opts:
                try:
                    o = check_optimizer(o, {}, key="optimizers")[0]
                except ValueError:
                    continue  # an unknown optimizer: validate() says so in its words
                spaces[o] = named_space(o, space, tuple(lr_range) if lr_range else None)
        return cls(optimizers=opts, spaces=spaces, seeds=seeds, method=method, points=lr_grid,
                   search_seed=search_seed, metric=metric, book=book, stack=stack, problem=_budget(problem),
                   target=target)

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
        try:
            kind, method, n_points = _search(raw.get("search_space"), raw.get("budget"), raw.get("method"),
                                             raw.get("points"))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
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
                lr = named_space(o, kind).dims["lr"]
                lo, hi = lr_range or (lr.low, lr.high)
                dims = {"lr": LogRange(lo, hi), **dims}
            try:
                spaces[o] = Space(o, dims, fixed)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
        if lr_range or kind != "lr":
            for o in opts:
                try:
                    spaces.setdefault(o, named_space(o, kind, tuple(lr_range) if lr_range else None))
                except ValueError as e:
                    raise ValueError(f"{where}: {e}") from None
        problem = raw.get("problem") or {}
        if not isinstance(problem, dict):
            raise ValueError(f"{where}: [problem] must be a table")
        problem = {str(k).replace("-", "_"): v for k, v in problem.items()}
        problem.update({k: v for k, v in (problem_overrides or {}).items() if v is not None})
        problem = _budget(problem)
        return cls(optimizers=opts, spaces=spaces, seeds=raw.get("seeds", 5), method=method,
                   points=n_points, search_seed=raw.get("search_seed", 0),
                   metric=raw.get("metric", "accuracy"), book=raw.get("book", True), stack=raw.get("stack", "auto"),
                   problem=problem, target=raw.get("target"))

    def to_dict(self) -> dict:
        def dim(d):
            if isinstance(d, Choice):
                return {"choice": list(d.values)}
            kind = "log" if isinstance(d, LogRange) else "log1m" if isinstance(d, LogComplement) else "range"
            return {kind: [d.low, d.high]}

        extra = {"target": self.target} if self.target is not None else {}  # absent: older folders still resume
        return {**extra, "optimizers": self.optimizers, "seeds": self.seeds, "method": self.method,
                "points": self.points, "search_seed": self.search_seed, "metric": self.metric, "book": self.book,
                "stack": self.stack, "problem": self.problem,
                "space": {o: {**{k: dim(d) for k, d in s.dims.items()},
                              **{k: list(v) if isinstance(v, tuple) else v for k, v in s.fixed.items()}}
                          for o, s in self.spaces.items()}}
