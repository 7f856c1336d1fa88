"""The graded exercises (issue 29): every exercise's grader passes the library's own solution, fails each of
its planted mistakes and names it, says only "wrong values" for a wrong body that is no known mistake, and
turns whatever a student's code does (raise, loop, print, change its inputs, exit, crash) into one line.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from mlplab.cli import main as cli_main
from mlplab.exercises import REGISTRY, grade_callable, grade_file, write_skeletons
from mlplab.exercises.skeleton import skeleton

# (exercise, planted mistake): the grader must fail it and name exactly this mistake
MISTAKES = [
    ('tanh', 'derivative 1 − y instead of 1 − y²'),
    ('tanh', 'derivative written with the input: 1 − x² instead of 1 − y²'),
    ('tanh', 'upstream gradient g not multiplied in'),
    ('tanh', 'sign flipped: 1 + y²'),
    ('sigmoid', 'derivative y instead of y (1 − y)'),
    ('sigmoid', 'derivative written with the input: x (1 − x)'),
    ('sigmoid', 'upstream gradient g not multiplied in'),
    ('sigmoid', 'sign of the exponent flipped: 1 / (1 + exp(x))'),
    ('softmax_cross_entropy', 'softmax not shifted by the row maximum (overflows on large logits)'),
    ('softmax_cross_entropy', 'gradient not divided by the batch size N'),
    ('softmax_cross_entropy', 'one-hot not subtracted from the gradient (p instead of p − y)'),
    ('softmax_cross_entropy', 'loss summed over the batch instead of averaged'),
    ('linear_backward', 'bias gradient not summed over the broadcast (batch) axis'),
    ('linear_backward', 'bias gradient summed over the wrong axis'),
    ('linear_backward', 'missing transpose in dW: gᵀ x instead of xᵀ g'),
    ('linear_backward', 'missing transpose in dx: g W instead of g Wᵀ'),
    ('linear_backward', 'bias gradient averaged instead of summed'),
    ('Linear', 'forward without the bias: y = x W'),
    ('Linear', 'db not summed over the batch (the broadcast axis): db = dy'),
    ('Linear', 'dW averaged over the batch: xᵀ dy / N'),
    ('Linear', 'dx without the transpose: dy W instead of dy Wᵀ'),
    ('numerical_gradient', 'forward difference (f(x + h) − f(x)) / h instead of the central one'),
    ('numerical_gradient', 'central difference divided by h instead of 2h'),
    ('numerical_gradient', 'sign flipped: (f(x − h) − f(x + h)) / 2h'),
    ('SGD', 'sign flipped: θ ← θ + η g (gradient ascent)'),
    ('SGD', 'learning rate not applied: θ ← θ − g'),
    ('SGD', 'step uses θ instead of the gradient'),
    ('Momentum', 'momentum sign flipped: v ← α v + η g'),
    ('Momentum', 'velocity not kept between steps (state not updated: plain SGD)'),
    ('Momentum', 'momentum coefficient α not applied: v ← v − η g'),
    ('EMAMomentum', 'bias correction missing'),
    ('EMAMomentum', 'bias correction with βᵗ⁺¹ (t counted from 0 twice)'),
    ('EMAMomentum', '(1 − β) factor missing: u ← β u + ∇θ'),
    ('EMAMomentum', 'β and 1 − β swapped'),
    ('Nesterov', 'no look-ahead: θ ← θ − η b (plain momentum)'),
    ('Nesterov', 'look-ahead without μ: θ ← θ − η (g + b)'),
    ('Nesterov', 'sign flipped: θ ← θ + η (g + μ b)'),
    ('AdaGrad', 'ε inside the square root: √(h + ε)'),
    ('AdaGrad', 'h not accumulated (only the last g²)'),
    ('AdaGrad', 'square root missing: η g / (h + ε)'),
    ('RMSProp', 'ε inside the square root: √(v + ε)'),
    ('RMSProp', 'α and 1 − α swapped'),
    ('RMSProp', 'square root missing: η g / (v + ε)'),
    ('RMSProp', 'sum instead of moving average (AdaGrad)'),
    ('Adam', 'bias correction missing'),
    ('Adam', 'ε inside the square root: √(v̂ + ε)'),
    ('Adam', "the book's ε placement (ε on the uncorrected √v)"),
    ('Adam', 'β₁ and β₂ swapped'),
    ('AdamBook', "the paper's ε placement (ε on the corrected √v̂)"),
    ('AdamBook', 'bias correction missing'),
    ('AdamBook', 'ε inside the square root'),
    ('AdamBook', 'lr_t without the square root: α (1 − β₂ᵗ) / (1 − β₁ᵗ)'),
    ('xavier_uniform', 'fan-in only: a = gain √(6 / fan_in)'),
    ('xavier_uniform', 'fan-out only: a = gain √(6 / fan_out)'),
    ('xavier_uniform', "the normal's std used as the bound: a = gain √(2 / (fan_in + fan_out))"),
    ('xavier_uniform', 'gain not applied'),
    ('xavier_uniform', 'normal instead of uniform'),
    ('he_normal', 'fan-out instead of fan-in'),
    ('he_normal', 'the 2 missing: N(0, 1 / fan_in) (LeCun/Xavier)'),
    ('he_normal', 'variance used as the std: N(0, (2 / fan_in)²)'),
    ('he_normal', 'uniform instead of normal'),
    ('orthogonal', 'not orthogonalized (a Gaussian of the same scale)'),
    ('orthogonal', 'gain not applied'),
    ('orthogonal', 'gain² applied instead of gain'),
    ('orthogonal', 'transposed: shape (fan_out, fan_in)'),
    ('layer_variances', "activation ignored (the linear network's q ← σ_w² q + σ_b²)"),
    ('layer_variances', 'σ_b² dropped'),
    ('layer_variances', 'off by one: returns q⁰ … q^(depth−1)'),
    ('layer_variances', 'the square of the mean E[φ]² instead of the mean of the square E[φ²]'),
    ('critical_sigma_w2', 'σ_b² ignored (σ_w² = 1, right only at σ_b² = 0)'),
    ('critical_sigma_w2', 'χ₁ taken at q = σ_b² instead of the fixed point q*'),
    ('critical_sigma_w2', 'χ₁ taken at q = 1 instead of the fixed point q*'),
    ('train_step', 'gradient ascent: θ ← θ + η dθ'),
    ('train_step', "ReLU's mask [a > 0] missing in the backward pass"),
    ('train_step', 'loss gradient not divided by the batch size N'),
    ('train_step', 'loss returned after the step instead of before'),
]


def test_the_tables_are_long_enough():
    assert len(REGISTRY) >= 15
    assert len(MISTAKES) >= 60
    per = {n: sum(e == n for e, _ in MISTAKES) for n in REGISTRY}
    assert min(per.values()) >= 3, per
    assert {(n, m) for n, e in REGISTRY.items() for m in e.mistakes} == set(MISTAKES)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"one of the {len(MISTAKES)} implemented wrong variants" in readme    # the README's counts
    assert "Twenty exercises" in readme and len(REGISTRY) == 20


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("seed", [5, 11])
def test_the_librarys_solution_passes(name, seed):
    grade = grade_callable(name, REGISTRY[name].solution, seed=seed)
    assert grade.passed == grade.total >= 3, grade.lines()
    assert grade.score == grade.points


@pytest.mark.parametrize("name,mistake", MISTAKES)
def test_each_planted_mistake_fails_and_is_named(name, mistake):
    grade = grade_callable(name, REGISTRY[name].mistakes[mistake], seed=23)
    assert grade.passed < grade.total, grade.lines()
    assert grade.mistake == mistake, grade.lines()
    assert f"likely mistake: {mistake}" in "\n".join(grade.lines())


def _zeros_like_solution_output(name):
    """A body that returns arrays of the right shapes and dtypes, all zeros (no known mistake)."""
    ex = REGISTRY[name]

    def impl(**kw):
        out = ex.solution(**kw)
        return tuple(np.zeros_like(o) for o in out) if isinstance(out, tuple) else np.zeros_like(out)
    return impl


WRONG_BODIES = [
    ("tanh", "returns the input", lambda x, g: (x, g)),
    ("tanh", "returns zeros", _zeros_like_solution_output("tanh")),
    ("sigmoid", "returns the input", lambda x, g: (x.copy(), g.copy())),
    ("softmax_cross_entropy", "returns zeros", _zeros_like_solution_output("softmax_cross_entropy")),
    ("linear_backward", "returns zeros", lambda x, W, b, g: (np.zeros_like(x), np.zeros_like(W), np.zeros_like(b))),
    ("numerical_gradient", "returns the input", lambda f, x, h=1e-4: x.copy()),
    ("layer_variances", "returns zeros", _zeros_like_solution_output("layer_variances")),
    ("critical_sigma_w2", "returns the input", lambda sigma_b2: np.array(sigma_b2, dtype=float)),
    ("he_normal", "returns zeros", lambda shape, rng, dtype=np.float32: np.zeros(shape, dtype)),
    ("Linear", "returns zeros", type("Zeros", (), {"__init__": lambda s, W, b: None,
                                                   "forward": lambda s, x: np.zeros((len(x), 3), x.dtype),
                                                   "backward": lambda s, dy: np.zeros_like(dy)})),
]


@pytest.mark.parametrize("name,what,impl", WRONG_BODIES, ids=[f"{n}-{w}" for n, w, _ in WRONG_BODIES])
def test_a_wrong_body_is_plain_wrong_values(name, what, impl):
    grade = grade_callable(name, impl, seed=3)
    assert grade.passed == 0, grade.lines()
    assert grade.mistake is None, grade.lines()
    lines = grade.lines()
    assert len(lines) == 2 and "wrong values" in lines[1] and "likely mistake" not in lines[1], lines


def test_a_wrong_optimizer_body_is_plain_wrong_values():
    from mlplab.optim import Optimizer

    class Still(Optimizer):                          # never moves: no known mistake of SGD
        def __init__(self, params, lr=0.01, **common):
            super().__init__(params, lr, **common)

        def update(self, g, state, theta):
            return np.zeros_like(theta)
    grade = grade_callable("SGD", Still, seed=3)
    assert grade.passed == 0 and grade.mistake is None and "wrong values" in grade.lines()[1]


def test_an_unseeded_draw_is_named():
    grade = grade_callable("he_normal", lambda shape, rng, dtype=np.float32:
                           np.random.default_rng().normal(0, np.sqrt(2 / shape[0]), shape).astype(dtype), seed=3)
    assert grade.passed == 0 and "draw from the rng argument" in grade.lines()[1]


# ----------------------------------------------------------------------------- the student's file, in a subprocess
BAD_FILES = {
    "raises": ("tanh", "def tanh(x, g):\n    raise ValueError('shapes do not match')\n",
               "raised ValueError: shapes do not match"),
    "loops": ("tanh", "def tanh(x, g):\n    while True:\n        pass\n", "did not finish within 1 s of CPU time"),
    "wrong-shape": ("tanh", "import numpy as np\ndef tanh(x, g):\n    return np.tanh(x).ravel()[:1], g\n",
                    "wrong shape"),
    "wrong-dtype": ("sigmoid", "import numpy as np\ndef sigmoid(x, g):\n"
                    "    y = 1 / (1 + np.exp(-x.astype(np.float16)))\n"
                    "    return y, (g * y * (1 - y)).astype(np.float16)\n", "wrong dtype float16"),
    "prints": ("tanh", "import numpy as np\ndef tanh(x, g):\n    for i in range(100000):\n        print(i, x)\n"
               "    y = np.tanh(x)\n    return y, g * (1 - y * y)\n", "printed more than 10,000 characters"),
    "in-place": ("tanh", "import numpy as np\ndef tanh(x, g):\n    np.tanh(x, out=x)\n    g *= 1 - x * x\n"
                 "    return x, g\n", "modified its input 'x' in place"),
    "syntax-error": ("tanh", "def tanh(x, g)\n    return x\n", "syntax error"),
    "wrong-name": ("tanh", "def my_tanh(x, g):\n    return x, g\n", "defines no 'tanh'"),
    "loops-at-import": ("tanh", "while True:\n    pass\n", "(an endless loop at the top level of the file?)"),
    "exit-at-import": ("tanh", "import sys\nsys.exit(3)\n", "raised SystemExit"),
    "exit-in-call": ("tanh", "def tanh(x, g):\n    exit()\n", "called SystemExit"),
    "hard-crash": ("tanh", "import os\ndef tanh(x, g):\n    os._exit(9)\n", "ended with status 9"),
    "returns-none": ("softmax_cross_entropy", "def softmax_cross_entropy(logits, labels):\n    pass\n",
                     "returned a NoneType, expected a tuple of 2 arrays"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_gives_one_clear_line(case, tmp_path):
    name, code, expected = BAD_FILES[case]
    (tmp_path / f"{name}.py").write_text(code)
    t0 = time.monotonic()
    grade = grade_file(tmp_path, name, seed=1)
    assert time.monotonic() - t0 < 5.5
    lines = grade.lines()
    assert grade.passed == 0 and len(lines) == 2, lines
    assert expected in lines[1], lines
    assert "Traceback" not in lines[1]


# the per-test timers' signals blocked, so only the runner's limits can end the student's code:
#   cpu: an endless loop; the kernel stops the process at the exercise's CPU time (RLIMIT_CPU): 3 s of CPU time,
#        the clock's backstop at 30 s;
#   wall: a wait that uses no CPU; the clock's backstop (10 x the exercise's CPU limit) ends it.
LIMITS = {
    "cpu": ("    while True:\n        pass\n", 3.0, (0, 30),
            "used more than the exercise's 3 s of CPU time and was stopped"),
    "wall": ("    time.sleep(3600)\n", 1.0, (10, 20),
             "did not finish within the exercise's 10 s of wall-clock time"),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_code_the_timers_cannot_stop_is_killed_at_the_exercise_limit(limit, tmp_path):
    """The timers' signals blocked: the CPU limit ends an endless loop, the wall-clock backstop a wait."""
    body, timeout, (lo, hi), expected = LIMITS[limit]
    (tmp_path / "tanh.py").write_text("import signal, time\ndef tanh(x, g):\n"
                                      "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF})\n"
                                      + body)
    t0 = time.monotonic()
    grade = grade_file(tmp_path, "tanh", seed=1, timeout=timeout)
    assert lo <= time.monotonic() - t0 < hi
    assert grade.passed == 0 and expected in grade.lines()[1], grade.lines()


