"""The teacher's exports: an nbgrader assignment and an Otter-Grader one, graded by mlplab's own grader.

Both write one notebook with, per exercise, a markdown cell (title, formula, source), a solution cell and one
autograded test cell per test of ``mlplab exercises check``: the public tests visible, the hidden ones between
nbgrader's ``### BEGIN HIDDEN TESTS``/``### END HIDDEN TESTS`` (Otter: ``hidden: true``), drawn from the seed
given at export. Each test cell is worth points/tests, so nbgrader's score of a notebook is the score
``mlplab exercises check --seed SEED`` gives the same code: ``check`` scores points × passed/total.

One source for the solutions: a solution cell calls the library's own code, the callable the grader compares
with (:attr:`Exercise.solution`; an optimizer's ``init_state``/``update`` call those of the library's class
built with the student's settings, :func:`library_method`). A test cell calls :func:`assert_case`, which runs
one case with :func:`mlplab.exercises.grader.run_case` and fails with its line (and the named mistake).

The notebooks are written as JSON (nbformat 4.5) without nbformat: the core does not need Jupyter installed.
"""

from __future__ import annotations

import ast
import functools
import json
import textwrap
from pathlib import Path

from .catalog import REGISTRY
from .skeleton import body

NBGRADER_SCHEMA = 3


# ----------------------------------------------------------------------------- called from the notebooks
@functools.lru_cache(maxsize=64)
def _planned(name: str, seed: int):
    from .grader import plan

    return {p.label: p for p in plan(REGISTRY[name], seed)}


def case_labels(name: str, seed: int) -> list[str]:
    from .grader import cases_for

    return [label for label, _ in cases_for(REGISTRY[name], seed)]


def assert_case(name: str, impl, label: str, seed: int = 0) -> None:
    """One test of exercise ``name`` (``label`` as ``check`` prints it: public-1, hidden-2, ...) on ``impl``;
    raises AssertionError with the grader's line, and the likely mistake when it is a known one."""
    from .grader import run_case

    planned = _planned(name, int(seed))
    if label not in planned:
        raise KeyError(f"exercise {name} has no test {label!r} (its tests: {', '.join(planned)})")
    r = run_case(REGISTRY[name], impl, planned[label])
    if not r.ok:
        raise AssertionError(f"{name} {label}: {r.line}" + (f" (likely mistake: {r.mistake})" if r.mistake else ""))


def _init_names(ex) -> list[str]:
    """The hyperparameters an optimizer skeleton's ``__init__`` stores (all but params, lr, **common)."""
    init = ex.signature.split("\n", 1)[1]
    fn = ast.parse(textwrap.dedent(init.split("\n")[0]) + "\n    pass").body[0]
    return [a.arg for a in fn.args.args if a.arg not in ("self", "params", "lr")]


def library_method(name: str, student, method: str, *args):
    """``method`` of the library's optimizer class of exercise ``name``, built with the settings of
    ``student`` (an instance of the skeleton's class): the solution's ``init_state``/``update``."""
    from ..tensor import Tensor

    ex = REGISTRY[name]
    twin = student.__dict__.get("_mlplab_library_twin")
    if twin is None:
        import numpy as np

        settings = {k: getattr(student, k) for k in _init_names(ex)}
        twin = ex.solution([Tensor(np.zeros(1))], lr=student.lr, **settings)
        student.__dict__["_mlplab_library_twin"] = twin
    twin.lr = student.lr  # a schedule may have changed it
    return getattr(twin, method)(*args)


# ----------------------------------------------------------------------------- the cells' code
def _arg_names(ex) -> list[str]:
    fn = ast.parse(ex.signature + "\n    pass").body[0]
    return [a.arg for a in fn.args.args]


