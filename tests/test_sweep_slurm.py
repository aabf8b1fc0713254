"""`vtl sweep --launcher slurm` (vtl.transfer.sweep's SweepTask over vtl.transfer.slurm): the sbatch text asked for, and, with submitit's LocalExecutor
standing in for SLURM, a 3-point array whose task is signalled as SLURM signals a timed-out job (SIGUSR2): its fit
saves at a step boundary, submitit requeues the task, and every point ends with the records of an uninterrupted
`vtl sweep`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vtl.transfer.slurm import SlurmOptions
from vtl.transfer.sweep import SweepTask, expand_grid, load_sweep, submit_sweep

pytest.importorskip("submitit")
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"
POINTS = ["Counting", "Jigsaw", "Art_Style"]


def write_sweep(path: Path, slurm: dict | None = None) -> Path:
    body = {
        "method": "grid",
        "parameters": {
            "data.source_task": {"values": POINTS},
            "trainer.max_epochs": {"value": 2}, "data.max_train_samples": {"value": 12},
            "data.max_eval_samples": {"value": 2}, "data.batch_size": {"value": 4},
            "data.targets": {"value": "Counting,Jigsaw"}, "trainer.enable_progress_bar": {"value": False},
        },
        "command": ["${env}", "vtl", "fit", "--config", str(CONFIG), "${args}"],
        **({"slurm": slurm} if slurm else {}),
    }
    path.write_text(json.dumps(body))  # JSON is YAML
    return path


def test_dry_run_prints_the_sbatch_script_with_the_resources_asked(tmp_path):
    sweep_file = write_sweep(tmp_path / "grid.yaml", slurm={"partition": "gpu", "time_min": 720, "qos": "high"})
    cmd = [sys.executable, "-m", "vtl.cli", "sweep", str(sweep_file), "--launcher", "slurm", "--dry_run",
           "--runs_dir", str(tmp_path / "runs"), "--slurm.account", "lab", "--slurm.gpus_per_node", "2",
           "--slurm.points_per_task", "2", "--slurm.extra", "[--exclude=node7]", "--slurm.mem_gb", "64"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=720", "#SBATCH --qos=high", "#SBATCH --account=lab",
                 "#SBATCH --gpus-per-node=2", "#SBATCH --exclude=node7", "#SBATCH --mem=64GB",
                 "#SBATCH --array=0-1%2", "#SBATCH --signal=USR2@120", "#SBATCH --requeue"):
        assert line in text, f"{line} missing from:\n{text}"
    assert f"{tmp_path / 'runs' / 'slurm'}" in text
    assert "3 points, 0 complete, 3 to run in 2 array tasks" in text
    assert "# task 1: source_task=Art_Style" in text
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


def test_slurm_options_refuse_unknown_keys_and_bad_numbers(tmp_path):
    from vtl.errors import VtlError

    with pytest.raises(VtlError, match="unknown keys \\['partiton'\\]"):
        SlurmOptions.from_sweep({"partiton": "gpu"}, "grid.yaml")
    with pytest.raises(VtlError, match="points_per_task"):
        SlurmOptions(points_per_task=0).check()
    merged = SlurmOptions(partition="a", time_min=60).merged(SlurmOptions(time_min=30))
    assert (merged.partition, merged.time_min) == ("a", 30)


def _point_state(run_dir: Path) -> dict:
    return {name: (run_dir / name).read_bytes() for name in ("transfer.jsonl", "adapter/adapter_model.safetensors")}


def _task_of(run_dir: Path, timeout: float = 240) -> int:
    """The PID of the array task running this point's fit (the fit's parent), once the fit has a step checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lock = run_dir / ".vtl.lock"
        if (run_dir / "checkpoints" / "last.ckpt").is_file() and lock.is_file():
            try:
                fit = int(json.loads(lock.read_text())["pid"])
                return int(Path(f"/proc/{fit}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, KeyError, IndexError):
                pass
        time.sleep(0.2)
    raise AssertionError(f"{run_dir} never reached a step checkpoint")


@pytest.mark.slow
def test_a_signalled_task_is_requeued_and_every_point_matches_an_uninterrupted_sweep(
        tmp_path, monkeypatch, tiny_model_dir, synth_dir):
    home = tmp_path / "home"
    home.mkdir()
    for built in (tiny_model_dir, synth_dir):
        (home / built.name).symlink_to(built)
    monkeypatch.setenv("VTL_HOME", str(home))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sweep_file = write_sweep(tmp_path / "grid.yaml")

    reference = subprocess.run([sys.executable, "-m", "vtl.cli", "sweep", str(sweep_file), "--quiet", "--runs_dir",
                                str(tmp_path / "reference")], capture_output=True, text=True, timeout=900)
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]

    sweep = load_sweep(sweep_file)
    parent = tmp_path / "array"
    options = SlurmOptions(executor="local", points_per_task=3, time_min=30)
    jobs = submit_sweep(sweep, {}, parent, options, say=lambda _: None)
    assert len(jobs) == 1
    first = expand_grid(sweep, parent)[0]
    os.kill(_task_of(first.run_dir), signal.SIGUSR2)  # what SLURM sends signal_delay_s before the time limit
    result = jobs[0].result()
    assert result["failed"] == [] and len(result["done"]) == 3

    log = (first.run_dir / "sweep.log").read_text()
    assert "preempted" in log and log.count("==> ") == 2  # stopped once at a step boundary, then resumed
    statuses = [json.loads(line) for line in (parent / "sweep_status.jsonl").read_text().splitlines()]
    assert [s["exit"] for s in statuses if s["name"] == first.name] == [75, 0]
    for run in expand_grid(sweep, parent):
        assert (run.run_dir / "fit_complete.json").is_file()
        assert _point_state(run.run_dir) == _point_state(tmp_path / "reference" / run.name), run.name
    status = subprocess.run([sys.executable, "-m", "vtl.cli", "sweep", "status", str(parent)], capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0 and "3 points: 3 done" in status.stdout


def test_a_task_pickles_without_its_running_fit():
    import pickle

    task = SweepTask("grid.yaml", {}, "runs", ["a"], retries=1)
    task._fit = subprocess.Popen([sys.executable, "-c", "pass"])
    task._fit.wait()
    again = pickle.loads(pickle.dumps(task))
    assert again._fit is None and again.names == ["a"] and again.retries == 1


def test_a_failing_point_is_retried_then_reported(tmp_path):
    sweep_file = tmp_path / "fails.yaml"
    sweep_file.write_text(json.dumps({
        "method": "grid", "parameters": {"x": {"values": [1]}},
        "command": ["python", "-c", "import sys; sys.exit(3)", "${args}"],
    }))
    sweep = load_sweep(sweep_file)
    [run] = expand_grid(sweep, tmp_path / "runs")
    with pytest.raises(RuntimeError, match="failed after 2 retries: x=1"):
        SweepTask(str(sweep_file), {}, str(tmp_path / "runs"), [run.name], retries=2)()
    statuses = [json.loads(line) for line in (tmp_path / "runs" / "sweep_status.jsonl").read_text().splitlines()]
    assert [s["exit"] for s in statuses] == [3, 3, 3]


def test_wandb_agents_dry_run_prints_one_array_of_agent_jobs(tmp_path):
    sweep_file = write_sweep(tmp_path / "grid.yaml", slurm={"partition": "gpu"})
    cmd = [sys.executable, "-m", "vtl.cli", "sweep", str(sweep_file), "--launcher", "slurm", "--dry_run",
           "--wandb_sweep", "me/vtl/abc123", "--agents", "4", "--count", "5", "--runs_dir", str(tmp_path / "runs")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "4 agent jobs: wandb agent --count 5 me/vtl/abc123" in out.stdout
    assert "#SBATCH --array=0-3%4" in out.stdout and "#SBATCH --partition=gpu" in out.stdout
    refused = subprocess.run([sys.executable, "-m", "vtl.cli", "sweep", str(sweep_file), "--wandb_sweep", "a/b/c"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "--launcher slurm" in refused.stderr