def _solution_file(folder, name):
    (folder / f"{name}.py").write_text(f"from mlplab.exercises.catalog import REGISTRY\n"
                                       f"{name} = REGISTRY[{name!r}].solution\n")


CLI_NAMES = ["softmax_cross_entropy", "Adam", "orthogonal", "critical_sigma_w2"]


def test_cli_start_then_check_the_librarys_solutions(tmp_path, capsys):
    """The time per exercise (≤ 5 s) is measured by benchmarks/exercises_check.py, not asserted here."""
    hw = tmp_path / "hw1"
    assert cli_main(["exercises", "start", *CLI_NAMES, "tanh", "--dir", str(hw)]) == 0
    for name in CLI_NAMES:
        _solution_file(hw, name)
    capsys.readouterr()
    assert cli_main(["exercises", "check", str(hw), "--seed", "4"]) == 1  # tanh is still empty: not full marks
    out = capsys.readouterr().out
    for name in CLI_NAMES:
        ex = REGISTRY[name]
        assert f"{name}: {ex.points:.1f}/{ex.points} " in out, out
    assert "tanh: 0.0/10" in out and "not implemented yet" in out
    assert f"total: {4 * 10:.1f}/50" in out
    assert cli_main(["exercises", "check", str(hw), *CLI_NAMES, "--seed", "4"]) == 0  # full marks: exit 0


