"""Execute the notebooks of notebooks/ headless: ``make notebooks`` (and tests/test_notebooks.py).

Each notebook is a jupytext ``py:percent`` file; it is converted in memory (jupytext), run top to bottom
in a fresh kernel (nbclient) with its parameter cell as written (the quick variant), and fails if any
cell raises (the notebooks assert on the numbers they produce). ``--out DIR`` also writes the executed
``.ipynb`` files there (not committed: open them, or the ``.py`` files through jupytext, in Jupyter).

The kernel is ``python3`` (``MLPLAB_KERNEL`` or ``--kernel`` names another kernel spec). It is started
and watched here, not by nbclient: a kernel that dies at start, never answers or does not exist ends the
script within ``--startup-timeout`` seconds (20) with one line and status 2 (nbclient's own start-up left
an exit handler that waited forever). Ctrl-C and SIGTERM kill the running kernel's process group and end
the script with 130 / 143 (nbclient's own signal handlers shut the kernel down but kept waiting for the
cell): the notebook runs in a thread, and the main thread takes the signals.

    python scripts/run_notebooks.py [NAME|FILE.py ...] [--out DIR] [--timeout SECONDS] [--kernel NAME]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (jupyter's "format" extras install
# it) only to check the "iri" string format; that module builds an Earley parser of RFC 3987's grammar at import,
# 2-5 s of every start of this script. The notebook schema has no "format" keyword and nbformat validates without a
# format checker, so nothing checked changes; jsonschema leaves that one format out when the import fails.
sys.modules.setdefault("rfc3987_syntax", None)


def notebook_files(names=()) -> list[Path]:
    """The notebooks of notebooks/ (all, or those named by stem or file name); a name that is a ``.py``
    file elsewhere is taken as that file."""
    files = sorted(NOTEBOOKS.glob("*.py"))
    if names:
        files = [f for f in files if f.stem in names or f.name in names]
        files += [Path(n) for n in names if n.endswith(".py") and Path(n).is_file() and Path(n).parent != NOTEBOOKS]
    return files


STARTUP_TIMEOUT = 20  # seconds a kernel gets to answer its first request (ipykernel takes 1-3 s here)


class KernelDidNotStart(RuntimeError):
    """The kernel spec does not exist, its process died at start, or it did not answer in time."""


NEEDS = ("jupytext", "nbclient", "nbformat", "jupyter_client", "ipykernel")  # the dev extra installs them


def missing_packages() -> list[str]:
    import importlib.util

    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


_RUNNING: list = []  # the kernel manager of the notebook running now (for the signal handler)


def run_notebook(path: Path, timeout: int = 600, out: Path | None = None, kernel: str | None = None,
                 startup_timeout: float = STARTUP_TIMEOUT, parameters: dict | None = None):
    """Run one notebook in a fresh kernel (working directory: the notebook's folder); returns the executed
    notebook. Raises :class:`KernelDidNotStart` if the kernel cannot be started, nbclient's
    CellExecutionError (with the cell and its traceback) if a cell fails. The kernel is shut down
    (killed) on the way out, whatever happens. ``parameters`` (name -> value) overrides the parameter
    cell's values: a cell tagged ``injected-parameters`` assigning them runs right after it (as papermill
    does; tests/lab_quick.py sets ``out``)."""
    import jupytext
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient

    kernel = kernel or os.environ.get("MLPLAB_KERNEL") or "python3"
    nb = jupytext.read(path)
    if parameters:
        _inject(nb, parameters)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    d = tempfile.mkdtemp(prefix="mlplab-nb-")  # the kernel talks over local sockets, no TCP
    km = KernelManager(kernel_name=kernel, transport="ipc", ip=str(Path(d) / "kernel"))
    kc = None
    try:
        try:
            km.start_kernel(cwd=str(path.parent))
        except NoSuchKernel:
            raise KernelDidNotStart(f"there is no kernel named {kernel!r} (`jupyter kernelspec list` shows "
                                    "them; MLPLAB_KERNEL or --kernel chooses one)") from None
        except OSError as e:  # the spec's program is missing or not executable
            raise KernelDidNotStart(f"the kernel {kernel!r} could not be started: {e}") from None
        _RUNNING.append(km)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=startup_timeout)
        except RuntimeError as e:  # "Kernel died before replying to kernel_info", or the time ran out
            raise KernelDidNotStart(f"the kernel {kernel!r} did not start: {' '.join(str(e).split())} "
                                    f"(waited at most {startup_timeout:g} s)") from None
        kc.allow_stdin = False
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=kernel,
                                resources={"metadata": {"path": str(path.parent)}})
        client.kc = kc  # started and checked above: nbclient only runs the cells
        client.execute()
    finally:
        _stop(km, kc)
        shutil.rmtree(d, ignore_errors=True)
    if out is not None:
        import nbformat

        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / (path.stem + ".ipynb"))
    return nb


def _inject(nb, parameters: dict) -> None:
    """A code cell assigning ``parameters`` after the cell tagged ``parameters`` (ValueError if there is none)."""
    import nbformat

    at = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if at is None:
        raise ValueError("the notebook has no cell tagged 'parameters' to override")
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, cell)


def _kill(km) -> None:
    """SIGKILL the kernel's process group (jupyter_client starts every kernel in a session of its own)."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
                break
            except (ProcessLookupError, PermissionError):
                continue


