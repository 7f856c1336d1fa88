"""Checkpoints that cannot run code (issue 23 §2): every optimizer's and schedule's state round-trips
through checkpoint.npz bit for bit, an interrupted + resumed run equals an uninterrupted one array by
array, and an old checkpoint.pkl is never unpickled unless the user says --trust-pickle."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

from mlplab import nn, optim
from mlplab.checkpoint import CheckpointError, PickleCheckpoint, read_checkpoint, write_checkpoint
from mlplab.schedules import SCHEDULES, schedule_for_run
from mlplab.tensor import Tensor, cross_entropy
from mlplab.train import (
    CHECKPOINT_FILE,
    LEGACY_CHECKPOINT_FILE,
    Callback,
    Trainer,
    convert_legacy_checkpoint,
    load_checkpoint,
)

# every registered optimizer, with the options that give it extra state switched on
EXTRAS = {"rmsprop": {"centered": True, "momentum": 0.5}, "adam": {"amsgrad": True},
          "ema_momentum": {"bias_correction": True}, "adagrad": {"initial_accumulator_value": 0.1},
          "newton": {"damping": 1.0, "on_indefinite": "regularize"}}
LR = {"newton": 0.5, "sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "ema_momentum": 0.1, "nesterov_ema": 0.1}


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = (rng.standard_normal((3, 4))[y] * 2 + rng.standard_normal((n, 4))).astype(np.float32)
    return X, y


def _stepper(name, net, X, y):
    opt = optim.get_optimizer(name, net.parameters(), lr=LR.get(name, 0.01), weight_decay=1e-3,
                              **EXTRAS.get(name, {}))

    def step():
        if name == "newton":
            opt.step(lambda: cross_entropy(net(Tensor(X)), y))
        else:
            opt.zero_grad()
            cross_entropy(net(Tensor(X)), y).backward()
            opt.step()
    return opt, step


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_optimizer_and_schedule_round_trips_through_the_file(tmp_path, name, schedule):
    """Save after 6 steps, go on 6 more; a fresh optimizer and schedule loaded from the file, on the saved
    weights, take the same 6 steps: the same bits, and the loaded state equals the saved one in value and type."""
    X, y = _blobs()
    net = nn.MLP([4, 5, 3], activation="tanh", rng=1)
    opt, step = _stepper(name, net, X, y)
    sched = schedule_for_run(schedule, opt, 12)
    for _ in range(6):
        step()
        sched.step()
    saved = {"model": dict(net.state_dict()), "optimizer": opt.state_dict(), "schedule": sched.state_dict()}
    write_checkpoint(tmp_path / "ck.npz", saved)
    for _ in range(6):
        step()
        sched.step()
    back = read_checkpoint(tmp_path / "ck.npz")
    assert _typed(back) == _typed(saved)  # tuples stay tuples (betas), int keys stay ints, floats exact
    net2 = nn.MLP([4, 5, 3], activation="tanh", rng=99)
    net2.load_state_dict(back["model"])
    opt2, step2 = _stepper(name, net2, X, y)
    opt2.lr = 7.0  # overwritten by the schedule's state
    sched2 = schedule_for_run(schedule, opt2, 12)
    opt2.load_state_dict(back["optimizer"])
    sched2.load_state_dict(back["schedule"])
    for _ in range(6):
        step2()
        sched2.step()
    for (k, a), b in zip(net.state_dict().items(), net2.parameters()):
        np.testing.assert_array_equal(a, b.data, err_msg=k)
    assert not np.array_equal(net.state_dict()["layers.0.weight"], back["model"]["layers.0.weight"])  # it moved
    assert _typed(opt2.state_dict()) == _typed(opt.state_dict()) and opt2.lr == opt.lr


def _typed(x):
    """A comparable picture of a structure: arrays as (dtype, shape, bytes), every leaf with its type."""
    if isinstance(x, np.ndarray | np.generic):
        return ("array", str(np.asarray(x).dtype), np.shape(x), np.asarray(x).tobytes(), type(x).__name__)
    if isinstance(x, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in x.items()])
    if isinstance(x, list | tuple):
        return (type(x).__name__, [_typed(v) for v in x])
    return (type(x).__name__, repr(x))


def test_the_format_holds_what_json_cannot_and_refuses_objects(tmp_path):
    state = {"nan": float("nan"), "inf": [float("inf"), -float("inf")], 3: "int key", "$x": 1,
             "f32": np.float32(0.1), "big": 2 ** 127 + 1, "t": (1, (2.5, None)), "mt": np.random.MT19937(3).state}
    write_checkpoint(tmp_path / "a.npz", state)
    back = read_checkpoint(tmp_path / "a.npz")
    assert _typed(back) == _typed(state)
    with pytest.raises(TypeError, match="object"):
        write_checkpoint(tmp_path / "b.npz", {"x": np.array([{}, 1], dtype=object)})
    with pytest.raises(TypeError, match="x/fn is a builtin"):
        write_checkpoint(tmp_path / "b.npz", {"x": {"fn": print}})
    assert not (tmp_path / "b.npz").exists()  # nothing half-written
    # a plain .npz: numpy itself reads the arrays without pickle
    with np.load(tmp_path / "a.npz", allow_pickle=False) as f:
        assert "mt/state/key" in f.files and f["mt/state/key"].dtype == np.uint32


def _blob_run(tmp, name, opt_name, schedule, stop_at=None, resume=False, seed=0):
    X, y = _blobs(90)
    net = nn.MLP([4, 6, 3], activation="relu", rng=seed)
    opt = optim.get_optimizer(opt_name, net.parameters(), lr=LR.get(opt_name, 0.01), **EXTRAS.get(opt_name, {}))
    sched = schedule_for_run(schedule, opt, 24) if schedule else None

    class StopAt(Callback):
        def on_step_end(self, trainer, step, loss):
            if step == stop_at:
                trainer.stop_training = True

    t = Trainer(net, opt, schedule=sched, run_dir=tmp / name, callbacks=[StopAt()] if stop_at else [],
                checkpoint_every=5)
    hist = t.fit(X, y, epochs=3, batch_size=11, rng=4, val=(X, y), resume=resume)
    return net, opt, hist


@pytest.mark.parametrize("opt_name, schedule", [(n, s) for n, s in zip(
    sorted(set(optim.OPTIMIZERS) - {"newton"}), [*sorted(SCHEDULES), *sorted(SCHEDULES)])])
def test_interrupted_and_resumed_equals_uninterrupted_array_by_array(tmp_path, opt_name, schedule):
    """Every first-order optimizer (Newton needs a closure the Trainer does not give), each with a schedule:
    stopped mid-epoch at step 13, resumed from checkpoint.npz, it ends with the same weights, optimizer
    arrays and losses as the run that was never stopped."""
    net, opt, full = _blob_run(tmp_path, "full", opt_name, schedule)
    _blob_run(tmp_path, "part", opt_name, schedule, stop_at=13)
    assert load_checkpoint(tmp_path / "part")["step"] == 13
    assert not (tmp_path / "part" / LEGACY_CHECKPOINT_FILE).exists()
    net2, opt2, resumed = _blob_run(tmp_path, "part", opt_name, schedule, resume=True, seed=7)
    for (k, a), (_, b) in zip(net.state_dict().items(), net2.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    np.testing.assert_array_equal(resumed.loss, full.loss)
    assert _typed(opt2.state_dict()) == _typed(opt.state_dict())
    assert resumed.evals == full.evals


# ------------------------------------------------------------------------------ the old pickle format
class _Payload:
    """Unpickling this runs ``open(path, "w")``: what a hostile checkpoint.pkl could do with any command."""

    def __init__(self, path, state):
        self.path, self.state = path, state

    def __reduce__(self):
        return (_plant, (self.path, self.state))


def _plant(path, state):
    open(path, "w").close()
    return state


def _pickled_run(tmp_path, marker):
    """A finished run whose checkpoint is an old-style pickle that also creates ``marker`` when unpickled."""
    _blob_run(tmp_path, "run", "adam", "cosine", stop_at=13)
    run = tmp_path / "run"
    ck = load_checkpoint(run)
    ck["model"] = __import__("collections").OrderedDict(ck["model"])
    with open(run / LEGACY_CHECKPOINT_FILE, "wb") as f:
        pickle.dump(_Payload(str(marker), ck), f)
    (run / CHECKPOINT_FILE).unlink()
    return run, ck


def test_an_old_pickle_is_never_unpickled_without_trust(tmp_path):
    marker = tmp_path / "PWNED"
    run, ck = _pickled_run(tmp_path, marker)
    for attempt in (lambda: load_checkpoint(run), lambda: _blob_run(tmp_path, "run", "adam", "cosine", resume=True)):
        with pytest.raises(PickleCheckpoint, match="old pickle format, which can run any code") as e:
            attempt()
        assert "--resume --trust-pickle" in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()
    # the user's explicit word: it is unpickled once (the planted file shows that the test can fail), converted, gone
    convert_legacy_checkpoint(run)
    assert marker.exists()
    marker.unlink()
    assert not (run / LEGACY_CHECKPOINT_FILE).exists()
    assert _typed(load_checkpoint(run)) == _typed({**ck, "model": dict(ck["model"])})
    _blob_run(tmp_path, "run", "adam", "cosine", resume=True)  # and it continues; nothing unpickled again
    assert not marker.exists()


# ------------------------------------------------------------------------------ hostile checkpoint files
def _zip(path, members: dict):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:  # deflated: the huge member is a small file
        for name, data in members.items():
            z.writestr(name, data)


def _npy(arr, allow_pickle=False):
    import io

    b = io.BytesIO()
    np.lib.format.write_array(b, arr, allow_pickle=allow_pickle)
    return b.getvalue()


def _meta(state):
    return json.dumps({"format": "mlplab-checkpoint", "version": 1, "state": state})


HOSTILE = [
    ("empty", lambda p: p.write_bytes(b""), "not a complete zip file"),
    ("garbage", lambda p: p.write_text("garbage"), "not a complete zip file"),
    ("a pickle named .npz", lambda p: p.write_bytes(pickle.dumps({"step": 1})), "not a complete zip file"),
    ("no json member", lambda p: _zip(p, {"x.npy": _npy(np.zeros(2))}), "no checkpoint.json"),
    ("json not an object", lambda p: _zip(p, {"checkpoint.json": "[1, 2]"}), "does not describe"),
    ("json cut short", lambda p: _zip(p, {"checkpoint.json": _meta({"a": 1})[:20]}), "not valid JSON"),
    ("json NaN constant", lambda p: _zip(p, {"checkpoint.json": _meta({"a": 1}).replace("1}", "NaN}")}),
     "NaN is not JSON"),
    ("other version", lambda p: _zip(p, {"checkpoint.json": _meta({}).replace('"version": 1', '"version": 9')}),
     "format version 9"),
    ("object array member", lambda p: _zip(p, {"checkpoint.json": _meta({"a": {"$array": "a"}}),
                                                "a.npy": _npy(np.array([_Payload("x", 1)], dtype=object), True)}),
     "allow_pickle=False"),
    ("member cut short", lambda p: _zip(p, {"checkpoint.json": _meta({"a": {"$array": "a"}}),
                                            "a.npy": _npy(np.zeros(100))[:150]}), "damaged"),
    ("unknown tag", lambda p: _zip(p, {"checkpoint.json": _meta({"a": {"$pickle": "gASV"}})}), "unknown entry"),
    ("missing array", lambda p: _zip(p, {"checkpoint.json": _meta({"a": {"$array": "nope"}})}), "no array 'nope'"),
    ("huge json member", lambda p: _zip(p, {"checkpoint.json": " " * (65 << 20)}), "not a checkpoint's"),
    ("foreign member", lambda p: _zip(p, {"checkpoint.json": _meta({}), "evil.pkl": b"x"}), "unexpected member"),
    ("not a training checkpoint", lambda p: _zip(p, {"checkpoint.json": _meta([1, 2])}), "not hold a training"),
]


@pytest.mark.parametrize("make, words", [(m, w) for _, m, w in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_checkpoints_are_one_line_refusals(tmp_path, make, words):
    make(tmp_path / CHECKPOINT_FILE)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path)
    assert words in str(e.value) and "\n" not in str(e.value) and str(tmp_path / CHECKPOINT_FILE) in str(e.value)
    assert (tmp_path / CHECKPOINT_FILE).exists()  # nothing lost: the user decides what to do with it
    assert not (tmp_path / "x").exists()


def test_the_command_refuses_the_pickle_and_converts_it_only_when_trusted(tmp_path, mnist_dir, capsys):
    """`mlplab train --resume` on a folder with a hostile checkpoint.pkl: one line, exit 2, nothing run; with
    --trust-pickle it is unpickled once (the planted file appears), converted, and the run continues."""
    from mlplab.cli import main as cli_main

    run, marker = tmp_path / "run", tmp_path / "PWNED"
    common = ["--layers", "784,8,10", "--subset", "300", "--iterations", "6", "--quiet", "--out", str(run)]
    assert cli_main(["train", *common, "--checkpoint-every", "2"]) == 0
    ck = load_checkpoint(run)
    with open(run / LEGACY_CHECKPOINT_FILE, "wb") as f:
        pickle.dump(_Payload(str(marker), ck), f)
    (run / CHECKPOINT_FILE).unlink()
    before = sorted(p.name for p in run.iterdir())
    capsys.readouterr()
    for extra, words in (([], "old pickle format"), (["--trust-pickle", "--epochs", "1"], "--epochs")):
        assert cli_main(["train", *common, "--resume", *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
        assert not marker.exists() and sorted(p.name for p in run.iterdir()) == before
    assert cli_main(["train", "--trust-pickle", *common]) == 2  # without --resume: refused, nothing read
    assert "give it with --resume" in capsys.readouterr().err and not marker.exists()
    assert cli_main(["train", *common, "--resume", "--trust-pickle"]) == 0
    assert marker.exists() and "converted" in capsys.readouterr().err
    assert not (run / LEGACY_CHECKPOINT_FILE).exists() and load_checkpoint(run)["step"] == 6
    assert cli_main(["train", *common, "--resume", "--trust-pickle"]) == 2  # nothing left to convert: said
    assert "already checkpoint.npz" in capsys.readouterr().err


def test_no_loader_in_the_source_can_unpickle_a_file():
    """A guard over the source: pickle is read only by the --trust-pickle conversion, np.load always has
    allow_pickle=False, torch.load always weights_only=True, and no shelve/marshal/yaml loader exists."""
    import ast
    from pathlib import Path

    import mlplab

    found = []
    for path in sorted(Path(mlplab.__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            for node in ast.walk(fn):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name)):
                    continue
                mod, attr = node.func.value.id, node.func.attr
                kw = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                where = f"{path.name}:{node.lineno} {mod}.{attr}"
                if mod in ("pickle", "cPickle", "dill", "cloudpickle", "shelve", "marshal", "yaml") and \
                        attr.startswith(("load", "Unpickler", "open")):
                    if (path.name, fn.name) != ("checkpoint.py", "convert_pickle_checkpoint"):
                        found.append(where)
                elif mod == "np" and attr == "load" and kw.get("allow_pickle") is not False:
                    found.append(where)
                elif mod == "torch" and attr == "load" and kw.get("weights_only") is not True:
                    found.append(where)
    assert found == []
