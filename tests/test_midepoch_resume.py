"""Mid-epoch checkpoints and preemption (vtl.checkpointing): a tiny `vtl fit` on 2 intra-op threads, killed (SIGKILL)
or preempted (SIGUSR1/SIGTERM) in the middle of an epoch and resumed with `--ckpt_path last`, leaves the run dir the
uninterrupted run leaves: adapter, transfer.jsonl, questions.jsonl and metrics.csv byte for byte. The same for a
student (T2T-VICL) fit's exported weights."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vtl.checkpointing import EXIT_PREEMPTED, TRAIN_POSITION, EpochShuffle, SkipTrained

ROOT = Path(__file__).resolve().parents[1]
TRANSFER = ROOT / "configs" / "transfer" / "tiny.yaml"
STUDENT = ROOT / "configs" / "distill" / "tiny.yaml"
# 12 rows in batches of 4: 3 steps an epoch, 2 epochs. tiny.yaml's StepCheckpoint saves every 2 steps inside an
# epoch (steps 2 and 4), ModelCheckpoint after each validation (steps 3 and 6).
TRANSFER_ARGS = ("--trainer.max_epochs=2", "--trainer.enable_progress_bar=false", "--data.max_train_samples=12",
                 "--data.max_eval_samples=2", "--data.batch_size=4", "--data.targets=Counting,Jigsaw")


def run(config: Path, home: Path, root: Path, *extra: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VTL_HOME": str(home), "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("VTL_FAULT", None)
    if fault:
        env["VTL_FAULT"] = fault
    cmd = [sys.executable, "-m", "vtl.cli", "fit", "--config", str(config), f"--trainer.default_root_dir={root}",
           *extra]
    return subprocess.run(cmd, env=env, cwd=root.parent, capture_output=True, text=True, timeout=600)


def own_home(base: Path, *built: Path) -> Path:
    base.mkdir(parents=True)
    for path in built:
        (base / path.name).symlink_to(path)
    return base


def transfer_state(root: Path) -> dict:
    return {name: (root / name).read_bytes() for name in
            ("transfer.jsonl", "questions.jsonl", "metrics.csv", "adapter/adapter_model.safetensors")}


@pytest.fixture(scope="module")
def transfer_reference(tmp_path_factory, tiny_model_dir, synth_dir):
    base = tmp_path_factory.mktemp("reference")
    done = run(TRANSFER, own_home(base / "home", tiny_model_dir, synth_dir), base / "run", *TRANSFER_ARGS)
    assert done.returncode == 0, done.stderr[-3000:]
    return transfer_state(base / "run")


def checkpoint_of(root: Path) -> dict:
    return torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


# (fault, exit status, where the interrupted attempt's last.ckpt stands: (global step, mid-epoch position or None))
INTERRUPTIONS = {
    "killed mid-epoch": ("train_step@5", -signal.SIGKILL, (4, {"epoch": 1, "batches": 1, "samples": 4})),
    "killed in validation": ("val_batch@3", -signal.SIGKILL, (4, {"epoch": 1, "batches": 1, "samples": 4})),
    "preempted mid-epoch (SIGUSR1)": ("train_step@4:SIGUSR1", EXIT_PREEMPTED, (5, {"epoch": 1, "batches": 2,
                                                                                    "samples": 8})),
    "preempted in validation (SIGTERM)": ("val_batch@3:SIGTERM", EXIT_PREEMPTED, (4, {"epoch": 1, "batches": 1,
                                                                                      "samples": 4})),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(INTERRUPTIONS))
def test_transfer_fit_resumes_mid_epoch_bit_for_bit(case, transfer_reference, tmp_path, tiny_model_dir, synth_dir):
    fault, status, (step, position) = INTERRUPTIONS[case]
    home = own_home(tmp_path / "home", tiny_model_dir, synth_dir)
    root = tmp_path / "run"
    stopped = run(TRANSFER, home, root, *TRANSFER_ARGS, fault=fault)
    assert stopped.returncode == status, stopped.stderr[-3000:]
    if status == EXIT_PREEMPTED:
        assert "preempted" in stopped.stderr and "--ckpt_path last" in stopped.stderr
    ckpt = checkpoint_of(root)
    assert ckpt["global_step"] == step
    assert ckpt.get("TransferDataModule", {}).get(TRAIN_POSITION) == position
    assert not (root / "fit_complete.json").exists()
    assert not list((root / "checkpoints").glob("*.tmp-*")) and not list((root / "checkpoints").glob("last-v*"))
    resumed = run(TRANSFER, home, root, *TRANSFER_ARGS, "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "not resumable" not in resumed.stderr  # Lightning's mid-epoch warning does not apply
    got = transfer_state(root)
    for name, expected in transfer_reference.items():
        assert got[name] == expected, f"{name} differs after the fit was {case}"


@pytest.mark.slow
def test_student_fit_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    args = ("--trainer.max_epochs=2", "--trainer.enable_progress_bar=false", "--data.build.n_train=12",
            "--model.n_samples=1", "--model.max_new_tokens=8")
    home = own_home(tmp_path / "home", tiny_model_dir)
    reference = run(STUDENT, home, tmp_path / "reference", *args)
    assert reference.returncode == 0, reference.stderr[-3000:]
    killed = run(STUDENT, home, tmp_path / "run", *args, fault="train_step@5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    ckpt = checkpoint_of(tmp_path / "run")
    assert ckpt["global_step"] == 4  # mid-epoch: 3 pairs x 12 tuples in batches of 4 are 9 steps an epoch
    assert ckpt["DistillDataModule"][TRAIN_POSITION] == {"epoch": 0, "batches": 4, "samples": 16}
    resumed = run(STUDENT, home, tmp_path / "run", *args, "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    weights = [sorted((tmp_path / r / "student").glob("*.safetensors")) for r in ("reference", "run")]
    assert weights[0] and [p.name for p in weights[0]] == [p.name for p in weights[1]]
    for ref, got in zip(*weights, strict=True):
        a, b = load_file(ref), load_file(got)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{got.name} differs"


# ---- the pieces ----------------------------------------------------------------------------------------------------


def test_skip_trained_leaves_out_the_trained_rows_of_its_epoch_only():
    inner = EpochShuffle(10, seed=3)
    wrapped = SkipTrained(EpochShuffle(10, seed=3), epoch=1, skip=4)
    for epoch in range(3):
        inner.set_epoch(epoch)
        wrapped.set_epoch(epoch)
        full = list(inner)
        assert list(wrapped) == (full[4:] if epoch == 1 else full)
        assert len(wrapped) == 10


def test_data_module_records_a_mid_epoch_position_only(tmp_path):
    from types import SimpleNamespace

    from lightning.pytorch.trainer.states import TrainerFn

    from vtl.checkpointing import ResumableOrder

    class Module(ResumableOrder):
        batch_size = 4

    def trainer(done: int, fn=TrainerFn.FITTING):
        progress = SimpleNamespace(current=SimpleNamespace(processed=done))
        return SimpleNamespace(state=SimpleNamespace(fn=fn), current_epoch=2, num_training_batches=5,
                               fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))

    module = Module()
    for done, expected in [(0, {}), (3, {TRAIN_POSITION: {"epoch": 2, "batches": 3, "samples": 12}}), (5, {})]:
        module.trainer = trainer(done)
        assert module.state_dict() == expected
    module.trainer = trainer(3, TrainerFn.VALIDATING)
    assert module.state_dict() == {}
    module.load_state_dict({TRAIN_POSITION: {"epoch": 2, "batches": 3, "samples": 12}})
    sampler = module.resume_sampler(EpochShuffle(20))
    assert isinstance(sampler, SkipTrained) and (sampler.resume_epoch, sampler.skip) == (2, 12)
    assert Module().resume_sampler(shuffle := EpochShuffle(20)) is shuffle


def test_csv_history_drops_the_rows_a_resumed_attempt_logs_again(tmp_path):
    from vtl.transfer.csv_logging import _KeepingWriter

    rows = [(0, 1, "1.0", ""), (0, 1, "", "0.5"), (1, 2, "0.9", ""), (1, 3, "0.8", "")]
    (tmp_path / "metrics.csv").write_text("epoch,step,train/loss,val/acc\n" + "".join(
        ",".join(map(str, r)) + "\n" for r in rows))
    writer = _KeepingWriter(log_dir=str(tmp_path))
    writer.log_metrics({"epoch": 1, "train/loss": 0.9}, step=2)  # resumed from a checkpoint taken after step 1
    writer.save()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in lines[1:]] == [["0", "1"], ["0", "1"], ["1", "2"]]


def test_step_checkpoint_refuses_bad_settings():
    from vtl.checkpointing import StepCheckpoint

    with pytest.raises(ValueError, match="every_n_train_steps"):
        StepCheckpoint(every_n_train_steps=0)
    with pytest.raises(ValueError, match="SIGUSR9"):
        StepCheckpoint(signals=["SIGUSR9"])
    assert StepCheckpoint(signals=[]).signals == []


def test_the_shipped_fit_configs_checkpoint_mid_epoch():
    import yaml

    for path in itertools.chain((ROOT / "configs" / "transfer").glob("*.yaml"),
                                (ROOT / "configs" / "distill").glob("*.yaml")):
        if path.name == "demo_planted.yaml":  # the demo's 39 short fits keep their epoch checkpoints only
            continue
        callbacks = (yaml.safe_load(path.read_text()).get("trainer") or {}).get("callbacks")
        if callbacks is None:  # a partial config (e.g. protocol_blink_val.yaml: data only)
            continue
        steps = [c for c in callbacks if c["class_path"] == "vtl.checkpointing.StepCheckpoint"]
        assert len(steps) == 1 and steps[0]["init_args"]["every_n_train_steps"] >= 1, path.name
        assert json.dumps(callbacks).count("ModelCheckpoint") == 1
