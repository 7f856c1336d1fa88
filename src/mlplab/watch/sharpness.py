"""The sharpness of a watched PyTorch loop against its stability limit: ``watch(model, optimizer, sharpness=...)``.

Gradient descent on a quadratic is stable only while the top Hessian eigenvalue λ₁(H) stays below 2/η; on real
networks full-batch training drives λ₁ up to that limit and keeps it there (Cohen, Kaur, Li, Kolter, Talwalkar
2021, *Gradient Descent on Neural Networks Typically Occurs at the Edge of Stability*), and Adam's preconditioned
sharpness λ₁(P⁻¹H) does the same at 38/η (Cohen et al. 2022, *Adaptive Gradient Methods at the Edge of
Stability*). This module measures λ₁ of the user's loss on a fixed batch while their loop trains, and the limit
of their optimizer at its current hyper-parameters (read from ``param_groups`` at each measurement, so a
scheduler's learning rate moves the limit):

===================================== ================ =====================================================
optimizer (torch.optim)               what is measured limit
===================================== ================ =====================================================
SGD                                   λ₁(H)            2/η − λ_wd
SGD, momentum β, dampening d          λ₁(H)            (2 + 2β)/((1 − d)η) − λ_wd (heavy ball)
SGD, nesterov=True, momentum β        λ₁(H)            (2 + 2β)/((1 + 2β)η) − λ_wd (torch's form)
Adam, AdamW (β₁)                      λ₁(P⁻¹H)         (2 + 2β₁)/((1 − β₁)η) = 38/η at β₁ = 0.9
RMSprop, momentum μ (not centered     λ₁(P⁻¹H)         (2 + 2μ)/η (2/η without momentum)
or centered)
any other, or no optimizer            λ₁(H)            none: the entry says why
===================================== ================ =====================================================

λ_wd is SGD's ``weight_decay``: its update follows the gradient of L + λ_wd‖θ‖²/2, whose Hessian is H + λ_wd·I,
so it is stable while λ₁(H) + λ_wd stays below the momentum rule's limit (the quadratics of
:mod:`mlplab.curvature.stability`; ``tests/test_watch_sharpness.py`` runs torch's own SGD on a quadratic just
below and just above each). Adam's P is its current denominator √v̂ + ε (v̂ = ``exp_avg_sq``/(1 − β₂ᵗ), or
``max_exp_avg_sq`` with amsgrad), RMSprop's √``square_avg`` + ε (centered: √(``square_avg`` − ``grad_avg``²) + ε);
the limit holds with P frozen. Weight decay is not counted for them (AdamW's decoupled decay only damps, so
the limit shown is on the safe side; Adam's and RMSprop's L2 term would add λ_wd·P⁻¹ to P⁻¹H), and param groups
whose step sizes or momenta differ get the value without a limit.

**How it is measured.** λ₁ comes from :func:`mlplab.curvature.sharpness` (Lanczos with full
reorthogonalization): ``STEPS_COLD`` steps the first time, ``STEPS_WARM`` after, started from the previous
top eigenvector (H moves little between measurements, so a few steps recover λ₁), as the live page's chart
(:mod:`mlplab.live.sharpness`) does; one more product gives the residual ‖Hv − λv‖, which bounds the error
(|λ − λ_i| ≤ ‖r‖ for an eigenvalue λ_i of the symmetric operator). Each Lanczos step is one Hessian-vector
product by reverse-over-reverse autodiff: the forward and the first backward (``create_graph=True``) are done
once per measurement, then each product H v = ∂⟨∇L, v⟩/∂θ is one more backward through that graph (about two
backward passes). The Hessian is over the parameters the optimizer updates (without one: the model's
parameters that require gradients); other parameters and the buffers are held fixed.

**What it does not touch.** The forward runs through ``torch.func.functional_call`` with the parameters
detached (aliases of the same storage, never written) and the buffers cloned, so BatchNorm's running
statistics and ``num_batches_tracked`` are updated on the clones only; ``torch.autograd.grad`` returns the
gradients instead of accumulating them, so no ``.grad`` changes; the optimizer is only read; the training
flags are left as they are (the loss is the training loss: BatchNorm uses the batch's statistics in training
mode, as your step does); and torch's random state is saved and restored (``torch.random.fork_rng``).
Dropout: inside that, the generator is seeded with ``SEED`` before the forward, so every measurement uses the
same masks on the same batch (H is the Hessian of the loss under those masks, the same operator for all the
products of a measurement and comparable between measurements); put dropout in eval mode in your callable
if you want it off. Your own forward hooks on the model run in the measurement's forward too.

**When.** At the first optimizer step, then once at least ``every`` steps have passed *and* the time since the
last measurement is at least its cost divided by ``share`` (default 5 %), and a frame has carried the last
value (with ``every=N`` frames, no more often than they): the measurement runs in the training
thread (after the step, while no frame is being captured), so the loop gives at most about ``share`` of its
time to it, whatever the model and batch (README's ``mlplab.watch`` section has the measured figure). The
value rides on the next frame of the recording as its optional ``sharpness`` entry (:mod:`mlplab.watch.record`)
and the page draws it against the limit. A measurement that raises (the loss function fails, the loss is not
a scalar) is recorded once as an entry with ``value`` null and an ``error``, and no more are taken: the
training goes on. The values travel with the frames, so a run whose frames stopped (no layer could be
watched, the worker failed) measures no more either.
"""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["EVERY", "SHARE", "STEPS_COLD", "STEPS_WARM", "SEED", "Sharpness", "Tracker", "limit_for", "settings"]

