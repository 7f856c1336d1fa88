"""The before/after checker of lab outputs: it finds a changed number, skips timings, lists additions."""

import json

from mlplab.lab.compare import compare_dirs, compare_numbers, main

NUMBERS = {"optimizers": {"sgd": {"final_loss": [0.25, 0.5], "seconds_per_run": 3.0, "label": "SGD"}},
           "wall_seconds": 12.0, "ranking": ["adam", "sgd"], "ok": True, "gap": "nan"}


def test_identical_trees_have_no_differences():
    assert compare_numbers(NUMBERS, json.loads(json.dumps(NUMBERS))) == ([], [])


def test_a_planted_change_is_found_and_timings_are_skipped():
    after = json.loads(json.dumps(NUMBERS))
    after["optimizers"]["sgd"]["final_loss"][1] = 0.5000000001  # the last digits count
    after["optimizers"]["sgd"]["seconds_per_run"] = 9.0  # a timing: not a difference
    after["wall_seconds"] = 1.0
    after["series"] = {"curve": [1, 2]}
    diffs, added = compare_numbers(NUMBERS, after)
    assert diffs == ["optimizers.sgd.final_loss[1]: 0.5 -> 0.5000000001"]
    assert added == ["series"]
    after = json.loads(json.dumps(NUMBERS))
    del after["ranking"]
    after["ok"] = 1  # same value, another type: a difference
    diffs, _ = compare_numbers(NUMBERS, after)
    assert set(diffs) == {"ranking: missing after", "ok: true -> 1"}


def test_dirs_and_exit_status(tmp_path, capsys):
    for side, value in (("a", 0.25), ("b", 0.25), ("c", 0.3)):
        d = tmp_path / side / "study"
        d.mkdir(parents=True)
        numbers = json.loads(json.dumps(NUMBERS))
        numbers["optimizers"]["sgd"]["final_loss"][0] = value
        (d / "numbers.json").write_text(json.dumps(numbers))
        (d / "section.md").write_text(f"loss {value}\n")
    assert compare_dirs(tmp_path / "a", tmp_path / "b", sections=True) == {"study": ([], [])}
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert main([str(tmp_path / "a"), str(tmp_path / "c"), "--sections"]) == 1
    out = capsys.readouterr().out
    assert "study: identical" in out and "final_loss[0]: 0.25 -> 0.3" in out and "section.md text differs" in out
