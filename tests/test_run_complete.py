"""RunComplete marks any finished fit for `vtl sweep`; the PGF callback's marker merges with it."""

from __future__ import annotations

import json

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from vtl.records import FIT_COMPLETE, read_fit_complete, write_fit_complete
from vtl.transfer.run_complete import RunComplete
from vtl.transfer.sweep import SweepRun


class Linear(LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2)


def _fit(root, callbacks, **kw):
    trainer = Trainer(default_root_dir=root, max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks, **kw)
    trainer.fit(Linear())
    return trainer


def test_a_finished_fit_is_marked_and_the_sweep_sees_it(tmp_path):
    run = SweepRun(index=1, name="run", params={}, run_dir=tmp_path)
    assert not run.complete
    _fit(tmp_path, [RunComplete()])
    marker = json.loads((tmp_path / FIT_COMPLETE).read_text())
    assert marker["epochs"] == 1 and marker["global_step"] == 2 and "train/loss" in marker["metrics"]
    assert run.complete and run.state == "complete"


def test_a_new_fit_clears_the_marker_of_an_earlier_one(tmp_path):
    (tmp_path / FIT_COMPLETE).write_text("{}")

    class Crash(RunComplete):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            assert not (tmp_path / FIT_COMPLETE).exists()
            raise RuntimeError("crash mid-fit")

    with pytest.raises(RuntimeError, match="crash mid-fit"):
        _fit(tmp_path, [Crash()])
    assert read_fit_complete(tmp_path) is None  # a fit that did not finish is not marked


def test_prefixes_and_merging_with_another_marker_of_the_same_fit(tmp_path):
    write_fit_complete(tmp_path, {"epochs": 1, "global_step": 2, "metrics": {"transfer/n_positive": 3.0}})
    write_fit_complete(tmp_path, {"epochs": 1, "global_step": 2, "metrics": {"val/loss": 0.5}})
    assert read_fit_complete(tmp_path)["metrics"] == {"transfer/n_positive": 3.0, "val/loss": 0.5}
    write_fit_complete(tmp_path, {"epochs": 2, "global_step": 4, "metrics": {}})  # another fit: replaced
    assert read_fit_complete(tmp_path) == {"epochs": 2, "global_step": 4, "metrics": {}}
    _fit(tmp_path / "p", [RunComplete(metric_prefixes=["val/"])])
    assert read_fit_complete(tmp_path / "p")["metrics"] == {}


def test_distill_configs_mark_their_fits():
    import yaml

    from vtl.home import CONFIGS_DIR

    for path in sorted((CONFIGS_DIR / "distill").glob("*.yaml")):
        callbacks = yaml.safe_load(path.read_text())["trainer"]["callbacks"]
        assert "vtl.transfer.run_complete.RunComplete" in [c["class_path"] for c in callbacks], path
