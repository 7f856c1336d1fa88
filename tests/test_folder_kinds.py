"""Folder kinds and hostile files (issue 23 §2-§3).

A run folder, lab results and a sweep are marked when created and recognised by their files (so folders
made before the marker existed keep working, and a marker cannot hide what a folder holds); a folder of
another kind is refused by the library's writers as by the commands (tests/test_cli_errors.py has the
command rows). Then, for each folder kind, a table of hostile files (pickle payloads, object arrays in an
.npz, cut-short files, wrong types) given to the command that reads it: a one-line refusal, nothing
executed (a payload that would create a file when unpickled), nothing lost (the file is still there).
"""

from __future__ import annotations

import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlplab import folderkind, nn, optim
from mlplab.cli import main as cli_main
from mlplab.folderkind import MARKER, WrongFolderKind, detect
from mlplab.train import Trainer

SWEEP = ["--dataset", "spirals", "--layers", "2,8,2", "--optimizers", "sgd", "--lr-grid", "2", "--seeds", "2",
         "--iterations", "5", "--val-split", "500", "--jobs", "1", "--executor", "local", "--no-book"]


@pytest.fixture(scope="module")
def made(tmp_path_factory, mnist_dir):
    """One folder of each kind, written by the real commands."""
    base = tmp_path_factory.mktemp("made")
    assert cli_main(["train", "--layers", "784,8,10", "--subset", "300", "--iterations", "3", "--quiet",
                     "--out", str(base / "run")]) == 0
    assert cli_main(["sweep", *SWEEP, "--out", str(base / "sweep"), "--report"]) == 0
    assert cli_main(["lab", "run", "linear-chain", "--quick", "--jobs", "1", "--out", str(base / "lab")]) == 0
    return base


def test_each_command_marks_its_folder_and_old_folders_are_recognised_by_their_files(made, tmp_path):
    for kind, evidence in (("run", "config.json"), ("sweep", "trials.sqlite"), ("lab", "linear-chain/numbers.json")):
        assert json.loads((made / kind / MARKER).read_text()) == {"kind": kind, "version": 1}
        old = tmp_path / kind
        shutil.copytree(made / kind, old)
        (old / MARKER).unlink()  # a folder written before the marker existed
        found = detect(old)
        assert found.name == kind and evidence in found.evidence, found
    assert detect(tmp_path / "nothing") is None
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's own file")
    assert detect(tmp_path / "mine") is None  # no kind: any command may use it


