"""`vtl fit --config configs/transfer/tiny.yaml` end to end on the tiny model: run dir contents, transfer.jsonl,
the zero-shot cache, the peft adapter outside vtl, and kill-and-resume."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from vtl.analysis.pgf import pgf
from vtl.lightning_cli import build_cli
from vtl.tasks import TRANSFER_TASKS
from vtl.transfer.cross_task import CrossTaskPGF

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"
STEPS_PER_EPOCH = 2  # 8 training rows, batch 4


def fit(root: Path, *extra: str, epochs: int = 2):
    argv = [
        "fit", "--config", str(CONFIG),
        f"--trainer.default_root_dir={root}", f"--trainer.max_epochs={epochs}",
        "--trainer.enable_progress_bar=false",
        "--data.max_train_samples=8", "--data.max_eval_samples=3", "--data.batch_size=4",
        *extra,
    ]
    return build_cli(argv)


def pgf_callback(cli) -> CrossTaskPGF:
    return next(cb for cb in cli.trainer.callbacks if isinstance(cb, CrossTaskPGF))


def records(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "transfer.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tiny_model_dir, synth_dir):
    root = tmp_path_factory.mktemp("run") / "Counting"
    return fit(root), root


def test_run_dir_holds_every_artifact(fitted):
    cli, root = fitted
    for name in ("checkpoints/last.ckpt", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                 "config.yaml", "metrics.csv", "transfer.jsonl", "fit_complete.json"):
        assert (root / name).is_file(), name
    # the checkpoint holds the adapter only (the frozen base reloads from the model name)
    state = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["state_dict"] and all("lora_" in k for k in state["state_dict"])
    assert state["optimizer_states"] and state["lr_schedulers"]
    assert "zero_shot" in next(v for k, v in state["callbacks"].items() if "CrossTaskPGF" in k)


def test_transfer_log_has_each_epoch_and_target_once_with_pgf_of_logged_accuracies(fitted):
    cli, root = fitted
    recs = records(root)
    assert sorted((r["epoch"], r["target"]) for r in recs) == sorted((e, t) for e in (0, 1) for t in TRANSFER_TASKS)
    assert {r["step"] for r in recs if r["epoch"] == 1} == {2 * STEPS_PER_EPOCH}
    logged = {}  # (epoch, target) -> accuracy, from the CSV logger
    with open(root / "metrics.csv") as fh:
        for row in csv.DictReader(fh):
            for t in TRANSFER_TASKS:
                if row.get(f"val/{t}/acc"):
                    logged[(int(row["epoch"]), t)] = float(row[f"val/{t}/acc"])
    for r in recs:
        assert logged[(r["epoch"], r["target"])] == pytest.approx(r["accuracy"])
        expected = pgf(logged[(r["epoch"], r["target"])], r["zero_shot_accuracy"])
        assert r["pgf"] == pytest.approx(expected, abs=1e-9) if expected is not None else r["pgf"] is None
        assert r["model"] == "vtl://tiny-qwen2.5-vl" and r["source_task"] == "Counting" and r["seed"] == 0


def test_second_run_reads_the_zero_shot_cache(fitted, tmp_path):
    first, _ = fitted
    cli = fit(tmp_path / "again", "--data.source_task=Jigsaw", epochs=1)
    assert pgf_callback(first).zero_shot_source == "measured"
    assert pgf_callback(cli).zero_shot_source == "cache"
    assert pgf_callback(cli).zero_shot == pgf_callback(first).zero_shot


SCRIPT = """
import sys, torch
from transformers import AutoModelForImageTextToText
from peft import PeftModel
base = AutoModelForImageTextToText.from_pretrained(sys.argv[1], dtype=torch.float32)
ids = torch.arange(20, 40)[None]
with torch.no_grad():
    plain = base(input_ids=ids).logits
    model = PeftModel.from_pretrained(base, sys.argv[2])
    tuned = model(input_ids=ids).logits
torch.save({"plain": plain, "tuned": tuned}, sys.argv[3])
"""


def test_adapter_loads_with_peft_outside_vtl(fitted, tiny_model_dir, tmp_path):
    cli, root = fitted
    out = tmp_path / "logits.pt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(root / "adapter"), str(out)],
                   check=True, env=env, timeout=120)
    got = torch.load(out)
    model = cli.model.model.eval()
    with torch.no_grad():
        ours = model(input_ids=torch.arange(20, 40)[None]).logits
    torch.testing.assert_close(got["tuned"], ours, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(got["plain"], got["tuned"], atol=1e-5)  # the adapter is not a no-op


class CrashAfterValidation(Callback):
    """Simulates a crash after epoch N's transfer records are written but before its checkpoint is saved."""

    def on_validation_end(self, trainer, pl_module):
        if trainer.current_epoch == int(os.environ.get("VTL_TEST_CRASH_EPOCH", "-1")):
            raise RuntimeError("simulated crash")


def test_crash_and_resume_continue_the_same_transfer_log(tmp_path, monkeypatch, tiny_model_dir, synth_dir):
    root = tmp_path / "run"
    monkeypatch.setenv("VTL_TEST_CRASH_EPOCH", "1")
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(root, "--trainer.callbacks+=test_finetune_fit.CrashAfterValidation")
    # epoch 1's records are written, its checkpoint is not: the resume repeats epoch 1 and must not log it twice
    assert {r["epoch"] for r in records(root)} == {0, 1}
    assert not (root / "fit_complete.json").exists()
    monkeypatch.delenv("VTL_TEST_CRASH_EPOCH")
    cli = fit(root, "--ckpt_path=last")
    recs = records(root)
    assert sorted((r["epoch"], r["target"]) for r in recs) == sorted((e, t) for e in range(2) for t in TRANSFER_TASKS)
    trainer = cli.trainer
    assert trainer.global_step == 2 * STEPS_PER_EPOCH
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == trainer.global_step  # scheduler restored
    # AdamW's per-parameter step counts carry over from the checkpoint (a fresh optimizer would count 2)
    assert {int(s["step"]) for s in trainer.optimizers[0].state.values()} == {trainer.global_step}
    assert pgf_callback(cli).zero_shot_source == "checkpoint"
    assert (root / "fit_complete.json").is_file()
