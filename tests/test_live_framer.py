"""Frames made in a process of their own (mlplab.live.framer): the same numbers as inline, and a
worker that dies, errs or hangs never stops a run."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from mlplab import nn, optim
from mlplab.diagnose import statistics as dg
from mlplab.live import framer as fr
from mlplab.live.frames import Probe, measure, update_ratios
from mlplab.live.session import TrainSession


@pytest.fixture
def worker():
    w = fr.FrameWorker()
    assert w.wait_ready(60), w.broken
    yield w
    w.close()


def _trained(activation, dtype, steps=3, seed=0):
    """A small network after a few Adam steps (so W, b and ∂L/∂W are all non-trivial)."""
    rng = np.random.default_rng(seed)
    model = nn.MLP([12, 9, 7, 4], activation=activation, weight_init="xavier", rng=seed, dtype=dtype)
    opt = optim.Adam(model.parameters(), lr=0.05)
    X, y = rng.standard_normal((40, 12)).astype(dtype), rng.integers(0, 4, 40)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        opt.zero_grad()
        before = dg.weight_arrays(model)
        loss_fn(model(X), y).backward()
        opt.step()
    return model, dg.layer_plan(model), before, X, y


def _request(w, plan, before, with_ratio=True, trained=True):
    """Put ``before`` in the worker's snapshot, ask for a frame of the plan's arrays, wait for it."""
    saved = [lay.linear.weight.data for lay in plan]
    for lay, b in zip(plan, before):  # snapshot_before reads the plan's current W
        lay.linear.weight.data = b
    w.snapshot_before(plan)
    for lay, s in zip(plan, saved):
        lay.linear.weight.data = s
    w.request(7, plan, with_ratio, trained)
    done = w.drain()
    assert w.broken is None, w.broken
    assert len(done) == 1 and done[0][0] == 7
    return done[0][1], done[0][2]


@pytest.mark.parametrize("activation,dtype", [("relu", np.float32), ("tanh", np.float64), ("sigmoid", np.float32)])
def test_the_worker_measures_what_inline_measures(worker, activation, dtype):
    """The worker's mirror network on the shared arrays gives the inline frame bit for bit: every
    histogram, spread, fraction, ‖ΔW‖/‖W‖, gradient norm and verdict."""
    model, plan, before, X, y = _trained(activation, dtype)
    probe = Probe(X[:16], y[:16], [0.5, 0.7, 0.9])
    worker.attach(plan, probe, [12, 9, 7, 4], activation)
    layers, acc = _request(worker, plan, before)
    want_layers, want_acc = measure(plan, probe, update_ratios([lay.linear.weight.data for lay in plan], before),
                                    trained=True)
    assert json.dumps(layers) == json.dumps(want_layers) and acc == want_acc
    assert all(row["update_ratio"] > 0 and row["grad_norm"] > 0 for row in layers)
    # the next request sees the model as it is then: change W, and the worker's numbers follow
    plan[0].linear.weight.data *= 3.0
    layers2, _ = _request(worker, plan, before, with_ratio=False, trained=False)
    want2, _ = measure(plan, probe, None, trained=False)
    assert json.dumps(layers2) == json.dumps(want2) and layers2[0]["z_std"] != layers[0]["z_std"]
    assert layers2[0]["update_ratio"] is None


def test_a_missing_gradient_and_reattaching_to_another_network(worker):
    model, plan, before, X, y = _trained("relu", np.float32)
    model.zero_grad()  # before the first step there is no ∂L/∂W
    probe = Probe(X[:8], y[:8], [1.0, 1.0, 1.0])
    worker.attach(plan, probe, [12, 9, 7, 4], "relu")
    layers, _ = _request(worker, plan, before)
    assert all(row["g"] is None and row["grad_norm"] is None for row in layers)
    worker.detach()
    model2 = nn.MLP([5, 3, 2], activation="tanh", rng=1)  # the same worker, another run
    plan2 = dg.layer_plan(model2)
    probe2 = Probe(np.ones((4, 5), np.float32), np.zeros(4, int), [1.0, 1.0])
    worker.attach(plan2, probe2, [5, 3, 2], "tanh")
    layers2, _ = _request(worker, plan2, dg.weight_arrays(model2), trained=False)
    assert json.dumps(layers2) == json.dumps(measure(plan2, probe2, [0.0, 0.0], trained=False)[0])


def test_shared_memory_is_released(worker):
    _, plan, before, X, y = _trained("relu", np.float32)
    worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 7, 4], "relu")
    path = worker._path
    _request(worker, plan, before)
    assert not os.path.exists(path)  # unlinked once the worker has mapped it: nothing is left behind
    worker.close()
    assert worker.proc.returncode == 0


def test_the_shared_file_is_private_to_the_user_even_with_an_open_umask(worker):
    """Made 0600 and owned by this user whatever the umask (0o000 here: a file would be 0666 by default)."""
    import stat

    _, plan, before, X, y = _trained("relu", np.float32)
    old = os.umask(0)
    try:
        worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 7, 4], "relu")
    finally:
        os.umask(old)
    st = os.stat(worker._path)  # (unlinked when the worker's "attached" is read: not yet)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid() and stat.S_ISREG(st.st_mode)
    _request(worker, plan, before)


@pytest.mark.parametrize("kind", ["mode 0644", "a symbolic link", "too short"])
def test_the_worker_maps_only_a_private_file_of_this_user(worker, tmp_path, kind):
    """Told to attach a file another user could read or write (or a link, or a file shorter than the
    layout): the worker refuses it before mapping, says why, and the run's frames are made inline."""
    _, plan, _, X, y = _trained("relu", np.float32)
    layout, size = fr._layout(plan)
    real = tmp_path / "shared"
    real.write_bytes(b"\0" * (size // 2 if kind == "too short" else size))
    real.chmod(0o644 if kind == "mode 0644" else 0o600)
    path = real
    if kind == "a symbolic link":
        path = tmp_path / "link"
        path.symlink_to(real)
    spec = {"sizes": [12, 9, 7, 4], "activation": "relu", "dtype": "<f4", "bias": True, "X": X, "y": y,
            "predicted_pre_std": [1.0] * 3}
    worker._send(("attach", str(path), layout, spec))
    t0 = time.monotonic()
    while worker.broken is None:
        worker._handle(worker._recv_ready(0.1))
        assert time.monotonic() - t0 < 30
    want = {"mode 0644": "is not private (mode 0644, not 0600): refused",
            "a symbolic link": "cannot be opened without following a link",
            "too short": f"holds {size // 2} bytes, the layout needs"}[kind]
    assert "the frame worker failed" in worker.broken and want in worker.broken, worker.broken
    assert not worker._attached


def test_the_worker_does_not_get_the_servers_ctrl_c_and_yields_the_cpu_to_training(worker):
    """It runs in a session of its own: a Ctrl-C in the terminal goes to the server, which closes it;
    and it is niced, so on a machine with no free core training gets the CPU first."""
    assert os.getsid(worker.proc.pid) != os.getsid(0)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.proc.pid) == min(19, ours + fr.NICE)
    assert os.sched_getscheduler(worker.proc.pid) == os.SCHED_BATCH  # it does not preempt training on waking


def test_a_worker_that_errs_is_given_up(worker):
    _, plan, _, X, y = _trained("relu", np.float32)
    worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 4], "relu")  # sizes that do not match the arrays
    worker.wait_ready()
    t0 = time.monotonic()
    while worker.broken is None and time.monotonic() - t0 < 20:
        worker.collect()
        time.sleep(0.01)
    assert "the frame worker failed: ValueError: the mirror has 2 layers, the shared arrays 3" in worker.broken
    assert not worker.idle


