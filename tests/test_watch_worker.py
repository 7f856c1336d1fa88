"""Where ``mlplab.watch``'s frames are made: the worker process (NumPy only, its shared memory, its start and end,
its rate) and ``worker="inline"`` on the training thread (a failure, a large weight read in place)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from mlplab.watch import read, watch  # noqa: E402


def _tiny_steps(model, opt, n: int) -> None:
    """``n`` training steps of a 6-input, 2-class model on random batches of 4."""
    for _ in range(n):
        loss = nn.functional.cross_entropy(model(torch.randn(4, 6)), torch.tensor([0, 1, 0, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
def test_the_frame_worker_never_loads_torch(tmp_path):
    """The worker is NumPy only: a torch object in what it is sent (meta's torch version was a TorchVersion)
    made it import torch on unpickling, 1.4 s of CPU taken from the training as frames began."""
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, opt, every=1, record=tmp_path / "rec", worker="process") as w:
        _tiny_steps(model, opt, 3)
        assert w._worker.wait_free(60) and w.frames == 3
        maps = Path(f"/proc/{w._worker.proc.pid}/maps").read_text()
    assert "numpy" in maps and "libtorch" not in maps
    assert len(read(tmp_path / "rec").frames) == 3


def test_a_parent_killed_before_it_read_attached_leaves_no_shared_file(tmp_path):
    """The watched process unlinks the shared file when it reads the worker's "attached"; one killed before
    that left the file in /dev/shm. The worker, whose socket then ends, unlinks it as it exits."""
    from mlplab.watch.worker import Worker

    w = Worker(yield_cpu=False)
    w.attach([{"w": ([4, 3], "f4")}], {"layers": []}, tmp_path / "frames.jsonl")
    path = w.path
    assert os.path.exists(path)
    deadline = time.monotonic() + 30
    while not w.conn.poll(0.1) or w.conn.recv()[0] != "attached":  # the worker has mapped it; not handled
        assert time.monotonic() < deadline
    assert os.path.exists(path)
    w.conn.close()  # the parent's end gone without a word
    assert w.proc.wait(30) == 0
    assert not os.path.exists(path)


def test_shared_memory_too_small_stops_frames_not_the_training(tmp_path, monkeypatch):
    """The two frame buffers are reserved when made (posix_fallocate): on a tmpfs too small for them (Docker's
    64 MB /dev/shm) that is an OSError, frames stop with one warning and the file is gone; a sparse file
    would have been a SIGBUS in the user's loop at the first write past the tmpfs's end."""
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    made = []
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: made.append(real_mkstemp(*a, **k)) or made[-1])
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model[0].weight.detach().clone()
    with pytest.warns(RuntimeWarning, match="no shared memory for the frames"):
        with watch(model, opt, record=tmp_path / "rec", worker="process") as w:
            _tiny_steps(model, opt, 3)
    assert w.broken.startswith("no shared memory") and w.frames == 0 and w.steps == 3
    assert not torch.equal(model[0].weight, before)  # the training went on
    shm = [path for fd, path in made if os.path.basename(path).startswith("mlplab-watch-")]
    assert len(shm) == 1 and not os.path.exists(shm[0])
    assert read(tmp_path / "rec").end["reason"] == "closed"


def test_frames_keep_their_rate_when_steps_are_slow(tmp_path, monkeypatch):
    """At fps=10 a frame is due every 100 ms of the loop's clock, not 100 ms after the previous one was sent:
    that added the wait for a step's end and the armed step to every period, and a loop of 30 ms steps made
    4.6-6.3 frames/s (a CNN of 12 ms steps 9-10 at fps=12). (The worker is not niced here: on a loaded machine a
    niced worker is late and frames are skipped, by design, which is not what this measures.)"""
    from mlplab.watch import worker as wworker

    real = wworker.Worker
    monkeypatch.setattr(wworker, "Worker", lambda yield_cpu=True: real(yield_cpu=False))
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 6), torch.tensor([0, 1, 0, 1])

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        time.sleep(0.03)

    with watch(model, opt, fps=10, record=tmp_path / "rec", worker="process") as w:
        deadline = time.monotonic() + 60
        while w.frames < 3 and time.monotonic() < deadline:  # the worker has started and made frames
            step()
        f0, t0 = w.frames, time.monotonic()
        while time.monotonic() - t0 < 3.0:
            step()
        rate = (w.frames - f0) / (time.monotonic() - t0)
    assert 8.5 <= rate <= 10.5, rate


def test_an_inline_frame_that_fails_stops_the_frames_not_the_training(tmp_path, monkeypatch):
    """Made on the training thread, a frame's failure is the worker's: one warning, frames stop, the run goes on,
    and the recording ends with what was made."""
    from mlplab.watch import stats

    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    real, calls = stats.layer_row, []

    def failing(*a, **k):
        calls.append(1)
        if len(calls) > 4:  # two frames of two layers, then a failure
            raise FloatingPointError("planted")
        return real(*a, **k)

    monkeypatch.setattr(stats, "layer_row", failing)
    with pytest.warns(RuntimeWarning, match="the frame maker failed: FloatingPointError: planted"):
        with watch(model, opt, every=1, record=tmp_path / "rec", worker="inline") as w:
            _tiny_steps(model, opt, 5)
    assert w.steps == 5 and w.broken.startswith("the frame maker failed")
    rec = read(tmp_path / "rec")
    assert [f["step"] for f in rec.frames] == [1, 2] and rec.end["reason"] == "closed"
    assert np.geterr()["invalid"] == "warn" and stats.QUIET is False  # the user's NumPy settings as they were


def test_bad_worker_is_one_line(tmp_path):
    model = nn.Sequential(nn.Linear(6, 2))
    with pytest.raises(ValueError, match="worker= is one of 'process', 'inline', got 'thread'"):
        watch(model, worker="thread", record=tmp_path / "a")


def test_an_inline_frame_reads_a_large_weight_in_place_and_leaves_it_alone(tmp_path):
    """Inline, W and ∂L/∂W are the model's own arrays (no copy); a weight of more than 32,768 values goes
    through the worker's blocked pass (float64 work arrays): the training stays bit-identical all the same."""
    def run(watched):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        g = torch.Generator().manual_seed(1)
        X, y = torch.randn(256, 784, generator=g), torch.randint(0, 10, (256,), generator=g)
        w = watch(model, opt, every=1, record=tmp_path / "rec", worker="inline") if watched else None
        for s in range(8):
            loss = nn.functional.cross_entropy(model(X[s * 32:(s + 1) * 32]), y[s * 32:(s + 1) * 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if w is not None:
            w.close()
            assert w.frames == 8 and w.broken is None
        return [t.detach().clone() for p in model.parameters() for t in (p, p.grad)]

    for a, b in zip(run(False), run(True)):
        assert torch.equal(a, b)
    rec = read(tmp_path / "rec")
    assert rec.meta["layers"][0]["shape"] == [100, 784] and len(rec.frames) == 8
