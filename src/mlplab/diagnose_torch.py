"""Moved to :mod:`mlplab.diagnose.pytorch` (issue 26's re-layout); ``mlplab.diagnose_torch`` and its
submodules (``mlplab.diagnose_torch.io`` ...) stay importable as the same module objects."""

import importlib
import pkgutil
import sys

_new = importlib.import_module("mlplab.diagnose.pytorch")
for _info in pkgutil.iter_modules(_new.__path__):
    sys.modules[f"{__name__}.{_info.name}"] = importlib.import_module(f"mlplab.diagnose.pytorch.{_info.name}")
sys.modules[__name__] = _new
