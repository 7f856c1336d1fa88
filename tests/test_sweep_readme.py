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


def test_the_readme_coverage_and_error_rates_are_the_tests_own():
    """The README quotes the simulations of tests/test_sweep_stats.py (seeded): computed again here."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests"))
    from test_sweep_stats import _exact_coverage, _seeds, _wald

    readme = " ".join((ROOT / "README.md").read_text().split())
    ps = np.linspace(0.80, 0.995, 40)
    wil = [_exact_coverage(stats.wilson, 60, p) for p in ps]
    wald = [_exact_coverage(_wald, 60, p) for p in ps]
    assert (f"Wilson covers at least {100 * min(wil):.1f} % ({100 * np.mean(wil):.1f} % on average), a planted Wald "
            f"interval {100 * min(wald):.0f} % at worst ({100 * np.mean(wald):.1f} % on average)") in readme
    rng, reps, holm, raw = np.random.default_rng(0), 800, 0, 0
    for _ in range(reps):
        x = rng.normal(0.95, 0.01, (4, 5))
        per_seed = {f"o{i}": _seeds(x[i]) for i in range(4)}
        holm += any(len(r["tied_with"]) < 3 for r in stats.ranking(per_seed))
        names = list(per_seed)
        raw += min(stats.paired_test(per_seed[a], per_seed[b])["p"] for i, a in enumerate(names)
                   for b in names[i + 1:]) <= 0.05
    assert (f"{100 * holm / reps:.1f} % in {reps} simulated races of four equal optimizers over 5 seeds, where six "
            f"uncorrected tests do it {100 * raw / reps:.0f} % of the time") in readme
