"""What the check-up measures and predicts per layer, from the traced pass: the statistics
(:func:`mlplab.diagnose.statistics._summary`'s fields, gradient norms, the input's spread), the label signal of the
output layer, and the mean-field theory of each chain beside them (:func:`_theory`). :mod:`.checkup` runs the pass
and the steps and puts these together into a :class:`~mlplab.diagnose.pytorch.result.Diagnosis`.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from .. import statistics as dg
from ..verdicts import label_signal_gated


def _np(t, channel_axis: bool):
    """A tensor as a NumPy array (float32 for bfloat16/float16: statistics are taken in float32 or wider)."""
    if hasattr(t, "detach"):
        import torch

        t = t.detach()
        a = (t.float() if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64) else t).cpu().numpy()
    else:
        a = np.asarray(t)
    return np.moveaxis(a, 1, -1) if channel_axis and a.ndim > 2 else a


def _weight_matrix(w) -> np.ndarray:
    """(fan_in, units): a Linear's (out, in) weight transposed; a conv's (C_out, C_in/g, *k) as (C_in/g·Πk, C_out)."""
    w = w.detach().float().cpu().numpy().copy()  # a copy: the optimizer steps later change the parameter in place
    return w.reshape(w.shape[0], -1).T


def _norm(t) -> float:
    if t is None:
        return float("nan")
    import torch

    return float(torch.linalg.vector_norm(t.detach(), dtype=torch.float64))  # no float64 copy through NumPy


def _norms(tensors) -> dict[int, float]:
    """id(t) -> ‖t‖ (accumulated in float64) for each tensor: the dense ones of one device in one ``_foreach_norm``
    call and one copy of the results (issue 30's time budget: a ``vector_norm`` and a ``float()`` per gradient
    were ~40 µs each), any other (sparse) by :func:`_norm`."""
    import torch

    out: dict[int, float] = {}
    groups: dict = {}
    for t in tensors:
        if id(t) in out:
            continue
        if t.layout == torch.strided and t.is_floating_point():
            groups.setdefault(t.device, {})[id(t)] = t.detach()
        else:
            out[id(t)] = _norm(t)
    for ts in groups.values():
        vals = torch.stack(torch._foreach_norm(list(ts.values()), 2, dtype=torch.float64)).tolist()
        out.update(zip(ts, vals))
    return out


_SQ_NUMPY_MAX = 1 << 17  # values up to which E[a²] squares into a float64 array (1 MB at most)


def _mean_sq(a) -> float:
    """E[a²] accumulated in float64 without a float64 copy of a large ``a`` (a weight matrix can be most of the
    memory); a small one through a float64 square, 2-3x faster than torch's norm (two calls' overhead, and the
    transposed weight made contiguous first)."""
    if a.size <= _SQ_NUMPY_MAX:
        return float(np.mean(np.square(a, dtype=np.float64))) if a.size else 0.0
    import torch

    t = torch.from_numpy(np.ascontiguousarray(a))
    return float(torch.linalg.vector_norm(t, dtype=torch.float64) ** 2 / max(t.numel(), 1)) if t.numel() else 0.0


def _spread(a, scratch=None) -> tuple[int, float, float]:
    """(n, mean, Σ(x − mean)²) of an array in float64 without a float64 copy of it but the deviations: one pass
    for the mean, one for the deviations' squares (the two passes of ``np.std``). The input's std (biased and
    unbiased) and E[x²] = Σ(x − mean)²/n + mean² all come from it (issue 30's time budget: they were three
    passes over the input in float64, and a float64 copy of it, for a 784-wide input as long as a layer's
    statistics)."""
    a = np.ravel(np.asarray(a))
    n = a.size
    if n == 0:
        return 0, float("nan"), float("nan")
    mean = float(np.add.reduce(a, axis=None, dtype=np.float64)) / n  # np.mean's sum and division, bit for bit
    d = np.subtract(a, mean, dtype=np.float64) if scratch is None else \
        np.subtract(a, mean, out=scratch.f64(a.shape), dtype=np.float64)  # (a dg.Scratch: the same values)
    return n, mean, float(np.dot(d, d))


RELU6_TOP = 6.0


def _segments(layers) -> list[list[int]]:
    """The chains the theory follows: a new one at the first layer, at every normalisation and every break."""
    segs: list[list[int]] = []
    for i, lay in enumerate(layers):
        if not segs or not lay.continues or lay.norm:
            segs.append([i])
        else:
            segs[-1].append(i)
    return segs


def _measure(layers, batch: int, eps=dg.SATURATION_EPS, params=(), norms_out: dict | None = None,
             weights: bool = False):
    """Per layer: mlplab's LayerStats (dg._summary, the fields the check-up reads) plus gradient norms and
    shapes. ReLU6 counts as a ReLU (dead and zero units) that also saturates: outputs within ``eps`` of 6, where
    φ' = 0. What the theory reads only at a chain's ends is measured there only (issue 30's time budget): the
    input's E[x²] at a chain's first layer (``in_sq``, else None), E[(∂L/∂z)²] at its last (``grad_sq``, else
    None), the input's std at layer 1 (``in_std``). A weight several layers call (tied, reused: a GRU cell
    unrolled over the steps) is copied and its gradient's norm taken once.

    Each weight's moments in float64, once per weight array (``moments``: its std (0 for a constant one), mean,
    variance and E[w²] = Var + mean², the theory's; one pass fewer than taking E[w²] on its own); E[b²] and
    E[(∂L/∂z)²] from the float64 norms taken for all the layers in one call (issue 30's time budget).

    ``params``: more parameters whose gradients' norms to take in the same call, all of them put in ``norms_out``
    (id(tensor) -> ‖tensor‖) for the coverage's "got a gradient" (one ``_foreach_norm`` call, not two);
    ``weights=True``: the norms of the (floating) parameters themselves too, for the check-up's "not finite"
    (a third call saved).

    Layer by layer, not on one array of all the layers' values: that was slower (the statistics of 20 layers of
    256 × 64 in one float64 array of 2.6 MB leave the cache that a layer's 128 kB stays in)."""
    segs = _segments(layers)
    starts, ends = {seg[0] for seg in segs}, {seg[-1] for seg in segs}
    scratch = dg.Scratch()  # the layers' float64 deviations in one reused buffer (freed on return)
    per_weight: dict[int, tuple] = {}  # (not ``weights``: that is the argument, read below)
    out = []
    grads = [g for lay in layers for g in (lay.op.weight.grad, getattr(lay.z_values if lay.z_values is not None
                                                                       else lay.z, "grad", None)) if g is not None]
    extra = []
    if params:  # dense gradients only (the coverage takes a sparse one its own way)
        import torch

        extra = [p.grad for p in params if p.grad is not None and p.grad.layout == torch.strided
                 and p.grad.is_floating_point()]
        if weights:
            extra += [p for p in params if p.is_floating_point()]
    norms = _norms(grads + [lay.op.bias for lay in layers if lay.op.bias is not None] + extra)
    if norms_out is not None:
        norms_out.update(norms)
    for i, lay in enumerate(layers):
        conv = lay.kind != "Linear"
        if id(lay.op.weight) not in per_weight:
            wg = lay.op.weight.grad
            wm = _weight_matrix(lay.op.weight)
            per_weight[id(lay.op.weight)] = (wm, norms[id(wg)] if wg is not None else float("nan"), _moments(wm))
        wm, wg_norm, moments = per_weight[id(lay.op.weight)]
        zsrc = lay.z_values if lay.z_values is not None else lay.z
        a = _np(lay.a, conv)
        act = "relu" if lay.activation == "relu6" else lay.activation
        # (_summary(full=False) reads a, not z: z as an array only for E[z²]; its sizes from the tensor)
        s = dg._summary(i, SimpleNamespace(linear=SimpleNamespace(weight=SimpleNamespace(data=wm)),
                                           activation=act), None, a, eps, full=False, scratch=scratch)
        # E[z²] only where the theory reads it, a normalisation's output (each layer's was a pass over its batch)
        if lay.norm:
            z = _np(zsrc, conv)
            s.pre_sq = _mean_sq(z) if z.size else float("nan")
        else:
            s.pre_sq = float("nan")
        if lay.activation == "relu6":
            s.activation = "relu6"
            s.saturated = float(np.mean(a >= RELU6_TOP - eps))
        units = wm.shape[1]
        z_size = int(zsrc.numel())
        positions = max(1, (z_size // int(zsrc.shape[0]) if zsrc.shape[0] else 0) // units) if zsrc.dim() > 1 else 1
        zg = getattr(zsrc, "grad", None)
        s.pre_grad_norm = norms[id(zg)] if zg is not None else float("nan")
        s.weight_grad_norm = wg_norm
        xin = (_np(lay.op.x, conv) if lay.op.x is not None and lay.op.x.is_floating_point() else np.zeros(1)) \
            if i in starts or i == 0 else None
        b = lay.op.bias
        spread = _spread(xin, scratch) if i == 0 else None
        out.append({"stats": s, "weight": wm, "moments": moments, "positions": positions, "elements": z_size,
                    "in_sq": (spread[2] / spread[0] + spread[1] ** 2 if i == 0 else _mean_sq(xin))
                    if i in starts else None, "pre_sq": s.pre_sq, "in_spread": spread,
                    "bias_sq": _sq_from_norm(norms[id(b)], b) if b is not None else 0.0,
                    "grad_sq": _sq_from_norm(norms[id(zg)], zg) if zg is not None and i in ends else None,
                    "bwd_fan": units * math.prod(lay.op.weight.shape[2:]),
                    "batch": int(batch), "in_std": math.sqrt(spread[2] / spread[0]) if i == 0 else None})
    return out


def _sq_from_norm(norm: float, t) -> float:
    """E[t²] from ‖t‖ (accumulated in float64): ‖t‖²/n."""
    n = t.numel()
    return norm * norm / n if n else float("nan")


def _moments(w) -> tuple[float, float, float, float]:
    """(std, mean, variance, E[w²]) of a weight array in float64; the std of a constant array is 0 (not the
    rounding of its variance), and E[w²] = Var + mean² (E[w²] itself where that is not finite)."""
    # np.var's own steps with the mean taken once (np.var sums for a mean that np.mean then sums again): the mean
    # in float64, the deviations from it in float64 in w's memory order, squared in place, summed, over n — the
    # same operations on the same values, so the same numbers bit for bit (tests/test_diagnose_speed_numbers.py)
    n = w.size
    mean = float(np.add.reduce(w, axis=None, dtype=np.float64)) / n if n else math.nan  # (np.mean's steps)
    if n:
        x = np.subtract(w, np.float64(mean), dtype=np.float64)
        np.multiply(x, x, out=x)
        var = float(np.sum(x, dtype=np.float64)) / n
    else:
        var = float(w.var(dtype=np.float64))
    sq = var + mean * mean
    # a constant float32 array's float64 mean is its value exactly (the partial sums of n < 2**29 copies of a 24-bit
    # mantissa are exact in float64), so its variance is 0: a positive one rules "constant" out without another
    # pass; 0, NaN (inf or NaN values) or a float64 array are looked at
    constant = (not (var > 0.0 and w.dtype == np.float32 and n < 2 ** 29) and bool(np.all(w == w.flat[0]))) \
        if n else False
    return (0.0 if constant else math.sqrt(var), mean, var,
            sq if math.isfinite(sq) else _mean_sq(w))


def label_signal(torch, lay, first) -> float | None:
    """:func:`mlplab.diagnose.verdicts.label_signal_gated` of the output layer ``lay`` from the traced pass
    (its input and its retained ∂L/∂z: no extra backward), gated by the first layer's input; None for a
    conv output layer."""
    z, x, x0 = lay.op.out, lay.op.x, first.op.x
    if lay.kind != "Linear" or z is None or x is None or getattr(z, "grad", None) is None \
            or not x.is_floating_point() or x0 is None or not x0.is_floating_point():
        return None

    def np_(t):
        return t.detach().float().cpu().numpy()

    return label_signal_gated(np_(z.grad), np_(x), np_(x0))


def _theory(layers, meas) -> list[dict]:
    """The mean-field prediction per layer, restarted at every normalisation and every break in the chain.

    :func:`mlplab.diagnose.statistics.predict_signal`'s recursion for every chain at once (issue 30's time
    budget: a GRU unrolled over 8 steps is 25 one-layer chains): step k takes the k-th layer of every chain
    still that long, with one theory call per activation for E[φ²] and, at the same variance, E[φ′²] for the
    backward recursion (:func:`~mlplab.diagnose.gaussian.moments_both_at`: one φ for both), and the activation's
    mean and saturated fraction of every layer on one array of grids
    (:func:`~mlplab.diagnose.statistics.gaussian_expectations_at`; tanh's by its symmetry, on half the grid).
    The same operations per layer as ``predict_signal`` and ``gaussian_expectations``: the same numbers up to
    the order of the quadratures' additions."""
    th: list[dict] = [{} for _ in layers]
    segs = _segments(layers)
    wsq: dict[int, float] = {}  # E[w²] per weight array (one for the layers sharing a weight)
    for mm in meas:
        if id(mm["weight"]) not in wsq:
            wsq[id(mm["weight"])] = mm["moments"][3] if "moments" in mm else _mean_sq(mm["weight"])
    chains = []
    for seg in segs:
        first = layers[seg[0]]
        m = [meas[i] for i in seg]
        fan_in = [float(mm["weight"].shape[0]) for mm in m]
        wv = [wsq[id(mm["weight"])] for mm in m]
        bv = [mm["bias_sq"] for mm in m]
        input_sq = m[0]["in_sq"]
        if first.norm:  # the normalisation sets Var z itself: a unit "layer" with n σ² E[x²] = measured E[z²]
            fan_in[0], wv[0], bv[0], input_sq = 1.0, 1.0, 0.0, m[0]["pre_sq"]
        g = m[-1]["grad_sq"]
        chains.append({"seg": seg, "first": first, "m": m, "fan_in": fan_in, "wv": wv, "bv": bv,
                       "input_sq": float(input_sq), "acts": [layers[i].activation for i in seg],
                       "g": g if g is not None and math.isfinite(g) else None,
                       "pre": np.zeros(len(seg)), "act_sq": np.zeros(len(seg)), "factor": np.zeros(len(seg)),
                       "dphi": np.zeros(len(seg))})
    with np.errstate(all="ignore"):
        prev = np.array([c["input_sq"] for c in chains])
        prev_var = prev.copy()
        for k in range(max(len(seg) for seg in segs)):
            live = [j for j, c in enumerate(chains) if len(c["seg"]) > k]
            pre = (np.array([chains[j]["fan_in"][k] for j in live]) * np.array([chains[j]["wv"][k] for j in live])
                   * prev[live] + np.array([chains[j]["bv"][k] for j in live]))
            # E[φ²] for the next step and E[φ′²] for the backward recursion at the same variance, from one φ
            act_sq, dphi = dg.moments_both_at([chains[j]["acts"][k] for j in live],
                                              [chains[j]["first"].slope for j in live], pre)
            factor = np.where(prev_var[live] > 0, pre / prev_var[live], np.inf)
            for n, j in enumerate(live):
                c = chains[j]
                c["pre"][k], c["act_sq"][k], c["factor"][k], c["dphi"][k] = pre[n], act_sq[n], factor[n], dphi[n]
            prev[live], prev_var[live] = act_sq, pre
        back = [c for c in chains if c["g"] is not None]
        if back:
            for c in back:
                n = len(c["seg"])
                d, grad = c["dphi"], np.zeros(n)
                grad[-1] = c["g"] * float(d[-1])
                for l in range(n - 2, -1, -1):
                    grad[l] = float(d[l]) * (c["m"][l + 1]["bwd_fan"] * c["wv"][l + 1] * grad[l + 1])
                c["grad"] = grad
        # the activation's mean (and saturated fraction) at each layer's predicted variance, grouped by activation
        groups: dict[tuple, list[tuple[int, float]]] = {}
        for c in chains:
            for k, i in enumerate(c["seg"]):
                if math.isfinite(float(c["pre"][k])):
                    groups.setdefault((layers[i].activation, layers[i].slope), []).append((i, float(c["pre"][k])))
        expect: dict[int, list[float]] = {}
        for (act, slope), items in groups.items():
            if act == "identity":  # E[z] = 0 for z ~ N(0, var): no quadrature (it gave 0 to rounding)
                for i, _ in items:
                    expect[i] = [0.0]
                continue
            phi, _ = dg.activation_fn(act, slope)
            if act == "tanh":
                # tanh is odd (its φ(−z) = −φ(z) exactly in floating point too) and its saturated band even: on
                # the grids, which are symmetric about 0 and hold 0, E[tanh z] = 0 exactly (the quadrature gave
                # 0 to rounding, ~1e-17) and the saturated fraction is twice the integral over z ≥ 0 (equal to
                # rounding, ~1e-15): the half grids, one function (issue 30's time budget: a third of the work)
                lo, hi = dg._BOUNDS[act]

                def band(z, phi=phi, lo=lo, hi=hi):
                    a = phi(z)
                    return (((a <= lo + dg.SATURATION_EPS) | (a >= hi - dg.SATURATION_EPS)).astype(float),)
                (half,) = dg.gaussian_expectations_at(band, [v for _, v in items], zero_below=True)
                for n, (i, _) in enumerate(items):
                    expect[i] = [0.0, 2.0 * float(half[n])]
                continue
            fs = [phi]
            if act == "relu6":  # the top bound only (0 is a ReLU's dead side, counted as dead)
                def fs(z, phi=phi):
                    a = phi(z)
                    return a, (a >= RELU6_TOP - dg.SATURATION_EPS).astype(float)
            elif act in dg._BOUNDS:  # the mean and the saturated fraction from one φ on the grid
                lo, hi = dg._BOUNDS[act]

                def fs(z, phi=phi, lo=lo, hi=hi):
                    a = phi(z)
                    return a, ((a <= lo + dg.SATURATION_EPS) | (a >= hi - dg.SATURATION_EPS)).astype(float)
            got = dg.gaussian_expectations_at(fs, [v for _, v in items], zero_below=act == "relu")  # φ = 0 below 0
            for n, (i, _) in enumerate(items):
                expect[i] = [float(r[n]) for r in got]
        for c in chains:
            first, seg, m, wv = c["first"], c["seg"], c["m"], c["wv"]
            for k, i in enumerate(seg):
                var = float(c["pre"][k])
                act = layers[i].activation
                row = {"pre_std": math.sqrt(var) if var >= 0 else float("nan"), "act_mean": float("nan"),
                       "act_std": float("nan"), "saturated": float("nan"),
                       "dead": 0.0 if act in ("relu", "relu6") else float("nan"),
                       "variance_factor": float("nan") if (k == 0 and (first.norm or not first.continues))
                       else float(c["factor"][k]),
                       "weight_grad_norm": float("nan"), "pre_grad_norm": float("nan"),
                       "weight_std": math.sqrt(wv[k]) if not (k == 0 and first.norm) else math.sqrt(
                           wsq[id(meas[i]["weight"])]),
                       "reset": bool(first.norm) and k == 0}
                if i in expect:
                    mean = expect[i][0]
                    row["act_mean"] = mean
                    row["act_std"] = math.sqrt(max(float(c["act_sq"][k]) - mean**2, 0.0))
                    if len(expect[i]) > 1:
                        row["saturated"] = expect[i][1]
                if "grad" in c and not row["reset"]:  # BatchNorm's Jacobian is not in the theory
                    prev_sq = c["input_sq"] if k == 0 else float(c["act_sq"][k - 1])
                    mm = m[k]
                    gs = float(c["grad"][k])
                    row["pre_grad_norm"] = math.sqrt(mm["elements"] * gs)
                    row["weight_grad_norm"] = math.sqrt(mm["weight"].size * mm["batch"] * mm["positions"] * prev_sq
                                                        * gs)
                th[i] = row
    return th
