"""The checks an expert makes first (A. Karpathy, "A Recipe for Training Neural Networks", 2019):

* :func:`initial_loss`: "verify loss @ init". A classifier that has not learned anything should
  predict every class about equally, so its cross-entropy starts at ln C (C classes). With random
  labels, logits of std s add about s²/2 (E[log Σ e^{z_j}] ≈ ln C + s²/2 for small s), so a loss well
  above ln C means the network starts confidently wrong: the last layer's weights (or a bias) are too
  large and the first steps are spent undoing them. The verdict: ``ok`` within 20 % of ln C,
  ``high`` above it (scale the last layer down), ``low`` below 80 % of it (only possible with given
  labels: the network already predicts them, e.g. trained weights).
* :func:`overfit_batch`: "overfit one batch". N steps of the chosen optimizer on the one batch the
  check-up uses, on a fresh copy: a network and loss that are wired correctly drive a batch's loss
  down, here to < 10 % of its start (``driven down``); < 50 % is ``partly`` (more steps, or a larger
  learning rate, may finish it); otherwise ``not driven down`` (a bug in the wiring, a dead network,
  a learning rate far off) or ``diverged``.
"""

from __future__ import annotations

import math

import numpy as np

INITIAL_HIGH = 1.2  # × ln C
INITIAL_LOW = 0.8
OVERFIT_DONE = 0.1  # the loss after N steps / before
OVERFIT_PARTLY = 0.5


def initial_loss(loss0: float, loss, logits=None) -> dict:
    """The initial-loss check for a loss ``loss0`` of a :class:`~mlplab.diagnose.pytorch.io.Loss`."""
    chance = loss.chance
    if chance is None:
        return {"loss": loss0, "classes": None, "expected": None, "ratio": None, "verdict": "not applicable",
                "sentence": f"initial loss {loss0:.4g} ({loss.words}): there is no ln C to compare it with"}
    ratio = loss0 / chance if chance > 0 else math.inf
    spread = ""
    if logits is not None:
        sd = _row_std_mean(logits.detach().float().cpu().numpy(), logits.shape[-1] if loss.last_axis else
                           int(logits.numel() // logits.shape[0]))
        spread = f"; the logits' std across classes is {sd:.3g}"
    head = f"initial loss {loss0:.4g} vs ln {loss.classes} = {chance:.4g} ({ratio:.2f}x)"
    if not math.isfinite(loss0):
        verdict, says = "not finite", "the loss is not finite at initialisation"
    elif ratio > INITIAL_HIGH:
        verdict, says = "high", ("the network starts confidently wrong: its logits are too large at initialisation"
                                 f"{spread}; scale the last layer's weights down (e.g. x0.1, or zero them) so it "
                                 "starts near ln C")
    elif ratio < INITIAL_LOW:
        verdict, says = "low", ("below chance already: the network predicts these labels better than uniformly "
                                "(trained weights, or labels it can read off the input)")
    else:
        verdict, says = "ok", f"the network starts without a preference between the classes{spread}"
    return {"loss": loss0, "classes": loss.classes, "expected": chance, "ratio": ratio, "verdict": verdict,
            "sentence": f"{head}: {verdict}: {says}"}


def _row_std_mean(a, classes: int) -> float:
    """The mean over examples (and positions) of the logits' std across the ``classes`` (n − 1, as torch's
    ``std``): in NumPy, a third of ``Tensor.std(dim=-1)``'s time on a small batch (about 80 µs for 256 × 27,
    issue 30's time budget)."""
    a = a.reshape(-1, classes)
    m = np.add.reduce(a, axis=-1, keepdims=True)  # a.mean(axis=-1, keepdims=True)'s own steps, without its wrapper
    np.true_divide(m, np.intp(classes), out=m, casting="unsafe", subok=False)
    d = a - m
    with np.errstate(all="ignore"):  # one class: no spread (nan, as torch gives)
        return float(np.sqrt(np.einsum("ij,ij->i", d, d) / (classes - 1)).mean())


def overfit_batch(torch, work, call, loss, optimizer: str, lr: float, steps: int) -> dict:
    """``steps`` full-batch steps on ``work`` (a fresh working copy); ``call()`` runs the forward and returns
    the output to train. Returns the losses and the verdict."""
    params = [p for p in work.parameters() if p.requires_grad]
    from .steps import Steps

    opt = Steps(torch, params, optimizer, lr)
    losses = []
    for _ in range(int(steps)):
        opt.zero_grad()
        lt = loss(call())
        v = float(lt.detach())
        losses.append(v)
        if not math.isfinite(v):
            break
        lt.backward()
        opt.step()
    with torch.no_grad():
        end = float(loss(call()).detach())
    start = losses[0] if losses else end
    ratio = end / start if start > 0 else math.nan
    where = f"{optimizer} (lr {lr:g}), {len(losses)} step{'s' if len(losses) != 1 else ''} on one batch"
    if not math.isfinite(end) or (losses and not math.isfinite(losses[-1])):
        verdict, says = "diverged", "the loss became non-finite: lower the learning rate"
    elif ratio < OVERFIT_DONE:
        verdict, says = "driven down", "the network can fit a batch: the wiring and the optimizer work"
    elif ratio < OVERFIT_PARTLY:
        verdict, says = "partly", (f"it falls, but not below {OVERFIT_DONE:.0%} of its start: more steps or a larger "
                                   "learning rate may finish it")
    else:
        verdict, says = "not driven down", ("a network this size should fit one batch: look for a bug (labels, "
                                            "loss, a detach, a frozen or dead layer) or a learning rate far off")
    return {"steps": len(losses), "optimizer": optimizer, "lr": lr, "loss_start": start, "loss_end": end,
            "ratio": ratio, "verdict": verdict,
            "sentence": f"overfit one batch ({where}): loss {start:.4g} → {end:.4g} ({ratio:.1%} of its start): "
                        f"{verdict}: {says}"}
