"""The tape: a node recorded with its parents and its vector-Jacobian product (:func:`_make`), and the reverse
pass that runs those VJPs from an output back to the leaves (:func:`_backprop`), behind ``Tensor.backward``,
:func:`~mlplab.tensor.grad` and :func:`~mlplab.tensor.hessian`.

Below the Tensor class (:mod:`.core` imports this module, never the other way): a node is made of its first
parent's class, and the reverse pass makes the seed of a differentiable gradient of its root's class.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from .mode import _grad_mode, _state

_creation = itertools.count()  # sequence numbers: a node is always newer than its inputs


def _make(data, parents, vjp, op):
    """Wrap a primitive's result; record its parents and VJP when a gradient will be needed."""
    cls = type(parents[0])  # (a Tensor: the tape does not import the class, which imports the tape)
    out = cls.__new__(cls)
    out.data = data
    out.grad = None
    out._retain = False
    out._seq = next(_creation)
    out.name = None
    needed = False
    for p in parents:
        if p.requires_grad:
            needed = True
            break
    if needed and getattr(_state, "enabled", True):
        out.requires_grad = True
        out._parents = parents
        out._vjp = vjp
        out._op = op
    else:
        out.requires_grad = False
        out._parents = ()
        out._vjp = None
        out._op = None
    return out


def _seed(out, gradient):
    if gradient is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"backward(): the output has shape {out.shape}; pass a gradient of that shape "
                "(or reduce it to a scalar first, e.g. loss.sum())")
        return np.ones_like(out.data)
    gradient = np.asarray(gradient.data if isinstance(gradient, type(out)) else gradient, dtype=out.dtype)
    if gradient.shape != out.shape:
        raise ValueError(f"backward(): gradient of shape {gradient.shape} does not match output {out.shape}")
    return gradient


def _backprop(root, seed, create_graph, inputs):
    """Run the VJPs from ``root`` back to the leaves.

    Every Tensor gets an increasing sequence number when it is created, so a node's number is
    larger than its parents'. Popping nodes from a max-heap on that number therefore visits each
    node after all the nodes that consumed it: a topological order found on the fly, without
    recursion (a 1000-layer network is fine) and without a separate sorting pass.
    """
    grads = {root: type(root)(seed) if create_graph else seed}
    heap = [(-root._seq, root)]
    wanted = None if inputs is None else set(inputs)
    found = {}
    with _grad_mode(create_graph):
        while heap:
            node = heapq.heappop(heap)[1]
            g = grads.pop(node)
            if wanted is not None and node in wanted:
                found[node] = g
            vjp = node._vjp
            if vjp is None or node._retain:
                if wanted is None:
                    gd = g.data if isinstance(g, type(root)) else g
                    if not gd.flags.writeable:  # a broadcast view: give the leaf its own array
                        gd = np.array(gd)
                    node.grad = gd if node.grad is None else node.grad + gd
                if vjp is None:
                    continue
            parents = node._parents
            if create_graph:
                gs = vjp(g, node, *parents)
            else:
                gs = vjp(g, node.data, *[p.data for p in parents])
            for p, gp in zip(parents, gs):
                if gp is None or not p.requires_grad:
                    continue
                if p in grads:
                    grads[p] = grads[p] + gp
                else:
                    grads[p] = gp
                    heapq.heappush(heap, (-p._seq, p))
    return found