def test_a_marker_cannot_hide_what_a_folder_holds(made, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(made / "sweep", sweep)
    (sweep / MARKER).write_text('{"kind": "run", "version": 1}')  # planted
    assert detect(sweep).name == "sweep"
    for bad in (pickle.dumps({"kind": "run"}), b'{"kind": "evil", "version": 1}', b"[1]", b"\xff" * 20):
        fresh = tmp_path / f"f{len(bad)}"
        fresh.mkdir()
        (fresh / MARKER).write_bytes(bad)
        assert detect(fresh) is None  # a damaged or foreign marker is ignored, only ever read as JSON
    (tmp_path / "early").mkdir()
    folderkind.mark(tmp_path / "early", "run")
    (tmp_path / "early" / "config.json").write_text("{}")  # a run before its first checkpoint: the marker tells
    assert detect(tmp_path / "early").name == "run"


def test_the_library_writers_refuse_another_kind(made, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(made / "sweep", sweep)
    summary = (sweep / "summary.json").read_bytes()
    net = nn.MLP([2, 4, 2], rng=0)
    X = np.random.default_rng(0).standard_normal((20, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    with pytest.raises(WrongFolderKind, match=r"sweep holds a sweep \(trials.sqlite\); a Trainer writes run folders: "
                                              r"choose another run_dir"):
        Trainer(net, optim.SGD(net.parameters(), lr=0.1), run_dir=sweep).fit(X, y, iterations=2)
    assert (sweep / "summary.json").read_bytes() == summary and not (sweep / "config.json").exists()
    from mlplab import lab

    with pytest.raises(WrongFolderKind, match="holds a training run"):
        lab.run_study(lab.get_study("linear-chain"), made / "run", quick=True, quiet=True, workers=1)
    assert not (made / "run" / "linear-chain").exists()
    from mlplab.sweep.runner import run_sweep
    from mlplab.sweep.settings import SweepSettings

    settings = SweepSettings.from_options(optimizers="sgd", lr_grid=2, seeds=2, dataset="spirals", layers="2,8,2",
                                          iterations=5, val_size=500)
    with pytest.raises(WrongFolderKind, match="holds lab results"):
        run_sweep(settings, made / "lab", None, log=lambda m: None)
    assert not (made / "lab" / "trials.sqlite").exists()


# ------------------------------------------------------------------------------ hostile files, per folder kind
class Payload:
    """Unpickling this creates the file ``path``: the proof that a loader ran code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickled(ws):
    return pickle.dumps({"payload": Payload(ws / "PWNED")})


def object_npz(ws, names=("layers.0.weight",)):
    import io

    b = io.BytesIO()
    np.savez(b, **{n: np.array([Payload(ws / "PWNED")], dtype=object) for n in names})  # pickled inside
    return b.getvalue()


def checkpoint_with(ws, edit):
    """The run's own checkpoint.npz, its JSON part edited (the arrays kept)."""
    path = ws / "run" / "checkpoint.npz"
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    meta = json.loads(members["checkpoint.json"])
    edit(meta["state"])
    members["checkpoint.json"] = json.dumps(meta)
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return path.read_bytes()


def with_object_member(ws):
    path = ws / "run" / "checkpoint.npz"
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("evil.npy", _object_npy(ws))
    return checkpoint_with(ws, lambda st: st.update(evil={"$array": "evil"}))


def _object_npy(ws):
    import io

    b = io.BytesIO()
    np.lib.format.write_array(b, np.array([Payload(ws / "PWNED")], dtype=object), allow_pickle=True)
    return b.getvalue()


def truncated(ws, rel, keep=60):
    return (ws / rel).read_bytes()[:keep]


RESUME = lambda ws: ["train", "--resume", "--quiet", "--out", str(ws / "run")]  # noqa: E731
DIAGNOSE = lambda ws: ["diagnose", str(ws / "run"), "--input-std", "1", "--steps", "1"]  # noqa: E731
SWEEP_REPORT = lambda ws: ["sweep", "report", str(ws / "sweep")]  # noqa: E731
SWEEP_AGAIN = lambda ws: ["sweep", *SWEEP, "--out", str(ws / "sweep")]  # noqa: E731
REPORT = lambda ws: ["report", str(ws / "lab")]  # noqa: E731

# (id, file (relative to the workspace), its hostile content (ws -> bytes), argv, exit status (None: not judged
#  here), words of the message, files removed before)
HOSTILE = [
    # a run folder: train --resume and diagnose read it
    ("checkpoint-is-a-pickle", "run/checkpoint.npz", pickled, RESUME, 2, ["checkpoint.npz is damaged"], []),
    ("checkpoint-object-array", "run/checkpoint.npz", with_object_member, RESUME, 2,
     ["checkpoint.npz is damaged", "allow_pickle=False"], []),
    ("checkpoint-truncated", "run/checkpoint.npz", lambda ws: truncated(ws, "run/checkpoint.npz", 500), RESUME, 2,
     ["checkpoint.npz is damaged"], []),
    ("checkpoint-wrong-types", "run/checkpoint.npz", lambda ws: checkpoint_with(ws, lambda st: st.update(step="3")),
     RESUME, 2, ["checkpoint.npz is damaged", "step is a str"], []),
    ("checkpoint-wrong-optimizer-state", "run/checkpoint.npz",
     lambda ws: checkpoint_with(ws, lambda st: st["optimizer"].update(t="x")), RESUME, 2,
     ["checkpoint.npz does not fit this run's network, optimizer and schedule"], []),
    ("old-pickle-checkpoint", "run/checkpoint.pkl", pickled, RESUME, 2,
     ["checkpoint.pkl is a checkpoint in mlplab's old pickle format", "--trust-pickle"], ["run/checkpoint.npz"]),
    ("old-pickle-checkpoint-diagnosed", "run/checkpoint.pkl", pickled, DIAGNOSE, 2, ["old pickle format"],
     ["run/checkpoint.npz", "run/model.npz"]),
    ("model-object-array", "run/model.npz", object_npz, DIAGNOSE, 2, ["model.npz cannot be read"], []),
    ("model-is-a-pickle", "run/model.npz", pickled, DIAGNOSE, 2, ["model.npz cannot be read"], []),
    ("model-truncated", "run/model.npz", lambda ws: truncated(ws, "run/model.npz", 300), DIAGNOSE, 2,
     ["model.npz cannot be read"], []),
    ("model-of-another-network", "run/model.npz", lambda ws: _npz({"layers.0.weight": np.zeros((3, 3))}), DIAGNOSE,
     2, ["model.npz cannot be read as this run's network"], []),
    ("config-is-a-pickle", "run/config.json", pickled, RESUME, 2, ["config.json is damaged"], []),
    ("config-is-a-pickle-diagnosed", "run/config.json", pickled, DIAGNOSE, 2, ["config.json is damaged"], []),
    ("config-not-an-object", "run/config.json", lambda ws: b"[1, 2]", RESUME, 2, ["config.json is damaged"], []),
    ("config-wrong-types", "run/config.json", lambda ws: b'{"layers": 5}', RESUME, 2, ["layers in", "got 5"], []),
    ("summary-is-a-pickle", "run/summary.json", pickled, RESUME, 2, ["summary.json is damaged"], []),
    # a sweep: sweep report and the same sweep again read it
    ("sweep-summary-is-a-pickle", "sweep/summary.json", pickled, SWEEP_REPORT, 2, ["summary.json is damaged"], []),
    ("sweep-summary-wrong-types", "sweep/summary.json", lambda ws: b'{"optimizers": 5}', SWEEP_REPORT, 2,
     ["summary.json is damaged", "no settings, metric"], []),
    ("sweep-settings-is-a-pickle", "sweep/settings.json", pickled, SWEEP_AGAIN, 2,
     ["holds a sweep with other settings"], []),
    ("sweep-marker-says-run", "sweep/.mlplab-folder.json", lambda ws: b'{"kind": "run", "version": 1}',
     lambda ws: ["train", "--iterations", "2", "--out", str(ws / "sweep")], 2,
     ["holds a sweep (trials.sqlite); mlplab train writes run folders"], []),
    # lab results: the report reads them (it notes a damaged study and goes on; its exit status is the report's)
    ("lab-numbers-is-a-pickle", "lab/linear-chain/numbers.json", pickled, REPORT, None,
     ["linear-chain", "numbers.json"], []),
    ("lab-meta-is-a-pickle", "lab/linear-chain/meta.json", pickled, REPORT, None, ["linear-chain", "meta.json"], []),
]


def _npz(arrays):
    import io

    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_file_is_refused_in_one_line_and_runs_nothing(case, made, tmp_path, monkeypatch, capsys):
    name, rel, content, argv, status, words, removed = case
    ws = tmp_path / "ws"
    shutil.copytree(made, ws, ignore=shutil.ignore_patterns(".mlplab.lock"))
    monkeypatch.chdir(ws)
    monkeypatch.delenv("MLPLAB_DEBUG", raising=False)
    data = content(ws)
    for r in removed:
        (ws / r).unlink()
    (ws / rel).write_bytes(data)
    kept = _snapshot(ws / rel.split("/")[0])
    capsys.readouterr()
    code = cli_main(argv(ws))
    err = capsys.readouterr().err
    assert not (ws / "PWNED").exists(), "a hostile file ran code"
    assert "Traceback" not in err and "internal error" not in err, err
    if status is not None:
        assert code == status, (code, err)
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note:")]
        assert len(lines) == 1 and lines[0].startswith("mlplab "), err
    for w in words:
        assert w in err, (w, err)
    after = _snapshot(ws / rel.split("/")[0])
    assert (ws / rel).read_bytes() == data  # nothing lost: the file is there for its owner to look at
    if status is not None:
        assert after == kept, "files were changed: " + str({k for k in set(after) | set(kept)
                                                            if after.get(k) != kept.get(k)})


def test_the_payload_is_real(tmp_path):
    """The table's proof: unpickling its payload does create the file (so its absence means nothing ran)."""
    pickle.loads(pickled(tmp_path))
    assert (tmp_path / "PWNED").exists()
    (tmp_path / "PWNED").unlink()
    with np.load(__import__("io").BytesIO(object_npz(tmp_path)), allow_pickle=True) as f:
        f["layers.0.weight"]
    assert (tmp_path / "PWNED").exists()


def test_a_malicious_state_dict_is_not_unpickled(tmp_path, capsys, monkeypatch):
    """`diagnose --torch FILE.py:FACTORY --state-dict W.pt` reads W.pt with torch.load(weights_only=True): a .pt
    whose unpickling would create a file is refused in one line, and the file does not appear."""
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("MLPLAB_DEBUG", raising=False)
    (tmp_path / "model.py").write_text("import torch\n\n\ndef make():\n"
                                       "    return torch.nn.Sequential(torch.nn.Linear(4, 3))\n")
    pt = tmp_path / "w.pt"
    torch.save({"0.weight": Payload(tmp_path / "PWNED"), "0.bias": torch.zeros(3)}, pt)
    capsys.readouterr()
    code = cli_main(["diagnose", "--torch", f"{tmp_path / 'model.py'}:make", "--state-dict", str(pt),
                     "--input-shape", "4"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "--state-dict" in err and "cannot be read as weights saved by torch.save" in err
    assert not (tmp_path / "PWNED").exists()
    torch.load(pt, weights_only=False)  # the proof that the file is hostile: a full unpickle runs the payload
    assert (tmp_path / "PWNED").exists()


def test_the_live_export_is_a_marked_run_folder_and_leaves_a_sweep_alone(made, tmp_path):
    from mlplab.live.session import SettingsError, TrainSession
    from mlplab.train import load_checkpoint

    session = TrainSession({"dataset": "circles", "layers": "2,8,2", "epochs": "1"})
    try:
        session.start()
        session.thread.join(60)
        assert session.status == "done", session.message
        out = session.export(tmp_path / "exported")
        assert detect(out).name == "run" and json.loads((out / MARKER).read_text())["kind"] == "run"
        assert load_checkpoint(out)["step"] == session.trainer.step  # the safe checkpoint travels with it
        sweep = tmp_path / "sweep"
        shutil.copytree(made / "sweep", sweep)
        before = _snapshot(sweep)
        with pytest.raises(SettingsError):  # the export writes only into a new or empty folder
            session.export(sweep)
        assert _snapshot(sweep) == before
    finally:
        session.close()


def test_a_sweep_store_with_pickled_blobs_runs_nothing(made, tmp_path):
    """trials.sqlite holds JSON text; a row whose columns were replaced by pickle bytes is never unpickled
    (no sqlite3 converters are registered): reading it fails or gives bytes, and the payload does not run."""
    import sqlite3

    from mlplab.sweep.store import Store

    folder = tmp_path / "sweep"
    shutil.copytree(made / "sweep", folder)
    blob = pickled(tmp_path)
    db = sqlite3.connect(folder / "trials.sqlite")
    n = db.execute("UPDATE trials SET metrics = ?, curve = ?, hparams = ?", (blob, blob, blob)).rowcount
    db.commit()
    db.close()
    assert n > 0
    try:
        with Store(folder) as store:
            store.rows()
    except Exception as e:  # how a damaged row is worded is the sweep's; here: it is refused, not run
        assert isinstance(e, ValueError | TypeError), e
    assert not (tmp_path / "PWNED").exists()
