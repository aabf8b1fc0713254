"""A `vtl sweep` stopped mid-run (SIGTERM, SIGINT or SIGKILL) leaves no fit running, and its rerun completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from vtl.locks import LOCK_FILE, RunDirLock, RunDirLockedError

# Stands in for `vtl fit`: writes its PID, then "trains" until $FAKE_HOLD is removed; a run resumed later finishes.
FAKE_FIT = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path

    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    run_dir = Path(args["trainer.default_root_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "fit.pid").write_text(str(os.getpid()))
    while Path(os.environ["FAKE_HOLD"]).exists():
        time.sleep(0.05)
    (run_dir / "fit_complete.json").write_text(json.dumps({"ok": True}))
    """
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    script = tmp_path / "fake_fit.py"
    script.write_text(FAKE_FIT)
    spec = {
        "method": "grid",
        "parameters": {"data.source_task": {"values": ["Counting"]}},
        "command": ["${env}", "python", str(script), "${args}"],
    }
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_killed_sweep_leaves_no_fit_running_and_reruns(sweep_file, tmp_path, signum):
    runs = tmp_path / "runs"
    hold = tmp_path / "hold"
    hold.write_text("")
    env = {**os.environ, "FAKE_HOLD": str(hold)}
    cmd = [sys.executable, "-m", "vtl.cli", "sweep", str(sweep_file), "--runs-dir", str(runs), "--quiet"]
    sweep = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pid_file = runs / "source_task=Counting" / "fit.pid"
    wait_for(pid_file.exists)
    wait_for(lambda: pid_file.read_text().strip() != "")
    fit_pid = int(pid_file.read_text())
    assert (runs / LOCK_FILE).is_file()  # the sweep holds its runs dir
    sweep.send_signal(signum)
    sweep.wait(timeout=60)
    assert sweep.returncode != 0
    wait_for(lambda: not alive(fit_pid), timeout=30)
    assert not (runs / "source_task=Counting" / "fit_complete.json").exists()

    hold.unlink()  # the rerun's fit finishes (a SIGKILLed sweep's lock is stale: its PID is gone)
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((runs / "source_task=Counting" / "fit_complete.json").read_text()) == {"ok": True}
    assert not (runs / LOCK_FILE).exists()


def test_a_held_run_dir_is_refused_and_a_stale_lock_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(json.dumps(
            {"pid": holder.pid, "host": os.uname().nodename, "started": time.time(), "what": "vtl fit"}))
        with pytest.raises(RunDirLockedError, match=rf"in use by vtl fit \(PID {holder.pid}.*delete .*{LOCK_FILE}"):
            RunDirLock(tmp_path, "vtl fit").acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunDirLock(tmp_path, "vtl fit") as lock:  # its process is gone: stale
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists()
