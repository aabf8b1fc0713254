"""`vtl fit` turns bad input into one clear line and a non-zero exit, before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vtl.lightning_cli import run_lightning_cli
from vtl.transfer.finetune import TransferFineTuner

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml")


def _fit(tmp_path, *extra):
    return run_lightning_cli(["fit", "--config", CONFIG, f"--trainer.default_root_dir={tmp_path}",
                              "--trainer.enable_progress_bar=false", *extra])


def test_unknown_task_lists_the_valid_ones(tmp_path, capsys):
    assert _fit(tmp_path, "--data.source_task=Countin") == 2
    err = capsys.readouterr().err
    assert "--data.source_task" in err and "unknown task 'Countin'" in err and "Counting (CT)" in err
    assert "Traceback" not in err
    assert _fit(tmp_path, "--data.targets=Counting,Jigsw") == 2
    assert "--data.targets" in capsys.readouterr().err


def test_missing_model_path(tmp_path, capsys):
    assert _fit(tmp_path, f"--model.model={tmp_path / 'no-such-model'}") == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "no-such-model" in err


def test_unknown_config_key(tmp_path, capsys):
    assert _fit(tmp_path, "--model.learning_rate=0.1") == 2
    assert "learning_rate" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(CONFIG).read_text().replace("    warmup_steps: 2", "    warmup_step: 2"))
    assert run_lightning_cli(["fit", "--config", str(bad)]) == 2
    assert "warmup_step" in capsys.readouterr().err


@pytest.mark.slow
def test_non_finite_loss_stops_naming_the_step(tmp_path, capsys, monkeypatch, tiny_model_dir, synth_dir):
    calls = []

    def loss(self, batch):
        calls.append(self.global_step)
        real = TransferFineTuner._real_answer_loss(self, batch)
        return real if len(calls) < 2 else real * torch.tensor(float("nan"))

    monkeypatch.setattr(TransferFineTuner, "_real_answer_loss", TransferFineTuner._answer_loss, raising=False)
    monkeypatch.setattr(TransferFineTuner, "_answer_loss", loss)
    rc = _fit(tmp_path, "--data.max_train_samples=8", "--data.max_eval_samples=2", "--data.targets=Counting")
    assert rc == 1
    err = capsys.readouterr().err
    assert "training loss is nan at global step 1" in err and "--model.lr" in err
    assert not (tmp_path / "fit_complete.json").exists()


def test_saved_config_drops_secrets():
    from vtl.lightning_cli import _scrub

    config = {"trainer": {"logger": [{"init_args": {"api_key": "abc123", "project": "vtl", "token": None}}]}}
    clean = _scrub(config)
    assert clean["trainer"]["logger"][0]["init_args"] == {"api_key": "<from environment>", "project": "vtl",
                                                          "token": None}


def test_saved_config_keeps_settings_that_only_mention_tokens():
    from vtl.lightning_cli import _scrub

    clean = _scrub({"model": {"max_new_tokens": 16, "hf_token": "hf_x", "GEMINI_API_KEY": "g"}})
    assert clean["model"] == {"max_new_tokens": 16, "hf_token": "<from environment>",
                              "GEMINI_API_KEY": "<from environment>"}


def test_wandb_agent_runs_get_their_own_run_dir(tmp_path, monkeypatch):
    from vtl.lightning_cli import build_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_SWEEP_ID", "sw1")
    monkeypatch.setenv("WANDB_RUN_ID", "r7")
    cli = build_cli(["--config", str(CONFIG), "--trainer.default_root_dir", "runs/base"], run=False)
    assert Path(cli.trainer.default_root_dir) == Path("runs/wandb-sweep-sw1/r7")