def test_skeletons_are_python_with_the_formula_source_and_public_values(tmp_path):
    import ast

    paths = write_skeletons(list(REGISTRY), tmp_path)
    for p, (name, ex) in zip(paths, REGISTRY.items()):
        text = p.read_text()
        tree = ast.parse(text)
        assert any(getattr(n, "name", None) == name for n in tree.body)
        assert f"Source: {ex.source}" in text and "raise NotImplementedError" in text
        assert "# public-1:" in text
    # the public checks print the library's values to 8 digits
    y = np.tanh(np.random.default_rng([0, 29]).standard_normal(5))
    shown = np.array2string(y, precision=8, separator=", ", floatmode="fixed")[:40]
    assert shown in skeleton(REGISTRY["tanh"]).replace("\n# ", "\n")
    with pytest.raises(FileExistsError):
        write_skeletons(["tanh"], tmp_path)


# ----------------------------------------------------------------------------- the student's optimizer trains
STUDENT_RULES = {
    "SGD": ("class SGD(Optimizer):\n    def __init__(self, params, lr=0.01, **common):\n"
            "        super().__init__(params, lr, **common)\n\n    def update(self, g, state, theta):\n"
            "        return -self.lr * g\n", {"lr": 0.1}),
    "Momentum": ("class Momentum(Optimizer):\n    def __init__(self, params, lr=0.01, momentum=0.9, **common):\n"
                 "        super().__init__(params, lr, **common)\n        self.momentum = momentum\n\n"
                 "    def init_state(self, theta):\n        return {'v': np.zeros_like(theta)}\n\n"
                 "    def update(self, g, state, theta):\n"
                 "        state['v'] = self.momentum * state['v'] - self.lr * g\n        return state['v']\n",
                 {"lr": 0.05, "momentum": 0.9}),
}


