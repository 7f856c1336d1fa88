"""The run-folder lock, tested with real processes: refusal, release, stale takeover, a race."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlplab.runtime.runlock import (
    LOCK_FILE,
    FolderInUse,
    RunLock,
    _pid_alive,
    _proc_start_ticks,
    describe_owner,
    read_lock,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")

# Takes the lock, says so on stdout, holds it until stdin closes (or is killed).
HOLDER = """
import sys
from mlplab.runtime.runlock import RunLock, FolderInUse
try:
    with RunLock(sys.argv[1], command=sys.argv[2]) as lk:
        print("won", (lk.stale or {}).get("pid"), flush=True)
        sys.stdin.read()
except FolderInUse as e:
    print("refused", e.owner.get("pid"), str(e), flush=True)
"""

# Waits for a start signal (a file), then tries the lock: the racing contenders of test_race.
RACER = """
import os, sys, time
from mlplab.runtime.runlock import RunLock, FolderInUse
while not os.path.exists(sys.argv[3]):
    time.sleep(0.001)
try:
    with RunLock(sys.argv[1], command=sys.argv[2]):
        print("won", flush=True)
        sys.stdin.read()
except FolderInUse as e:
    print("refused", e.owner.get("pid"), flush=True)
"""


def _spawn(code, *args):
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def _holder(folder, command="train"):
    p = _spawn(HOLDER, folder, command)
    p.first_line = p.stdout.readline().split()
    assert p.first_line[0] == "won", p.first_line
    return p


def test_second_process_is_refused_with_the_owner_named(tmp_path):
    run = tmp_path / "run"
    a = _holder(run)
    try:
        rec = read_lock(run)
        assert rec["pid"] == a.pid and rec["command"] == "train"
        b = _spawn(HOLDER, run, "lab run")  # a second real process
        out, _ = b.communicate(timeout=60)
        words = out.split()
        assert words[0] == "refused" and int(words[1]) == a.pid, out
        assert f"{run} is in use by process {a.pid} (mlplab train since " in out
        with pytest.raises(FolderInUse, match=f"in use by process {a.pid}"):  # and in this process too
            RunLock(run, command="train").acquire()
    finally:
        a.stdin.close()
        a.wait(timeout=60)
    assert not (run / LOCK_FILE).exists()  # released on exit
    with RunLock(run) as lk:  # free again
        assert lk.stale is None


def test_stale_lock_of_a_killed_process_is_taken_over_with_a_note(tmp_path):
    run = tmp_path / "run"
    a = _holder(run)
    os.kill(a.pid, signal.SIGKILL)
    a.wait(timeout=60)
    assert read_lock(run)["pid"] == a.pid  # kill -9 left the file behind
    notes = []
    with RunLock(run, command="train", on_stale=notes.append) as lk:
        assert lk.stale["pid"] == a.pid
        assert read_lock(run)["pid"] == os.getpid()
        b = _spawn(HOLDER, run, "train")  # the new owner is respected by others
        out, _ = b.communicate(timeout=60)
        assert out.split()[:2] == ["refused", str(os.getpid())], out
    assert [n["pid"] for n in notes] == [a.pid]
    assert not (run / LOCK_FILE).exists()


def test_hand_written_lock_of_a_dead_pid_is_stale_and_a_second_process_takes_it(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "command": "train", "started": 0}))
    b = _holder(run)  # another process finds the stale lock and reports whose it was
    try:
        assert b.first_line == ["won", str(dead.pid)]
        assert read_lock(run)["pid"] == b.pid
    finally:
        b.stdin.close()
        b.wait(timeout=60)


def test_planted_bug_a_lock_that_ignores_flock_lets_a_second_writer_in(tmp_path, monkeypatch):
    """The refusal checks above can fail: a lock that trusts a dead-looking PID over flock lets B in."""
    import mlplab.runtime.runlock as runlock

    a = _holder(tmp_path)
    try:
        monkeypatch.setattr(runlock, "fcntl", None)
        monkeypatch.setattr(runlock, "_pid_alive", lambda *a: False)
        with RunLock(tmp_path) as lk:  # wrongly taken over from a live owner
            assert lk.stale["pid"] == a.pid
    finally:
        a.stdin.close()
        a.wait(timeout=60)


def test_released_on_exception_and_on_ctrl_c(tmp_path):
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with RunLock(tmp_path):
                assert (tmp_path / LOCK_FILE).exists()
                raise exc
        assert not (tmp_path / LOCK_FILE).exists()
    assert list(tmp_path.iterdir()) == []  # no temporary files left either


def test_reentrant_in_one_process(tmp_path):
    with RunLock(tmp_path, command="lab run"):
        with RunLock(tmp_path, command="report"):
            pass
        assert read_lock(tmp_path)["command"] == "lab run"  # the inner release keeps the outer lock
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_folder_the_lock_created_is_removed_only_if_empty(tmp_path):
    with RunLock(tmp_path / "a" / "b") as lk:
        assert lk.created
    assert not (tmp_path / "a" / "b").exists()
    with RunLock(tmp_path / "c"):
        (tmp_path / "c" / "config.json").write_text("{}")
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["config.json"]


@pytest.mark.parametrize("exists", [True, False], ids=["folder-exists", "new-folder"])
def test_race_has_exactly_one_winner(tmp_path, exists):
    """Six processes race for one folder. For a folder that does not exist yet, the losers used to fail with
    "File exists" (creating it after another did) or "Directory not empty" (removing the folder they had
    created, now holding the winner's lock) instead of naming the owner."""
    run, go = tmp_path / "new" / "run", tmp_path / "go"
    if exists:
        run.mkdir(parents=True)
    racers = [_spawn(RACER, run, "train", go) for _ in range(6)]
    time.sleep(1.0)  # let them start (each polls for the start file)
    go.touch()
    lines = {}
    for p in racers:
        lines[p.pid] = p.stdout.readline().split()
    winners = [pid for pid, w in lines.items() if w[0] == "won"]
    try:
        assert len(winners) == 1, lines
        assert all(w == ["refused", str(winners[0])] for pid, w in lines.items() if pid != winners[0]), lines
    finally:
        for p in racers:
            p.stdin.close()
            p.wait(timeout=60)
    assert not (run / LOCK_FILE).exists()


def test_pid_liveness_tells_a_reused_pid_apart():
    me = os.getpid()
    assert _pid_alive(me, _proc_start_ticks(me))
    if _proc_start_ticks(me) is not None:  # Linux: the same PID with another start time is another process
        assert not _pid_alive(me, _proc_start_ticks(me) + 1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not _pid_alive(dead.pid)


def test_owner_description():
    t = time.mktime((2026, 11, 25, 19, 58, 3, 0, 0, -1))
    text = describe_owner({"pid": 4321, "command": "train", "started": t})
    assert text == "process 4321 (mlplab train since 2026-11-25 19:58:03)"
    assert " on other-host " in describe_owner({"pid": 1, "host": "other-host", "command": "x", "started": t})


def test_two_mlplab_train_commands_on_one_folder(tmp_path, mnist_dir):
    """The real command: a second `mlplab train --out X` is refused while the first runs; after the
    first is killed (kill -9), its stale lock is taken over with a note and the run goes ahead."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("MLPLAB_DEBUG", None)
    # batch size 1: the first epoch (60000 steps) ends long after the test is done with the first run,
    # so it writes no checkpoint before it is killed and the third command may start a new run there
    cmd = [sys.executable, "-m", "mlplab", "train", "--out", str(run), "--quiet", "--batch-size", "1"]
    first = subprocess.Popen([*cmd, "--iterations", "1000000", "--checkpoint-every", "1000000"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (run / "metrics.jsonl").exists() or (run / "metrics.jsonl").stat().st_size == 0:
            assert first.poll() is None, first.stderr.read()
            assert time.time() < deadline
            time.sleep(0.2)
        second = subprocess.run([*cmd, "--iterations", "3"], env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 5 and "Traceback" not in second.stderr
        assert f"{run} is in use by process {first.pid} (mlplab train since " in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert first.poll() is None and not (run / "checkpoint.npz").exists()
    finally:
        first.kill()
        first.wait(timeout=60)
    assert read_lock(run)["pid"] == first.pid  # kill -9 leaves the lock file
    third = subprocess.run([*cmd, "--iterations", "3"], env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert f"took over the lock of a run folder left by process {first.pid}" in third.stderr
    assert "no longer running" in third.stderr
    assert not (run / LOCK_FILE).exists() and (run / "model.npz").exists()


# Takes the lock, forks a child that outlives it (as a worker pool would), then waits to be killed.
FORKER = """
import os, sys, time
from mlplab.runtime.runlock import RunLock
with RunLock(sys.argv[1], command="sweep"):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)  # a worker that missed its parent's death
        os._exit(0)
    print("won", pid, flush=True)
    sys.stdin.read()
"""


def test_a_forked_child_does_not_keep_a_dead_owner_s_lock(tmp_path):
    """A flock is held by every descriptor of the file: a child forked while the lock was held kept it
    after its parent was killed, and the folder stayed "in use by process <dead pid>"."""
    run = tmp_path / "run"
    owner = _spawn(FORKER, run)
    words = owner.stdout.readline().split()
    assert words[0] == "won", words
    child = int(words[1])
    try:
        owner.kill()
        owner.wait(timeout=60)
        assert Path(f"/proc/{child}").exists()  # the child lives on
        with RunLock(run, command="sweep") as lk:  # and yet the dead owner's lock is taken over
            assert lk.stale["pid"] == owner.pid
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_folder_created_by_another_process_meanwhile_is_in_use_not_file_exists(tmp_path, monkeypatch):
    """The deterministic form of the new-folder race: the folder appears (another process made it and
    holds its lock) between our check and our mkdir. That was "File exists"; it is "in use"."""
    run = tmp_path / "run"
    a = _holder(run, command="sweep")
    try:
        real = Path.is_dir
        first = {"call": True}

        def not_yet(self):
            if self == run and first["call"]:  # as seen just before the other process created it
                first["call"] = False
                return False
            return real(self)

        monkeypatch.setattr(Path, "is_dir", not_yet)
        with pytest.raises(FolderInUse, match=f"in use by process {a.pid} \\(mlplab sweep since"):
            RunLock(run, command="sweep").acquire()
        assert not first["call"]
    finally:
        a.stdin.close()
        a.wait(timeout=60)
