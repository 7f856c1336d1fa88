"""The initializer registry: one :class:`InitScheme` per scheme (family, std formula as code and as
text, aliases) in :data:`SCHEMES`, and the name resolution every caller uses (:func:`get_initializer`,
:func:`resolve_initializer`, :func:`init_family`, :func:`theoretical_std`).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..activations import canonical_activation, normalize_name
from .schemes import (
    _BOOK_EXTRA,
    _book_std,
    _critical_std,
    _fan,
    _kaiming_std,
    _xavier_std,
    book,
    compute_fans,
    constant,
    critical,
    he_normal,
    he_uniform,
    identity,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    orthogonal,
    small_random,
    standard_normal,
    torch_linear_bias,
    torch_linear_weight,
    truncated_normal,
    truncated_std_factor,
    uniform,
    uniform_fan_in,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)


# ----------------------------------------------------------------------------- registry and resolution
def _identity_std(shape, gain):
    rows, cols = compute_fans(shape)
    k, n = min(rows, cols), rows * cols  # k entries equal to gain, the rest 0
    return abs(gain) * math.sqrt(k / n - (k / n) ** 2)


@dataclass(frozen=True)
class InitScheme:
    """One initializer in the registry.

    ``fn`` draws the weights; ``preset`` are keyword arguments fixed for this name (``xavier`` is
    ``xavier_normal`` with ``mode="fan_in"``); ``family`` groups schemes by the variance rule they
    follow (he, xavier, lecun, torch, orthogonal, identity, constant, fixed, other; ``book`` is he or
    lecun by activation); ``std`` maps the function's bound arguments (``shape`` and its
    parameters) to the entries' standard deviation √Var(W); ``formula`` says it in words;
    ``aliases`` are other accepted names.
    """

    name: str
    fn: Callable
    family: str
    std: Callable[[dict], float]
    formula: str
    aliases: tuple = ()
    preset: dict | None = None
    note: str = ""

    def function(self) -> Callable:
        return partial(self.fn, **self.preset) if self.preset else self.fn

    def variance_for(self, fan_in: int, fan_out: int, **params) -> float:
        """Var(W) for a (fan_in, fan_out) weight with these parameters."""
        func, kwargs = _split(get_initializer(self.name, **params))
        bound = inspect.signature(func).bind((int(fan_in), int(fan_out)), None, **kwargs)
        bound.apply_defaults()
        return float(self.std(bound.arguments)) ** 2


_S = InitScheme
SCHEMES: dict[str, InitScheme] = {s.name: s for s in (
    _S("zeros", zeros, "constant", lambda p: 0.0, "0 (every unit identical: symmetry never breaks)", ("zero",)),
    _S("ones", ones, "constant", lambda p: 0.0, "1", ()),
    _S("constant", constant, "constant", lambda p: 0.0, "value c (also a bare number: '0.5')"),
    _S("normal", normal, "fixed", lambda p: p["std"], "N(mean, std²) ('std=0.01' is N(0, 0.01²))"),
    _S("small_random", small_random, "fixed", lambda p: 0.01, "N(0, 0.01²), the texts' small random numbers",
       ("small",)),
    _S("standard_normal", standard_normal, "fixed", lambda p: 1.0, "N(0, 1)"),
    _S("uniform", uniform, "fixed", lambda p: (p["high"] - p["low"]) / math.sqrt(12.0),
       "U(low, high), default U(0, 1)"),
    _S("truncated_normal", truncated_normal, "fixed",
       lambda p: p["std"] * (1.0 if p["correct_std"] else truncated_std_factor(p["bound"])),
       "N(mean, std²) re-drawn beyond ±2 std (tf.truncated_normal)"),
    _S("orthogonal", orthogonal, "orthogonal", lambda p: abs(p["gain"]) / math.sqrt(max(compute_fans(p["shape"]))),
       "gain · Q, Q orthogonal; Var = gain²/max(n_in, n_out) (Saxe et al. 2014)"),
    _S("identity", identity, "identity", lambda p: _identity_std(p["shape"], p["gain"]),
       "gain · I ('identity(1.5)': the 1.5·I of deeplearning.ai's Initializing neural networks)",
       ("eye", "scaled_identity")),
    _S("xavier", xavier_normal, "xavier", lambda p: _xavier_std(p["shape"], p["gain"], p["mode"]),
       "N(0, 1/n_in): \"Xavier\" as Deep Learning from Scratch ch. 6 and the blog texts write it",
       preset={"mode": "fan_in"},
       note="not torch's xavier_normal_ nor Keras' glorot_normal, which use 2/(n_in + n_out)"),
    _S("xavier_normal", xavier_normal, "xavier", lambda p: _xavier_std(p["shape"], p["gain"], p["mode"]),
       "N(0, 2/(n_in + n_out)) (Glorot & Bengio 2010; torch xavier_normal_)", ("glorot", "glorot_normal"),
       note="Keras' glorot_normal truncates at 2σ (same variance)"),
    _S("xavier_uniform", xavier_uniform, "xavier", lambda p: _xavier_std(p["shape"], p["gain"], p["mode"]),
       "U(±√(6/(n_in + n_out))), Var 2/(n_in + n_out) (torch xavier_uniform_, Keras glorot_uniform)",
       ("glorot_uniform",)),
    _S("he_normal", he_normal, "he", lambda p: _kaiming_std(p["shape"], p["a"], p["mode"], p["nonlinearity"]),
       "N(0, 2/n_in) (He et al. 2015; torch kaiming_normal_)", ("he", "kaiming", "kaiming_normal"),
       note="Keras' he_normal truncates at 2σ (same variance)"),
    _S("he_uniform", he_uniform, "he", lambda p: _kaiming_std(p["shape"], p["a"], p["mode"], p["nonlinearity"]),
       "U(±√(6/n_in)), Var 2/n_in (torch kaiming_uniform_)", ("kaiming_uniform",)),
    _S("lecun_normal", lecun_normal, "lecun", lambda p: 1.0 / math.sqrt(_fan(p["shape"], "fan_in")),
       "N(0, 1/n_in) (LeCun et al. 1998)", ("lecun",)),
    _S("lecun_uniform", lecun_uniform, "lecun", lambda p: 1.0 / math.sqrt(_fan(p["shape"], "fan_in")),
       "U(±√(3/n_in)), Var 1/n_in"),
    _S("uniform_fan_in", uniform_fan_in, "torch", lambda p: 1.0 / math.sqrt(3.0 * _fan(p["shape"], "fan_in")),
       "U(±1/√n_in), Var 1/(3 n_in): the uniform \"Xavier\" of deeplearning.ai's notes",
       note="the same distribution as torch (nn.Linear's default)"),
    _S("torch", torch_linear_weight, "torch", lambda p: 1.0 / math.sqrt(3.0 * _fan(p["shape"], "fan_in")),
       "U(±1/√n_in), Var 1/(3 n_in): torch nn.Linear's default weight", ("torch_default",),
       note="the same distribution as uniform_fan_in, drawn as kaiming_uniform(a=√5) as torch does"),
    _S("torch_bias", torch_linear_bias, "torch", lambda p: 1.0 / math.sqrt(3.0 * p["fan_in"]),
       "U(±1/√n_in) for a bias: torch nn.Linear's default bias"),
    _S("variance_scaling", variance_scaling, "other", lambda p: math.sqrt(p["scale"] / _fan(p["shape"], p["mode"])),
       "scale/n, n = fan_in, fan_out or their mean (Keras VarianceScaling)"),
    _S("book", book, "book", lambda p: _book_std(p["shape"], p["activation"]),
       "N(0, 2/n_in) for ReLU, N(0, 1/n_in) otherwise (Deep Learning from Scratch ch. 6)"),
    _S("critical", critical, "critical", _critical_std,
       "σ_w²/n_in with σ_w² on the critical line χ₁ = 1 for the activation and σ_b² (bias_var) or q*; normal or "
       "orthogonal (Schoenholz et al. 2017; Pennington et al. 2017)", ("edge_of_chaos",),
       note="'critical(bias_var=0.05)' is σ_w² = 1.761 for tanh; draw biases N(0, σ_b²) to match"),
)}
del _S

#: Every accepted name (canonical names and aliases) -> the function it resolves to.
INITIALIZERS: dict[str, Callable] = {alias: s.function() for s in SCHEMES.values() for alias in (s.name, *s.aliases)}
_NAME = {alias: s.name for s in SCHEMES.values() for alias in (s.name, *s.aliases)}


def list_initializers() -> list[str]:
    """All names :func:`get_initializer` accepts (besides "std=<x>" and plain numbers)."""
    return sorted(INITIALIZERS)


def _param_names(fn) -> list[str]:
    """Parameters after (shape, rng, dtype), in order; those fixed by a preset partial excluded."""
    func, fixed = (fn.func, fn.keywords) if isinstance(fn, partial) else (fn, {})
    return [p for p in list(inspect.signature(func).parameters)[3:] if p not in fixed]


def _numeric_params(fn) -> set[str]:
    """The parameters that take a number (a float or int default or annotation): "std=abc" is refused by name."""
    func = fn.func if isinstance(fn, partial) else fn
    out = set()
    for name, p in inspect.signature(func).parameters.items():
        annotation = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "")
        number_default = isinstance(p.default, (int, float)) and not isinstance(p.default, bool)
        if number_default or annotation.split(" | ")[0] in ("float", "int"):
            out.add(name)
    return out


def _split(fn):
    return (fn.func, dict(fn.keywords)) if isinstance(fn, partial) else (fn, {})


def _parse_value(text: str):
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return normalize_name(text)  # names such as "fan-out" or "leaky-relu"


_CALL = re.compile(r"^([a-z_-]+)(?:\((.*)\))?$")


def resolve_initializer(spec, activation: str | None = None, **params) -> tuple[InitScheme, dict]:
    """``(scheme, keyword arguments)`` for a spec given by name: see :func:`get_initializer`."""
    if isinstance(spec, (int, float, np.number)) and not isinstance(spec, bool):
        return SCHEMES["constant"], {"value": float(spec)}
    if not isinstance(spec, str):
        raise TypeError(f"initializer spec must be a name, a number or a callable, got {spec!r}")
    text = re.sub(r"\s+", "", spec).lower()
    if text.startswith("std="):
        text = f"normal(std={text[4:]})"
    if isinstance(_parse_value(text), float):
        text = f"constant({text})"
    match = _CALL.match(text)
    name = _NAME.get(normalize_name(match.group(1))) if match else None
    if name is None:
        raise ValueError(f"unknown initializer {spec!r}; valid names: {', '.join(list_initializers())}, "
                         "'std=<x>' or a number (see `mlplab init list`)")
    scheme = SCHEMES[name]
    fn = scheme.function()
    names = _param_names(fn)
    allowed = set(names) | set(scheme.preset or {})
    kwargs: dict = dict(scheme.preset or {})
    args = [a for a in (match.group(2) or "").split(",") if a]
    for i, arg in enumerate(args):
        key, value = arg.split("=", 1) if "=" in arg else (names[i] if i < len(names) else None, arg)
        key = key and normalize_name(key)
        if key not in allowed:
            raise ValueError(f"{spec!r}: {scheme.name} takes ({', '.join(names)}), cannot use {arg!r}")
        kwargs[key] = _parse_value(value)
        if key in _numeric_params(fn) and not isinstance(kwargs[key], float):
            raise ValueError(f"{spec!r}: {key} of {scheme.name} must be a number, got {value!r}")
    if activation is not None and "activation" in allowed:
        kwargs["activation"] = activation
    kwargs.update(params)
    return scheme, kwargs


def get_initializer(spec, activation: str | None = None, **params) -> Callable:
    """Resolve ``spec`` to a callable ``(shape, rng, dtype=np.float32, **params) -> np.ndarray``.

    ``spec`` is a callable (returned as is), a number (constant), or a name, case-insensitive with '-' and
    '_' equivalent: one of :func:`list_initializers`, optionally called with positional or keyword
    arguments in the order of the function's parameters ("normal(0, 0.01)", "uniform(-1, 1)",
    "he_normal(mode=fan_out)", "identity(1.5)"), or "std=<x>" for N(0, x^2). ``activation`` is passed to
    schemes that depend on it (``"book"``); ``params`` override the parsed ones.
    """
    if callable(spec):
        return partial(spec, **params) if params else spec
    scheme, kwargs = resolve_initializer(spec, activation, **params)
    return partial(scheme.fn, **kwargs) if kwargs else scheme.fn


def init_family(spec, activation: str | None = None) -> str:
    """The family of an init spec: he, xavier, lecun, torch, orthogonal, identity, constant, fixed
    (an explicit std or distribution) or other; "book" is he for ReLU-like activations, else lecun
    (the 1/n the book calls Xavier). A spec that does not resolve is "other"."""
    if callable(spec):
        return "other"
    try:
        scheme, _ = resolve_initializer(spec)
    except (ValueError, TypeError):
        return "other"
    if scheme.family == "book":
        try:
            act = canonical_activation(activation if activation is not None else "relu")
        except ValueError:
            act = normalize_name(activation)
        return "he" if act in ("relu", "leaky_relu") or _BOOK_EXTRA.get(act) == 2.0 else "lecun"
    return scheme.family


def theoretical_std(spec, shape, activation: str | None = None, **params) -> float:
    """The standard deviation of the entries the scheme ``spec`` produces for ``shape`` (what theory
    predicts, e.g. sqrt(2 / n_in) for "he"), read from the scheme's registered variance."""
    fn = get_initializer(spec, activation=activation, **params)
    func, kwargs = _split(fn)
    scheme = next((s for s in SCHEMES.values() if s.fn is func), None)
    if scheme is None:
        raise ValueError(f"no variance formula known for initializer {spec!r}")
    bound = inspect.signature(func).bind(tuple(shape), None, **kwargs)
    bound.apply_defaults()
    return float(scheme.std(bound.arguments))
