"""The check-up of a network's initialization, for mlplab's own networks and for PyTorch models.

One package, one contract (:func:`diagnose_model` returns a :class:`Diagnosis` for either kind, judged by
the same rules):

* :mod:`.statistics` — what is measured per layer (activation, gradient and update statistics) and
  the per-layer predictions of the signal-propagation theory (:mod:`mlplab.theory` holds the maps);
* :mod:`.verdicts` — the verdict rules, one table (:data:`.verdicts.RULES`), each with one definition;
* :mod:`.network` — the check-up of an mlplab network (a fresh configuration or a trained run);
* :mod:`.pytorch` — the check-up of a ``torch.nn.Module``: tracing (:mod:`.pytorch.trace`), inputs and
  outputs as users have them, coverage, process hygiene, the expert's first checks, fixes and the result.

``mlplab.diagnostics``, ``mlplab.verdicts``, ``mlplab.torch_trace`` and ``mlplab.diagnose_torch`` still
import, as aliases of the modules here.
"""

from .network import (  # noqa: F401 - the public names of the check-up
    DEFAULTS,
    THRESHOLDS,
    VERDICTS,
    checkup,
    diagnose_config,
    diagnose_model,
    diagnose_run,
    init_family,
    recommendation,
)

__all__ = ["diagnose_model", "checkup", "diagnose_config", "diagnose_run", "init_family",
           "recommendation", "VERDICTS", "THRESHOLDS"]
