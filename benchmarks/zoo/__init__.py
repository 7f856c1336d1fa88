"""A zoo of public model definitions for ``benchmarks/diagnose_zoo.py`` and ``tests/test_diagnose_zoo.py``:
each written here from the architecture of a public repository (cited in its entry), with a factory, an
input builder and the task it trains on (MNIST or a synthetic-token task)."""
