"""The zoo's ground truth is the model a user keeps (benchmarks/zoo/tasks.py ``kept``: its ``state_dict`` loaded
into a new instance built from another seed), and ``benchmarks/diagnose_zoo.py`` judges a case by that model's
accuracy (``judged_accuracy``). Cases recorded before the kept accuracy was are judged by the trained model's,
which these tests show is the same model wherever the ``state_dict`` holds the whole of it: every zoo model at its
default architecture. Blocks kept in a plain list ("unregistered") are not in it, and their cases must carry
the kept accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from diagnose_zoo import PARTIAL, classify, judged_accuracy, key, load_outcomes  # noqa: E402
from zoo.models import BY_NAME, ZOO, build  # noqa: E402
from zoo.tasks import batch, kept, train  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread(torch_one_thread):
    """Every test here at one torch thread (conftest's ``torch_one_thread``)."""


def _outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def _perturbed(entry, init):
    """The model of ``entry`` with every registered float tensor moved off its initial value (as training would),
    and a reference batch."""
    model = build(entry, init, 0)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.add_(0.01 * torch.randn(t.shape, generator=g))
    x, _ = batch(entry.task, 4, 1)
    return model, x


@pytest.mark.parametrize("entry", ZOO, ids=[e.name for e in ZOO])
def test_state_dict_holds_every_default_model(entry):
    """Loaded into an instance from another seed, the model computes the same outputs bit for bit: its kept
    accuracy is its accuracy (so a record without ``kept_accuracy`` is judged right)."""
    model, x = _perturbed(entry, "default")
    again = kept(model, lambda: build(entry, "default", 1))
    assert torch.equal(_outputs(model, x), _outputs(again, x))


@pytest.mark.parametrize("entry", [e for e in ZOO if e.can_unregister], ids=lambda e: e.name)
def test_state_dict_misses_blocks_in_a_plain_list(entry):
    """The unregistered blocks are not saved: the kept model's outputs differ (the new instance's blocks are its
    own random ones), which is why those cases must be judged by their kept accuracy."""
    model, x = _perturbed(entry, PARTIAL)
    again = kept(model, lambda: build(entry, PARTIAL, 1))
    assert not torch.allclose(_outputs(model, x), _outputs(again, x))


def test_every_unregistered_case_records_its_kept_accuracy():
    outcomes = load_outcomes()
    partial = [k for k in outcomes["cases"] if k.split("|")[1] == PARTIAL]
    assert len(partial) == 2 * sum(e.can_unregister for e in ZOO)
    for k in partial:
        assert "kept_accuracy" in outcomes["cases"][k], k


def test_a_partial_record_without_kept_accuracy_is_refused():
    with pytest.raises(SystemExit, match="--inits unregistered"):
        judged_accuracy(key("mlp6_relu", PARTIAL, "adam"), {"accuracy": 0.84, "steps": 150})
    assert judged_accuracy(key("mlp6_relu", "default", "adam"), {"accuracy": 0.9, "steps": 150}) == 0.9


def test_trained_around_unregistered_layers_is_judged_by_the_saved_model():
    """The 6-layer ReLU MLP whose 4 hidden layers sit in a plain list: Adam trains the other two to 84 % on the
    hidden layers' random features, but the saved model has other random hidden layers and is at chance or
    below: the case does not move, so diagnose's "error" (not_registered) agrees with it."""
    r = load_outcomes()["cases"][key("mlp6_relu", PARTIAL, "adam")]
    assert r["accuracy"] > 0.8 and r["kept_accuracy"] < 0.15
    assert classify(load_outcomes())[key("mlp6_relu", PARTIAL, "adam")] == "stuck"


def test_train_records_the_kept_accuracy():
    """A short run: the kept model of a registered MLP scores what the trained one does; of an unregistered one,
    not (its hidden layers are redrawn)."""
    entry = BY_NAME["mlp6_relu"]
    for init in ("default", PARTIAL):
        r = train(build(entry, init, 0), entry.task, "adam", steps=20, seed=0,
                  rebuild=lambda init=init: build(entry, init, 1))
        if init == "default":
            assert r["kept_accuracy"] == r["accuracy"]
        else:
            assert r["kept_accuracy"] != r["accuracy"]


def test_readme_quotes_the_kept_accuracies():
    """README's figures of the trained against the kept model come from outcomes.json."""
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    cases = load_outcomes()["cases"]

    def pct(x, digits=0):
        return f"{100 * x:.{digits}f} %"

    mlp = cases[key("mlp6_relu", PARTIAL, "adam")]
    assert f"to {pct(mlp['accuracy'])} on those layers' random features, and the saved model scores " \
           f"{pct(mlp['kept_accuracy'], 1)}" in readme
    for name, words in (("mlp_mixer", "the mixer's"), ("mlp10_tanh", "the 10-layer tanh MLP's")):
        r = cases[key(name, PARTIAL, "adam")]
        assert f"{words} {pct(r['accuracy'])} → {pct(r['kept_accuracy'])}" in readme
