"""The files a student fills in: one plain ``NAME.py`` per exercise with the signature, the formula, the
source, an empty body, and the public checks' inputs and expected outputs printed to 8 digits (CS231n style)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from .catalog import REGISTRY

HEADER = ("# mlplab exercise {name}: {title}\n# Source: {source}\n"
          "# Grade it with: mlplab exercises check {folder} {name}\n\n")


def _fmt(v) -> str:
    if isinstance(v, np.ndarray):
        return f"np.array({np.array2string(v, precision=8, separator=', ', floatmode='fixed', max_line_width=100)}" \
               f", dtype=np.{v.dtype})"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, tuple) and v and all(isinstance(x, np.ndarray) for x in v):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if isinstance(v, type):
        return f"np.{v.__name__}"
    return repr(v)


def public_checks(ex) -> str:
    """The public cases as comments: the arguments and the expected result, values to 8 digits."""
    from .grader import cases_for

    lines = []
    for label, args in cases_for(ex, 0):
        if not label.startswith("public"):
            continue
        want = ex.run(ex.solution, {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in args.items()})
        lines.append(f"{label}:")
        shown = {k: v for k, v in args.items() if ex.kind != "random" or k != "seed"}
        for k, v in shown.items():
            lines.append(f"    {k} = {_fmt(v)}")
        if ex.kind == "optimizer":
            lines.append("  θ after each step (rows) =")
        elif ex.kind == "random":
            what = "std, fraction beyond 2 std" if ex.summary.__name__ == "_draw_summary" else "gain, orthogonal"
            lines.append(f"  statistics of the draw ({what}) =")
            want = ex.summary(want)
        else:
            lines.append("  expected =")
        lines.append("    " + _fmt(want if not isinstance(want, tuple) else tuple(np.asarray(w) for w in want)))
    text = "\n".join(lines)
    return textwrap.indent(text, "# ", lambda s: True)


def body(ex) -> str:
    """The def/class of the exercise with its docstring and ``raise NotImplementedError`` bodies."""
    first, _, rest = ex.doc.partition("\n")
    doc = f'"""{first}\n{textwrap.dedent(rest)}\n\nSource: {ex.source}.\n"""'
    if ex.template:  # a class with several methods (the Linear layer)
        return ex.template.replace("    DOC", textwrap.indent(doc, "    "))
    if ex.kind == "optimizer":
        cls, init = ex.signature.split("\n", 1)
        return (f"{cls}\n{textwrap.indent(doc, '    ')}\n\n{init}\n\n"
                "    def init_state(self, theta):\n        \"\"\"The state of one parameter θ: a dict of arrays "
                "(state[\"t\"], the step count from 1, is added by the base class).\"\"\"\n"
                "        raise NotImplementedError\n\n"
                "    def update(self, g, state, theta):\n        \"\"\"Advance the state in place and return the "
                "change Δθ (the base class adds it to θ).\"\"\"\n        raise NotImplementedError\n")
    return f"{ex.signature}\n{textwrap.indent(doc, '    ')}\n    raise NotImplementedError\n"


def skeleton(ex, folder="hw1") -> str:
    head = HEADER.format(name=ex.name, title=ex.title, source=ex.source, folder=folder)
    imports = "import numpy as np\n" + ("from mlplab.optim import Optimizer\n" if ex.kind == "optimizer" else "")
    checks = "\n\n# Public checks (the grader adds hidden ones with other shapes, dtypes and hyperparameters):\n" + \
             public_checks(ex) + "\n"
    return head + imports + "\n\n" + body(ex) + checks


def write_skeletons(names, folder, force=False) -> list[Path]:
    """Write ``folder/NAME.py`` for each name; an existing file is kept unless ``force`` (FileExistsError)."""
    folder = Path(folder)
    paths = [folder / f"{n}.py" for n in names]
    if not force:
        for p in paths:
            if p.exists():
                raise FileExistsError(str(p))
    folder.mkdir(parents=True, exist_ok=True)
    for n, p in zip(names, paths):
        p.write_text(skeleton(REGISTRY[n], folder=str(folder)), encoding="utf-8")
    return paths


NOTEBOOK_FILE = "notebook.py"

_NOTEBOOK_HEAD = """# ---
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
# # mlplab exercises in {folder}
#
# Each exercise is a plain file beside this notebook ({files}): write its body there, in your editor or in
# Jupyter's, then run its cells here to try it on the public checks and to grade it. Open this file as a notebook
# with Jupyter and jupytext (`pip install 'mlplab[notebook]'`). Your code reloads on every run (autoreload).

# %%
# %load_ext autoreload
# %autoreload 2
import sys
from pathlib import Path

import numpy as np

from mlplab.cli import main as mlplab

HERE = Path.cwd()
sys.path.insert(0, str(HERE))  # the exercise files are modules of this folder
"""

_NOTEBOOK_CELL = """
# %% [markdown]
# ## {title}
#
# Source: {source}. The formula and the public checks' values are in `{name}.py`.

# %%
from {name} import {name}

{name}

# %%
mlplab(["exercises", "check", str(HERE), "{name}"])  # the public checks, then hidden ones drawn now; 0 = full marks
"""


def notebook(names, folder="hw1") -> str:
    """A jupytext (py:percent) notebook that opens the exercise files of ``names`` beside it: a cell that imports
    each (autoreloaded) and one that grades it with ``mlplab exercises check``."""
    head = _NOTEBOOK_HEAD.format(folder=folder, files=", ".join(f"{n}.py" for n in names))
    return head + "".join(_NOTEBOOK_CELL.format(name=n, title=REGISTRY[n].title, source=REGISTRY[n].source)
                          for n in names)


def write_notebook(names, folder, force=False) -> Path | None:
    """``folder/notebook.py`` for ``names``; an existing one (perhaps with the student's own cells) is kept unless
    ``force``: returns None then."""
    path = Path(folder) / NOTEBOOK_FILE
    if path.exists() and not force:
        return None
    path.write_text(notebook(list(names), folder=str(folder)), encoding="utf-8")
    return path
