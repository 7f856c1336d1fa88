"""The lab's docs are generated from its registries and cite works, never the source files' ids."""

import importlib
import re

from mlplab import lab
from mlplab.lab import docs
from mlplab.lab.sources import WORKS

SEED_ID = re.compile(r"\b00[0-9]_(?:[0-9a-f]{6,}|\s|\)|,|\.txt)")


def test_docs_are_up_to_date(tmp_path):
    assert docs.main(["--check"]) == 0, "run `python -m mlplab.lab.docs`"
    # and the check can fail: a stale copy is reported, a fresh one is written
    (tmp_path / "studies.md").write_text("old\n")
    assert docs.main([str(tmp_path), "--check"]) == 1
    assert docs.main([str(tmp_path)]) == 0 and docs.main([str(tmp_path), "--check"]) == 0
    assert (tmp_path / "studies.md").read_text() == docs.pages()["studies.md"]


def test_every_study_is_documented_with_its_works():
    page = docs.pages()["studies.md"]
    sources = docs.pages()["sources.md"]
    for s in lab.studies().values():
        assert f"## `{s.name}`: {s.title}" in page
        assert s.works and all(k in WORKS for k in s.works), s.name
        for k in s.works:
            assert f'<a id="{k}"></a>' in sources and f"sources.md#{k}" in page


def test_no_seed_file_ids_in_the_lab():
    """Studies cite works by title; names like 000_3dc64377390e7812.txt or (001_) mean nothing to a reader."""
    assert SEED_ID.search("see 000_3dc64377390e7812.txt") and SEED_ID.search("(001_)")  # the pattern can fail
    for s in lab.studies().values():
        mod = importlib.import_module(s.measure.__module__)
        for text in (s.source, s.description, s.title, mod.__doc__ or ""):
            assert not SEED_ID.search(text), (s.name, text)
    for text in docs.pages().values():
        assert not SEED_ID.search(text)
