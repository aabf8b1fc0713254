"""W&B logging: offline without a key or network, fallback when going online fails, an offline fit's files."""

from __future__ import annotations

import json
import socket
import struct
import time
from pathlib import Path

import pytest

from vtl.cli import main
from vtl.transfer import wandb_logging as wandb_utils

REPO = Path(__file__).resolve().parent.parent
FAKE_KEY = "fake0secret0key0" + "7" * 24  # 40 characters, shaped like a W&B API key


@pytest.fixture
def no_wandb_env(monkeypatch, tmp_path):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_without_api_key(no_wandb_env):
    assert "no W&B API key" in wandb_utils.offline_reason()


def test_offline_when_wandb_host_unreachable(no_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    assert "unreachable" in wandb_utils.offline_reason()


def test_netrc_login_counts_as_key_and_explicit_mode_wins(no_wandb_env, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    no_wandb_env.write_text(f"machine 127.0.0.1\n  login user\n  password {FAKE_KEY}\n")
    assert "unreachable" in wandb_utils.offline_reason()  # key found in netrc, so the network is checked
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_utils.offline_reason() == "WANDB_MODE=offline"
    monkeypatch.setenv("WANDB_MODE", "online")
    assert wandb_utils.offline_reason() is None


def test_failed_online_start_falls_back_to_offline(no_wandb_env, monkeypatch, tmp_path):
    import wandb

    real_init = wandb.init
    modes = []

    def flaky_init(**kwargs):
        mode = kwargs.get("mode", "online")
        modes.append(mode)
        if mode == "online":
            raise wandb.errors.CommError("network is unreachable")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", flaky_init)
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = wandb_utils.WandbLogger(save_dir=str(tmp_path), offline=False, log_model=False)
    try:
        with pytest.warns(UserWarning, match="logging offline instead"):
            run = logger.experiment
        assert modes == ["online", "offline"]
        assert logger.offline_reason == "online start failed: CommError"
        run.log({"transfer/Counting/pgf": 0.5, "epoch": 0})
        assert list((tmp_path / "wandb").glob("offline-run-*"))
    finally:
        wandb.finish()


def _wandb_records(path: Path):
    """Records of a `.wandb` file: a 7-byte W&B header, then LevelDB-log framed protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0:  # padding to the end of the block
            pos += block - pos % block if pos % block else 0
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # a full record, or the last piece of one
            yield wandb_internal_pb2.Record.FromString(pending)
            pending = b""


def _finished_records(path: Path, timeout: float = 60.0) -> list:
    """The run's records once its `exit` record is on disk (wandb's service process writes the file asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        records = list(_wandb_records(path))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def _key(item) -> str:
    return item.key or ".".join(item.nested_key)


@pytest.mark.slow
def test_offline_fit_records_curves_config_and_no_key(monkeypatch, tmp_path):
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    run_dir = tmp_path / "run"
    argv = [
        "fit", "--config", str(REPO / "configs/transfer/tiny.yaml"),
        "--config", str(REPO / "configs/logger/wandb.yaml"),
        f"--trainer.default_root_dir={run_dir}", "--trainer.max_epochs=2", "--data.source_task=Counting",
        "--data.targets=Counting,Jigsaw", "--data.max_train_samples=4", "--data.max_eval_samples=4",
        "--trainer.enable_progress_bar=false",
    ]
    try:
        assert main(argv) == 0
    finally:
        wandb.finish()
    assert (run_dir / "fit_complete.json").is_file()
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (log,) = offline.glob("run-*.wandb")
    records = _finished_records(log)
    config, metrics, history = {}, {}, []
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config.update({_key(item): json.loads(item.value_json) for item in record.config.update})
        elif kind == "metric" and record.metric.name:
            metrics[record.metric.name] = record.metric.step_metric
        elif kind == "history":
            history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
    # the resolved config of the run, with the value given on the command line
    assert config["cli"]["data"]["init_args"]["source_task"] == "Counting"
    assert config["cli"]["trainer"]["max_epochs"] == 2
    # PGF and accuracy per target are plotted against the epoch, one point per epoch
    assert metrics["transfer/Jigsaw/pgf"] == "epoch" and metrics["val/Counting/acc"] == "epoch"
    pgf_rows = [row for row in history if "transfer/Jigsaw/pgf" in row]
    assert [row["epoch"] for row in pgf_rows] == [0, 1]
    # the final per-target table, and the key nowhere in the run dir
    (table,) = offline.glob("files/media/table/transfer/final_*.table.json")
    columns = json.loads(table.read_text())
    assert columns["columns"] == ["target", "accuracy", "zero_shot_accuracy", "pgf"]
    assert [row[0] for row in columns["data"]] == ["Counting", "Jigsaw"]
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_agent_runs_get_their_own_run_dir():
    env = {"WANDB_SWEEP_ID": "abc123", "WANDB_RUN_ID": "r7x"}
    assert wandb_utils.agent_run_dir("runs", env) == str(Path("runs") / "wandb-sweep-abc123" / "r7x")
    assert wandb_utils.agent_run_dir("runs", {"WANDB_RUN_ID": "r7x"}) is None  # a plain W&B run, no agent
