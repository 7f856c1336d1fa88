"""Moved to :mod:`mlplab.runtime.memory` (issue 26's re-layout); this name stays importable as the same module."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("mlplab.runtime.memory")