EVERY = 200  # optimizer steps between two measurements, at least
SHARE = 0.05  # at most this share of the loop's wall time goes to measuring (the next waits cost/SHARE seconds)
STEPS_COLD, STEPS_WARM = 20, 8  # Lanczos steps (Hessian-vector products): the first time, warm-started after
SEED = 0  # torch's generator inside the measurement (dropout's masks): the same masks every time


class Sharpness:
    """What ``watch(..., sharpness=)`` measures and how often.

    ``loss``: either a loss function with ``inputs`` and ``targets`` (``loss(model(inputs), targets)``, e.g.
    ``torch.nn.functional.cross_entropy`` and a fixed batch), or a callable taking the model and returning the
    loss as a one-element tensor (``lambda m: F.cross_entropy(m(x), y)``; any inputs, several of them, a
    dict). ``every``: optimizer steps between two measurements, at least; ``share``: the largest share of the
    loop's time measuring may take (None: exactly every ``every`` steps, whatever it costs);
    ``steps_cold`` / ``steps_warm``: Lanczos steps of the first / the later measurements."""

    def __init__(self, loss, inputs=None, targets=None, every: int = EVERY, share: float | None = SHARE,
                 steps_cold: int = STEPS_COLD, steps_warm: int = STEPS_WARM):
        import torch

        if not callable(loss):
            raise TypeError(f"sharpness= takes (loss_fn, inputs, targets) or a callable model → loss; its loss "
                            f"function is a {type(loss).__name__}, not callable")
        if (inputs is None) != (targets is None):
            raise TypeError("sharpness= takes (loss_fn, inputs, targets) with both inputs and targets, or a callable "
                            "model → loss alone")
        if inputs is not None:
            for what, t in (("inputs", inputs), ("targets", targets)):
                if not isinstance(t, torch.Tensor):
                    raise TypeError(f"sharpness=(loss_fn, inputs, targets): {what} must be a torch.Tensor (a fixed "
                                    f"batch), got {type(t).__name__}; for other inputs pass a callable model → loss")
            if inputs.ndim == 0 or targets.ndim == 0 or len(inputs) != len(targets) or len(inputs) == 0:
                raise ValueError(f"sharpness=(loss_fn, inputs, targets): inputs {tuple(inputs.shape)} and targets "
                                 f"{tuple(targets.shape)} must be batches of the same, non-zero length")
        for name, v, lo in (("every", every, 1), ("steps_cold", steps_cold, 2), ("steps_warm", steps_warm, 2)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"sharpness {name}= is a whole number ≥ {lo}, got {v!r}")
        if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                                  or not 0 < share <= 1):
            raise ValueError(f"sharpness share= is a fraction of the loop's time in (0, 1] (or None), got {share!r}")
        self.loss, self.inputs, self.targets = loss, inputs, targets
        self.every, self.share = every, None if share is None else float(share)
        self.steps_cold, self.steps_warm = steps_cold, steps_warm

    @property
    def examples(self) -> int | None:
        return None if self.inputs is None else int(len(self.inputs))


