"""The README's sweep figures come from the committed records of their runs (docs/results/*.json): the
paragraphs are generated from them, every statistic recomputes from the per-seed numbers, and one trial
of the run, re-trained now, gives the recorded accuracy exactly. (The runs take minutes; not repeated.)"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from mlplab.sweep import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import readme_sweep  # noqa: E402

RECORDS = [p for p in readme_sweep.RECORDS.values() if p.exists()]


def test_the_readme_paragraphs_are_generated_from_the_records():
    assert RECORDS, "no record of a run in docs/results"
    have = readme_sweep.readme_blocks((ROOT / "README.md").read_text())
    for name, text in readme_sweep.paragraphs().items():
        assert have.get(name) == text, f"README out of date for {name}: run python scripts/readme_sweep.py --write"


def _summaries(rec):
    s = rec["summary"]
    return [s] + ([s["choi"]] if "choi" in s else [])


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_the_records_statistics_recompute_from_their_per_seed_numbers(path):
    rec = json.loads(path.read_text())
    for s in _summaries(rec):
        tuned, book = {}, {}
        for o, e in s["optimizers"].items():
            for role, into in (("test", tuned), ("book_test", book)):
                if role not in e:
                    continue
                per_seed = {int(k): v for k, v in e[role]["per_seed"].items()}
                d = stats.describe(per_seed.values(), bounds=(0.0, 1.0))
                assert d["mean"] == pytest.approx(e[role]["accuracy"]["mean"], abs=1e-12)
                assert (d["ci"] is None) == (e[role]["accuracy"]["ci"] is None)
                if d["ci"]:
                    assert d["ci"] == pytest.approx(e[role]["accuracy"]["ci"], abs=1e-12)
                assert e[role]["pooled"] == stats.pooled_accuracy(per_seed.values(), s["splits"]["test"]["n"])
                into[o] = per_seed
        assert stats.ranking(tuned) == s["ranking"]
        if book:
            assert stats.ranking(book) == s["book_ranking"]
            assert stats.compare_rankings(book, tuned)["text"] == s["ranking_verdict"]["text"]
        assert stats.inclusion(tuned, s["settings"]["space"]) == s["inclusion"]


def test_one_trial_of_the_race_retrained_now_gives_the_recorded_accuracy(mnist_dir):
    """The tuned Adam of the README's race, seed 0, re-trained with today's code: the same accuracy to the
    last bit (a trial is a pure function of its description), so the record is this code's run."""
    from mlplab.sweep.trial import make_trial, run_trial

    path = readme_sweep.RECORDS["race"]
    s = json.loads(path.read_text())["summary"]
    e = s["optimizers"]["adam"]
    seed = s["settings"]["seeds"][0]
    r = run_trial(make_trial("test", "adam", e["best"], seed, s["settings"]["problem"]))
    assert r["status"] == "done" and not math.isnan(r["metrics"]["accuracy"])
    assert r["metrics"]["accuracy"] == e["test"]["per_seed"][str(seed)]
