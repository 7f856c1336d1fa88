"""Issue 30's time target: what the check-up of a small PyTorch model stopped paying for (set-ups, imports, its own
optimizer steps, walks over the model, hooks), each shortcut checked against what it replaced; the cheaper
computations of its statistics and theory are tests/test_diagnose_speed_numbers.py."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a new interpreter (nothing imported yet) with this checkout's sources; it must succeed."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    return out


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
    out = _fresh_python(code)
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


def test_sharpness_lanczos_runs_numpy_blas_on_one_thread():
    """diagnose --sharpness pins NumPy's BLAS to one thread for its Lanczos vectors, as watch's sharpness does (with
    two threads on the busy 2-core machine each small product waited for them): inside the line every
    Hessian-vector product sees one BLAS thread, even where the caller allows two."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from mlplab.diagnose.sharpness import line

    h = np.diag(np.linspace(0.1, 3.0, 40))
    seen = []

    def hvp(v):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return h @ v

    with threadpool_limits(limits=2, user_api="blas"):
        out = line(hvp, 40, lr=0.1)
    assert abs(out["sharpness"] - 3.0) < 1e-6 and seen
    assert all(s <= {1} for s in seen), seen


def test_trace_without_names_finds_the_same_layers():
    """The pass after the steps is traced without module hooks: the same layers (weights, activations, chains)
    as the named trace, only without the module names."""
    from mlplab.diagnose.pytorch.trace import layers as layers_of
    from mlplab.diagnose.pytorch.trace import trace

    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 5))
    x = torch.randn(8, 12)
    (named, _), (plain, _) = trace(net, x), trace(net, x, names=False)
    a, b = layers_of(named)[0], layers_of(plain)[0]
    assert [lay.label for lay in a] == ["0", "3", "5"] and [lay.label for lay in b] == ["F.linear"] * 3
    assert [(l.op.weight is m.op.weight, l.activation, l.continues) for l, m in zip(a, b)] == \
        [(True, "tanh", False), (True, "relu", True), (True, "identity", True)]
    assert all(torch.equal(l.a, m.a) for l, m in zip(a, b))


def test_importing_the_torch_checkup_does_not_import_scipy_special():
    """scipy.special (0.3-0.4 s of a fresh process, most of `import mlplab.diagnose.pytorch`) is imported at first
    use: a ReLU network's diagnosis never needs it, a tanh network's does (Gauss–Hermite nodes)."""
    code = ("import sys, torch\n"
            "from mlplab.diagnose.pytorch import diagnose_torch\n"
            "print('scipy.special' in sys.modules)\n"
            "net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))\n"
            "diagnose_torch(net, torch.randn(32, 8), torch.arange(32) % 3, threads=1)\n"
            "print('scipy.special' in sys.modules)\n"
            "net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))\n"
            "diagnose_torch(net, torch.randn(32, 8), torch.arange(32) % 3, threads=1)\n"
            "print('scipy.special' in sys.modules)\n")
    out = _fresh_python(code)
    assert out.stdout.split() == ["False", "False", "True"]


