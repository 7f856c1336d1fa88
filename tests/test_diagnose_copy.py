"""Issue 30's time shortcuts that replaced a general routine with a faster one of the same result, each against the
routine it replaced: the working copy's deepcopy of plain modules (against ``copy.deepcopy``), the batched
gradient norms (against one ``vector_norm`` each), the logits' spread (against torch's ``std``), the verdicts'
kept registry answers (against the registry)."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


class _Custom(nn.Module):
    """A module with its own __deepcopy__: the working copy must call it, as deepcopy does."""

    copies = 0

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)

    def __deepcopy__(self, memo):
        type(self).copies += 1
        new = _Custom.__new__(_Custom)
        memo[id(self)] = new
        nn.Module.__init__(new)
        new.lin = copy.deepcopy(self.lin, memo)
        new.marker = "custom"
        return new


class _Odd(nn.Module):
    """Shared and tied pieces, tensors and modules held in plain lists and dicts, a buffer, a None parameter."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 6)
        self.dec = nn.Linear(6, 4)
        self.dec.weight = nn.Parameter(self.enc.weight.detach().t().contiguous())
        self.shared = nn.Tanh()
        self.seq = nn.Sequential(self.shared, nn.Linear(6, 6), self.shared)
        self.loose = [nn.Linear(2, 2), self.enc.weight]  # not registered: a list of a module and a parameter
        self.table = {"w": self.dec.weight, "n": 3, "name": "odd", "t": (1, 2.0)}
        self.register_buffer("stat", torch.arange(4.0))
        self.register_parameter("nothing", None)
        self.custom = _Custom()


def _shape(obj, memo_ids, path="m"):
    """A structural description of ``obj`` (types, values of immutable leaves, aliasing as first-seen paths)."""
    if id(obj) in memo_ids:
        return ("alias", memo_ids[id(obj)])
    if isinstance(obj, (int, float, str, bool, type(None))):
        return ("value", obj)
    memo_ids[id(obj)] = path
    if isinstance(obj, torch.Tensor):
        return (type(obj).__name__, obj.detach().tolist(), obj.requires_grad)
    if isinstance(obj, nn.Module):
        return (type(obj).__name__, tuple((k, _shape(v, memo_ids, f"{path}.{k}")) for k, v in vars(obj).items()))
    if isinstance(obj, dict):
        return (type(obj).__name__, tuple((k, _shape(v, memo_ids, f"{path}[{k!r}]")) for k, v in obj.items()))
    if isinstance(obj, (list, tuple, set)):
        return (type(obj).__name__, tuple(_shape(v, memo_ids, f"{path}[{i}]") for i, v in enumerate(obj)))
    return (type(obj).__name__,)


def test_fast_module_copy_is_deepcopy():
    """hygiene's copy of plain modules builds what copy.deepcopy builds: the same types, values, attribute order and
    aliasing (a tied weight, a module called twice, a parameter held in a list are one object in the copy too), a
    module's own __deepcopy__ still called, and nothing shared with the original but immutable values."""
    from mlplab.diagnose.pytorch import hygiene

    torch.manual_seed(0)
    model = _Odd()
    n0 = _Custom.copies
    ref = copy.deepcopy(model)
    fast = hygiene._deepcopy_module(torch, model, {})
    assert _Custom.copies == n0 + 2 and fast.custom.marker == "custom"
    assert _shape(fast, {}) == _shape(ref, {})
    assert _shape(fast.enc, {}) == _shape(model.enc, {})  # (the custom copy adds a marker: not the original's shape)
    assert fast.seq[0] is fast.seq[2] is fast.shared and fast.loose[1] is fast.enc.weight
    assert fast.table["w"] is fast.dec.weight
    originals = {id(t) for t in (*model.parameters(), *model.buffers(), *model.modules(), model.loose[0])}
    mine = {id(t) for t in (*fast.parameters(), *fast.buffers(), *fast.modules(), fast.loose[0])}
    assert not originals & mine
    assert fast._forward_hooks is not model._forward_hooks  # a new (empty) table


def test_working_copy_leaves_the_model_bit_for_bit():
    from mlplab.diagnose.pytorch.hygiene import working_copy

    torch.manual_seed(1)
    model = _Odd()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    work = working_copy(torch, model)
    with torch.no_grad():
        for p in work.parameters():
            p.add_(1.0)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in work.parameters())


