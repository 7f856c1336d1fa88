"""The exercises: each a function, layer or optimizer class for a student to write, its formula in the source's
notation, its source, its solution and the known wrong variants the grader names.

One source for the solutions: every solution calls mlplab's own code (the VJPs of :mod:`mlplab.tensor`, the
optimizer classes of :mod:`mlplab.optim`, the schemes of :mod:`mlplab.init`, the maps of :mod:`mlplab.theory`);
an optimizer's solution *is* the library's class, and its wrong variants are subclasses that override
``update`` with the mistake. The only solution written in this package is the central difference (the library
has no user-facing numerical gradient; its tests' checker is not part of the package).

Each exercise draws its test cases from a Generator: two public cases (fixed seed, shown in the skeleton with
their values to 8 digits) and hidden ones drawn at grading time (other shapes, seeds, dtypes and
hyperparameters), as CS231n prints its checks and CMU 10-414/714 hides its tests.

The exercises live by topic (:mod:`.autodiff`, :mod:`.optimizers`, :mod:`.initializers`, :mod:`.theory`), each
registering its own into :data:`REGISTRY` (:mod:`.base`); importing this module registers them all, in that
order.
"""

from __future__ import annotations

from . import autodiff, initializers, optimizers, theory  # noqa: F401 - each registers its exercises
from .base import REGISTRY, Exercise, get, register
from .initializers import NotReproducible

# the topics register in import order; list them as a class meets them: autodiff, optimizers, initializers, theory
_ORDER = [*autodiff.NAMES, *optimizers.NAMES, *initializers.NAMES, *theory.NAMES]
REGISTRY.update({n: REGISTRY.pop(n) for n in _ORDER})

__all__ = ["REGISTRY", "Exercise", "NotReproducible", "get", "register"]
