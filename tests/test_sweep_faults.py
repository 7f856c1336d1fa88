"""Fault injection for `mlplab sweep` (issue 24 §1): what happens to a sweep when the machinery under it fails.

Each test breaks something real while a sweep runs: a `dask scheduler` process killed, a Dask worker
killed past the scheduler's retry limit, a `dask worker` without the dataset, the `mlplab sweep`
process itself killed (SIGKILL) or stopped (SIGTERM), its folder made immutable, its disk full, two
sweeps racing for one new folder. The rule checked after each: the failed command says what happened
in one line with a non-zero status (never 0 with a wrong summary), stores no infrastructure failure as
a result, and the same command run again either ends with the results of an uninterrupted run, trial
by trial and byte by byte in summary.json, or refuses with one line. The same rule checked in one process (what a task
raises is never stored) is tests/test_sweep_execute.py.

The sweeps are tiny (a 2-8-2 network on the spirals); "slow" ones train 1,500 steps a trial so there
is time to break something mid-sweep. The tests that start a Dask scheduler and workers, or race three
commands, are marked slow (`-m "not slow"` leaves them out of a quick loop; `make test` runs them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from mlplab.cli import main
from mlplab.sweep.runner import SUMMARY_FILE, TrialsNotRun, run_sweep
from mlplab.sweep.store import Store

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**{k: v for k, v in os.environ.items() if k != "MLPLAB_DEBUG"},
       "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
TINY = ["--dataset", "spirals", "--layers", "2,8,2", "--train-size", "300", "--val-split", "100", "--test-size",
        "200", "--batch-size", "32", "--stack", "off", "--seeds", "2"]
FAST = [*TINY, "--optimizers", "sgd,adam", "--lr-grid", "3", "--iterations", "30"]  # 12 + 8 trials
SLOW = [*TINY, "--optimizers", "sgd", "--lr-grid", "2", "--iterations", "1000"]  # 4 + 4 trials of 0.1-0.5 s
MNIST = ["--dataset", "mnist", "--layers", "784,8,10", "--train-size", "300", "--val-split", "100", "--test-size",
         "200", "--batch-size", "32", "--iterations", "5", "--stack", "off", "--optimizers", "sgd", "--lr-grid", "2",
         "--seeds", "1", "--no-book"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """summary.json of an uninterrupted run of a sweep, one forked worker, by its options (cached)."""
    cache = {}

    def get(opts):
        key = tuple(opts)
        if key not in cache:
            out = tmp_path_factory.mktemp("ref")
            assert main(["sweep", *opts, "--jobs", "1", "--out", str(out)]) == 0
            cache[key] = (out / SUMMARY_FILE).read_bytes()
        return cache[key]

    return get


def cli(*args):
    return [sys.executable, "-m", "mlplab", "sweep", *args]


def start(args, **kw):
    return subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, **kw)


def wait_for_progress(p, timeout=120):
    """Read the sweep's standard output until its first progress line (a trial has been stored)."""
    t0 = time.monotonic()
    seen = []
    while time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        seen.append(line)
        if " trials, " in line and "last:" in line:
            return
        if not line:
            break
    p.kill()
    raise AssertionError(f"no progress line; the sweep printed {''.join(seen)!r}, {p.stderr.read()!r}")


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("mlplab sweep: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def rerun_matches(out, opts, reference, *extra):
    """The same command again ends with exit 0 and the uninterrupted run's summary.json, byte for byte."""
    r = subprocess.run(cli(*opts, "--jobs", "2", "--out", str(out), *extra), capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / SUMMARY_FILE).read_bytes() == reference(opts)
    assert not (out / ".mlplab.lock").exists()
    return r


def stored(out):
    with Store(out) as st:
        return st.rows()


def children(pid) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
    return kids


def gone(pids, timeout=10.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not any(Path(f"/proc/{p}").exists() and "Z" not in _state(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _state(pid) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


# --------------------------------------------------------------------------------------- the main process dies
@pytest.mark.parametrize("sig, executor", [
    (signal.SIGKILL, "local"), (signal.SIGTERM, "local"),
    pytest.param(signal.SIGKILL, "dask", marks=pytest.mark.slow)], ids=["SIGKILL", "SIGTERM", "SIGKILL-dask"])
def test_main_process_killed_leaves_no_worker_and_no_lock(tmp_path, reference, sig, executor):
    """kill -9 used to leave the forked workers alive, holding the folder's flock: the same command was
    then refused as "in use by process <dead pid>". Now workers die with their parent (a LocalCluster's
    too), and SIGTERM stops the sweep as Ctrl-C does."""
    if executor == "dask":
        pytest.importorskip("distributed", reason="Dask is the optional extra mlplab[dask]")
    out = tmp_path / "sw"
    p = start([*SLOW, "--jobs", "2", "--executor", executor, "--out", str(out)])
    wait_for_progress(p)
    workers = children(p.pid)
    assert workers, "no forked workers"
    os.kill(p.pid, sig)
    _, err = p.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert p.returncode == -signal.SIGKILL
    else:
        assert p.returncode == 130 and "interrupted" not in err and err.strip() == "", err
        assert not (out / ".mlplab.lock").exists()
    assert gone(workers), f"workers {workers} outlived the sweep"
    assert all(r["status"] == "done" for r in stored(out))
    r = rerun_matches(out, SLOW, reference)
    if sig == signal.SIGKILL:
        assert "took over the lock of a process that is gone" in r.stdout


# --------------------------------------------------------------------------------------- the folder or the disk
def _chattr(flag, *paths):
    r = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"chattr {flag} is not possible here: {r.stderr.strip()}")


@pytest.mark.parametrize("files_too", [False, True], ids=["folder", "folder-and-files"])
def test_folder_made_immutable_mid_run(tmp_path, reference, files_too):
    """Reported at once (the next commit), one line, exit 5 (not the usage code 2 at the very end), no
    SIGBUS death when the files are immutable too (SQLite's shared memory map of a WAL store)."""
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root")
    out = tmp_path / "sw"
    p = start([*SLOW, "--jobs", "2", "--out", str(out)])
    wait_for_progress(p)
    targets = [out, *([out / "trials.sqlite", out / "settings.json"] if files_too else [])]  # not the journal:
    # it exists only during a commit
    _chattr("+i", *targets)
    try:
        t0 = time.monotonic()
        _, err = p.communicate(timeout=120)
        took = time.monotonic() - t0
    finally:
        _chattr("-i", *targets)
    assert p.returncode == 5, (p.returncode, err)  # -7 was SIGBUS
    line = one_line_error(err)
    assert "trials.sqlite" in line and "not permitted (an immutable or protected file?)" in line, line
    assert took < 30, took  # at once, not after the remaining trials
    assert all(r["status"] == "done" for r in stored(out))
    rerun_matches(out, SLOW, reference)  # the leftover lock file is taken over


@contextlib.contextmanager
def small_disk(tmp_path, size="256k"):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs here to fill ({r.stderr.strip() or r.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt, leave: int):
    """Fill the disk up to ``leave`` bytes free."""
    free = shutil.disk_usage(mnt).free
    with open(mnt / "filler", "wb") as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * max(0, free - leave))


@pytest.mark.parametrize("leave", [0, 40_000], ids=["full-at-start", "full-mid-run"])
def test_full_disk_says_so_and_leaves_nothing_half_written(tmp_path, reference, leave):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with small_disk(tmp_path) as mnt:
        _fill(mnt, leave)
        out = mnt / "sw"
        r = subprocess.run(cli(*FAST, "--jobs", "1", "--out", str(out)), capture_output=True, text=True, env=ENV,
                           timeout=120)
        assert r.returncode == 5, r.stderr
        line = one_line_error(r.stderr)
        assert "the disk is full" in line, line
        left = sorted(p.name for p in out.iterdir()) if out.exists() else []
        assert not [n for n in left if n.endswith((".tmp", "-journal")) or n == ".mlplab.lock"], left
        if leave == 0:
            assert not out.exists(), left  # nothing was stored: nothing is left
        else:
            assert SUMMARY_FILE not in left and all(r["status"] == "done" for r in stored(out)), left
        (mnt / "filler").unlink()
        rerun_matches(out, FAST, reference)


@pytest.mark.slow
def test_two_sweeps_racing_for_a_new_folder(tmp_path, reference):
    """The losers said "File exists" or "Directory not empty"; now "in use", exit 5, and the winner's
    results are those of an uninterrupted run."""
    out = tmp_path / "new" / "sw"
    procs = [start([*SLOW, "--jobs", "1", "--out", str(out)]) for _ in range(3)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for code, _, err in results:
        if code != 0:
            assert code == 5, err
            line = one_line_error(err)
            assert "is in use by process" in line and "mlplab sweep since" in line, line
    assert sum(code == 0 for code, _, _ in results) >= 1
    assert (out / SUMMARY_FILE).read_bytes() == reference(SLOW)


# --------------------------------------------------------------------------------------- Dask
distributed = pytest.importorskip("distributed", reason="Dask is the optional extra mlplab[dask]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A real `dask scheduler` process and `dask worker` processes on 127.0.0.1."""

    def __init__(self, tmp, workers=1, worker_env=None):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.log = open(tmp / f"dask-{self.address.rsplit(':', 1)[1]}.log", "w")  # noqa: SIM115
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
             self.address.rsplit(":", 1)[1], "--no-dashboard"], stdout=self.log, stderr=self.log, env=ENV)
        self.workers = []
        for _ in range(workers):
            self.add_worker(worker_env)
        self.wait(workers)

    def add_worker(self, env=None):
        self.workers.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1", "--no-dashboard",
             "--no-nanny"], stdout=self.log, stderr=self.log, env={**ENV, **(env or {})}))

    def wait(self, n):
        from distributed import Client

        with Client(self.address, timeout="60s") as c:
            if n:  # else only that the scheduler answers
                c.wait_for_workers(n, timeout=120)

    def close(self):
        for p in [*self.workers, self.scheduler]:
            p.kill()
            p.wait()
        self.log.close()


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(**kw):
        made.append(Cluster(tmp_path, **kw))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.mark.slow
