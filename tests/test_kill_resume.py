"""Kill anywhere, resume, same numbers: a tiny `vtl fit` SIGKILLed at a named point (VTL_FAULT, vtl.faults) and
resumed with `--ckpt_path last` leaves the run dir the uninterrupted run leaves: transfer.jsonl, questions.jsonl,
metrics.csv and the adapter byte for byte, fit_complete.json but for its time stamp."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"
# 2 epochs of 2 steps (8 rows, batch 4), 2 targets of 2 eval rows: each epoch validates 2 batches, and saves two
# checkpoints (epoch{N}.ckpt, last.ckpt), each exporting the adapter.
KILL_POINTS = {
    "zero_shot@1": "during the zero-shot baseline (no checkpoint yet)",
    "train_step@3": "mid-epoch training (epoch 1)",
    "val_batch@3": "mid-validation (epoch 1)",
    "questions_appended@2": "epoch 1's per-question records appended, its transfer rows not",
    "rows_appended@2": "epoch 1's rows appended, its checkpoint not saved",
    "adapter_export@2": "inside epoch 1's adapter export",
    "fit_end@1": "after the last epoch, before fit_complete.json",
}


def run_fit(home: Path, root: Path, *extra: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VTL_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("VTL_FAULT", None)
    if fault:
        env["VTL_FAULT"] = fault
    cmd = [
        sys.executable, "-m", "vtl.cli", "fit", "--config", str(CONFIG),
        f"--trainer.default_root_dir={root}", "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
        "--data.max_train_samples=8", "--data.max_eval_samples=2", "--data.batch_size=4",
        "--data.targets=Counting,Jigsaw", *extra,
    ]
    return subprocess.run(cmd, env=env, cwd=root.parent, capture_output=True, text=True, timeout=600)


def own_home(base: Path, tiny_model_dir: Path, synth_dir: Path) -> Path:
    """A VTL_HOME sharing the built tiny model and synthetic suite, with a zero-shot cache of its own."""
    base.mkdir(parents=True)
    for built in (tiny_model_dir, synth_dir):
        (base / built.name).symlink_to(built)
    return base


def run_dir_state(root: Path) -> dict:
    complete = json.loads((root / "fit_complete.json").read_text())
    complete.pop("finished_at")
    return {
        "transfer.jsonl": (root / "transfer.jsonl").read_text(),
        "questions.jsonl": (root / "questions.jsonl").read_text(),
        "metrics.csv": (root / "metrics.csv").read_text(),
        "fit_complete.json": complete,
        "adapter": (root / "adapter" / "adapter_model.safetensors").read_bytes(),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir, synth_dir):
    base = tmp_path_factory.mktemp("reference")
    root = base / "run"
    done = run_fit(own_home(base / "home", tiny_model_dir, synth_dir), root)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir_state(root)


@pytest.mark.parametrize("fault", list(KILL_POINTS), ids=list(KILL_POINTS))
def test_kill_and_resume_gives_the_uninterrupted_run(fault, reference, tmp_path, tiny_model_dir, synth_dir):
    home = own_home(tmp_path / "home", tiny_model_dir, synth_dir)
    root = tmp_path / "run"
    killed = run_fit(home, root, fault=fault)
    assert killed.returncode == -signal.SIGKILL, f"{fault} was never reached: {killed.stderr[-3000:]}"
    assert not (root / "fit_complete.json").exists()
    resumed = run_fit(home, root, "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = run_dir_state(root)
    for name, expected in reference.items():
        assert got[name] == expected, f"{name} differs after a kill {KILL_POINTS[fault]}"
    leftovers = sorted(p.name for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name)
    assert leftovers == []
    assert not (root / ".vtl.lock").exists()
    if fault.startswith("fit_end"):  # and a rerun of the finished fit (the README's resume command) changes nothing
        again = run_fit(home, root, "--ckpt_path=last")
        assert again.returncode == 0, again.stderr[-3000:]
        assert run_dir_state(root) == reference
