"""`vtl data check` on a directory holding only some tasks: checks those, lists the rest, reports every problem."""

from __future__ import annotations

from data_helpers import row, write_task_parquet

from vtl.cli import main
from vtl.data.check import check_source
from vtl.tasks import TRANSFER_TASKS


def _partial(tmp_path, bad: bool = True):
    write_task_parquet(tmp_path, "Counting", [row("Counting", i, 1, 4) for i in range(3)])
    rows = [row("Jigsaw", i, 3, 2) for i in range(3)]
    if bad:
        # one row with three problems, another with one
        rows[1].update(answer="(D)", question="", prompt="", image_3={"bytes": None, "path": "gone.png"})
        rows[2].update(choices=[])
    write_task_parquet(tmp_path, "Jigsaw", rows)
    return tmp_path


def test_partial_dir_checks_what_is_there_and_reports_every_problem(tmp_path):
    report = check_source(str(_partial(tmp_path)))
    assert list(report.counts) == ["Counting", "Jigsaw"]
    assert report.missing == [t for t in TRANSFER_TASKS if t not in ("Counting", "Jigsaw")]
    found = [(e.idx, e.field) for e in report.errors]
    assert found == [("'val_Jigsaw_1'", "answer"), ("'val_Jigsaw_1'", "question"), ("'val_Jigsaw_1'", "image_3"),
                     ("'val_Jigsaw_2'", "choices")]
    assert sum(report.counts["Jigsaw"].values()) == 1 and sum(report.counts["Counting"].values()) == 3


def test_tasks_named_but_absent_are_each_an_error(tmp_path):
    report = check_source(str(_partial(tmp_path, bad=False)), tasks="CT,RD,AS")
    assert report.missing == []
    assert [e.problem for e in report.errors] == ["no 'val' data for task Relative_Depth",
                                                  "no 'val' data for task Art_Style"]
    assert list(report.counts) == ["Counting"]


def test_cli_lists_missing_tasks_and_exits_0_on_a_clean_partial_dir(tmp_path, capsys):
    assert main(["data", "check", str(_partial(tmp_path, bad=False))]) == 0
    out = capsys.readouterr().out
    assert "not checked" in out and "Relative_Depth" in out and out.rstrip().endswith("(val)")
    assert main(["data", "check", str(_partial(tmp_path))]) == 2
    assert "4 error(s)" in capsys.readouterr().err
