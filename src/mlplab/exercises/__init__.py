"""Graded exercises for a class: the lessons' formulas to implement, and a grader that names the mistake.

Each exercise (:mod:`.catalog`) has a signature, a docstring with the formula in its source's notation and
the source, the library's own code as its solution, and known wrong variants. :mod:`.skeleton` writes the
files a student fills in; :mod:`.grader` checks them (public cases, then hidden ones drawn at grading time)
in a subprocess with time limits (:mod:`.runner`), and names a mistake when the output equals a known
wrong variant's. The command is ``mlplab exercises list|start|check`` (docs/exercises.md).
"""

from .catalog import REGISTRY, Exercise, get
from .grader import Grade, grade_callable, grade_file
from .skeleton import write_skeletons

__all__ = ["REGISTRY", "Exercise", "Grade", "get", "grade_callable", "grade_file", "write_skeletons"]