def test_a_worker_that_hangs_is_given_up(worker, monkeypatch):
    monkeypatch.setattr(fr, "REPLY_TIMEOUT", 0.5)
    _, plan, before, X, y = _trained("relu", np.float32)
    worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 7, 4], "relu")
    _request(worker, plan, before)  # attached and working
    os.kill(worker.proc.pid, signal.SIGSTOP)
    worker.request(8, plan, True, True)
    t0 = time.monotonic()
    while worker.broken is None:
        assert worker.collect() == []
        assert time.monotonic() - t0 < 10
        time.sleep(0.05)
    assert "took more than 0.5 s" in worker.broken
    assert worker.proc.poll() is not None  # killed, not left stopped


SPIRALS = {"dataset": "spirals", "layers": "2,32,32,3", "iterations": "4000", "batch_size": "16", "seed": "3"}


def test_a_session_with_a_worker_trains_exactly_as_without(worker):
    """Frames from the worker, the same weights as an unwatched run, and the worker handed back."""
    s = TrainSession(SPIRALS, fps=200, overhead=1.0, worker=worker)
    s.start()
    s.thread.join(120)
    assert s.status == "done", s.message
    frames = [f for f in s.frames if f["kind"] == "frame"]
    by_worker = [f for f in frames if f["worker"]]
    assert len(by_worker) >= 5, [f["worker"] for f in frames]
    assert frames[-1]["step"] == 4000 and not frames[-1]["worker"]  # the last word is made inline, at once
    assert [f["seq"] for f in s.frames] == sorted(f["seq"] for f in s.frames)
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps)
    for f in by_worker:
        assert [len(row["z"]["counts"]) for row in f["layers"]] == [32, 32, 32]
        assert all(row["update_ratio"] is not None and row["update_ratio"] > 0 for row in f["layers"])
    plain = TrainSession(SPIRALS, fps=1e-9)  # frames only at the start and end
    plain.start()
    plain.thread.join(120)
    for a, b in zip(s.model.parameters(), plain.model.parameters()):
        assert np.array_equal(a.data, b.data)
    assert s.close(keep_worker=True) is worker and worker.broken is None and worker.proc.poll() is None
    plain.close()


