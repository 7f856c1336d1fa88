"""The live page's settings (mlplab.live.validate): a bad one refused in one line, the command line's messages
shared, the memory limit from the estimate, good ones typed."""

from __future__ import annotations

import pytest

from mlplab.live.validate import SettingsError, check_settings

# ------------------------------------------------------------------------------------ settings
BAD = [
    ({"layers": "2,32,10"}, "does not fit spirals: its points have 2 coordinates and it has 3 classes"),
    ({"layers": "2,x,3"}, "comma-separated integers"),
    ({"dataset": "cifar"}, "unknown dataset 'cifar'; valid: spirals, circles, xor, mnist"),
    ({"lr": "fast"}, "--lr must be a number"),
    ({"lr": "-0.1"}, "--lr must be positive, got -0.1"),
    ({"batch_size": "0"}, "--batch-size must be a positive integer"),
    ({"optimizer": "newton"}, "Newton's method is for small problems"),
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"init": "bogus"}, "--init: unknown initializer 'bogus'"),
    ({"schedule": "weekly"}, "unknown schedule 'weekly'"),
    ({"epochs": "", "iterations": ""}, "give --epochs or --iterations"),
    ({"epochs": "3", "iterations": "10"}, "not both"),
    ({"layers": "2,10000000000,3"}, "needs about"),  # ~10^11 bytes of parameters alone: no machine here has it
    ({"iterations": "10000000000000"}, "10,000,000,000,000 steps) needs about"),  # 40 bytes a step: 400 TB
    ({"colour": "red"}, "unknown settings ['colour']"),
]


@pytest.mark.parametrize("raw, message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_settings_give_one_line(raw, message):
    with pytest.raises(SettingsError) as e:
        check_settings(raw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_settings_share_the_command_lines_messages():
    """For an MNIST set the page's message is the settings module's, word for word (one validation)."""
    from mlplab import settings

    raw = {"dataset": "mnist", "layers": "784,100,10", "optimizer": "adamm"}
    with pytest.raises(settings.SettingsError) as cli_error:
        settings.validate_train(raw)
    with pytest.raises(SettingsError) as page_error:
        check_settings(raw)
    assert str(page_error.value) == str(cli_error.value)


def test_memory_limits_come_from_the_estimate():
    """The limit on widths, depth and steps is the memory estimate, not a fixed number: a run fits
    exactly when its estimate (the Trainer's peak plus 40 bytes per step) is at most what is
    available, so a deep, a wide and a long run are refused at the same byte."""
    from mlplab.live.validate import PER_STEP_BYTES, check_memory
    from mlplab.runtime import memory

    for layers, iters in (("2," + ",".join(["64"] * 40) + ",3", 10), ("2,50000,3", 10), ("2,8,3", 10 ** 7)):
        s, sizes, name, hp = check_settings({"layers": layers, "iterations": str(iters)})
        est = memory.estimate_training(sizes, s["batch_size"], name, hp, s["dtype"], s["activation"],
                                       data_bytes=1500 * 2 * 4 + 1500 * 8)
        need = est.total + iters * PER_STEP_BYTES
        check_memory(s, sizes, available=(need, "a test"))  # fits exactly
        with pytest.raises(SettingsError) as e:
            check_memory(s, sizes, available=(need - 1, "a test"))
        assert f"{iters:,} steps) needs about" in str(e.value) and "only" in str(e.value) and "a test" in str(e.value)
        assert "fewer steps" in str(e.value) and "\n" not in str(e.value)


def test_good_settings_are_typed():
    s, sizes, name, hp = check_settings({"dataset": "xor", "layers": "2,8,2", "lr": "0.5", "momentum": "0.8",
                                         "optimizer": "momentum", "iterations": "20", "seed": "7"})
    assert sizes == [2, 8, 2] and name == "momentum" and hp == {"lr": 0.5, "momentum": 0.8}
    assert s["iterations"] == 20 and s["epochs"] is None and s["seed"] == 7
