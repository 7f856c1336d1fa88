"""Compared runs (mlplab.live.compare): paired by seed and batches, over several seeds, refused together when
they do not fit, each optimizer at its own default rate, paused and stepped together."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from test_live import _wait

from mlplab import optim
from mlplab.live.validate import SettingsError, check_settings


def test_compared_runs_are_paired():
    """Same seed, same batches: two learning rates give the same first loss (same weights, same
    batch), then part; variants may not change what pairs them."""
    from mlplab.live.compare import CompareGroup

    base = {"dataset": "circles", "layers": "2,16,2", "optimizer": "sgd", "iterations": "30", "batch_size": "25"}
    group = CompareGroup(base, [{"lr": "0.5"}, {"lr": "0.05"}, {"init": "xavier"}])
    group.start()
    for m in group.members:
        m.thread.join(30)
    assert group.status == "done"
    rows = [[json.loads(line) for line in (m.run_dir / "metrics.jsonl").read_text().splitlines()]
            for m in group.members]
    assert rows[0][0]["loss"] == rows[1][0]["loss"]  # the same first batch through the same weights
    assert rows[0][1]["loss"] != rows[1][1]["loss"]  # then the learning rates tell
    assert rows[2][0]["loss"] != rows[0][0]["loss"]  # another init: other weights
    group.close()
    with pytest.raises(SettingsError, match="run 2 sets seed"):
        CompareGroup(base, [{"lr": "0.5"}, {"seed": "3"}])
    with pytest.raises(SettingsError, match="run 1: --lr must be a number"):
        CompareGroup(base, [{"lr": "x"}, {"lr": "0.1"}])
    with pytest.raises(SettingsError, match="two to 4"):
        CompareGroup(base, [{"lr": "0.5"}])


def test_compare_over_several_seeds_pairs_seed_by_seed():
    """seeds=3: each configuration runs from seeds s, s+1, s+2 (member j·3 + k has seed s+k); the
    k-th runs of the two configurations start from the same weights and batches, runs of one
    configuration from different ones (else the spread over seeds would be zero)."""
    from mlplab.live.compare import CompareGroup

    base = {"dataset": "circles", "layers": "2,16,2", "optimizer": "sgd", "iterations": "5", "batch_size": "25",
            "seed": "7"}
    group = CompareGroup(base, [{"lr": "0.5"}, {"lr": "0.05"}], seeds="3")
    assert [m.settings["seed"] for m in group.members] == [7, 8, 9, 7, 8, 9]
    w = [m.model.parameters()[0].data.copy() for m in group.members]
    for k in range(3):
        assert np.array_equal(w[k], w[3 + k])  # paired: same seed, same initial weights
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w[1], w[2])
    group.start()
    for m in group.members:
        m.thread.join(30)
    rows = [[json.loads(line) for line in (m.run_dir / "metrics.jsonl").read_text().splitlines()]
            for m in group.members]
    assert rows[1][0]["loss"] == rows[4][0]["loss"] and rows[1][0]["loss"] != rows[2][0]["loss"]
    group.close()
    for bad, message in (("0", "between 1 and 5"), ("6", "between 1 and 5"), ("two", "whole number")):
        with pytest.raises(SettingsError, match=message):
            CompareGroup(base, [{"lr": "0.5"}, {"lr": "0.1"}], seeds=bad)


def test_compared_runs_are_refused_together_when_they_do_not_fit(monkeypatch):
    """Each member fits alone, but the group's summed estimate does not: refused in one line,
    and the members built so far are closed (their scratch directories gone)."""
    from mlplab.live import compare, validate
    from mlplab.runtime import memory

    base = {"dataset": "circles", "layers": "2,64,2", "iterations": "5"}
    s, sizes, _, _ = check_settings(base)
    one = validate.estimate(s, sizes).total
    made = []
    real = compare.TrainSession

    def spy(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(compare, "TrainSession", spy)
    monkeypatch.setattr(memory, "available_memory", lambda: (int(3.5 * one), "a test"))
    compare.CompareGroup(base, [{"lr": "0.1"}, {"lr": "0.2"}], seeds=1).close()  # 2 runs: fit
    with pytest.raises(SettingsError, match=r"6 runs of --layers 2,64,2-like networks .* needs about .*\(a test\)"):
        compare.CompareGroup(base, [{"lr": "0.1"}, {"lr": "0.2"}], seeds=3)
    assert all(not m.run_dir.exists() for m in made[2:])


def test_a_variant_naming_another_optimizer_uses_its_own_default_rate():
    """"Adam vs Momentum" from a Train form set for momentum (η 0.1, μ 0.8): Adam runs at its own
    default η (0.001), not at momentum's 0.1; a variant keeping the optimizer keeps the form's values."""
    from mlplab.live.compare import CompareGroup

    base = {"dataset": "xor", "layers": "2,8,2", "iterations": "10", "optimizer": "momentum", "lr": "0.1",
            "momentum": "0.8"}
    group = CompareGroup(base, [{"optimizer": "adam"}, {"optimizer": "momentum", "lr": "0.01"}, {"init": "xavier"},
                                {"optimizer": "nesterov", "lr": "0.05"}])
    try:
        (adam, mom, same, nest) = (m.optimizer for m in group.members)
        assert type(adam).__name__ == "Adam" and adam.lr == optim.DEFAULT_HPARAMS["adam"]["lr"] == 0.001
        assert (mom.lr, mom.momentum) == (0.01, 0.8) and (same.lr, same.momentum) == (0.1, 0.8)
        assert nest.lr == 0.05 and nest.momentum == optim.DEFAULT_HPARAMS["nesterov"]["momentum"]
    finally:
        group.close()


def test_a_comparison_pauses_and_steps_all_its_runs_together():
    """Frozen at initialization (started paused), one step at a time: every run of the comparison
    takes the same steps, so He and Xavier are compared step for step."""
    from mlplab.live.compare import CompareGroup

    group = CompareGroup({"dataset": "spirals", "layers": "2,16,16,3", "iterations": "100000", "batch_size": "16"},
                         [{"init": "he"}, {"init": "xavier"}], seeds=2)
    try:
        assert group.thread is None
        group.pause()
        group.start()
        _wait(lambda: all(m.held.is_set() for m in group.members))
        assert [m.trainer.step for m in group.members] == [1, 1, 1, 1]  # the first step, then the pause
        for k in (2, 3):
            group.step_once()
            _wait(lambda k=k: all(m.trainer.step == k and m.held.is_set() for m in group.members))
        time.sleep(0.2)
        assert [m.trainer.step for m in group.members] == [3] * 4 and group.status == "paused"
        group.resume()
        _wait(lambda: all(m.trainer.step > 50 for m in group.members))
    finally:
        group.close()