def test_a_run_goes_on_inline_when_its_worker_dies():
    w = fr.FrameWorker()
    assert w.wait_ready(60)
    s = TrainSession({**SPIRALS, "iterations": "200000"}, fps=100, overhead=1.0, worker=w)
    s.start()
    t0 = time.monotonic()
    while not any(f.get("worker") for f in list(s.frames)):
        assert time.monotonic() - t0 < 60 and s.status == "running", s.status
        time.sleep(0.01)
    w.proc.kill()
    while w.broken is None:
        assert time.monotonic() - t0 < 60
        time.sleep(0.01)
    seq = s.seq
    time.sleep(0.5)
    after = [f for f in s.frames_after(seq) if f["kind"] == "frame"]
    assert after and not any(f["worker"] for f in after)  # frames keep coming, made inline
    assert s.status == "running"
    assert s.close(keep_worker=True) is None  # a broken worker is not handed on
    assert s.status in ("stopped", "running") and not s.thread.is_alive()


def test_the_server_hands_a_finished_runs_worker_to_the_next():
    """``mlplab live`` starts one worker with the server; a tab's next run takes over its last run's."""
    from mlplab.live.app import Runs

    runs = Runs(frame_workers=True)
    runs.warm()
    spare = runs.spare
    a = TrainSession({**SPIRALS, "iterations": "200000"})
    runs.replace("tab", a)
    a.worker = runs.take_worker()
    assert a.worker is spare and runs.spare is None
    a.start()
    b = TrainSession(SPIRALS, fps=100, overhead=1.0)
    runs.replace("tab", b)  # one run per tab: a stops, and its worker waits for the next run
    assert a.status == "stopped" and runs.spare is spare and spare.broken is None
    b.worker = runs.take_worker()
    assert b.worker is spare
    b.start()
    b.thread.join(120)
    assert b.status == "done" and any(f["worker"] for f in b.frames)
    runs.close_all()
    assert spare.proc.poll() is not None and runs.spare is None


def test_a_run_too_short_to_see_the_worker_attach_leaves_it_usable(worker):
    """Detaching before the worker has answered attach waits for the answer: the next run's shared
    file is not confused with the last one's (a 20-step run used to break the worker this way)."""
    _, plan, before, X, y = _trained("relu", np.float32)
    for _ in range(3):
        worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 7, 4], "relu")
        worker.detach()
    worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 7, 4], "relu")
    _request(worker, plan, before)
    assert worker.broken is None


@pytest.mark.parametrize("cores,expected", [(1, False), (2, True)])
def test_frame_workers_only_where_there_is_a_core_for_them(monkeypatch, cores, expected):
    """On one core a second process would only take turns with training: frames stay inline there."""
    from mlplab.live.app import create_app
    from mlplab.runtime import threads

    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    app = create_app()
    assert app.state.runs.frame_workers is expected
    assert create_app(frame_workers=False).state.runs.frame_workers is False


def test_a_server_killed_before_it_read_attached_leaves_no_shared_file(worker):
    """The server unlinks the shared file when it reads the worker's "attached"; one killed before that
    (a test's teardown, kill -9, a crash) left the file in /dev/shm, one per killed server. The worker,
    whose socket then ends, unlinks it as it exits."""
    _, plan, _, X, y = _trained("relu", np.float32)
    worker.attach(plan, Probe(X, y, [1.0] * 3), [12, 9, 7, 4], "relu")
    path = worker._path
    assert os.path.exists(path)
    worker.conn.close()  # the server's end gone without a word, "attached" unread
    assert worker.proc.wait(30) == 0
    assert not os.path.exists(path)
