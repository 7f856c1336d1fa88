"""`mlplab diagnose` on a user's FILE.py:FACTORY (issue 30): token inputs, dict outputs, the user's prints kept
out of --json, the new options' one-line errors, torch.compile'd models, --max-memory's exit 5.
(Split from test_diagnose_torch_io.py; its helpers are imported from there.)
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional


from mlplab.cli import main as cli_main  # noqa: E402

# ---------------------------------------------------------------------------- the CLI
MODELS_PY = '''
import warnings

import torch
import torch.nn.functional as F

class Bag(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.fc = torch.nn.EmbeddingBag(100, 16), torch.nn.Linear(16, 4)
    def forward(self, x):
        print("forward of a batch", x.shape)  # a user's print
        warnings.warn("forward(x) is deprecated", DeprecationWarning)
        return {"logits": self.fc(self.emb(x)), "n": x.shape[0]}

def bag():
    torch.manual_seed(0)
    return Bag()

def compiled():
    torch.manual_seed(0)
    return torch.compile(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)))

def pair():
    torch.manual_seed(0)
    class Pair(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 3)
        def forward(self, x):
            return self.fc(x), torch.zeros(())
    return Pair()
'''


@pytest.fixture
def models_py(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(MODELS_PY)
    return tmp_path


def test_cli_tokens_dict_output_prints_kept_out_of_json(models_py, capsys):
    code = cli_main(["diagnose", "--torch", "models.py:bag", "--input-vocab", "100", "--input-shape", "12",
                     "--batch-size", "32", "--json", "--blas-threads", "1", "--overfit-batch", "5"])
    cap = capsys.readouterr()
    assert code == 0
    out = json.loads(cap.out)  # before: the print made stdout invalid JSON, and the tokens became floats
    d = out["diagnosis"]
    assert "int64" in d["input"]["description"] and "'logits' of a dict" in d["notes"][0]
    assert d["checks"]["overfit_batch"]["steps"] == 5 and d["coverage"]["layers_traced"] == 1
    assert "forward of a batch" in cap.err and "note: the model's code printed" in cap.err
    assert cap.err.count("DeprecationWarning: forward(x) is deprecated") == 1 and "models.py" not in cap.err


def test_cli_text_output_verdict_and_checks(models_py, capsys):
    assert cli_main(["diagnose", "--torch", "models.py:pair", "--input-shape", "8", "--blas-threads", "1"]) == 0
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if line.startswith("verdict:"))
    assert not verdict.startswith("verdict: ok — ok") and verdict.startswith("verdict: ok — ")
    assert "check: initial loss" in out and "coverage: 1 layer traced" in out and "[0] of a tuple of 2" in out


@pytest.mark.parametrize("args,message", [
    (["--torch", "models.py:bag", "--input-shape", "12", "--input-vocab", "0"], "--input-vocab must be a whole number"),
    (["--torch", "models.py:bag", "--input-shape", "12", "--input-vocab", "5", "--input-std", "2"],
     "--input-vocab draws integer token ids; --input-std sets a Gaussian input"),
    (["--torch", "models.py:bag", "--input-shape", "12"], "check --input-shape (or --input-vocab N for token ids)"),
    (["--torch", "models.py:bag", "--input-shape", "12", "--input-vocab", "100", "--output", "loss"],
     "output 'loss': the forward's dict has keys 'logits', 'n'"),
    (["--torch", "models.py:pair", "--input-shape", "8", "--output", "1"], "does not depend on the model's parameters"),
    (["--torch", "models.py:pair", "--input-shape", "8", "--max-memory", "lots"], "--max-memory 'lots'"),
    (["--torch", "models.py:pair", "--input-shape", "8", "--overfit-batch", "0"], "--overfit-batch must be"),
    (["--overfit-batch", "3"], "--overfit-batch needs --torch")])
def test_cli_new_options_one_line(models_py, capsys, args, message):
    assert cli_main(["diagnose", *args]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if not line.startswith(("forward of", "note:"))] == [err[-1]] and message in err[-1]


def test_cli_compiled_model_takes_either_state_dict(models_py, capsys):
    plain = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    torch.save(plain.state_dict(), models_py / "plain.pt")
    torch.save(torch.compile(plain).state_dict(), models_py / "compiled.pt")  # keys _orig_mod.0.weight, ...
    for w in ("plain.pt", "compiled.pt"):
        assert cli_main(["diagnose", "--torch", "models.py:compiled", "--input-shape", "8", "--state-dict", w,
                         "--json", "--blas-threads", "1"]) == 0, capsys.readouterr().err
        d = json.loads(capsys.readouterr().out)["diagnosis"]
        assert [lay["name"] for lay in d["layers"]] == ["0", "2"] and "torch.compile" in d["notes"][0]


def test_cli_max_memory_exit_5(models_py, capsys):
    assert cli_main(["diagnose", "--torch", "models.py:pair", "--input-shape", "8", "--max-memory", "1KB"]) == 5
    err = capsys.readouterr().err
    assert "needs about" in err and "(--max-memory" in err and err.count("\n") == 1
