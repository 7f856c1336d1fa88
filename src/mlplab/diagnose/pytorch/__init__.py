"""Diagnose a user's own PyTorch network: per-layer signal statistics against mean-field theory,
a verdict per layer, and a re-initialisation that fixes it.

``diagnose_model(model, x, y=None)`` (``mlplab.diagnose`` dispatches here for a ``torch.nn.Module``)
runs one forward and one backward pass on a *deep copy* of the model (without the user's hooks), so the
user's model keeps its parameters bit for bit, its buffers, train/eval flags, ``requires_grad``, hooks and
torch's RNG state. The files, one concept each: :mod:`.io` (inputs as users have them: tokens, tuples,
dicts, any float dtype; outputs: tensors, tuples, dicts, ``(logits, loss)``; the loss), :mod:`.hygiene`
(the copy, hooks, torch.compile, threads, the meta device, the memory estimate), :mod:`.checkup` (the
measurements), :mod:`.coverage` (what was traced, never reached, unregistered, frozen, shared,
re-parametrized), :mod:`.checks` (the initial loss against ln C, overfit one batch), :mod:`.steps` (the optimizer
steps: torch.optim's SGD and Adam without its import of torch._dynamo), :mod:`.fix`,
:mod:`.result`, :mod:`.user_model` (``--torch FILE.py:FACTORY``). The forward is traced with
a ``TorchFunctionMode`` (every ``F.linear``/``F.conv1d``/``F.conv2d``, activation, normalisation and
dropout call, whether a module or functional code made it) plus forward hooks that name the module
each call came from. Each ``Linear``/``Conv1d``/``Conv2d`` is one *layer*: its output z (or, if a
BatchNorm/LayerNorm/GroupNorm follows, the normalised z) and the activation φ that follows (ReLU,
ReLU6, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid, or none). Fan-in is C·k·k for a convolution; its "units"
are the channels, so a dead ReLU channel is one that is 0 at every position of every example.

The measures and the verdict rules are those of :mod:`mlplab.diagnose` (``_layer_verdict``: symmetric,
dead, saturating, exploding, vanishing, healthy) on the same statistics (:func:`mlplab.diagnose.statistics._summary`),
so a torch network and the mlplab network with the same weights get the same verdicts. The theory is
:func:`mlplab.diagnose.statistics.predict_signal`, Var z_{l+1} = n σ² E[φ(z_l)²] + Var b with σ² the measured
mean square of each weight, started from the measured E[x²]. A normalisation resets the variance, so
the recursion restarts there (and after anything not analysed, e.g. pooling) from the measured value;
such layers are never flagged for a signal that grew or shrank before them.

Severity: each layer becomes ``ok`` (healthy), ``warning`` (a problem, but it trains) or ``error``
(will not train as initialised, with the optimizer of the steps), by the one table of rules
:data:`mlplab.diagnose.verdicts.RULES` (:data:`SEVERITY` lists their boundaries): symmetric or non-finite weights,
more than 50 % dead units, 40 % saturated, weights not registered, a signal gain (activation std / input
std) above 10 or below 0.02 (with SGD; the output layer's small logits are not judged), a layer whose
update ‖ΔW‖/‖W‖ on the steps is under 1/30 of the fastest layer's. The limits were set on generated
networks (``benchmarks/diagnose_accuracy.py``: "error" against one epoch of MNIST) and checked on the
public model zoo (``benchmarks/diagnose_zoo.py``).

``fix_weights(model, "he" | "xavier" | "lsuv" | "critical", x)`` returns a re-initialised state dict (the model is
untouched): He N(0, g²/n_in) or Xavier N(0, 2g²/(n_in + n_out)) with the gain g of each layer's own
activation, biases 0; or LSUV (Mishkin & Matas, *All you need is a good init*, 2016): orthonormal
weights, then each layer in turn rescaled on the batch until its output variance is 1; or ``critical``: σ_w² on
the critical line χ₁ = 1 for each layer's activation and measured σ_b² (``weights="orthogonal"`` for gain·Q),
biases kept (:mod:`mlplab.diagnose.fix`).
"""

# the public names, and the helpers the CLI, the lab's display and the tests use (noqa: re-exported)
from .checkup import INSTALL_HINT, ForwardFailed, _torch, diagnose_torch, is_torch_module  # noqa: F401
from .fix import FixedState, fix_weights  # noqa: F401
from .hygiene import parse_bytes  # noqa: F401
from .io import parse_output  # noqa: F401
from .result import _COLUMNS, LEVELS, SEVERITY, Diagnosis, LayerDiagnosis, _cells, _severity, from_result  # noqa: F401
from .user_model import _one_line, input_batch, load_model, parse_shape  # noqa: F401

__all__ = ["Diagnosis", "LayerDiagnosis", "diagnose_torch", "fix_weights", "from_result", "is_torch_module",
           "SEVERITY", "INSTALL_HINT", "ForwardFailed", "FixedState"]
