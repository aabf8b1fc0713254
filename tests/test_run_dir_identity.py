"""A run dir is one experiment: `vtl fit` refuses a dir that holds a fit made with other settings (model, family,
quantization, LoRA, data, scoring), naming what differs, while a same-settings rerun and a resume keep working."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from vtl.lightning_cli import RUN_SETTINGS, guard_fit_identity, run_lightning_cli
from vtl.records import RunSettingsError

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"


def part(**identity):
    return SimpleNamespace(run_identity=lambda: identity)


def test_other_settings_are_refused_only_once_the_dir_holds_results(tmp_path):
    model, data = part(model="vtl://tiny-qwen2.5-vl", lora={"r": 8}), part(source_task="Counting")
    guard_fit_identity(tmp_path, model, data)
    # a first attempt that left no results (it failed before its first checkpoint): other settings take the dir
    guard_fit_identity(tmp_path, part(model="vtl://tiny-internvl", lora={"r": 8}), data)
    (tmp_path / "checkpoints").mkdir()
    guard_fit_identity(tmp_path, part(model="vtl://tiny-internvl", lora={"r": 8}), data)  # same settings: a rerun
    with pytest.raises(RunSettingsError, match=r"different data\.source_task, model\.lora: .*'Jigsaw' now"):
        guard_fit_identity(tmp_path, part(model="vtl://tiny-internvl", lora={"r": 4}), part(source_task="Jigsaw"))
    # a module without a run identity (any other LightningModule) is not guarded
    guard_fit_identity(tmp_path / "other", object(), object())
    assert not (tmp_path / "other" / RUN_SETTINGS).exists()


def test_fit_with_another_model_into_a_used_run_dir_is_refused(tmp_path, capsys, tiny_model_dir, synth_dir):
    root = tmp_path / "Counting"

    def fit(*extra: str, epochs: int = 1) -> int:
        return run_lightning_cli([
            "fit", "--config", str(CONFIG), f"--trainer.default_root_dir={root}", f"--trainer.max_epochs={epochs}",
            "--trainer.enable_progress_bar=false", "--data.max_train_samples=4", "--data.max_eval_samples=2",
            "--data.targets=Counting", *extra,
        ])

    assert fit() == 0
    adapter = (root / "adapter" / "adapter_model.safetensors").read_bytes()
    log = (root / "transfer.jsonl").read_text()
    capsys.readouterr()
    assert fit("--model.model=vtl://tiny-internvl") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "different model.family, model.model" in err and "'vtl://tiny-internvl' now" in err, err
    # nothing of the first fit was touched
    assert (root / "adapter" / "adapter_model.safetensors").read_bytes() == adapter
    assert (root / "transfer.jsonl").read_text() == log
    assert sorted(p.name for p in root.glob("transfer.jsonl*")) == ["transfer.jsonl"]
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == ["epoch0.ckpt", "last.ckpt"]
    assert fit("--ckpt_path=last", epochs=2) == 0  # a resume with the same settings continues
    assert {p.name for p in (root / "checkpoints").iterdir()} == {"epoch1.ckpt", "last.ckpt"}
