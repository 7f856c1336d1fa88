"""Grad mode: whether the operations of this thread record a graph (:func:`no_grad`, :func:`enable_grad`).

Thread-local, so a live run's training thread and the page's evaluation do not switch each other's mode. The
tape (:mod:`.graph`) reads it when it records a node; the reverse pass switches it on while it builds a
differentiable gradient (``create_graph=True``) and off otherwise.
"""

from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.enabled = enabled
    try:
        yield
    finally:
        _state.enabled = previous


def no_grad():
    """Context manager: operations inside record no graph (evaluation, optimizer updates)."""
    return _grad_mode(False)


def enable_grad():
    return _grad_mode(True)
