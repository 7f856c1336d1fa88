"""``mlplab train``'s final test figures: the last epoch's evaluation of the test set is reused when
the weights have not changed since it, so the run evaluates once less, and the summary's numbers
are exactly those a fresh evaluation of the saved model gives."""

import json

import pytest

import mlplab.train as train_mod
from mlplab import data, nn
from mlplab.cli import main
from mlplab.cli.options import blas_threads_in_use


def _train(tmp_path, monkeypatch, capsys, *extra):
    """Run the CLI with every call of :func:`mlplab.train.evaluate` counted (the Trainer's per-epoch
    rows and the command's final figures both go through it)."""
    calls = []
    real = train_mod.evaluate

    def counted(model, X, y, *args, **kwargs):
        calls.append(len(X))
        return real(model, X, y, *args, **kwargs)

    monkeypatch.setattr(train_mod, "evaluate", counted)
    out = tmp_path / "run"
    argv = ["train", "--layers", "784,16,10", "--subset", "500", "--out", str(out), "--quiet", *extra]
    assert main(argv) == 0, capsys.readouterr().err
    monkeypatch.setattr(train_mod, "evaluate", real)
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' in r]
    return out, calls, summary, rows


def _fresh(out):
    """The test figures of the saved model, evaluated anew (default BLAS threads, as the command's own)."""
    model = nn.MLP([784, 16, 10], activation="relu", weight_init="he", rng=0)
    model.load(out / "model.npz")
    Xt, yt = data.load("mnist", "test")
    return train_mod.evaluate(model, Xt, yt)


@pytest.mark.parametrize("extra,final_evaluations", [
    # per-epoch rows on the test set, last row at the last step, same BLAS threads: reused
    (["--iterations", "6", "--blas-threads", "0"], 0),
    (["--epochs", "2", "--blas-threads", "0"], 0),
    # per-epoch rows on a validation split: the test set is evaluated once at the end
    (["--iterations", "6", "--val-split", "100", "--blas-threads", "0"], 1),
    # rows under one BLAS thread, final figures under the library's default: another float32
    # rounding, so evaluated again (unless the default is one thread)
    (["--iterations", "6", "--blas-threads", "1"], "1 unless the default is one thread"),
])
def test_final_test_figures_reuse_the_last_evaluation(tmp_path, monkeypatch, capsys, mnist_dir, extra,
                                                      final_evaluations):
    if isinstance(final_evaluations, str):
        final_evaluations = int(blas_threads_in_use() != 1)
    out, calls, summary, rows = _train(tmp_path, monkeypatch, capsys, *extra)
    assert len(rows) >= 2  # an epoch boundary and the end of the run
    assert len(calls) == len(rows) + final_evaluations
    assert summary["test"]["images"] == 10000
    assert (summary["test"]["loss"], summary["test"]["acc"]) == _fresh(out)  # bit for bit
    if final_evaluations == 0:
        assert (rows[-1]["val_loss"], rows[-1]["val_acc"]) == (summary["test"]["loss"], summary["test"]["acc"])


def test_resuming_a_finished_run_evaluates_again(tmp_path, monkeypatch, capsys, mnist_dir):
    """A resumed finished run computes no row in this session, so it does not trust an old one."""
    out, _, first, _ = _train(tmp_path, monkeypatch, capsys, "--iterations", "6", "--blas-threads", "0")
    calls = []
    real = train_mod.evaluate
    monkeypatch.setattr(train_mod, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert main(["train", "--out", str(out), "--resume", "--quiet", "--blas-threads", "0"]) == 0
    assert len(calls) == 1
    assert json.loads((out / "summary.json").read_text())["test"] == first["test"]
