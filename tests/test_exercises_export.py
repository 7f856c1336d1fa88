"""The teacher's exports, validated by the graders themselves: `mlplab exercises export --nbgrader` goes through
nbgrader's own pipeline (generate_assignment, a filled-in student copy, autograde) and `--otter` through
`otter assign` and `otter run`; the scores they give equal `mlplab exercises check`'s for the same code.

The subset: tanh (a student's code right in float64 but returning float64 for float32 inputs: a partial score),
Adam (a student's Adam without the bias correction: the planted mistake, named in the autograded notebook) and
he_normal (a student's correct draw: full marks). One notebook, one student, one grading run per tool.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mlplab.cli import main as cli_main
from mlplab.exercises import REGISTRY, grade_file
from mlplab.exercises.export import case_labels, solution_code

SEED = 5
STUDENT = {
    "tanh": "import numpy as np\n\n\ndef tanh(x, g):\n    y = np.tanh(x.astype(np.float64))\n"
            "    return y, g * (1 - y * y)\n",
    "Adam": "import numpy as np\nfrom mlplab.optim import Optimizer\n\n\nclass Adam(Optimizer):\n"
            "    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, **common):\n"
            "        super().__init__(params, lr, **common)\n        self.betas = betas\n        self.eps = eps\n\n"
            "    def init_state(self, theta):\n"
            "        return {'m': np.zeros_like(theta), 'v': np.zeros_like(theta)}\n\n"
            "    def update(self, g, state, theta):\n        b1, b2 = self.betas\n"
            "        state['m'] = b1 * state['m'] + (1 - b1) * g\n"
            "        state['v'] = b2 * state['v'] + (1 - b2) * g * g\n"
            "        return -self.lr * state['m'] / (np.sqrt(state['v']) + self.eps)\n",
    "he_normal": "import numpy as np\n\n\ndef he_normal(shape, rng, dtype=np.float32):\n"
                 "    return rng.normal(0.0, np.sqrt(2.0 / shape[0]), size=shape).astype(dtype)\n",
}


def _env():
    import mlplab

    src = str(Path(mlplab.__file__).resolve().parents[1])
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """`mlplab exercises check`'s score of each student file (the hidden tests of SEED)."""
    hw = tmp_path_factory.mktemp("hw1")
    for name, code in STUDENT.items():
        (hw / f"{name}.py").write_text(code)
    grades = {name: grade_file(hw, name, SEED) for name in STUDENT}
    assert grades["he_normal"].score == 10, grades["he_normal"].lines()
    assert 0 < grades["tanh"].score < 10, grades["tanh"].lines()          # a partial score: float32 cases fail
    assert grades["Adam"].score == 0 and grades["Adam"].mistake == "bias correction missing"
    return {name: g.score for name, g in grades.items()}


def _fill(nb, is_answer, name_of):
    for cell in nb["cells"]:
        if is_answer(cell):
            cell["source"] = STUDENT[name_of(cell)]
    return nb