def _stop(km, kc) -> None:
    if km in _RUNNING:
        _RUNNING.remove(km)
    if kc is not None:
        kc.stop_channels()
    _kill(km)
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 (already killed: only its files are left, removed below)
        pass
    km.cleanup_resources()


class _Signalled(BaseException):
    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _in_thread(fn, *args):
    """``fn(*args)`` in a thread, so that the main thread keeps the signals: nbclient's event loop would
    otherwise install its own SIGINT/SIGTERM handlers, which shut the kernel down but keep waiting."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 (re-raised in the main thread)
            box["error"] = e

    t = threading.Thread(target=target, name="notebook", daemon=True)
    t.start()
    while t.is_alive():
        t.join(0.2)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _on_signal(signum, frame):
    raise _Signalled(signum)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (file stems, or .py files); all by default")
    ap.add_argument("--out", type=Path, help="write the executed .ipynb files here")
    ap.add_argument("--timeout", type=int, default=600, help="per cell, in seconds")
    ap.add_argument("--kernel", help="the kernel spec to run them in (default: MLPLAB_KERNEL, else python3)")
    ap.add_argument("--startup-timeout", type=float, default=STARTUP_TIMEOUT,
                    help=f"seconds the kernel gets to start (default {STARTUP_TIMEOUT})")
    a = ap.parse_args(argv)
    files = notebook_files(a.names)
    if not files:
        print(f"no notebooks matching {a.names} in {NOTEBOOKS}; there are "
              f"{', '.join(f.stem for f in notebook_files())}", file=sys.stderr)
        return 2
    missing = missing_packages()
    if missing:  # one line, not a notebook-by-notebook "No module named ..."
        print(f"running the notebooks needs {', '.join(missing)}, not installed in {sys.executable}: "
              "`.venv/bin/pip install -e '.[dev]'` (as `make notebooks` does)", file=sys.stderr)
        return 2
    main_thread = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    failed, t_all = [], time.perf_counter()
    try:
        for f in files:
            t0 = time.perf_counter()
            try:
                _in_thread(run_notebook, f, a.timeout, a.out, a.kernel, a.startup_timeout)
                print(f"ok      {f.name}  {time.perf_counter() - t0:5.1f} s", flush=True)
            except KernelDidNotStart as e:  # every other notebook would fail the same way: stop here
                print(f"run_notebooks: error: {f.name}: {e}", file=sys.stderr, flush=True)
                return 2
            except Exception as e:  # report every notebook, then fail
                failed.append(f.name)
                print(f"FAILED  {f.name}  {time.perf_counter() - t0:5.1f} s\n{e}", flush=True)
    except _Signalled as e:
        for km in list(_RUNNING):
            _kill(km)
        name = signal.Signals(e.signum).name
        print(f"run_notebooks: {name}: stopped, the kernel killed", file=sys.stderr, flush=True)
        return 128 + e.signum
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    print(f"{len(files) - len(failed)} of {len(files)} notebooks ran in {time.perf_counter() - t_all:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if code >= 128:  # the notebook's thread may still be blocked in the killed kernel's sockets: do not wait
        os._exit(code)
    sys.exit(code)
