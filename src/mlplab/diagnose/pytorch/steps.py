"""The optimizer steps of the check-up, without ``torch.optim``: plain SGD and Adam on the working copy.

``torch.optim``'s constructors import ``torch._dynamo`` on their first call (``torch._disable_dynamo``): 3–5 s
of a fresh process's first diagnosis on the shared 2-core machine, more than the whole check-up of every model
of the zoo but two (issue 30's time target). :class:`Steps` takes the same steps as ``torch.optim``'s
single-tensor code path (the one it takes on the CPU), operation for operation, so the update ratios are the
same to the bit:

* SGD (no momentum, no weight decay): W ← W − η g;
* Adam (Kingma & Ba 2015, *Adam: A Method for Stochastic Optimization*; β₁ 0.9, β₂ 0.999, ε 1e-8 as
  torch's defaults): m ← m + (1 − β₁)(g − m), v ← β₂ v + (1 − β₂) g², W ← W − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε).

``tests/test_diagnose_speed.py`` checks both against ``torch.optim`` bit for bit.
"""

from __future__ import annotations

BETAS = (0.9, 0.999)
EPS = 1e-8


class Steps:
    """``zero_grad()`` and ``step()`` of SGD or Adam over ``params`` (a parameter without a gradient is skipped,
    as ``torch.optim`` skips it)."""

    def __init__(self, torch, params, optimizer: str, lr: float):
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
        self.torch, self.params, self.kind, self.lr = torch, list(params), optimizer, float(lr)
        self.state: dict[int, dict] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        torch = self.torch
        with torch.no_grad():
            if self.kind == "sgd":  # one call for every dense gradient (p.add_ each: the same kernel, per tensor)
                ps, gs, sparse = [], [], []
                for p in self.params:
                    g = p.grad
                    if g is not None:
                        if g.is_sparse:
                            sparse.append(p)
                        else:
                            ps.append(p)
                            gs.append(g)
                if len(ps) > 1:
                    torch._foreach_add_(ps, gs, alpha=-self.lr)
                    for p in sparse:
                        p.add_(p.grad, alpha=-self.lr)
                    return
            for p in self.params:
                g = p.grad
                if g is None:
                    continue
                if self.kind == "sgd":
                    p.add_(g, alpha=-self.lr)
                    continue
                if g.is_sparse:
                    raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")
                s = self.state.get(id(p))
                if s is None:
                    s = self.state[id(p)] = {"step": 0.0, "m": torch.zeros_like(p, memory_format=torch.preserve_format),
                                             "v": torch.zeros_like(p, memory_format=torch.preserve_format)}
                w, m, v = p, s["m"], s["v"]
                if torch.is_complex(w):
                    g, m, v, w = (torch.view_as_real(t) for t in (g, m, v, w))
                s["step"] += 1.0
                b1, b2 = BETAS
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                step_size = self.lr / (1 - b1 ** s["step"])
                denom = (v.sqrt() / (1 - b2 ** s["step"]) ** 0.5).add_(EPS)
                w.addcdiv_(m, denom, value=-step_size)
