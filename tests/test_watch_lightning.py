"""mlplab.watch.lightning.WatchCallback on a real Lightning Trainer: the frames of the steps asked for, the losses
of training_step, the sharpness entries, the end line, and the fit bit-identical with and without the callback."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")
nn, F = torch.nn, torch.nn.functional

from mlplab.watch import Sharpness, read  # noqa: E402
from mlplab.watch.lightning import WatchCallback  # noqa: E402


class _Module(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


def _fit(callbacks):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(192, 10, generator=g), torch.randint(0, 3, (192,), generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16, shuffle=False)
    model = _Module()
    trainer = L.Trainer(max_steps=12, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    trainer.fit(model, data)
    return model, X, y


def test_the_callback_records_the_fit_and_leaves_it_bit_identical(tmp_path):
    plain, X, y = _fit([])
    rng_plain = torch.get_rng_state()
    cb = WatchCallback(every=3, record=tmp_path / "rec",
                       sharpness=Sharpness(F.cross_entropy, X[:64], y[:64], every=3, share=None))
    watched, _, _ = _fit([cb])
    for (k, a), (_, b) in zip(plain.state_dict().items(), watched.state_dict().items()):
        assert torch.equal(a, b), k
    assert torch.equal(rng_plain, torch.get_rng_state())
    rec = read(tmp_path / "rec")
    assert [f["step"] for f in rec.frames] == [1, 3, 6, 9, 12] and rec.end["reason"] == "closed"
    assert [lay["name"] for lay in rec.meta["layers"]] == ["net.0", "net.3"] and rec.meta["optimizer"] == "SGD"
    # a frame is sent in the step's post-hook, before the batch's end adds its loss: the losses of the steps before
    assert rec.frames[0]["loss"] is None and all(f["loss"] > 0 and f["losses"] == 3 for f in rec.frames[2:])
    entries = [f["sharpness"] for f in rec.frames if "sharpness" in f]
    assert [e["step"] for e in entries] == [1, 4, 7, 10] and all(e["value"] > 0 for e in entries)
    assert entries[0]["limit"] == pytest.approx((2 + 1.8) / 0.1)


def test_a_bad_setting_is_said_when_the_callback_is_made():
    with pytest.raises(TypeError, match="sharpness= takes"):
        WatchCallback(sharpness=3)
    with pytest.raises(ValueError, match="worker= is one of 'process', 'inline', got 'gpu'"):
        WatchCallback(worker="gpu")
