"""2-process CPU DDP (gloo) measures the same accuracies as 1 process: sharded zero-shot + torchmetrics sync."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vtl.lightning_cli import build_cli
from vtl.tasks import TRANSFER_TASKS
from vtl.transfer.cross_task import CrossTaskPGF

pytestmark = pytest.mark.slow
CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml")
# 3 eval rows per target: odd, so the two ranks hold different numbers of questions
ARGS = ["--trainer.enable_progress_bar=false", "--data.max_eval_samples=3"]


def test_two_process_ddp_matches_one_process(tmp_path, tiny_model_dir, synth_dir):
    args = [*ARGS, f"--model.model={tiny_model_dir}"]  # one model directory for both runs
    single = build_cli(["validate", "--config", CONFIG, f"--trainer.default_root_dir={tmp_path / 'one'}", *args])
    callback = next(cb for cb in single.trainer.callbacks if isinstance(cb, CrossTaskPGF))
    expected = {t: float(single.trainer.callback_metrics[f"val/{t}/acc"]) for t in TRANSFER_TASKS}

    home = tmp_path / "ddp_home"  # a fresh cache: the two ranks measure the zero-shot baseline themselves
    env = {**os.environ, "VTL_HOME": str(home)}
    cmd = [sys.executable, "-m", "vtl.cli", "validate", "--config", CONFIG,
           f"--trainer.default_root_dir={tmp_path / 'two'}", "--trainer.strategy=ddp", "--trainer.devices=2", *args]
    subprocess.run(cmd, check=True, env=env, timeout=300, cwd=tmp_path)

    with open(tmp_path / "two" / "metrics.csv") as fh:
        row = next(csv.DictReader(fh))
    got = {t: float(row[f"val/{t}/acc"]) for t in TRANSFER_TASKS}
    assert got == pytest.approx(expected)
    (cache,) = (home / "zero_shot").glob("*.json")
    assert json.loads(cache.read_text())["accuracy"] == pytest.approx(callback.zero_shot)
