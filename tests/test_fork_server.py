"""vtl.transfer.fork_server: a sweep's fits forked from a preloaded server give the records of fresh processes, keep
their exit status, and are stopped with the sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vtl.transfer import fork_server

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "transfer" / "tiny.yaml"


def test_only_vtl_fit_validate_test_are_forked(monkeypatch):
    monkeypatch.delenv("VTL_FORK_SERVER", raising=False)
    assert fork_server.forkable(["vtl", "fit", "--config", "x.yaml"])
    assert fork_server.forkable(["vtl", "test"])
    assert not fork_server.forkable(["vtl", "eval"]) and not fork_server.forkable(["python", "train.py"])
    monkeypatch.setenv("VTL_FORK_SERVER", "0")
    assert not fork_server.forkable(["vtl", "fit"])


def test_a_forked_command_keeps_its_exit_status_and_output(tmp_path):
    log = tmp_path / "sweep.log"
    run = fork_server.start(["vtl", "fit", "--config", str(CONFIG), "--trainer.max_epochs", "x"],
                            dict(os.environ), log)
    assert run.wait(timeout=300) == 2  # a user error: one line, exit 2, as from `python -m vtl.cli`
    text = log.read_text()
    assert "vtl fit: error:" in text and "max_epochs" in text and "Traceback" not in text


def test_the_server_is_reaped_at_exit_and_starts_again_on_demand(tmp_path):
    """At the sweep's exit the server is stopped and waited for (so the CPU time of every forked run counts among
    the sweep's children); a later run starts a new one."""
    import multiprocessing.forkserver

    for _ in range(2):
        run = fork_server.start(["vtl", "fit", "--trainer.max_epochs", "x"], dict(os.environ), tmp_path / "log")
        assert run.wait(timeout=300) == 2
        pid = multiprocessing.forkserver._forkserver._forkserver_pid
        assert pid is not None and _alive(pid)
        fork_server._stop_server()  # what atexit runs
        assert not _alive(pid) and multiprocessing.forkserver._forkserver._forkserver_pid is None
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped already, by this process


def test_an_early_start_runs_the_server_before_any_run_and_runs_are_forked_from_it(tmp_path, monkeypatch):
    """`vtl demo` starts the server before its builds, so its imports overlap them; the first run then uses it."""
    import multiprocessing.forkserver

    monkeypatch.setenv("VTL_FORK_SERVER", "0")
    fork_server._stop_server()
    fork_server.start_early()
    assert multiprocessing.forkserver._forkserver._forkserver_pid is None  # turned off: nothing started
    monkeypatch.delenv("VTL_FORK_SERVER")
    fork_server.start_early()
    pid = multiprocessing.forkserver._forkserver._forkserver_pid
    assert pid is not None and _alive(pid)
    run = fork_server.start(["vtl", "fit", "--trainer.max_epochs", "x"], dict(os.environ), tmp_path / "log")
    assert run.wait(timeout=300) == 2 and multiprocessing.forkserver._forkserver._forkserver_pid == pid
    fork_server._stop_server()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False


def _sweep_file(path: Path) -> Path:
    path.write_text(json.dumps({
        "method": "grid",
        "parameters": {
            "data.source_task": {"values": ["Counting", "Jigsaw"]}, "trainer.max_epochs": {"value": 2},
            "data.max_train_samples": {"value": 8}, "data.max_eval_samples": {"value": 2},
            "data.batch_size": {"value": 4}, "data.targets": {"value": "Counting,Jigsaw"},
            "trainer.enable_progress_bar": {"value": False},
        },
        "command": ["${env}", "vtl", "fit", "--config", str(CONFIG), "${args}"],
    }))
    return path


def _home(tmp_path: Path, *built: Path) -> Path:
    """A $VTL_HOME holding the session's built tiny model and synthetic suite."""
    home = tmp_path / "home"
    home.mkdir()
    for path in built:
        (home / path.name).symlink_to(path)
    return home


@pytest.mark.slow
def test_forked_fits_give_the_records_of_fresh_processes(tmp_path, tiny_model_dir, synth_dir):
    home = _home(tmp_path, tiny_model_dir, synth_dir)
    sweep = _sweep_file(tmp_path / "grid.yaml")
    results = {}
    for label, flag in (("forked", "1"), ("fresh", "0")):
        env = {**os.environ, "VTL_HOME": str(home), "OMP_NUM_THREADS": "1", "VTL_FORK_SERVER": flag}
        done = subprocess.run([sys.executable, "-m", "vtl.cli", "sweep", str(sweep), "--quiet", "--runs_dir",
                               str(tmp_path / label)], env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results[label] = {p.parent.name + "/" + p.name: p.read_bytes() for p in sorted((tmp_path / label).glob(
            "*/*")) if p.name in ("transfer.jsonl", "questions.jsonl", "metrics.csv")}
        results[label].update({p.parent.parent.name: p.read_bytes()
                               for p in (tmp_path / label).glob("*/adapter/adapter_model.safetensors")})
    assert len(results["forked"]) == 8 and results["forked"] == results["fresh"]


@pytest.mark.slow
def test_a_killed_sweep_takes_its_forked_fit_with_it(tmp_path, tiny_model_dir, synth_dir):
    import signal
    import time

    home = _home(tmp_path, tiny_model_dir, synth_dir)
    sweep = _sweep_file(tmp_path / "grid.yaml")
    env = {**os.environ, "VTL_HOME": str(home), "OMP_NUM_THREADS": "1", "VTL_FORK_SERVER": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vtl.cli", "sweep", str(sweep), "--quiet", "--runs_dir",
                             str(tmp_path / "runs"), "--set", "trainer.max_epochs=50"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = tmp_path / "runs" / "source_task=Counting" / ".vtl.lock"
    deadline = time.monotonic() + 300
    while not lock.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    fit = int(json.loads(lock.read_text())["pid"])
    assert fit != proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _alive(fit):
        assert time.monotonic() < deadline, "the forked fit outlived its sweep"
        time.sleep(0.1)
