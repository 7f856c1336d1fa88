# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # For teachers: the graded exercises and the mistakes the grader names
#
# Source: *Deep Learning from Scratch* (Saito), ch. 4–6; CMU 10-414/714 *Deep Learning Systems*; deeplearning.ai,
# *Initializing neural networks*; Schoenholz et al. 2017 for the critical line.
#
# Each exercise's solution is mlplab's own code; the grader names a mistake only when a student's output equals a
# known wrong variant's, e.g. Adam without the bias correction $\hat m = m / (1 - \beta_1^t)$,
# $\hat v = v / (1 - \beta_2^t)$. Students run `mlplab exercises start NAME --dir hw1` and
# `mlplab exercises check hw1`; this notebook shows the same grader from Python.

# %% tags=["parameters"]
seed = 0
exercise = "Adam"

# %%
import tempfile

from mlplab.exercises import REGISTRY, grade_callable, grade_file, write_skeletons

for ex in REGISTRY.values():
    print(f"{ex.name:22s} {ex.kind:9s} {len(ex.mistakes)} known mistakes — {ex.title}")

# %% [markdown]
# The skeleton a student receives: the formula, the source, an empty body and the public checks to 8 digits.

# %%
folder = tempfile.mkdtemp(prefix="mlplab-hw-")
(path,) = write_skeletons([exercise], folder)
print(path.read_text()[:1500])

# %% [markdown]
# The library's solution passes; every planted mistake fails and is named.

# %%
ex = REGISTRY[exercise]
grade = grade_callable(exercise, ex.solution, seed=seed)
print("\n".join(grade.lines()))
assert grade.passed == grade.total
for name, wrong in ex.mistakes.items():
    g = grade_callable(exercise, wrong, seed=seed)
    print("\n".join(g.lines()[:2]))
    assert g.mistake == name

# %% [markdown]
# The unfilled skeleton, graded as `mlplab exercises check` does it (in a subprocess, with time limits).

# %%
g = grade_file(folder, exercise, seed=seed)
print("\n".join(g.lines()))
assert g.passed == 0 and "not implemented yet" in g.lines()[1]

# %% [markdown]
# For an nbgrader course: `mlplab exercises export --nbgrader DIR` writes the assignment's source notebook. Each
# exercise has a solution cell (the library's code between `### BEGIN SOLUTION` and `### END SOLUTION`) and one
# autograded cell per test of `check`, worth points/tests; the hidden ones sit between `### BEGIN HIDDEN TESTS`
# and `### END HIDDEN TESTS`, drawn from the teacher's seed. (`--otter DIR` writes the same for Otter-Grader.)

# %%
import json

from mlplab.exercises.export import case_labels, export_nbgrader

course = tempfile.mkdtemp(prefix="mlplab-course-")
(nb_path, *_) = export_nbgrader(course, [exercise, "Linear"], seed=seed)
cells = json.loads(nb_path.read_text())["cells"]
graded = [c for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
print(f"{nb_path}: {len(cells)} cells, {len(graded)} autograded, "
      f"{sum('### BEGIN HIDDEN TESTS' in c['source'] for c in graded)} of them hidden")
print(next(c["source"] for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == "Linear"))
assert len(graded) == len(case_labels(exercise, seed)) + len(case_labels("Linear", seed))
