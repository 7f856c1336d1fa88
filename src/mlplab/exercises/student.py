"""A student's optimizer class, loaded from their exercise file, to train with like the library's own.

``load_optimizer("hw1:Adam")`` imports ``hw1/Adam.py`` (the student's own code, run on request, as
``python hw1/Adam.py`` would) and returns its ``Adam`` class, checked to be an :class:`mlplab.optim.Optimizer`
subclass. The class then goes wherever a library optimizer class goes (``Trainer``, ``run_optimizer``). When
the student wrote the same rule with the same floating-point operations as the library (SGD, classic
momentum), the training run is bit-identical to the library's (tests/test_exercises.py checks it).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from ..optim import Optimizer
from .catalog import REGISTRY


class StudentCodeError(ValueError):
    """The spec names no optimizer exercise, the file is missing, or it does not define the class."""


def load_optimizer(spec: str):
    """The optimizer class of ``"FOLDER:NAME"`` (the file FOLDER/NAME.py)."""
    folder, sep, name = str(spec).rpartition(":")
    optimizers = [n for n, e in REGISTRY.items() if e.kind == "optimizer"]
    if not sep or not folder:
        raise StudentCodeError(f"{spec!r} is not FOLDER:NAME (e.g. hw1:Adam)")
    if name not in optimizers:
        raise StudentCodeError(f"{name!r} is not an optimizer exercise; valid: {', '.join(optimizers)}")
    path = Path(folder) / f"{name}.py"
    if not path.is_file():
        raise StudentCodeError(f"no file {path}; write it with `mlplab exercises start {name} --dir {folder}`")
    spec_ = importlib.util.spec_from_file_location(f"student_{name}", path)
    module = importlib.util.module_from_spec(spec_)
    try:
        spec_.loader.exec_module(module)
    except Exception as e:
        raise StudentCodeError(f"importing {path} raised {type(e).__name__}: {' '.join(str(e).split())[:200]}") \
            from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise StudentCodeError(f"{path} defines no class {name} derived from mlplab.optim.Optimizer")
    return cls


@functools.cache
def load_checked_optimizer(spec: str):
    """:func:`load_optimizer`, but only once the file passes all its tests (public and hidden, seed 0) in the
    grader's subprocess: a student's optimizer enters a training run after ``check`` passes, not before."""
    from .grader import grade_file

    cls = load_optimizer(spec)
    folder, _, name = spec.rpartition(":")
    grade = grade_file(folder, name, seed=0)
    if grade.passed != grade.total:
        why = "; ".join(line.strip() for line in grade.lines()[1:])
        raise StudentCodeError(f"{folder}/{name}.py does not pass its checks yet ({grade.passed}/{grade.total}: "
                               f"{why}); run `mlplab exercises check {folder} {name}`")
    return cls


def offer_folder(folder) -> tuple[dict, list[str]]:
    """The optimizer exercises of ``folder`` that pass their checks, for ``mlplab live --exercises FOLDER``:
    ``({"FOLDER:NAME": class}, [one line per file refused])``. Each file is graded in the grader's subprocess
    first; only a file that passes is then imported here."""
    offered, refused = {}, []
    for name, ex in REGISTRY.items():
        if ex.kind != "optimizer" or not (Path(folder) / f"{name}.py").is_file():
            continue
        spec = f"{folder}:{name}"
        try:
            offered[spec] = load_checked_optimizer(spec)
        except StudentCodeError as e:
            refused.append(f"{Path(folder) / name}.py is not offered: {e}")
    return offered, refused


def restricted_loader(offered: dict):
    """An :data:`mlplab.optim.registry.EXTERNAL_LOADER` that knows only the classes already checked and loaded
    (:func:`offer_folder`): a web page naming another ``FOLDER:NAME`` gets a ValueError, and no file is read."""
    def load(spec):
        if spec not in offered:
            raise ValueError(f"{spec!r} is not one of the exercises this server offers "
                             f"({', '.join(offered) or 'none'})")
        return offered[spec]
    return load