def _nbgrader_api(course, monkeypatch):
    """nbgrader's own API on the course folder, in this process (its command line does the same, but starts a
    Python and imports nbgrader twice more); the notebooks still run in a kernel of their own."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    for k, v in _env().items():       # the kernel runs this mlplab; nbgrader calls `alembic` from PATH
        monkeypatch.setenv(k, v)
    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.course_id = "mlplab"
    return NbGraderAPI(config=c)


def test_nbgrader_autogrades_the_export_as_check_does(tmp_path, checked, capsys, monkeypatch):
    pytest.importorskip("nbgrader")
    course = tmp_path / "course"
    assert cli_main(["exercises", "export", *STUDENT, "--nbgrader", str(course), "--seed", str(SEED)]) == 0
    assert f"seed {SEED}" in capsys.readouterr().out
    source = json.loads((course / "source" / "hw1" / "hw1.ipynb").read_text())
    hidden = [c for c in source["cells"] if "### BEGIN HIDDEN TESTS" in c["source"]]
    assert len(hidden) == sum(len(n) for n in ("1234", "1234", "123"))   # tanh, Adam: 4 hidden; he_normal: 3
    assert all(c["metadata"]["nbgrader"]["grade"] for c in hidden)
    api = _nbgrader_api(course, monkeypatch)
    assert api.generate_assignment("hw1")["success"]
    release = json.loads((course / "release" / "hw1" / "hw1.ipynb").read_text())
    text = json.dumps(release)
    assert "BEGIN SOLUTION" not in text and "library_method" not in text and "HIDDEN" not in text
    assert f"seed={SEED}" not in text                                      # the hidden tests' seed is not given away
    sub = course / "submitted" / "student1" / "hw1"
    sub.mkdir(parents=True)
    filled = _fill(release, lambda c: c["metadata"].get("nbgrader", {}).get("solution"),
                   lambda c: c["metadata"]["nbgrader"]["grade_id"])
    (sub / "hw1.ipynb").write_text(json.dumps(filled))
    assert api.autograde("hw1", "student1")["success"]

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = {g.name: (g.score, g.max_score) for nb in gb.find_submission("hw1", "student1").notebooks
                  for g in nb.grades}
    for name in STUDENT:
        ids = {f"{name}-{label}" for label in case_labels(name, SEED)}   # one graded cell per test of check
        assert ids <= set(grades)
        mine = [grades[k] for k in ids]
        assert sum(m for _, m in mine) == pytest.approx(REGISTRY[name].points)
        assert sum(s for s, _ in mine) == pytest.approx(checked[name], abs=1e-9), (name, mine)
    graded = (course / "autograded" / "student1" / "hw1" / "hw1.ipynb").read_text()
    assert "likely mistake: bias correction missing" in graded


def test_otter_grades_the_export_as_check_does(tmp_path, checked, capsys, monkeypatch):
    pytest.importorskip("otter")
    from otter.assign import main as otter_assign
    from otter.run import main as otter_run

    assert cli_main(["exercises", "export", *STUDENT, "--otter", str(tmp_path / "master"), "--seed", str(SEED)]) == 0
    for k, v in _env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    otter_assign(str(tmp_path / "master" / "hw1.ipynb"), "dist")          # what `otter assign` runs
    student = json.loads((tmp_path / "dist" / "student" / "hw1.ipynb").read_text())
    assert f"seed={SEED}" not in json.dumps(student)
    filled = _fill(student, lambda c: "otter_answer_cell" in c["metadata"].get("tags", []),
                   lambda c: next(n for n in STUDENT if f" {n}(" in "".join(c["source"])))
    (tmp_path / "submission.ipynb").write_text(json.dumps(filled))
    (zipped,) = (tmp_path / "dist" / "autograder").glob("*.zip")
    otter_run("submission.ipynb", autograder=str(zipped), output_dir=str(tmp_path), no_logo=True)  # `otter run`
    results = {t["name"]: t for t in json.loads((tmp_path / "results.json").read_text())["tests"]}
    for name in STUDENT:
        assert results[name]["max_score"] == pytest.approx(REGISTRY[name].points)
        # otter rounds a score to 5 decimals
        assert results[name]["score"] == pytest.approx(checked[name], abs=1e-5), (name, results[name])
    assert "likely mistake: bias correction missing" in results["Adam"]["output"]


def test_export_solutions_pass_and_refusals(tmp_path, capsys):
    """Every exercise's exported solution cell passes all its tests; a bad export gets one line, exit 2."""
    from mlplab.exercises import grade_callable
    from mlplab.exercises.export import _imports

    for name, ex in REGISTRY.items():
        ns: dict = {}
        exec(_imports(ex) + solution_code(ex), ns)                      # noqa: S102 - the library's own code
        grade = grade_callable(name, ns[name], seed=9)
        assert grade.passed == grade.total, grade.lines()
    assert cli_main(["exercises", "export", "tanh"]) == 2
    assert cli_main(["exercises", "export", "tanh", "--nbgrader", str(tmp_path / "c"), "--assignment", "a b"]) == 2
    assert cli_main(["exercises", "export", "nope", "--nbgrader", str(tmp_path / "c")]) == 2
    assert cli_main(["exercises", "export", "tanh", "--nbgrader", str(tmp_path / "c")]) == 0
    assert cli_main(["exercises", "export", "tanh", "--nbgrader", str(tmp_path / "c")]) == 2     # would overwrite
    err = capsys.readouterr().err
    assert "already exists; nothing was written" in err and "--nbgrader DIR" in err and "Traceback" not in err