def test_trace_keeps_the_gradients_it_reads_and_counts_all_it_makes():
    """The traced pass keeps ∂L/∂z of the layers (what the statistics read), not the activations' outputs'
    gradients (the backward makes and frees them, which the memory count still includes: the estimate is the
    same number); its module names come from wrappers of the modules' forward set on the instances for the call
    (no global hook: the global hook tables are as they were), removed after, and a module with a forward of its
    own on the instance gets it back; a module the forward makes itself is not named."""
    from torch.nn.modules import module as mm

    from mlplab.diagnose.pytorch.trace import grad_bytes, trace
    from mlplab.diagnose.pytorch.trace import layers as layers_of

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

        def forward(self, x):
            return torch.nn.Identity()(self.body(x))  # a module made in the forward: no name, no hook

    torch.manual_seed(0)
    net, called = Net(), set()
    before = (dict(mm._global_forward_pre_hooks), dict(mm._global_forward_hooks))
    ops, out = trace(net, torch.randn(5, 6), called=called)
    assert (dict(mm._global_forward_pre_hooks), dict(mm._global_forward_hooks)) == before
    assert not any("forward" in m.__dict__ for m in net.modules())
    own = net.body[1].__dict__["forward"] = lambda x: torch.tanh(x)  # an instance's own forward: put back
    trace(net, torch.randn(5, 6))
    assert net.body[1].__dict__["forward"] is own
    del net.body[1].__dict__["forward"]
    out.square().sum().backward()
    lays, _ = layers_of(ops)
    assert [lay.label for lay in lays] == ["body.0", "body.2"] and called == {"body", "body.0", "body.1", "body.2"}
    acts = [op for op in ops if op.kind == "act"]
    assert len(acts) == 1 and acts[0].grad and acts[0].out.requires_grad and not acts[0].out.retains_grad
    assert all(lay.z.grad is not None and lay.op.grad for lay in lays)
    # the count of the gradients made: both z's and the activation's output (5 × 8 + 5 × 8 + 5 × 3 floats)
    assert grad_bytes(ops) == 4 * (40 + 40 + 15)
    # dropout switched off hands its input on: that output is counted again, as the estimate always did
    drop = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    ops, _ = trace(drop.train(), torch.randn(5, 6))
    assert [op.kind for op in ops] == ["weight", "act", "dropout", "weight"] and ops[2].out is ops[1].out
    assert grad_bytes(ops) == 4 * (40 + 40 + 40 + 15)


def test_coverage_with_the_statistics_gradient_norms_is_the_same():
    """The coverage reads whether each parameter got a gradient from the norms the statistics took in their one
    call: the same coverage as taking them itself, on a network with a parameter the loss never reaches (its
    gradient all zero) and one it does not use at all (no gradient)."""
    from mlplab.diagnose.pytorch.coverage import coverage
    from mlplab.diagnose.pytorch.hygiene import working_copy
    from mlplab.diagnose.pytorch.measure import _measure
    from mlplab.diagnose.pytorch.trace import layers as layers_of
    from mlplab.diagnose.pytorch.trace import trace

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.unused = torch.nn.Linear(6, 8), torch.nn.Linear(8, 3), torch.nn.Linear(2, 2)
            self.gate = torch.nn.Parameter(torch.ones(3))

        def forward(self, x):
            return self.b(torch.relu(self.a(x))) + 0.0 * self.gate

    torch.manual_seed(0)
    net = Net()
    work, called = working_copy(torch, net), set()
    ops, out = trace(work, torch.randn(16, 6), called=called)
    out.square().sum().backward()
    lays, _ = layers_of(ops)
    norms: dict = {}
    _measure(lays, 16, params=list(work.parameters()), norms_out=norms)
    assert id(work.gate.grad) in norms and norms[id(work.gate.grad)] == 0.0
    mine, theirs = coverage(torch, net, work, lays, called, norms), coverage(torch, net, work, lays, called)
    assert mine == theirs and "gate" in mine["no_gradient"] and mine["never_reached"] == ["unused"]


def test_measure_hands_the_parameters_norms_to_the_finiteness_check():
    """``_measure(..., weights=True)`` puts every floating parameter's own float64 norm in ``norms_out`` beside the
    gradients', so the check-up's "not finite" reads them instead of a ``_foreach_norm`` call of its own (a local
    named ``weights`` hid the argument: the parameters' norms were never taken there, and the check made its
    call). Both reach the same answer: a NaN planted in a weight is named either way."""
    from mlplab.diagnose.pytorch import checkup
    from mlplab.diagnose.pytorch.measure import _measure
    from mlplab.diagnose.pytorch.trace import layers as layers_of
    from mlplab.diagnose.pytorch.trace import trace

    net = _net()
    x, y = torch.randn(32, 12, generator=torch.Generator().manual_seed(1)), torch.arange(32) % 5
    ops, out = trace(net, x)
    lays, _ = layers_of(ops)
    torch.nn.functional.cross_entropy(out, y).backward()
    params, norms = list(net.parameters()), {}
    _measure(lays, 32, params=params, norms_out=norms, weights=True)
    for p in params:
        assert norms[id(p)] == float(torch.linalg.vector_norm(p.detach(), dtype=torch.float64))
        assert norms[id(p.grad)] == float(torch.linalg.vector_norm(p.grad, dtype=torch.float64))
    calls = []
    real = torch._foreach_norm
    try:
        torch._foreach_norm = lambda *a, **k: calls.append(1) or real(*a, **k)
        assert checkup._nonfinite(net, params, "parameters", norms) == [] and not calls
        with torch.no_grad():
            net[2].weight[0, 0] = float("nan")
        assert checkup._nonfinite(net, params, "parameters", norms) == []  # (the norms are from before the NaN)
        assert checkup._nonfinite(net, params, "parameters") == ["2.weight (1 NaN)"] and calls
    finally:
        torch._foreach_norm = real


