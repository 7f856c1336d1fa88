"""The decision boundary of a network on a toy 2-D data set: TensorFlow Playground's picture.

Over the rectangle that holds the training points (their range widened by ``MARGIN`` of its size
on each side), an n×n grid of cell centres

    x_i = x₀ + (i + ½)(x₁ − x₀)/n,   y_j = y₀ + (j + ½)(y₁ − y₀)/n,   cell index j·n + i (row j from the bottom),

goes through the network's forward pass; each cell gets the predicted class argmax_k p_k and the
confidence max_k p_k, p = softmax(logits) (sent as a whole percentage: the page shades the
cell's class colour by it). The page draws the cells under the data points.

It costs one forward pass of n² = 2,304 points through the (small) toy network, ~0.3 ms for a
2-32-32-3 network, so it comes with every frame, made wherever the frame is made (the frame
worker, or inline). MNIST-sized inputs have no plane to draw: the grid exists for 2-D inputs only.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, no_grad

__all__ = ["GRID", "MARGIN", "grid_for", "grid_points", "boundary"]

GRID = 48
MARGIN = 0.1


def grid_for(X: np.ndarray, n: int = GRID, margin: float = MARGIN) -> dict | None:
    """The grid covering the points ``X`` (n, 2): ``{"x": [x₀, x₁], "y": [y₀, y₁], "n": n}``;
    None unless the inputs are 2-D."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or len(X) == 0:
        return None
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad, hi + pad
    return {"x": [float(lo[0]), float(hi[0])], "y": [float(lo[1]), float(hi[1])], "n": int(n)}


def grid_points(grid: dict) -> np.ndarray:
    """The cell centres, (n², 2) in float64, cell j·n + i at (x_i, y_j)."""
    n = grid["n"]
    (x0, x1), (y0, y1) = grid["x"], grid["y"]
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
    X, Y = np.meshgrid(xs, ys)  # row j: y_j, column i: x_i
    return np.stack([X.ravel(), Y.ravel()], axis=1)


def boundary(plan, grid: dict, dtype=np.float32) -> dict:
    """The network's class and confidence per cell (see the module's docstring), with the grid.

    ``plan``: the network's (Linear, activation) pairs (:func:`mlplab.diagnostics.layer_plan`), run
    as :func:`mlplab.live.frames.measure` runs them, so it works on the training model and on the
    frame worker's mirror alike."""
    with no_grad(), np.errstate(all="ignore"):
        h = Tensor(grid_points(grid).astype(dtype))
        for lay in plan:
            h = lay.linear(h)
            for m in lay.modules:
                h = m(h)
        logits = np.asarray(h.data, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    classes = np.argmax(logits, axis=1)
    conf = np.nan_to_num(p.max(axis=1), nan=0.0)
    return {**grid, "classes": classes.astype(int).tolist(), "conf": np.rint(100 * conf).astype(int).tolist()}