def settings(value) -> Sharpness | None:
    """``watch``'s ``sharpness=`` as a :class:`Sharpness` (None stays None); one clear error otherwise."""
    if value is None or isinstance(value, Sharpness):
        return value
    if isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise TypeError(f"sharpness= takes (loss_fn, inputs, targets): a tuple of 3, got {len(value)} items")
        return Sharpness(*value)
    if callable(value):
        return Sharpness(value)
    raise TypeError(f"sharpness= takes (loss_fn, inputs, targets), a callable model → loss, or "
                    f"mlplab.watch.Sharpness(...); got {type(value).__name__}")


def _same(groups, keys) -> bool:
    return all(all(_num(g.get(k)) == _num(groups[0].get(k)) for k in keys) for g in groups)


def _num(x):
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, (tuple, list)):
        return tuple(_num(v) for v in x)
    return x


def limit_for(optimizer) -> dict:
    """What is measured and the stability limit for a torch optimizer now: ``{"preconditioned": bool,
    "limit": float or None, "formula": str or None, "reason": why no limit (or None)}``."""
    if optimizer is None:
        return {"preconditioned": False, "limit": None, "formula": None,
                "reason": "no optimizer was given to watch(), so no step size to compare with"}
    name = type(optimizer).__name__
    groups = optimizer.param_groups
    none = {"preconditioned": False, "limit": None, "formula": None}
    g = groups[0]
    lr = float(_num(g.get("lr", float("nan"))))
    if not (math.isfinite(lr) and lr > 0):
        return {**none, "reason": f"the learning rate {lr!r} is not a positive number"}
    if any(gr.get("maximize") for gr in groups):
        return {**none, "reason": "the optimizer maximizes (maximize=True): it climbs, no descent limit applies"}
    if name == "SGD":
        if not _same(groups, ("lr", "momentum", "dampening", "nesterov", "weight_decay")):
            return {**none, "reason": "the param groups differ in lr, momentum or weight decay: no one limit"}
        mu, d, wd = float(g.get("momentum", 0)), float(g.get("dampening", 0)), float(g.get("weight_decay", 0))
        tail = f" − λ_wd, λ_wd = {wd:g}" if wd else ""
        if mu == 0:
            return {**none, "limit": 2 / lr - wd, "formula": "2/η" + tail, "reason": None}
        if g.get("nesterov"):
            return {**none, "limit": (2 + 2 * mu) / ((1 + 2 * mu) * lr) - wd,
                    "formula": f"(2 + 2β)/((1 + 2β)η){tail}, β = {mu:g} (Nesterov)", "reason": None}
        return {**none, "limit": (2 + 2 * mu) / ((1 - d) * lr) - wd,
                "formula": ("(2 + 2β)/((1 − d)η)" if d else "(2 + 2β)/η") + f"{tail}, β = {mu:g}"
                + (f", d = {d:g}" if d else ""),
                "reason": None}
    if name in ("Adam", "AdamW"):
        if not _same(groups, ("lr", "betas")):
            return {**none, "preconditioned": True, "reason": "the param groups differ in lr or betas: no one limit"}
        b1 = float(_num(g["betas"])[0])
        return {"preconditioned": True, "limit": (2 + 2 * b1) / ((1 - b1) * lr),
                "formula": f"(2 + 2β₁)/((1 − β₁)η), β₁ = {b1:g}", "reason": None}
    if name == "RMSprop":
        if not _same(groups, ("lr", "momentum")):
            return {**none, "preconditioned": True, "reason": "the param groups differ in lr or momentum: no one limit"}
        mu = float(g.get("momentum", 0))
        return {"preconditioned": True, "limit": (2 + 2 * mu) / lr,
                "formula": "2/η" if mu == 0 else f"(2 + 2μ)/η, μ = {mu:g}", "reason": None}
    return {**none, "reason": f"no stability limit is known here for {name} (SGD, Adam, AdamW and RMSprop have one)"}