@pytest.mark.parametrize("name", list(STUDENT_RULES))
def test_a_students_optimizer_trains_bit_identically_to_the_librarys(name, tmp_path):
    from mlplab import nn, optim
    from mlplab.exercises.student import load_optimizer
    from mlplab.toydata import load_toy
    from mlplab.train import Trainer

    code, hp = STUDENT_RULES[name]
    (tmp_path / f"{name}.py").write_text("import numpy as np\nfrom mlplab.optim import Optimizer\n\n\n" + code)
    student = load_optimizer(f"{tmp_path}:{name}")
    assert grade_callable(name, student, seed=2).passed == grade_callable(name, student, seed=2).total
    X, y = load_toy("spirals", "train", seed=0, n_train=300)
    finals = []
    for cls in (getattr(optim, name), student):
        model = nn.MLP([2, 16, 16, 3], activation="tanh", rng=0)
        Trainer(model, cls(model.parameters(), **hp)).fit(X, y, iterations=40, batch_size=32, rng=1)
        finals.append([p.data.copy() for p in model.parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*finals))          # bit for bit, every parameter
    assert not np.array_equal(finals[0][0], nn.MLP([2, 16, 16, 3], activation="tanh", rng=0).parameters()[0].data)


@pytest.mark.parametrize("spec,words", [("hw1Adam", "is not FOLDER:NAME"), ("{d}:tanh", "not an optimizer exercise"),
                                        ("{d}:Adam", "no file"), ("{d}:SGD", "defines no class SGD")])
