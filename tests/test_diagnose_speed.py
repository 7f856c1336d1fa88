"""Issue 30's time target: what the check-up of a small PyTorch model stopped paying for, each shortcut checked
against what it replaced (the same numbers, bit for bit)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 5))


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_steps_are_torch_optims_to_the_bit(kind):
    """The check-up's own SGD and Adam (which spare a fresh process torch.optim's import of torch._dynamo) take
    torch.optim's steps exactly: 4 steps on the same batch give bit-equal weights, and a parameter without a
    gradient (an unused layer) is left alone by both."""
    from mlplab.diagnose.pytorch.steps import Steps

    x, y = torch.randn(32, 12, generator=torch.Generator().manual_seed(1)), torch.arange(32) % 5
    nets = []
    for mine in (False, True):
        net = _net()
        unused = torch.nn.Linear(3, 3)
        params = [*net.parameters(), *unused.parameters()]
        opt = Steps(torch, params, kind, 0.05) if mine else \
            (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)(params, lr=0.05)
        for _ in range(4):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        nets.append([p.detach().clone() for p in params])
    for a, b in zip(*nets):
        assert torch.equal(a, b)
    assert not torch.equal(nets[1][0], _net()[0].weight.detach())  # the steps did move the weights


def test_a_diagnosis_does_not_import_torch_dynamo():
    """torch.optim's first constructor imports torch._dynamo (3-5 s of a fresh process on the shared machine:
    the first `mlplab diagnose` took 2.8-3.9 s for a 6-layer MLP whose later diagnoses take 0.1 s). The check-up,
    with and without the overfit-one-batch probe, no longer does."""
    code = ("import sys, torch\n"
            "from mlplab.diagnose.pytorch import diagnose_torch\n"
            "net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))\n"
            "d = diagnose_torch(net, torch.randn(32, 8), torch.arange(32) % 3, optimizer='adam', overfit_batch=3,"
            " threads=1)\n"
            "assert d.steps['steps'] == 3 and d.checks['overfit_batch']['steps'] == 3, d.steps\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def _distinct_by_definition(a, rtol=1e-5):
    """The count the long way: columns in order, each compared with every representative kept so far."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, np.shape(a)[-1])
    tol = rtol * max(float(np.max(np.abs(a))), 1e-30)
    reps: list[np.ndarray] = []
    for j in range(a.shape[1]):
        if not any(np.max(np.abs(a[:, j] - r)) <= tol for r in reps):
            reps.append(a[:, j])
    return len(reps)


def test_count_distinct_units_by_its_definition():
    """count_distinct_units' shortcuts (projections that rule columns out, one all-zero column compared for all
    the dead units) give the count of the definition on matrices made to hit them: dead ReLU units, exact copies,
    columns a hair inside and outside the tolerance, sigmoid-like columns all near 0.5."""
    from mlplab.diagnose.statistics import count_distinct_units

    rng = np.random.default_rng(0)
    seen = set()
    for trial in range(300):
        b, u = rng.integers(2, 40), rng.integers(2, 70)
        a = rng.standard_normal((b, u))
        if trial % 4 == 1:
            a = np.maximum(a, 0) * (rng.random(u) < 0.5)  # dead units: all-zero columns
        elif trial % 4 == 2:
            src = rng.integers(0, u, u)
            a = a[:, src] + rng.choice([0.0, 0.5e-5, 2e-5], size=u) * rng.standard_normal((b, 1))
        elif trial % 4 == 3:
            a = 0.5 + 1e-5 * rng.standard_normal((b, u)) * rng.choice([0.1, 1.0, 3.0], size=u)
        k = count_distinct_units(a)
        assert k == _distinct_by_definition(a), trial
        seen.add(k < u)
    assert seen == {True, False}  # both cases occurred


def test_working_copy_hook_tables_are_its_own():
    """The working copy's empty hook tables are made new, not shared: a hook added to the copy is not the user's."""
    from mlplab.diagnose.pytorch.hygiene import working_copy

    net = _net()
    work = working_copy(torch, net)
    work[0].register_forward_hook(lambda *a: None)
    work.register_forward_pre_hook(lambda *a: None)
    assert not net[0]._forward_hooks and not net._forward_pre_hooks
    assert work[0]._forward_hooks is not net[0]._forward_hooks
    assert all(torch.equal(p, q) and p is not q for p, q in zip(net.parameters(), work.parameters()))
