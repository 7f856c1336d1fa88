"""mlplab: fully-connected networks from scratch, and why optimizer and initialization decide
whether they train.

The core (tensor, nn, init, optim, data, train) depends on NumPy only; plotting, progress bars
and the command line live in ``mlplab.lab`` and ``mlplab.cli`` and are imported on demand.
"""

from .tensor import Tensor, grad, hessian, no_grad

__version__ = "0.1.0"
__all__ = ["Tensor", "grad", "hessian", "no_grad", "__version__"]
