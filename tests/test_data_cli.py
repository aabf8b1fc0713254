"""`vtl data synth` + `vtl data check` through the top-level entry point."""

from __future__ import annotations

import pyarrow.parquet as pq
from data_helpers import write_task_parquet

from vtl.cli import main


def test_synth_then_check_round_trip(tmp_path, capsys):
    out = tmp_path / "suite"
    assert main(["data", "synth", "--out", str(out), "--n-per-task", "6", "--seed", "3", "--image-size", "32"]) == 0
    assert "wrote 13 tasks x 6 rows" in capsys.readouterr().out
    assert main(["data", "check", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["task", "rows", "A", "B", "C", "D"]
    table = {ln.split()[0]: ln.split()[1:] for ln in lines[2:]}
    counting = [int(x) for x in table["Counting"]]
    assert counting[0] == 6 and sum(counting[1:]) == 6 and max(counting[1:]) - min(counting[1:]) <= 1
    assert table["Art_Style"][:3] == ["6", "3", "3"] and table["Art_Style"][3:] == ["-", "-"]
    assert table["Relative_Reflectance"] == ["6", "2", "2", "2", "-"]
    assert table["total"][0] == str(13 * 6)
    assert lines[-1] == f"ok: {out} (val)"
    assert main(["data", "check", str(out), "--tasks", "CT,rd", "AS"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[2:5]] == [
        "Counting", "Relative_Depth", "Art_Style"]
    assert main(["data", "check", str(out), "--tasks", "all"]) == 0  # "all" as resolve_tasks reads it: the 13
    assert "total" in capsys.readouterr().out


def test_check_exits_2_with_row_level_errors(tmp_path, capsys):
    out = tmp_path / "suite"
    main(["data", "synth", "--out", str(out), "--n-per-task", "4", "--image-size", "32"])
    path = out / "Jigsaw" / "val-00000-of-00001.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[2]["answer"] = "(C)"  # Jigsaw has two choices
    rows[3]["image_3"] = None
    write_task_parquet(out, "Jigsaw", rows)
    capsys.readouterr()
    assert main(["data", "check", str(out), "--tasks", "JG", "CT"]) == 2
    captured = capsys.readouterr()
    assert "2 error(s)" in captured.err
    assert f"{path}: row 'val_Jigsaw_3': field 'answer': '(C)' is not one of the lettered choices" in captured.err
    assert f"{path}: row 'val_Jigsaw_4': field 'images': 2 image(s)" in captured.err
    assert "Counting" in captured.out  # the counts of the good rows are still printed


def test_check_exits_2_on_missing_source_and_unknown_task(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nothing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path), "--tasks", "Juggling"]) == 2
    assert "unknown task 'Juggling'; valid tasks:" in capsys.readouterr().err


def test_synth_rejects_bad_size(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--image-size", "8"]) == 2
    assert "--image-size" in capsys.readouterr().err
