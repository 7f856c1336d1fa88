"""What every exercise is made of: :class:`Exercise`, the registry it is entered in, the sources' titles and the
helpers that draw test cases (dtype, shape). The exercises themselves are by topic: :mod:`.autodiff`,
:mod:`.optimizers`, :mod:`.initializers`, :mod:`.theory`; :mod:`.catalog` gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAITO = "Deep Learning from Scratch (Saito), ch. 6"
SAITO5 = "Deep Learning from Scratch (Saito), ch. 5 (backpropagation)"
SAITO4 = "Deep Learning from Scratch (Saito), ch. 4 (the numerical gradient) and ch. 5 (gradient check)"
DLSYS = "CMU 10-414/714 Deep Learning Systems, the lecture on fully-connected networks, optimization and initialization"
DLAI = "deeplearning.ai, Initializing neural networks"
SCHOENHOLZ = "Schoenholz et al. 2017, Deep Information Propagation (and deeplearning.ai, Initializing neural networks)"


@dataclass
class Exercise:
    """One exercise. ``kind``: "function" (compare values), "layer" (a class with forward and backward methods;
    compare what they return and the gradients they store), "random" (compare summary statistics of a draw) or
    "optimizer" (compare the trajectory of θ over a few steps on given gradients)."""

    name: str
    kind: str
    title: str
    source: str
    signature: str           # the def/class line(s) of the skeleton, without the body
    doc: str                 # the formula in the source's notation
    solution: object         # a callable or an optimizer class: the library's code
    mistakes: dict           # label → wrong variant (same signature as the solution)
    cases: object            # cases(rng, hidden) → list of (label, dict of arguments)
    call: object = None      # call(impl, args) → output; default impl(**args)
    summary: object = None   # random kind: output → vector of statistics
    tol: dict = field(default_factory=dict)
    points: int = 10
    template: str | None = None  # "layer" kind: the class skeleton, DOC where the docstring goes

    def run(self, impl, args):
        return (self.call or _call_kwargs)(impl, args)


def _call_kwargs(impl, args):
    return impl(**args)


REGISTRY: dict[str, Exercise] = {}


def register(ex: Exercise) -> Exercise:
    REGISTRY[ex.name] = ex
    return ex


def get(name: str) -> Exercise:
    if name not in REGISTRY:
        raise KeyError(name)
    return REGISTRY[name]


# ----------------------------------------------------------------------------- helpers for the cases
def _dtype(rng, hidden):
    return np.float32 if hidden and rng.random() < 0.5 else np.float64


def _shape(rng, hidden, public=(3, 4)):
    return tuple(int(n) for n in rng.integers(1, 9, size=2)) if hidden else public