def test_members_of_one_module_walk_are_parameters_and_buffers_in_order():
    """The check-up's one walk over the copy's modules lists its parameters and buffers as ``parameters()`` and
    ``buffers()`` do: the same tensors, once each, in the same order, with a tied weight, a module registered twice
    and BatchNorm's buffers."""
    from mlplab.diagnose.pytorch.checkup import _members

    torch.manual_seed(0)
    enc, bn = torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4)
    dec = torch.nn.Linear(4, 6)
    dec.weight = torch.nn.Parameter(enc.weight.detach().t().clone())
    model = torch.nn.Sequential(enc, bn, torch.nn.Tanh(), dec, torch.nn.Sequential(bn, torch.nn.Linear(6, 3)))
    model[4][1].weight = enc.weight  # tied
    mods = list(model.named_modules())
    for kind, want in (("_parameters", list(model.parameters())), ("_buffers", list(model.buffers()))):
        got = _members(mods, kind)
        assert len(got) == len(want) and all(a is b for a, b in zip(got, want))


def test_global_hooks_set_aside_and_put_back_as_they_were():
    """``no_global_hooks`` copies only the global hook tables that hold hooks: inside, none is left; after, the
    user's hook is back and one registered meanwhile (a model's forward may) is gone, in any table."""
    from torch.nn.modules import module as mm

    from mlplab.diagnose.pytorch.hygiene import no_global_hooks

    mine = mm.register_module_forward_hook(lambda m, i, o: None)
    try:
        before = {n: dict(getattr(mm, n)) for n in dir(mm) if n.startswith("_global_") and
                  isinstance(getattr(mm, n), dict)}
        with no_global_hooks():
            assert not any(getattr(mm, n) for n in before)
            mm.register_module_forward_pre_hook(lambda m, i: None)
            mm.register_module_forward_hook(lambda m, i, o: None)
        assert {n: dict(getattr(mm, n)) for n in before} == before and mine.id in mm._global_forward_hooks
    finally:
        mine.remove()


def test_sgd_steps_with_a_sparse_gradient_are_torch_optims():
    """SGD's step with a sparse gradient (an Embedding(sparse=True)) beside dense ones: the dense in one call, the
    sparse one added on its own, the same weights as torch.optim.SGD's to the bit after three steps."""
    from mlplab.diagnose.pytorch.steps import Steps

    def make():
        torch.manual_seed(4)
        return torch.nn.ModuleDict({"emb": torch.nn.Embedding(20, 6, sparse=True), "fc": torch.nn.Linear(6, 3),
                                    "out": torch.nn.Linear(3, 3)})

    idx, y = torch.arange(32) % 20, torch.arange(32) % 3
    nets = []
    for mine in (False, True):
        net = make()
        params = list(net.parameters())
        opt = Steps(torch, params, "sgd", 0.3) if mine else torch.optim.SGD(params, lr=0.3)
        for _ in range(3):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net["out"](torch.tanh(net["fc"](net["emb"](idx)))), y)
            loss.backward()
            assert net["emb"].weight.grad.is_sparse
            opt.step()
        nets.append(net)
    assert all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))
