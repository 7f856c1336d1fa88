"""Loading a user's model for ``mlplab diagnose --torch FILE.py:FACTORY``: the factory, its weights, an
input batch and the ``--input-shape`` parser; every failure is a one-line ValueError.
"""

from __future__ import annotations

import numpy as np

from .checkup import _torch
from .io import _one_line


# ------------------------------------------------------------------------------ loading a user's model
def load_model(spec: str, state_dict: str | None = None):
    """The module returned by FACTORY() in ``FILE.py:FACTORY``, with the weights of ``state_dict`` (a file
    written by ``torch.save(model.state_dict(), W)``) if given. Every failure is a one-line ValueError."""
    import importlib.util
    from pathlib import Path

    torch = _torch()
    path, sep, name = str(spec).rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"--torch {spec!r}: give FILE.py:FACTORY, e.g. model.py:make_model")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--torch: no such file {str(file)!r}")
    mod_spec = importlib.util.spec_from_file_location(f"mlplab_user_model_{abs(hash(str(file.resolve())))}", file)
    if mod_spec is None or mod_spec.loader is None:
        raise ValueError(f"--torch: cannot import {str(file)!r} as a Python file")
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # the user's file: any error is theirs to fix, in one line
        raise ValueError(f"--torch: importing {str(file)!r} raised {_one_line(e)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise ValueError(f"--torch: {str(file)!r} has no function {name!r}"
                         + (f"; it defines {', '.join(found)}" if found else ""))
    try:
        model = factory()
    except Exception as e:
        raise ValueError(f"--torch: {name}() raised {_one_line(e)}") from None
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"--torch: {name}() returned a {type(model).__name__}, not a torch.nn.Module")
    if state_dict is not None:
        w = Path(state_dict)
        if not w.is_file():
            raise ValueError(f"--state-dict: no such file {str(w)!r}")
        try:
            state = torch.load(w, map_location="cpu", weights_only=True)
        except Exception as e:  # not a file torch.save wrote (or one that needs code to unpickle)
            raise ValueError(f"--state-dict {str(w)!r} cannot be read as weights saved by torch.save "
                             f"({_one_line(e)[:150]}); give the file of torch.save(model.state_dict(), W)") from None
        try:
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            from .hygiene import unwrap_compiled

            if isinstance(state, dict):  # a compiled module's state dict names its keys _orig_mod.*
                state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}
            unwrap_compiled(model)[0].load_state_dict(state)
        except Exception as e:
            raise ValueError(f"--state-dict {str(w)!r} does not fit {name}(): {_one_line(e)}") from None
    return model


def input_batch(shape, batch_size: int = 256, std: float = 1.0, seed: int = 0, vocab: int | None = None) -> np.ndarray:
    """A Gaussian N(0, std²) batch of shape (batch_size, *shape), float32, from ``seed``; with ``vocab`` N,
    token ids drawn uniformly from [0, N) (int64), the input of an Embedding/EmbeddingBag model."""
    rng = np.random.default_rng([seed, 3])
    if vocab is not None:
        return rng.integers(0, int(vocab), size=(int(batch_size), *shape), dtype=np.int64)
    return (rng.standard_normal((int(batch_size), *shape)) * std).astype(np.float32)


def parse_shape(text) -> tuple[int, ...]:
    """"784" -> (784,); "1,28,28" or "1x28x28" -> (1, 28, 28)."""
    try:
        shape = tuple(int(v) for v in str(text).replace("x", ",").replace(" ", "").split(",") if v)
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: give the shape of one example, e.g. 784 or 1,28,28")
    return shape
