"""`vtl demo` on a reduced grid: builds the embedded default, fits through the sweep runner, analyses, resumes."""

from __future__ import annotations

import csv
import json

import pytest

from vtl.cli import main
from vtl.transfer import sweep as sw


def test_unknown_source_task_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--sources", "Counting,Juggling", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'Juggling'" in err and "Counting (CT)" in err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_reduced_demo_runs_fits_and_analysis_then_resumes(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = [
        "demo", "--quick", "--out", str(out), "--sources", "CT,JG", "--max-epochs", "1",
        "--set", "data.max_train_samples=8", "--set", "data.max_eval_samples=4",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    runs = [out / "source_task=Counting__seed_everything=0", out / "source_task=Jigsaw__seed_everything=0"]
    for run_dir in runs:
        assert (run_dir / sw.COMPLETE_MARKER).is_file()
        records = [json.loads(line) for line in (run_dir / "transfer.jsonl").read_text().splitlines()]
        assert len(records) == 13 and {r["epoch"] for r in records} == {0}
        # the demo sweep's metric is a key the fit really logged
        with open(run_dir / "metrics.csv") as f:
            assert sw.load_sweep(sw.find_sweep_file("demo_tiny")).metric["name"] in next(csv.reader(f))
    for line in ("[1/3] embedded default", "[2/3] transfer grid", "[3/3] transfer analysis of 2 run(s)",
                 "[1/2] source_task=Counting__seed_everything=0: done in", "mean positive PGF",
                 "personas:", "heatmap: ", "report: ", "summary: ", "not findings about Qwen2.5-VL"):
        assert line in printed, line
    analysis = out / "analysis"
    summary = json.loads((analysis / "summary.json").read_text())
    (label,) = summary
    assert sorted(summary[label]["pgf_matrix"]) == ["Counting", "Jigsaw"]
    assert len(summary[label]["pgf_matrix"]["Counting"]) == 13
    assert (analysis / "report.md").is_file()
    assert (analysis / summary[label]["files"]["heatmap"]).is_file()

    # a second call resumes: both fits are complete, so only the analysis runs again
    logs = {r: (r / sw.RUN_LOG).read_text() for r in runs}
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 runs, 2 complete, 0 to run" in printed and "complete, skipped" in printed
    assert {r: (r / sw.RUN_LOG).read_text() for r in runs} == logs
    assert "[3/3] transfer analysis of 2 run(s)" in printed