def test_loading_a_students_optimizer_says_what_is_wrong(spec, words, tmp_path):
    from mlplab.exercises.student import StudentCodeError, load_optimizer

    (tmp_path / "SGD.py").write_text("def SGD():\n    pass\n")
    with pytest.raises(StudentCodeError, match=words):
        load_optimizer(spec.format(d=tmp_path))


def test_the_readme_example_is_what_check_prints():
    """The README's `mlplab exercises check` lines come from this Adam without bias correction."""
    from mlplab.optim import Optimizer

    class Adam(Optimizer):
        def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8, **common):
            super().__init__(params, lr, **common)
            self.betas, self.eps = betas, eps

        def init_state(self, theta):
            return {"m": np.zeros_like(theta), "v": np.zeros_like(theta)}

        def update(self, g, state, theta):
            b1, b2 = self.betas
            state["m"] = b1 * state["m"] + (1 - b1) * g
            state["v"] = b2 * state["v"] + (1 - b2) * g * g
            return -self.lr * state["m"] / (np.sqrt(state["v"]) + self.eps)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for line in grade_callable("Adam", Adam, seed=3).lines():
        assert line in readme, line


def test_mlplab_train_runs_a_students_momentum_bit_identically(tmp_path, mnist_dir):
    """`mlplab train --optimizer hw1:Momentum` (after its checks pass) lands on the library's numbers."""
    hw = tmp_path / "hw1"
    hw.mkdir()
    code, _ = STUDENT_RULES["Momentum"]
    (hw / "Momentum.py").write_text("import numpy as np\nfrom mlplab.optim import Optimizer\n\n\n" + code)
    common = ["--layers", "784,16,10", "--iterations", "6", "--subset", "300", "--quiet", "--blas-threads", "1",
              "--lr", "0.05", "--momentum", "0.9", "--seed", "3"]
    assert cli_main(["train", "--optimizer", "momentum", "--out", str(tmp_path / "lib"), *common]) == 0
    assert cli_main(["train", "--optimizer", f"{hw}:Momentum", "--out", str(tmp_path / "mine"), *common]) == 0
    a, b = np.load(tmp_path / "lib" / "model.npz"), np.load(tmp_path / "mine" / "model.npz")
    assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_mlplab_train_refuses_a_student_optimizer_that_fails_its_checks(tmp_path, capsys):
    hw = tmp_path / "hw1"
    hw.mkdir()
    (hw / "SGD.py").write_text("from mlplab.optim import Optimizer\n\n\nclass SGD(Optimizer):\n"
                               "    def __init__(self, params, lr=0.01, **common):\n"
                               "        super().__init__(params, lr, **common)\n\n"
                               "    def update(self, g, state, theta):\n        return self.lr * g\n")
    assert cli_main(["train", "--optimizer", f"{hw}:SGD", "--iterations", "2", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "does not pass its checks yet" in err and "likely mistake: sign flipped" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_a_student_who_patches_numpy_cannot_change_the_reference(tmp_path):
    """The solution's outputs are computed before the student's file is imported."""
    (tmp_path / "tanh.py").write_text("import numpy as np\nnp.tanh = lambda x, *a, **k: x * 0\n"
                                      "def tanh(x, g):\n    return x * 0, g * 1\n")
    grade = grade_file(tmp_path, "tanh", seed=1)
    assert grade.passed == 0 and "wrong values" in grade.lines()[1], grade.lines()


def test_start_writes_a_notebook_that_opens_and_grades_the_files(tmp_path, capsys):
    """`start` writes a jupytext notebook beside the plain files (issue 29): run in a real kernel, it imports each
    exercise file and grades it; a second `start` keeps the notebook (the student's) unless --force."""
    import importlib.util

    pytest.importorskip("nbclient")
    hw = tmp_path / "hw1"
    assert cli_main(["exercises", "start", "tanh", "Adam", "--dir", str(hw)]) == 0
    assert "notebook.py (a jupytext notebook" in capsys.readouterr().out
    _solution_file(hw, "tanh")  # tanh done, Adam still empty
    spec = importlib.util.spec_from_file_location("run_notebooks", Path(__file__).parents[1] / "scripts" /
                                                  "run_notebooks.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    nb = runner.run_notebook(hw / "notebook.py", timeout=120)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"tanh: {REGISTRY['tanh'].points:.1f}/{REGISTRY['tanh'].points}" in text, text
    assert "Adam: 0.0/" in text and "not implemented yet" in text, text
    (hw / "notebook.py").write_text("# my own notes\n")
    assert cli_main(["exercises", "start", "sigmoid", "--dir", str(hw)]) == 0
    assert "kept " in capsys.readouterr().out and (hw / "notebook.py").read_text() == "# my own notes\n"