def test_scheduler_killed_mid_sweep_stops_with_one_line_and_stores_nothing_wrong(tmp_path, reference, cluster):
    """kill -9 of the scheduler stored every pending trial as failed, chose learning rates from the few
    finished ones, wrote that summary and exited 0; the re-run kept it ("48 of 48 already done")."""
    c = cluster(workers=1)
    out = tmp_path / "sw"
    p = start([*SLOW, "--scheduler", c.address, "--out", str(out)])
    wait_for_progress(p)
    c.scheduler.kill()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 5, err
    line = one_line_error(err)
    assert "selection trials did not run (the executor was lost: CancelledError" in line, line
    assert "run the same command again" in line and "summary.json is marked partial" in line, line
    rows = stored(out)
    assert rows and all(r["status"] == "done" for r in rows)  # no "failed" row for a cancelled task
    partial = json.loads((out / SUMMARY_FILE).read_text())
    assert partial["partial"] is True and partial["missing"]["select"] == 4 - len(rows)
    assert all(e["best"] is None for e in partial["optimizers"].values())  # nothing chosen from a part
    assert main(["sweep", "report", str(out)]) == 2  # no figures from a partial summary
    c2 = cluster(workers=1)
    r = subprocess.run(cli(*SLOW, "--scheduler", c2.address, "--out", str(out)), capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"selection: {len(rows)} of 4 trials already done" in r.stdout
    assert (out / SUMMARY_FILE).read_bytes() == reference(SLOW)


@pytest.mark.slow
def test_a_worker_without_data_stores_nothing_and_says_so(tmp_path, reference, cluster, mnist_dir):
    """A worker whose MLPLAB_DATA points nowhere: every trial it took was stored as failed. Now: a data
    error (exit 4) in one line, nothing stored for those trials, and a good worker completes the sweep."""
    c = cluster(workers=1, worker_env={"MLPLAB_DATA": "/dev/null/nowhere"})
    out = tmp_path / "sw"
    r = subprocess.run(cli(*MNIST, "--scheduler", c.address, "--out", str(out)), capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert r.returncode == 4, r.stderr
    line = one_line_error(r.stderr)
    assert "2 of 2 selection trials did not run: a worker cannot read the data" in line, line
    assert "cannot create cache directory /dev/null/nowhere" in line, line
    assert stored(out) == []
    c.workers[0].kill()
    c.add_worker()
    c.wait(1)
    r = subprocess.run(cli(*MNIST, "--scheduler", c.address, "--out", str(out)), capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / SUMMARY_FILE).read_bytes() == reference(MNIST)


def _kill_if(group, poison, marker):
    """A trial function for the planted fault: the group holding ``poison`` kills its worker (SIGKILL,
    as the OOM killer would) every time it runs; the others train as usual."""
    from mlplab.sweep.trial import run_group, trial_key

    if any(trial_key(t) == poison for t in group):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return run_group(group)


@pytest.mark.slow
def test_a_worker_killed_past_the_retry_limit_is_not_a_result(tmp_path):
    """Dask gives up on a task after `distributed.scheduler.allowed-failures` workers died running it
    (KilledWorker). That trial was stored as failed; now it is not stored, the others are, the sweep
    stops with TrialsNotRun, and a run without the fault completes it exactly."""
    import cloudpickle
    import dask

    from mlplab.sweep.executor import DaskExecutor, InlineExecutor
    from mlplab.sweep.runner import plan_selection
    from mlplab.sweep.settings import SweepSettings
    from mlplab.sweep.trial import trial_key

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    s = SweepSettings.from_options(optimizers="sgd,adam", lr_grid=3, seeds=2, stack=False, dataset="spirals",
                                   layers="2,8,2", train_size=300, val_size=100, test_size=200, batch_size=32,
                                   iterations=30)
    poison = trial_key(plan_selection(s)["adam"][1][1][0])
    run_sweep(s, tmp_path / "ref", InlineExecutor(), log=lambda m: None)  # uninterrupted, in this process
    out = tmp_path / "sw"
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        ex = DaskExecutor(workers=2)
    try:
        # a task that was on the dying worker beside the poisoned one may reach the limit too (Dask counts
        # every task a dead worker held as suspicious): at least the poisoned one is missing
        with pytest.raises(TrialsNotRun, match=r"\d+ of 12 selection trials did not run .*KilledWorker") as info:
            run_sweep(s, out, ex, log=lambda m: None,
                      trial_fn=partial(_kill_if, poison=poison, marker=str(tmp_path / "killed")))
        assert not info.value.lost and (tmp_path / "killed").exists()
        rows = stored(out)
        assert 0 < len(rows) < 12 and poison not in {r["key"] for r in rows}
        assert info.value.missing == 12 - len(rows)
        assert all(r["status"] == "done" for r in rows)
        assert json.loads((out / SUMMARY_FILE).read_text())["missing"]["select"] == 12 - len(rows)
        ex.client.wait_for_workers(2, timeout=120)
        run_sweep(s, out, ex, log=lambda m: None)
    finally:
        ex.shutdown()
    assert (out / SUMMARY_FILE).read_bytes() == (tmp_path / "ref" / SUMMARY_FILE).read_bytes()


def test_ctrl_c_with_a_dask_cluster_is_one_line(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: each LocalCluster worker printed its own
    KeyboardInterrupt traceback (about 70 lines)."""
    out = tmp_path / "sw"
    p = start([*SLOW, "--executor", "dask", "--jobs", "2", "--out", str(out)], start_new_session=True)
    wait_for_progress(p)
    os.killpg(p.pid, signal.SIGINT)
    outs, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.strip() == "", err
    assert "interrupted: every finished trial is kept" in outs
    assert gone([int(x) for x in subprocess.run(["pgrep", "-g", str(p.pid)], capture_output=True,
                                                 text=True).stdout.split()])


def test_old_stores_with_infrastructure_failures_are_fixed_by_retry_failed(tmp_path, reference, capsys):
    """A store written before the fix holds rows "failed" with CancelledError: the same command keeps them
    (a failed trial is a result) but says what they are; --retry-failed runs them again."""
    out = tmp_path / "sw"
    assert main(["sweep", *FAST, "--jobs", "1", "--out", str(out)]) == 0
    with Store(out) as st:  # as the old runner stored a lost scheduler's pending trials
        st.db.execute("UPDATE trials SET status = 'failed', metrics = '{\"loss\": null, \"accuracy\": null}', "
                      "error = 'CancelledError: ' WHERE rowid % 3 = 0")
        n_bad = st.db.execute("SELECT COUNT(*) FROM trials WHERE status = 'failed'").fetchone()[0]
    (out / SUMMARY_FILE).unlink()
    capsys.readouterr()
    assert main(["sweep", *FAST, "--jobs", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{n_bad} of them with CancelledError" in text and "--retry-failed" in text, text
    assert (out / SUMMARY_FILE).read_bytes() != reference(FAST)
    assert main(["sweep", *FAST, "--jobs", "1", "--out", str(out), "--retry-failed"]) == 0
    assert (out / SUMMARY_FILE).read_bytes() == reference(FAST)


@pytest.mark.slow
def test_a_scheduler_without_workers_is_one_line_not_a_wait_forever(tmp_path, cluster):
    """A scheduler with no worker kept the sweep waiting forever (left alone in session 6)."""
    c = cluster(workers=0)
    out = tmp_path / "sw"
    t0 = time.monotonic()
    r = subprocess.run(cli(*SLOW, "--scheduler", c.address, "--worker-wait", "2", "--out", str(out)),
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 5, r.stderr
    line = one_line_error(r.stderr)
    assert f"the Dask scheduler at {c.address} has no workers (waited 2 s)" in line, line
    assert f"dask worker {c.address}" in line, line
    assert time.monotonic() - t0 < 60


@pytest.mark.slow
def test_all_workers_gone_mid_sweep_stops_after_the_wait(tmp_path, reference, cluster):
    """The only worker killed mid-sweep (no nanny to restart it): the trials stayed queued forever."""
    c = cluster(workers=1)
    out = tmp_path / "sw"
    p = start([*SLOW, "--scheduler", c.address, "--worker-wait", "3", "--out", str(out)])
    wait_for_progress(p)
    c.workers[0].kill()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 5, err
    line = one_line_error(err)
    assert "the Dask scheduler has had no workers for 3 s" in line and "run the same command again" in line, line
    rows = stored(out)
    assert rows and all(r["status"] == "done" for r in rows)


@pytest.mark.parametrize("extra,needle", [(["--worker-wait", "5"], "applies to --scheduler only"),
                                          (["--scheduler", "tcp://127.0.0.1:1", "--worker-wait", "0"],
                                           "must be a positive number")])
def test_worker_wait_is_checked(tmp_path, capsys, extra, needle):
    assert main(["sweep", *FAST, *extra, "--out", str(tmp_path / "sw")]) == 2
    assert needle in capsys.readouterr().err
