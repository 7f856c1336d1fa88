"""Every notebook of notebooks/ runs top to bottom in a fresh kernel (each asserts on its own numbers), and
the live lab can be shown inside a notebook cell."""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from lab_quick import MNIST, runner

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
_runner = runner  # scripts/run_notebooks.py as a module


def test_every_study_has_a_notebook():
    from mlplab.lab import studies

    stems = {p.stem for p in NOTEBOOKS}
    missing = {n.replace("-", "_") for n in studies() if n not in ("optimizers-tuned", "optimizers-choi")} - stems
    assert not missing and {"tour", "diagnose_torch", "sweep"} <= stems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, request, quick_study):
    """A study's notebook runs once per session (tests/lab_quick.py): its parameter ``out`` is the session's lab
    folder, whose numbers the lab's claims tests read; the same run, whichever test asks first."""
    pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    if path.stem in MNIST:
        request.getfixturevalue("mnist_dir")  # fetched through mlplab's own verified fetch (the kernel is told where)
    if path.stem in ("diagnose_torch", "watch"):
        pytest.importorskip("torch")
    nb = quick_study.notebook(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)  # every cell ran
    assert any(c.metadata.get("tags") == ["parameters"] for c in code)  # a parameter cell to edit
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "Source" in first.source and "$" in first.source  # source, formula


def test_a_failing_notebook_fails(tmp_path):
    """The check can fail: a notebook whose assertion does not hold raises."""
    pytest.importorskip("nbclient")
    from nbclient.exceptions import CellExecutionError

    bad = tmp_path / "bad.py"
    bad.write_text("# %%\nx = 1 + 1\n\n# %%\nassert x == 3, 'planted'\n")
    with pytest.raises(CellExecutionError, match="planted"):
        _runner().run_notebook(bad, timeout=60)


def test_parameters_override_the_parameter_cell(tmp_path):
    """run_notebook(parameters=...) assigns them right after the cell tagged parameters (what tests/lab_quick.py
    uses to point a study's notebook at the session's lab folder); a notebook without that cell is refused."""
    pytest.importorskip("nbclient")
    nb_file = tmp_path / "p.py"
    nb_file.write_text('# %% tags=["parameters"]\nout = None\nn = 1\n\n# %%\nassert out == "here" and n == 1, out\n')
    nb = _runner().run_notebook(nb_file, timeout=60, parameters={"out": "here"})
    assert [c.metadata.get("tags") for c in nb.cells] == [["parameters"], ["injected-parameters"], None]
    assert nb.cells[1].source == "out = 'here'" and all(c.execution_count for c in nb.cells)
    (tmp_path / "q.py").write_text("# %%\nout = None\n")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        _runner().run_notebook(tmp_path / "q.py", timeout=60, parameters={"out": "here"})


def test_the_runner_without_jupyter_says_what_to_install(monkeypatch, capsys):
    """`scripts/run_notebooks.py` in a venv made by `make demo` (no dev extra): one line naming the missing
    packages and the install command, before any notebook is tried (it printed "No module named 'jupytext'"
    under each notebook)."""
    runner = _runner()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupytext" else real(name, *a))
    assert runner.main(["depth"]) == 2
    out = capsys.readouterr()
    assert "needs jupytext" in out.err and "pip install -e '.[dev]'" in out.err and out.err.count("\n") == 1
    assert "depth" not in out.out


def _get(url: str, timeout: float = 10) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (a local server we started)
        return r.status, r.read().decode("utf-8")


def test_live_view_in_a_notebook_starts_serves_and_stops():
    pytest.importorskip("IPython")
    from mlplab.live import notebook

    frame = notebook.show(height=500)
    try:
        server = notebook.start()  # the same server is reused
        assert server is notebook._SERVER and frame.src == server.url
        assert server.url.startswith("http://127.0.0.1:") and f'src="{server.url}"' in frame._repr_html_()
        status, page = _get(server.url)
        assert status == 200 and "<title>mlplab live</title>" in page
        assert server.url == f"{server.base}?token={server.token}"  # the embed carries the server's token
        status, meta = _get(server.base + f"api/meta?token={server.token}")
        assert status == 200 and isinstance(json.loads(meta), dict)
        with pytest.raises(urllib.error.HTTPError, match="403"):
            _get(server.base + "api/meta")
    finally:
        notebook.stop()
    assert not server.running and notebook._SERVER is None
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        _get(server.url, timeout=2)


def _kernel_spec(root: Path, name: str, argv: list[str]) -> None:
    d = root / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))


def _script(args, env, **kw):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("kind", ["dies", "mute", "unknown"])
def test_a_kernel_that_does_not_start_ends_the_runner_within_30_s(kind, tmp_path):
    """`make notebooks` with a broken kernel spec (MLPLAB_KERNEL names it): status 2 and one line in well
    under 30 s, and a kernel that never answers is killed (before: an unknown kernel name hung for ever in
    nbclient's exit handler; a dying one printed a traceback from it)."""
    import os
    import time

    pytest.importorskip("nbclient")
    pidfile = tmp_path / "kernel.pid"
    _kernel_spec(tmp_path, "dies", ["/bin/false"])
    _kernel_spec(tmp_path, "mute", ["/bin/sh", "-c", f"echo $$ > {pidfile}; exec sleep 600", "{connection_file}"])
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path), "MLPLAB_KERNEL": {"unknown": "nosuch"}.get(kind, kind)}
    t0 = time.monotonic()
    p = _script(["linear_chain", "--startup-timeout", "3"], env)  # 3 s: the mute kernel is given up after it
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 30, err
    assert p.returncode == 2, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert {"dies": "did not start", "mute": "did not start", "unknown": "no kernel named 'nosuch'"}[kind] in err
    if kind == "mute":
        assert not _alive(int(pidfile.read_text()))


@pytest.mark.parametrize("sig, status", [("SIGTERM", 143), ("SIGINT", 130)])
def test_the_runner_stops_on_a_signal_and_kills_the_kernel(sig, status, tmp_path):
    """SIGTERM / Ctrl-C during a cell: the kernel's process is killed and the runner exits 143 / 130 at once
    (before: nbclient's handlers shut the kernel down and kept waiting)."""
    import os
    import signal
    import time

    pytest.importorskip("nbclient")
    pidfile = tmp_path / "kernel.pid"
    nb = tmp_path / "slow.py"
    nb.write_text(f"# %%\nimport os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n\n"
                  "# %%\ntime.sleep(600)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLPLAB_KERNEL", "JUPYTER_PATH")}
    p = _script([str(nb)], env)
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    kernel = int(pidfile.read_text())
    time.sleep(0.5)  # inside the sleeping cell
    t0 = time.monotonic()
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=30)
    assert time.monotonic() - t0 < 10 and p.returncode == status, (p.returncode, out, err)
    assert f"{sig}: stopped" in err and "Traceback" not in err
    deadline = time.monotonic() + 5
    while _alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(kernel)