def solution_code(ex, begin="### BEGIN SOLUTION", end="### END SOLUTION") -> str:
    """The skeleton's code with each ``raise NotImplementedError`` replaced by a solution region that calls the
    library's code."""
    code = body(ex)
    if ex.kind == "optimizer":
        for method, args in (("init_state", "theta"), ("update", "g, state, theta")):
            stub = f"    def {method}(self, {args}):\n"
            head, sep, tail = code.partition(stub)
            doc, raise_, rest = tail.partition("        raise NotImplementedError\n")
            call = f"return library_method({ex.name!r}, self, {method!r}, {args})"
            code = (head + sep + doc + f"        {begin}\n        from mlplab.exercises.export import library_method\n"
                    f"        {call}  # the library's {ex.solution.__name__}\n        {end}\n" + rest)
        return code
    if ex.kind == "layer":  # forward builds the library's layer on (W, b); backward reads its gradients
        fwd = (f"        {begin}\n        from mlplab.exercises import REGISTRY\n"
               f"        self._library = REGISTRY[{ex.name!r}].solution(self.W, self.b)  # the library's nn.Linear\n"
               f"        return self._library.forward(x)\n        {end}\n")
        bwd = (f"        {begin}\n        dx = self._library.backward(dy)\n"
               f"        self.dW, self.db = self._library.dW, self._library.db\n        return dx\n        {end}\n")
        first, _, rest = code.partition("        raise NotImplementedError\n")
        second, _, tail = rest.partition("        raise NotImplementedError\n")
        return first + fwd + second + bwd + tail
    call = f"REGISTRY[{ex.name!r}].solution({', '.join(_arg_names(ex))})"
    return code.replace("    raise NotImplementedError\n",
                        f"    {begin}\n    from mlplab.exercises import REGISTRY  # the grader's reference: "
                        f"the library's code\n    return {call}\n    {end}\n")


INTRO = ("# {assignment}: mlplab exercises\n\nEach exercise's tests are those of `mlplab exercises check`; a failed "
         "test says what was wrong and, when it is a known mistake, which. The hidden tests are drawn from your "
         "teacher's seed when the notebook is graded.")


def _imports(ex) -> str:
    return "import numpy as np\n" + ("from mlplab.optim import Optimizer\n" if ex.kind == "optimizer" else "")


def _prompt(ex) -> str:
    first, _, rest = ex.doc.partition("\n")
    return (f"## `{ex.name}`: {ex.title}\n\n*Source: {ex.source}.*\n\n{first}\n\n```\n{textwrap.dedent(rest).strip()}\n"
            f"```\n\nWrite `{ex.name}` in the next cell. The tests below are those of `mlplab exercises check`: "
            f"the public ones (the skeleton's checks) and hidden ones (other shapes, dtypes and settings) added when "
            f"it is graded. {ex.points} points, split evenly over the tests.")


def _test_code(ex, label, seed, hidden, begin="### BEGIN HIDDEN TESTS", end="### END HIDDEN TESTS") -> str:
    call = f"assert_case({ex.name!r}, {ex.name}, {label!r}" + (f", seed={seed})" if hidden else ")")
    imp = "from mlplab.exercises.export import assert_case\n"
    if not hidden:
        return f"# {ex.name}, {label}: the inputs and expected values are the skeleton's public checks\n{imp}{call}"
    return f"# {ex.name}, {label}: a hidden test (empty in the student's copy)\n{begin}\n{imp}{call}\n{end}"


# ----------------------------------------------------------------------------- nbgrader
def _cell(kind, source, nbgrader=None, idx=0):
    cell = {"cell_type": kind, "id": f"c{idx:04d}", "metadata": {}, "source": source}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"schema_version": NBGRADER_SCHEMA, "task": False, **nbgrader}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(cells):
    for i, c in enumerate(cells):
        c["id"] = f"c{i:04d}"
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}}


def nbgrader_notebook(names, seed: int, assignment: str = "hw1") -> dict:
    """The source notebook of an nbgrader assignment (solution cells, autograded test cells with points)."""
    ro = {"grade": False, "solution": False, "locked": True}
    cells = [_cell("markdown", INTRO.format(assignment=assignment), {**ro, "grade_id": "intro"}),
             _cell("code", "import numpy as np\nfrom mlplab.optim import Optimizer",
                   {**ro, "grade_id": "imports"})]
    for name in names:
        ex = REGISTRY[name]
        labels = case_labels(name, seed)
        each = ex.points / len(labels)
        cells.append(_cell("markdown", _prompt(ex), {**ro, "grade_id": f"{name}-prompt"}))
        cells.append(_cell("code", _imports(ex) + "\n\n" + solution_code(ex).rstrip("\n"),
                           {"grade": False, "solution": True, "locked": False, "grade_id": name}))
        for label in labels:
            cells.append(_cell("code", _test_code(ex, label, seed, label.startswith("hidden")),
                               {"grade": True, "solution": False, "locked": True, "points": each,
                                "grade_id": f"{name}-{label}"}))
    return _notebook(cells)


