"""Rich display in Jupyter for the core's results, without the core importing the lab.

:class:`mlplab.train.History`, :class:`mlplab.diagnose.pytorch.Diagnosis`, a sweep's summary and a
study's :class:`mlplab.lab.Result` have a ``_repr_html_`` that calls :func:`html`. The HTML is made
by the report's renderer (:mod:`mlplab.lab.display`, which draws with matplotlib): the one place in
the core that reaches the presentation layer, looked up by name when a notebook asks for HTML, so
importing or using the core never loads matplotlib and the layering of the package
(tests/test_imports.py) holds.
"""

from __future__ import annotations

import importlib

RENDERER = "mlplab.lab.display"


def html(obj) -> str:
    """The HTML fragment of ``obj`` made by :data:`RENDERER` (Jupyter calls this through ``_repr_html_``)."""
    return importlib.import_module(RENDERER).html(obj)