def _preconditioner(torch, optimizer, params) -> np.ndarray | None:
    """Adam's / AdamW's / RMSprop's current denominator P for ``params`` (flattened, float64); None while a
    parameter has no state yet (it has not been stepped)."""
    name = type(optimizer).__name__
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    out = []
    with torch.no_grad():
        for p in params:
            st, g = optimizer.state.get(p), group_of[id(p)]
            if not st:
                return None
            if name in ("Adam", "AdamW"):
                v = st["max_exp_avg_sq"] if g.get("amsgrad") else st.get("exp_avg_sq")
                if v is None or "step" not in st:
                    return None
                t = float(_num(st["step"]))
                c2 = 1.0 - float(_num(g["betas"])[1]) ** t
                P = v.double().sqrt() / math.sqrt(c2) + float(g["eps"])
            else:
                s = st["square_avg"].double()
                if g.get("centered"):
                    s = s - st["grad_avg"].double() ** 2
                P = s.sqrt() + float(g["eps"])
            out.append(P.cpu().numpy().ravel())
    return np.concatenate(out)


class Tracker:
    """The measurements of one watched loop (made by :class:`mlplab.watch.core.Watch` when ``sharpness=`` is
    given): :meth:`after_step` measures when one is due; :meth:`take` hands the newest to the next frame."""

    def __init__(self, spec: Sharpness, model, optimizer=None):
        import torch

        self.torch, self.spec, self.model, self.optimizer = torch, spec, model, optimizer
        self.v0 = None
        self.operator = None  # (preconditioned, parameter ids) of v0: another operator needs a cold start
        self.last_step, self.next_time = None, -math.inf
        self.pending: dict | None = None
        self.off: str | None = None
        self.measurements = 0
        self.seconds = 0.0  # spent measuring, in all
        self._wrapper = None

    # ------------------------------------------------------------------ when
    def due(self, step: int) -> bool:
        if self.off is not None or self.pending is not None:
            return False
        if self.last_step is None:
            return True
        return step - self.last_step >= self.spec.every and time.monotonic() >= self.next_time

    def after_step(self, step: int) -> None:
        """After optimizer step ``step``: measure if due. Never raises: a failure is recorded once and ends it."""
        if not self.due(step):
            return
        t0 = time.monotonic()
        try:
            entry = self.measure()
        except Exception as e:  # watching never stops the run
            self.off = f"{type(e).__name__}: {e}"
            entry = {"value": None, "limit": None, "error": f"the sharpness measurement failed ({self.off}); "
                                                            "no more are taken"}
        cost = time.monotonic() - t0
        self.seconds += cost
        self.last_step = step
        self.next_time = time.monotonic() + (cost / self.spec.share - cost if self.spec.share else 0.0)
        if entry is not None:
            self.pending = {"step": step, **entry}

    def take(self) -> dict | None:
        out, self.pending = self.pending, None
        return out

    # ------------------------------------------------------------------ what
    def _params(self):
        """(name, parameter) of what the optimizer updates (in the model), or the model's trainable ones."""
        named = dict(self.model.named_parameters())
        if self.optimizer is None:
            return [(k, p) for k, p in named.items() if p.requires_grad]
        ids = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        return [(k, p) for k, p in named.items() if id(p) in ids and p.requires_grad]

    def _loss(self, params: dict, buffers: dict):
        torch, spec = self.torch, self.spec
        if spec.inputs is not None:
            out = torch.func.functional_call(self.model, {**buffers, **params}, (spec.inputs,))
            loss = spec.loss(out, spec.targets)
        else:
            if self._wrapper is None:
                class _Call(torch.nn.Module):  # the user's callable, run with the model's tensors swapped
                    def __init__(self, model, fn):
                        super().__init__()
                        self.model, self.fn = model, fn

                    def forward(self):
                        return self.fn(self.model)

                self._wrapper = _Call(self.model, spec.loss)
            both = {f"model.{k}": v for k, v in {**buffers, **params}.items()}
            loss = torch.func.functional_call(self._wrapper, both, ())
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
            raise TypeError(f"the sharpness loss must be a one-element float tensor, got "
                            f"{type(loss).__name__}{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}")
        return loss.reshape(())

    def measure(self) -> dict | None:
        """One measurement now: ``{"value", "limit", "formula", "preconditioned", "residual", "products", "ms",
        "examples", "parameters", "optimizer", "reason"}`` (None when Adam's state is not there yet)."""
        from threadpoolctl import threadpool_limits

        from ..curvature import preconditioned_hvp, sharpness

        torch = self.torch
        t0 = time.perf_counter()
        named = self._params()
        if not named:
            raise ValueError("the optimizer updates no parameter of the watched model")
        lim = limit_for(self.optimizer)
        P = None
        if lim["preconditioned"]:
            P = _preconditioner(torch, self.optimizer, [p for _, p in named])
            if P is None:
                return None  # not stepped yet: the next step measures
        names = [k for k, _ in named]
        shapes = [p.shape for _, p in named]
        sizes = [p.numel() for _, p in named]
        n = int(sum(sizes))
        operator = (P is not None, tuple(names))
        if operator != self.operator:
            self.v0, self.operator = None, operator
        devices = sorted({p.device.index or 0 for _, p in named if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            # (not torch.manual_seed: it would also queue a seed for CUDA's generators, applied to the user's
            # when CUDA starts later; only the generators fork_rng restores are seeded)
            torch.random.default_generator.manual_seed(SEED)
            for d in devices:
                torch.cuda.default_generators[d].manual_seed(SEED)
            with torch.no_grad():
                buffers = {k: b.detach().clone() for k, b in self.model.named_buffers()}
            leaves = {k: p.detach().requires_grad_(True) for k, p in named}
            loss = self._loss(leaves, buffers)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"the loss on the sharpness batch is {float(loss.detach())}")
            order = [leaves[k] for k in names]
            grads = torch.autograd.grad(loss, order, create_graph=True, allow_unused=True)
            live = [(i, g) for i, g in enumerate(grads) if g is not None and g.requires_grad]
            dtype = order[0].dtype

            def hvp(v):
                v = torch.as_tensor(np.asarray(v, dtype=np.float64))
                parts = torch.split(v, sizes)
                dot = sum((g * parts[i].reshape(shapes[i]).to(device=g.device, dtype=g.dtype)).sum() for i, g in live)
                if not live or not dot.requires_grad:
                    return np.zeros(n)
                hv = torch.autograd.grad(dot, order, retain_graph=True, allow_unused=True)
                return np.concatenate([np.zeros(s) if h is None else h.detach().double().cpu().numpy().ravel()
                                       for h, s in zip(hv, sizes)])

            products = [0]
            plain = preconditioned_hvp(hvp, P) if P is not None else hvp

            def op(v):
                products[0] += 1
                return plain(v)

            steps = self.spec.steps_cold if self.v0 is None else self.spec.steps_warm
            # NumPy's BLAS on one thread for the Lanczos vectors' products (a few thousand flops each): with its
            # default threads on a busy machine each call waited ~30 ms for them, more than the Hessian products
            with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
                value, vec = sharpness(op, n, v0=self.v0, steps=steps, rng=SEED)
                residual = float(np.linalg.norm(op(vec) - value * vec))
        finite = math.isfinite(value) and bool(np.all(np.isfinite(vec)))
        self.v0 = vec if finite else None
        self.measurements += 1
        return {"value": float(value) if finite else None, "limit": lim["limit"], "formula": lim["formula"],
                "preconditioned": lim["preconditioned"], "reason": lim["reason"],
                "residual": residual if math.isfinite(residual) else None, "products": products[0],
                "ms": round((time.perf_counter() - t0) * 1e3, 3), "examples": self.spec.examples,
                "parameters": n, "dtype": str(dtype).replace("torch.", ""),
                "optimizer": type(self.optimizer).__name__ if self.optimizer is not None else None}
