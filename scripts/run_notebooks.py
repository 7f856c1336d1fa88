"""Execute the notebooks of notebooks/ headless: ``make notebooks`` (and tests/test_notebooks.py).

Each notebook is a jupytext ``py:percent`` file; it is converted in memory (jupytext), run top to bottom
in a fresh kernel (nbclient) with its parameter cell as written (the quick variant), and fails if any
cell raises (the notebooks assert on the numbers they produce). ``--out DIR`` also writes the executed
``.ipynb`` files there (not committed: open them, or the ``.py`` files through jupytext, in Jupyter).

    python scripts/run_notebooks.py [NAME ...] [--out DIR] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def notebook_files(names=()) -> list[Path]:
    files = sorted(NOTEBOOKS.glob("*.py"))
    if names:
        files = [f for f in files if f.stem in names or f.name in names]
    return files


NEEDS = ("jupytext", "nbclient", "nbformat", "jupyter_client", "ipykernel")  # the dev extra installs them


def missing_packages() -> list[str]:
    import importlib.util

    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def run_notebook(path: Path, timeout: int = 600, out: Path | None = None):
    """Run one notebook in a fresh kernel (working directory: notebooks/); returns the executed notebook.
    Raises nbclient's CellExecutionError (with the cell and its traceback) if a cell fails."""
    import tempfile

    import jupytext
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with tempfile.TemporaryDirectory(prefix="mlplab-nb-") as d:  # the kernel talks over local sockets, no TCP
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(d) / "kernel"))
        NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    if out is not None:
        import nbformat

        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / (path.stem + ".ipynb"))
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (file stems); all by default")
    ap.add_argument("--out", type=Path, help="write the executed .ipynb files here")
    ap.add_argument("--timeout", type=int, default=600, help="per cell, in seconds")
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
    failed, t_all = [], time.perf_counter()
    for f in files:
        t0 = time.perf_counter()
        try:
            run_notebook(f, a.timeout, a.out)
            print(f"ok      {f.name}  {time.perf_counter() - t0:5.1f} s", flush=True)
        except Exception as e:  # report every notebook, then fail
            failed.append(f.name)
            print(f"FAILED  {f.name}  {time.perf_counter() - t0:5.1f} s\n{e}", flush=True)
    print(f"{len(files) - len(failed)} of {len(files)} notebooks ran in {time.perf_counter() - t_all:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