NBGRADER_CONFIG = """# nbgrader's configuration of this course folder, written by `mlplab exercises export --nbgrader`
c = get_config()  # noqa: F821 - nbgrader provides it
c.CourseDirectory.course_id = "mlplab"
c.ExecutePreprocessor.timeout = 120
"""


def export_nbgrader(folder, names, seed: int, assignment: str = "hw1") -> list[Path]:
    """Write ``folder/source/ASSIGNMENT/ASSIGNMENT.ipynb`` (and ``folder/nbgrader_config.py`` when there is
    none): an nbgrader course folder, ready for ``nbgrader generate_assignment ASSIGNMENT``."""
    folder = Path(folder)
    nb_path = folder / "source" / assignment / f"{assignment}.ipynb"
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    nb_path.write_text(json.dumps(nbgrader_notebook(names, seed, assignment), indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    out = [nb_path]
    config = folder / "nbgrader_config.py"
    if not config.exists():
        config.write_text(NBGRADER_CONFIG, encoding="utf-8")
        out.append(config)
    return out


# ----------------------------------------------------------------------------- Otter-Grader
def _raw(source):
    return {"cell_type": "raw", "id": "", "metadata": {}, "source": source}


def otter_notebook(names, seed: int, assignment: str = "hw1") -> dict:
    """The master notebook of an Otter-Grader assignment (``otter assign``'s format: raw config cells, a
    question per exercise, ``# BEGIN SOLUTION`` regions, test cells with ``hidden``/``points``)."""
    cells = [_raw(f"# ASSIGNMENT CONFIG\nname: {assignment}\nrequirements:\n  - mlplab\nexport_cell: false\n"
                  "check_all_cell: false\nrun_tests: false\ngenerate: true\n"),
             _cell("markdown", INTRO.format(assignment=assignment)),
             _cell("code", "import numpy as np\nfrom mlplab.optim import Optimizer")]
    for name in names:
        ex = REGISTRY[name]
        labels = case_labels(name, seed)
        each = ex.points / len(labels)
        cells.append(_raw(f"# BEGIN QUESTION\nname: {name}\npoints:\n" +
                          "".join(f"  - {each!r}\n" for _ in labels)))
        cells.append(_cell("markdown", _prompt(ex)))
        cells.append(_raw("# BEGIN SOLUTION"))
        cells.append(_cell("code", _imports(ex) + "\n\n" + solution_code(ex, "# BEGIN SOLUTION",
                                                                          "# END SOLUTION").rstrip("\n")))
        cells.append(_raw("# END SOLUTION"))
        cells.append(_raw("# BEGIN TESTS"))
        for label in labels:
            hidden = label.startswith("hidden")
            cells.append(_cell("code", f'""" # BEGIN TEST CONFIG\nhidden: {str(hidden).lower()}\n""" '
                                       f"# END TEST CONFIG\nfrom mlplab.exercises.export import assert_case\n"
                                       f"assert_case({name!r}, {name}, {label!r}" +
                                       (f", seed={seed})" if hidden else ")")))
        cells.append(_raw("# END TESTS"))
        cells.append(_raw("# END QUESTION"))
    return _notebook(cells)


def export_otter(folder, names, seed: int, assignment: str = "hw1") -> list[Path]:
    """Write ``folder/ASSIGNMENT.ipynb``, the master notebook for ``otter assign``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    path.write_text(json.dumps(otter_notebook(names, seed, assignment), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return [path]


__all__ = ["assert_case", "case_labels", "export_nbgrader", "export_otter", "library_method",
           "nbgrader_notebook", "otter_notebook", "solution_code"]
