"""The optimizer registry: canonical names and aliases, defaults read from the constructors'
signatures, the update rule read from each class docstring, and :func:`get_optimizer`.
"""

from __future__ import annotations

import inspect

from ..activations import normalize_name
from .adaptive import AdaGrad, Adam, AdamW, NAdam, RMSProp
from .second_order import Newton
from .sgd import SGD, EMAMomentum, Momentum, Nesterov, NesterovEMA

# ------------------------------------------------------------------------------ registry
#: canonical name -> class. The defaults live in the constructors' signatures only.
OPTIMIZERS = {
    "sgd": SGD,
    "momentum": Momentum,
    "ema_momentum": EMAMomentum,
    "nesterov": Nesterov,
    "nesterov_ema": NesterovEMA,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
    "newton": Newton,
}
#: other accepted names -> canonical name (names are also case- and dash-insensitive)
OPTIMIZER_ALIASES = {"momentum_ema": "ema_momentum"}

#: How a name "FOLDER:NAME" (a student's exercise file, ``mlplab train --optimizer hw1:Adam``) becomes a
#: class: None until a front end that means to run a student's code sets it (the CLI sets
#: :func:`mlplab.exercises.student.load_checked_optimizer`); the library itself never imports such a file.
EXTERNAL_LOADER = None


def optimizer_class(name):
    """The class of a registry name (any spelling), or of a "FOLDER:NAME" through :data:`EXTERNAL_LOADER`."""
    if isinstance(name, str) and ":" in name and EXTERNAL_LOADER is not None:
        return EXTERNAL_LOADER(name)
    return OPTIMIZERS[canonical_optimizer(name)]


def _signature_defaults(cls) -> dict:
    """The keyword defaults of ``cls.__init__`` and of the base classes it passes ``**common`` to."""
    out = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        for p in list(inspect.signature(klass.__init__).parameters.values())[2:]:
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD:
                out.setdefault(p.name, p.default)
    return out


def optimizer_defaults(name) -> dict:
    """The hyperparameters ``name``'s constructor sets itself (``lr``, ``momentum``, ``betas``, ...)
    with their defaults, read from its signature (the shared ``weight_decay``/clipping excluded,
    except where the class sets its own default, as AdamW's ``weight_decay``)."""
    cls = optimizer_class(name)
    params = list(inspect.signature(cls.__init__).parameters.values())[2:]
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def optimizer_settings(name) -> list[str]:
    """Every keyword ``name`` accepts, its own first, then the base class's (weight_decay, clipping)."""
    return list(_signature_defaults(optimizer_class(name)))


def _formula(cls) -> str:
    """The update rule from the class docstring: its indented block after "::", or else what follows
    the first colon outside parentheses in its first paragraph ("SGD (ch. 6):  θ ← θ − η ∇L(θ).")."""
    lines = (cls.__doc__ or "").splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block = []
            for nxt in lines[i + 1:]:
                if not nxt.strip():
                    if block:
                        break
                    continue
                block.append(" ".join(nxt.split()))
            return "; ".join(block)
    para = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
    depth = 0
    for j, ch in enumerate(para):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ":" and depth == 0:
            return para[j + 1:].strip().rstrip(".")
    return para.rstrip(".")


def optimizer_info(name) -> dict:
    """What ``mlplab optim list`` prints: canonical name, class, formula, defaults, settings, aliases."""
    key = canonical_optimizer(name)
    cls = OPTIMIZERS[key]
    return {"name": key, "class": cls.__name__, "formula": _formula(cls), "defaults": optimizer_defaults(key),
            "settings": optimizer_settings(key), "aliases": [a for a, k in OPTIMIZER_ALIASES.items() if k == key],
            "summary": " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split()).rstrip(":")}


def canonical_optimizer(name) -> str:
    """The registry's name for ``name`` in any spelling ("Adam", "ema-momentum", "momentum_ema")."""
    if isinstance(name, str) and ":" in name and EXTERNAL_LOADER is not None:
        return name  # a student's class: its own name
    key = normalize_name(name)
    key = OPTIMIZER_ALIASES.get(key, key)
    if key not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    return key


#: Each name's defaults as its constructor's signature gives them (a view, for reading; the
#: constructors are the only place they are written). SGD, Momentum, AdaGrad and Adam use the
#: source book's settings (*Deep Learning from Scratch* ch. 6).
DEFAULT_HPARAMS = {name: optimizer_defaults(name) for name in OPTIMIZERS}


def get_optimizer(name, params, **kwargs):
    """Build the optimizer registered as ``name`` (any spelling) with its constructor's defaults
    overridden by ``kwargs``; a keyword it does not take is refused with the ones it does
    ("adam has no momentum; its settings are lr, betas, ...")."""
    key = canonical_optimizer(name)
    settings = optimizer_settings(key)
    unknown = [k for k in kwargs if k not in settings]
    if unknown:
        raise ValueError(f"{key} has no {', '.join(unknown)}; its settings are {', '.join(settings)}")
    return optimizer_class(key)(params, **kwargs)
