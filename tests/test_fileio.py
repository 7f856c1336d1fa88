"""fileio.atomic_write: the target is either the old file or the complete new one, never half."""

import json

import numpy as np
import pytest

from mlplab.init import as_generator
from mlplab.runtime.fileio import atomic_write, write_json


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "summary.json"
    write_json(target, {"steps": 1, "loss": np.float32(0.5)})
    assert json.loads(target.read_text()) == {"steps": 1, "loss": 0.5}
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write('{"steps": 2, "lo')  # half written when the failure comes
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text())["steps"] == 1  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temporary file left
    with atomic_write(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "c", "a"):
            pass


def test_model_save_is_atomic_and_loads_back(tmp_path):
    from mlplab import nn

    net = nn.MLP([4, 3, 2], rng=0)
    net.save(tmp_path / "model.npz")
    other = nn.MLP([4, 3, 2], rng=1).load(tmp_path / "model.npz")
    for a, b in zip(net.parameters(), other.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_as_generator_is_the_one_conversion():
    assert as_generator([3, 1]).random() == np.random.default_rng([3, 1]).random()
    ss = np.random.SeedSequence(5)
    assert as_generator(ss).random() == np.random.default_rng(np.random.SeedSequence(5)).random()
    for bad in ("5", True, 1.5, []):
        with pytest.raises(TypeError, match="rng must be"):
            as_generator(bad)


def test_unlink_quietly_removes_the_file_and_takes_a_gone_one_or_none(tmp_path):
    from mlplab.runtime.fileio import unlink_quietly

    f = tmp_path / "shared"
    f.write_bytes(b"x")
    unlink_quietly(f)
    assert not f.exists()
    unlink_quietly(f)  # gone already
    unlink_quietly(None)  # no file was made
    d = tmp_path / "a-folder"
    d.mkdir()
    unlink_quietly(d)  # an OSError (a folder is not unlinked): ignored, the folder stays
    assert d.is_dir()
