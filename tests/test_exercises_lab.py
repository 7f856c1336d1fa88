"""A student's optimizer in the book's race (issue 29): `mlplab lab run optimizers-mnist --extra hw1:SGD` runs the
student's class on the same seeds, initial weights and batches as the library's, and when it is the same rule
written with the same floating-point operations (SGD, classic momentum) its loss lands bit-identical to the
library's row at every iteration; a bad --extra gets one line and exit 2, before any folder is written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlplab.cli import main as cli_main

HEAD = "import numpy as np\nfrom mlplab.optim import Optimizer\n\n\n"
SGD = HEAD + ("class SGD(Optimizer):\n    def __init__(self, params, lr=0.01, **common):\n"
              "        super().__init__(params, lr, **common)\n\n    def update(self, g, state, theta):\n"
              "        return -self.lr * g\n")
MOMENTUM = HEAD + ("class Momentum(Optimizer):\n    def __init__(self, params, lr=0.01, momentum=0.9, **common):\n"
                   "        super().__init__(params, lr, **common)\n        self.momentum = momentum\n\n"
                   "    def init_state(self, theta):\n        return {'v': np.zeros_like(theta)}\n\n"
                   "    def update(self, g, state, theta):\n"
                   "        state['v'] = self.momentum * state['v'] - self.lr * g\n        return state['v']\n")
# AdaGrad with its operations in another order: passes its checks (rtol 1e-6), but not bit for bit
ADAGRAD = HEAD + ("class AdaGrad(Optimizer):\n    def __init__(self, params, lr=0.01, eps=1e-10, **common):\n"
                  "        super().__init__(params, lr, **common)\n        self.eps = eps\n\n"
                  "    def init_state(self, theta):\n        return {'h': np.zeros_like(theta)}\n\n"
                  "    def update(self, g, state, theta):\n        state['h'] += g * g\n"
                  "        return -(self.lr / (np.sqrt(state['h']) + self.eps)) * g\n")


@pytest.fixture
def tiny_race(monkeypatch):
    """The quick race made smaller still: one seed, 25 iterations on 1,000 images (the rows keep their settings)."""
    from mlplab.lab.optimizers_mnist import STUDY

    for k, v in {"iterations": 25, "seeds": 1, "train": 1000, "test": 300, "window": 10}.items():
        monkeypatch.setitem(STUDY.quick, k, v)


def test_a_students_sgd_and_momentum_land_bit_identical_to_the_librarys_rows(tmp_path, mnist_dir, tiny_race,
                                                                            monkeypatch):
    hw = tmp_path / "hw1"
    hw.mkdir()
    (hw / "SGD.py").write_text(SGD)
    (hw / "Momentum.py").write_text(MOMENTUM)
    (hw / "AdaGrad.py").write_text(ADAGRAD)
    out = tmp_path / "lab"
    assert cli_main(["lab", "run", "optimizers-mnist", "--quick", "--jobs", "1", "--out", str(out),
                     *(x for n in ("SGD", "Momentum", "AdaGrad") for x in ("--extra", f"{hw}:{n}"))]) == 0
    d = out / "optimizers-mnist"
    numbers = json.loads((d / "numbers.json").read_text())
    curves = numbers["series"]["smoothed_loss"]
    for name, row in (("SGD", "sgd"), ("Momentum", "momentum")):
        key = f"student:{hw}:{name}"
        st = numbers["students"][key]
        assert st["compared_with"] == row and st["identical"] and st["first_differing_iteration"] is None
        assert np.array_equal(np.array(curves[key]), np.array(curves[row]))        # every point, bit for bit
        assert numbers["optimizers"][key]["label"] == f"your {name} ({hw / name}.py)"
        assert numbers["optimizers"][key]["test_acc"] == numbers["optimizers"][row]["test_acc"]
    ada = numbers["students"][f"student:{hw}:AdaGrad"]
    assert not ada["identical"] and ada["first_differing_iteration"] >= 1 and ada["max_abs_loss_difference"] < 0.05
    assert not np.array_equal(np.array(curves["sgd"]), np.array(curves["momentum"]))  # the comparison can fail
    section = (d / "section.md").read_text()
    assert f"**Your SGD ({hw / 'SGD'}.py)** (a student's optimizer)" in section
    assert "equals the library's SGD row at every one of the 25 iterations" in section
    assert "Against the library's AdaGrad row" in section
    # the figure: the student's curve in the legend, dotted black, labelled as theirs; its bar named "your SGD"
    from mlplab.lab import optimizers_mnist

    seen = {}
    real_save = optimizers_mnist.save

    def spy(fig, path, *a, **k):
        ax = fig.axes[0]
        seen["lines"] = {ln.get_label(): (ln.get_linestyle(), ln.get_color()) for ln in ax.get_lines()}
        seen["ticks"] = [t.get_text() for t in fig.axes[2].get_xticklabels()]
        return real_save(fig, path, *a, **k)
    monkeypatch.setattr(optimizers_mnist, "save", spy)
    optimizers_mnist.draw(numbers, tmp_path)
    assert seen["lines"][f"your SGD ({hw / 'SGD'}.py) (lr=0.01)"] == (":", "k")
    assert "SGD (lr=0.01)" in seen["lines"] and "your SGD" in seen["ticks"] and "your Momentum" in seen["ticks"]
    assert json.loads((d / "meta.json").read_text())["settings"]["extra"] == [f"{hw}:{n}"
                                                                             for n in ("SGD", "Momentum", "AdaGrad")]


BAD_EXTRA = [
    ("{tmp}/nothere:Adam", "no folder", ["optimizers-mnist"]),
    ("{hw}:Adma", "'Adma' is not an optimizer exercise; valid:", ["optimizers-mnist"]),
    ("{hw}:SGD", "does not pass its checks yet", ["optimizers-mnist"]),
    ("{hw}:Adam", "no file", ["optimizers-mnist"]),
    ("{hw}:SGD", "--extra adds a student's optimizer to the optimizers-mnist race", ["paths"]),
]


@pytest.mark.parametrize("spec,words,study", BAD_EXTRA, ids=["no-folder", "unknown-name", "check-fails", "no-file",
                                                             "other-study"])
def test_a_bad_extra_is_one_line_and_exit_2(spec, words, study, tmp_path, capsys):
    hw = tmp_path / "hw1"
    hw.mkdir()
    (hw / "SGD.py").write_text(SGD.replace("return -self.lr * g", "return self.lr * g"))   # gradient ascent
    out = tmp_path / "lab"
    assert cli_main(["lab", "run", *study, "--quick", "--out", str(out), "--extra",
                     spec.format(tmp=tmp_path, hw=hw)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()
