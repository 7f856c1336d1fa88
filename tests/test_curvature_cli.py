"""`mlplab curvature` end to end: a PyTorch factory and a trained run, --json, --exact and the figure."""

import json

import numpy as np
import pytest

from mlplab.cli import main as cli_main

pytest.importorskip("torch")


def test_torch_factory_json_exact_and_figure(tmp_path, capsys):
    (tmp_path / "m.py").write_text("import torch\n\n\ndef make():\n    torch.manual_seed(0)\n    return torch.nn."
                                   "Sequential(torch.nn.Linear(12, 10), torch.nn.Tanh(), torch.nn.Linear(10, 4))\n")
    fig = tmp_path / "density.png"
    code = cli_main(["curvature", "--torch", f"{tmp_path / 'm.py'}:make", "--input-shape", "12", "--examples", "200",
                     "--samples", "12", "--probes", "1", "--steps", "20", "--exact", "--json", "--figure", str(fig),
                     "--lr", "0.5"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_params"] == 12 * 10 + 10 + 10 * 4 + 4
    assert out["exact"]["max_rel_error_top"] <= 1e-8  # Lanczos against the dense eigvalsh
    assert np.allclose(out["bottom"], out["exact"]["bottom"], rtol=1e-8, atol=1e-10)
    assert abs(out["exact"]["trace_z"]) <= 4  # Hutchinson within 4 standard errors of the exact trace
    assert out["gd_limit"] == 4.0
    assert sum(r["size"] for r in out["layers"]) == out["n_params"]
    assert fig.read_bytes()[:4] == b"\x89PNG"


def test_a_trained_run(tmp_path, capsys, mnist_dir):
    run = tmp_path / "run"
    assert cli_main(["train", "--layers", "784,8,10", "--iterations", "5", "--subset", "300", "--quiet", "--lr", "0.1",
                     "--optimizer", "sgd",
                     "--out", str(run)]) == 0
    capsys.readouterr()
    assert cli_main(["curvature", str(run), "--examples", "200", "--samples", "4", "--k", "2", "--no-layers",
                    "--probes", "1", "--steps", "10"]) == 0
    text = capsys.readouterr().out
    assert "top-2 eigenvalues" in text and "trace:" in text and "at η = 0.1 " in text  # the run's own lr
    adam = tmp_path / "adam"
    assert cli_main(["train", "--layers", "784,8,10", "--iterations", "2", "--subset", "300", "--quiet",
                     "--optimizer", "adam", "--out", str(adam)]) == 0
    capsys.readouterr()
    assert cli_main(["curvature", str(adam), "--examples", "50", "--samples", "2", "--k", "1", "--no-layers",
                     "--probes", "1", "--steps", "5"]) == 0
    assert "2/η" not in capsys.readouterr().out  # Adam's limit is not 2/η: no such line
