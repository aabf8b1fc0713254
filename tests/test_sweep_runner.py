"""`vtl sweep`: grid expansion, W&B-compatible arguments, dry run, resume and failure handling (fake quick commands)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from vtl.cli import main
from vtl.transfer import sweep as sw

# Stands in for `vtl fit`: records each call, "trains" two epochs writing checkpoints/last.ckpt after the first, and
# crashes after epoch 1 when the run's source task is listed in $FAKE_CRASH (a real fit killed mid-run).
FAKE_FIT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    run_dir = Path(args["trainer.default_root_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / "calls.jsonl", "a") as f:
        f.write(json.dumps(args) + "\\n")
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    start = 1
    if "ckpt_path" in args:
        start = int(Path(args["ckpt_path"]).read_text()) + 1
    for epoch in range(start, int(args.get("trainer.max_epochs", 2)) + 1):
        print(f"epoch {epoch} of {args['data.source_task']}", flush=True)
        ckpt.parent.mkdir(exist_ok=True)
        ckpt.write_text(str(epoch))
        if args["data.source_task"] in os.environ.get("FAKE_CRASH", "").split(","):
            sys.exit(1)
    (run_dir / "fit_complete.json").write_text(json.dumps({"epochs": epoch}))
    """
)


@pytest.fixture
def fake_sweep(tmp_path: Path) -> Path:
    script = tmp_path / "fake_fit.py"
    script.write_text(FAKE_FIT)
    spec = {
        "method": "grid",
        "metric": {"name": "transfer/mean_positive_pgf", "goal": "maximize"},
        "parameters": {
            "data.source_task": {"values": ["Counting", "Jigsaw", "Art_Style"]},
            "seed_everything": {"values": [0]},
            "trainer.max_epochs": {"value": 2},
        },
        "command": ["${env}", "python", str(script), "${args}"],
    }
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _calls(runs_dir: Path) -> list[dict]:
    path = runs_dir / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_grid_expands_in_file_order_with_named_run_dirs(tmp_path):
    spec = {
        "method": "grid",
        "parameters": {
            "data.source_task": {"values": ["Counting", "Jigsaw"]},
            "model.model": {"values": ["Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"]},
            "seed_everything": {"values": [0, 1, 2]},
            "trainer.max_epochs": {"value": 3},
        },
        "command": ["${env}", "vtl", "fit", "${args}"],
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    sweep = sw.load_sweep(path)
    runs = sw.expand_grid(sweep, tmp_path / "runs")
    assert len(runs) == sweep.size == 12
    assert runs[0].params == {
        "data.source_task": "Counting", "model.model": "Qwen/Qwen2.5-VL-3B-Instruct",
        "seed_everything": 0, "trainer.max_epochs": 3,
    }
    assert runs[1].params["seed_everything"] == 1  # the last parameter varies fastest
    assert runs[0].name == "source_task=Counting__model=Qwen2.5-VL-3B-Instruct__seed_everything=0"
    assert len({r.run_dir for r in runs}) == 12
    assert [r.index for r in runs] == list(range(1, 13))


def test_args_match_what_a_wandb_agent_passes():
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    params = {"data.source_task": "Counting", "seed_everything": 3, "model.lr": 0.0002, "data.skip_bad": True,
              "trainer.fast_dev_run": False}
    ours = sw.sweep_args(params)
    theirs = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    for key in ("args", "args_no_hyphens", "args_no_boolean_flags", "args_json"):
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"method": "bayes"}, "method: 'bayes'"),
        ({"parameters": {"model.lr": {"min": 0.1, "max": 1.0}}}, "parameters.model.lr: give exactly one of"),
        ({"parameters": {"seed_everything": {"values": []}}}, "parameters.seed_everything.values"),
        ({"parameters": {"trainer.default_root_dir": {"value": "x"}}}, "sets it per run"),
        ({"command": ["vtl", "fit", "${argz}"]}, "unknown macro '${argz}'"),
        ({"metric": {"goal": "maximize"}}, "metric:"),
    ],
)
def test_bad_sweep_file_names_file_and_field(tmp_path, spec, message):
    base = {"method": "grid", "parameters": {"seed_everything": {"values": [0]}}, "command": ["vtl", "${args}"]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**base, **spec}))
    with pytest.raises(sw.SweepFileError) as err:
        sw.load_sweep(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_bad_sweep_file_exits_2_with_message(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("method: random\nparameters: {a: {values: [1]}}\ncommand: [vtl]\n")
    assert main(["sweep", str(path)]) == 2
    assert "vtl sweep runs `method: grid` files only" in capsys.readouterr().err


def test_dry_run_prints_commands_and_runs_nothing(fake_sweep, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    assert main(["sweep", str(fake_sweep), "--dry-run", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert "3 runs, 0 complete, 3 to run" in out
    assert "[2/3] source_task=Jigsaw__seed_everything=0 (new)" in out
    jigsaw = runs_dir / "source_task=Jigsaw__seed_everything=0"
    assert (
        f"--data.source_task=Jigsaw --seed_everything=0 --trainer.max_epochs=2 --trainer.default_root_dir={jigsaw}"
    ) in out
    assert "${env}" not in out and "${args}" not in out
    assert not runs_dir.exists()


def test_interrupted_sweep_resumes_and_skips_finished_runs(fake_sweep, tmp_path, monkeypatch, capsys):
    runs_dir = tmp_path / "runs"
    argv = ["sweep", str(fake_sweep), "--runs-dir", str(runs_dir)]
    monkeypatch.setenv("FAKE_CRASH", "Jigsaw")
    assert main(argv) == 1  # Jigsaw failed, the sweep went on to Art_Style
    out = capsys.readouterr().out
    assert "[2/3] source_task=Jigsaw__seed_everything=0: FAILED (exit 1)" in out
    assert "[3/3] source_task=Art_Style__seed_everything=0: done" in out
    assert "failed: source_task=Jigsaw__seed_everything=0 (exit 1)" in out
    assert [c["data.source_task"] for c in _calls(runs_dir)] == ["Counting", "Jigsaw", "Art_Style"]
    jigsaw = runs_dir / "source_task=Jigsaw__seed_everything=0"
    assert "epoch 1 of Jigsaw" in (jigsaw / sw.RUN_LOG).read_text()  # output kept in the run's log

    # dry run now shows the states, and the resume argument for the interrupted run
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[1/3] source_task=Counting__seed_everything=0 (complete)" in out
    assert f"(resume)\n  python {fake_sweep.parent / 'fake_fit.py'}" in out
    assert f"--ckpt_path={jigsaw / 'checkpoints' / 'last.ckpt'}" in out

    monkeypatch.delenv("FAKE_CRASH")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[1/3] source_task=Counting__seed_everything=0: complete, skipped" in out
    assert "[2/3] source_task=Jigsaw__seed_everything=0: resuming" in out
    calls = _calls(runs_dir)
    assert [c["data.source_task"] for c in calls] == ["Counting", "Jigsaw", "Art_Style", "Jigsaw"]
    assert calls[-1]["ckpt_path"] == str(jigsaw / "checkpoints" / "last.ckpt")
    assert "ckpt_path" not in calls[0]
    assert json.loads((jigsaw / "fit_complete.json").read_text()) == {"epochs": 2}
    log = (jigsaw / sw.RUN_LOG).read_text()
    assert "epoch 1 of Jigsaw" in log and "epoch 2 of Jigsaw" in log  # both attempts, appended

    assert main(argv) == 0  # everything complete: nothing runs
    assert len(_calls(runs_dir)) == 4
    status = [json.loads(line) for line in (runs_dir / sw.STATUS_LOG).read_text().splitlines()]
    assert [(s["name"].split("__")[0], s["exit"]) for s in status] == [
        ("source_task=Counting", 0), ("source_task=Jigsaw", 1), ("source_task=Art_Style", 0), ("source_task=Jigsaw", 0)
    ]


def test_count_limits_started_runs_and_set_restricts_values(fake_sweep, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    argv = ["sweep", str(fake_sweep), "--runs-dir", str(runs_dir), "--quiet"]
    assert main([*argv, "--count", "1"]) == 0
    assert [c["data.source_task"] for c in _calls(runs_dir)] == ["Counting"]
    out = capsys.readouterr().out
    assert "2 not started (--count)" in out and "epoch 1 of Counting" not in out  # --quiet: output only in the log

    assert main([*argv, "--set", "data.source_task=Counting,Art_Style", "--set", "trainer.max_epochs=1"]) == 0
    calls = _calls(runs_dir)
    assert [c["data.source_task"] for c in calls] == ["Counting", "Art_Style"]  # Counting was complete
    assert calls[-1]["trainer.max_epochs"] == "1"


def test_run_that_exits_zero_without_completing_counts_as_failed(tmp_path, capsys):
    path = tmp_path / "noop.yaml"
    path.write_text("method: grid\nparameters: {seed_everything: {values: [0]}}\ncommand: [python, -c, 'pass']\n")
    assert main(["sweep", str(path), "--runs-dir", str(tmp_path / "runs")]) == 1
    assert "exited 0 without writing" in capsys.readouterr().out


def test_repo_sweeps_found_by_name_and_configs_resolved_from_repo_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the checkout: names and base configs still resolve
    path = sw.find_sweep_file("demo_tiny")
    assert path == sw.SWEEPS_DIR / "demo_tiny.yaml"
    sweep = sw.load_sweep(path)
    run = sw.expand_grid(sweep, "runs/demo")[0]
    command = sw.build_command(sweep, run)
    config = command[command.index("--config") + 1]
    assert config == str(sw.PACKAGE_DIR / "configs" / "transfer" / "tiny.yaml")
    assert sw.executable(command)[:3] == [sys.executable, "-m", "vtl.cli"]
    with pytest.raises(sw.SweepFileError, match="known: .*demo_tiny"):
        sw.find_sweep_file("no_such_sweep")


def test_skipped_run_that_ran_with_other_constants_says_so(fake_sweep, tmp_path, capsys):
    runs_dir = tmp_path / "runs"
    argv = ["sweep", str(fake_sweep), "--runs-dir", str(runs_dir), "--quiet"]
    assert main([*argv, "--set", "data.source_task=Counting"]) == 0
    capsys.readouterr()
    # the run dir is named after the grid keys only: a new epoch count finds the same, finished run
    assert main([*argv, "--set", "data.source_task=Counting", "--set", "trainer.max_epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "complete, skipped; it ran with trainer.max_epochs=2 (now 3)" in out
    assert main([*argv, "--set", "data.source_task=Counting", "--set", "trainer.max_epochs=3", "--dry-run"]) == 0
    assert "(complete); it ran with trainer.max_epochs=2 (now 3)" in capsys.readouterr().out
    assert main([*argv, "--set", "data.source_task=Counting"]) == 0
    assert "complete, skipped\n" in capsys.readouterr().out  # same settings: no note
    assert len(_calls(runs_dir)) == 1


def test_status_lists_every_point_from_the_run_dirs_records(fake_sweep, tmp_path, capsys, monkeypatch):
    """`vtl sweep status`: done, failed (with its log), pending (resumable or not started) and running (a live lock
    holder), read from the run dirs and the sweep's own records; exit 1 until every point is done."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("FAKE_CRASH", "Jigsaw")
    assert main(["sweep", str(fake_sweep), "--runs_dir", str(runs), "--count", "2", "--quiet"]) == 1
    capsys.readouterr()
    assert main(["sweep", "status", str(runs), "--json_lines"]) == 1
    points = {p["name"].split("__")[0]: p for p in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {k: p["state"] for k, p in points.items()} == {
        "source_task=Counting": "done", "source_task=Jigsaw": "failed", "source_task=Art_Style": "pending"}
    assert points["source_task=Jigsaw"]["last_exit"] == 1 and points["source_task=Jigsaw"]["resumable"]
    assert points["source_task=Art_Style"]["attempts"] == 0 and "not started" in points["source_task=Art_Style"][
        "detail"]
    assert [p["index"] for p in points.values()] == [1, 2, 3]

    # A fit at work on that point: another process holds its run dir.
    held = runs / points["source_task=Art_Style"]["name"]
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from vtl.locks import RunDirLock\n"
                               "with RunDirLock(sys.argv[1], 'vtl fit'):\n print('held', flush=True); time.sleep(60)",
                               str(held)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["sweep", "status", str(runs)]) == 1
        table = capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()
    assert "running" in table and "3 points: 1 done, 1 running, 1 failed, 0 pending" in table

    monkeypatch.delenv("FAKE_CRASH")
    assert main(["sweep", str(fake_sweep), "--runs_dir", str(runs), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["sweep", "status", str(runs)]) == 0
    assert "3 points: 3 done" in capsys.readouterr().out


def test_status_of_a_dir_without_a_sweep_is_one_line(tmp_path, capsys):
    assert main(["sweep", "status", str(tmp_path)]) == 2
    assert "holds no sweep runs" in capsys.readouterr().err