def test_working_copy_trains_as_module_train_does():
    """The copy is in train mode as ``Module.train()`` puts it (set module by module, without its recursion), dropout
    switched off, the user's model left in eval mode; a module with a ``train()`` of its own (one that keeps its
    BatchNorm frozen) has it called, as before."""
    from mlplab.diagnose.pytorch.hygiene import working_copy

    class Frozen(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.bn = torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4)

        def train(self, mode=True):
            super().train(mode)
            self.bn.eval()
            return self

    plain = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.5),
                                torch.nn.Sequential(torch.nn.Linear(8, 2))).eval()
    work = working_copy(torch, plain)
    assert [m.training for m in work.modules()] == [True, True, True, False, True, True]
    assert not any(m.training for m in plain.modules())
    frozen = torch.nn.Sequential(Frozen(), torch.nn.Tanh()).eval()
    work = working_copy(torch, frozen)
    assert [m.training for m in work.modules()] == [True, True, True, False, True]


def test_working_copy_of_non_leaf_tensors_held_anywhere():
    """The copy's one pass makes a non-leaf tensor it meets as a module attribute (the old weight_norm's weight) a
    detached clone; one held in a list (which deepcopy refuses) sends it to the copy with _copy_memo's pass first:
    either way the copy holds a clone of the same values, shared where the original shares it, and the model is
    untouched."""
    from mlplab.diagnose.pytorch.hygiene import working_copy

    torch.manual_seed(3)
    lin = torch.nn.Linear(3, 2)
    model = torch.nn.Sequential(lin, torch.nn.Tanh())
    model.cached = lin.weight * 2  # a non-leaf attribute
    work = working_copy(torch, model)
    assert work.cached.is_leaf and torch.equal(work.cached, model.cached) and work.cached is not model.cached
    model.held = [model.cached, model.cached]  # and the same tensor in a list
    work = working_copy(torch, model)
    assert work.held[0] is work.held[1] is work.cached and torch.equal(work.cached, model.cached)
    assert not model.cached.is_leaf and model.held[0] is model.cached


def test_batched_norms_equal_one_norm_each():
    from mlplab.diagnose.pytorch.measure import _norm, _norms

    g = torch.Generator().manual_seed(2)
    ts = [torch.randn(64, 128, generator=g), torch.randn(256, 27, generator=g).double(),
          torch.randn(7, generator=g).half(), torch.randn(5, generator=g).bfloat16(), torch.zeros(0),
          torch.randn(4, 5, generator=g).t(), torch.full((3,), float("inf")), torch.full((2,), float("nan"))]
    got = _norms(ts)
    for t in ts:
        want = _norm(t)
        assert got[id(t)] == want or (np.isnan(want) and np.isnan(got[id(t)]))


def test_logit_spread_equals_torch_std():
    """The initial-loss sentence's spread: NumPy's mean of the rows' std (n − 1) is torch's to float32 rounding."""
    from mlplab.diagnose.pytorch.checks import _row_std_mean

    g = torch.Generator().manual_seed(3)
    for shape, classes in (((256, 27), 27), ((8, 5, 11), 11), ((16, 3, 4), 12)):
        z = torch.randn(*shape, generator=g) * 4 + 1
        want = float(z.reshape(-1, classes).std(dim=-1).mean())
        assert _row_std_mean(z.numpy(), classes) == pytest.approx(want, rel=1e-6)
    assert np.isnan(_row_std_mean(np.ones((4, 1), np.float32), 1))  # one class: no spread, as torch says


@pytest.mark.parametrize("spec", ["std=1", "std=0", "std=1e-05", "std=0.0497", "std=3.2e+04", "he", "book",
                                  "xavier_normal", "std=abc", "normal(0, 0.1)", 0.5])
def test_kept_init_answers_equal_the_registry(spec):
    from mlplab.diagnose import verdicts
    from mlplab.init import init_family, theoretical_std

    for act in ("tanh", "relu", None):
        assert verdicts._family(spec, act) == init_family(spec, act)
    if spec in ("he", "xavier_normal", "book"):
        for n in (16, 64, 300):
            assert verdicts._theoretical_std(spec, n) == theoretical_std(spec, (n, n))
