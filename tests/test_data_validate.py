"""Each bad-input rule: a DataError naming file, row idx and field; skip_bad drops and logs; check collects all."""

from __future__ import annotations

import logging
import re

import pytest
from data_helpers import png_bytes, row, write_jsonl, write_task_parquet

from vtl.data.check import check_source
from vtl.data.loaders import load_source
from vtl.data.validate import DataError


def _one_bad(tmp_path, task, n_images, n_choices, **over):
    rows = [row(task, 0, n_images, n_choices), row(task, 1, n_images, n_choices, **over)]
    return write_task_parquet(tmp_path, task, rows)


BAD_ROWS = [
    # (overrides of row 1, field named, words in the message)
    ({"image_1": {"bytes": None, "path": "gone.png"}}, "image_1", "missing image"),
    ({"image_1": {"bytes": None, "path": None}}, "images", "0 image(s) (none) but Counting has 1"),
    ({"image_1": {"bytes": b"definitely not a png", "path": "x.png"}}, "image_1", "undecodable image"),
    ({"image_1": {"bytes": png_bytes()[:40], "path": "cut.png"}}, "image_1", "undecodable image"),
    ({"image_2": {"bytes": png_bytes(), "path": "extra.png"}}, "images", "2 image(s) (image_1, image_2) but Counting"),
    ({"image_2": {"bytes": png_bytes(), "path": "extra.png"}}, "images", "; fill image_1 and leave the others empty"),
    ({"image_1": None}, "images", "0 image(s)"),
    ({"answer": "(E)"}, "answer", "not one of the lettered choices; use one of (A), (B), (C), (D)"),
    ({"answer": "B is right"}, "answer", "not one of the lettered choices"),
    ({"answer": "hidden"}, "answer", "not one of the lettered choices"),
    ({"choices": []}, "choices", "empty"),
    ({"choices": None}, "choices", "empty"),
    ({"idx": "val_Counting_0"}, "idx", "duplicate idx"),
]


@pytest.mark.parametrize(("over", "field", "words"), BAD_ROWS)
def test_bad_parquet_row_names_file_idx_and_field(tmp_path, over, field, words):
    path = _one_bad(tmp_path, "Counting", 1, 4, **over)
    with pytest.raises(DataError) as info:
        load_source(str(tmp_path), tasks="CT")
    msg = str(info.value)
    idx = over.get("idx", "val_Counting_1")
    assert msg.startswith(f"{path}: row '{idx}': field '{field}': "), msg
    assert words in msg
    assert info.value.field == field and info.value.origin == str(path)


def test_missing_idx_is_named_by_position(tmp_path):
    _one_bad(tmp_path, "Counting", 1, 4, idx=None)
    with pytest.raises(DataError, match=r"row at row 1 \(no idx\): field 'idx': missing"):
        load_source(str(tmp_path), tasks="CT")


def test_jsonl_errors_missing_file_and_unknown_task(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes())
    good = {"idx": "g", "sub_task": "Counting", "question": "q", "choices": list("1234"), "answer": "(A)",
            "image_1": "a.png"}
    path = write_jsonl(tmp_path / "d.jsonl", [good, {**good, "idx": "m", "image_1": "nope/b.png"},
                                               {**good, "idx": "u", "sub_task": "Juggling"}])
    with pytest.raises(DataError) as info:
        load_source(str(path), tasks="CT")
    msg = str(info.value)
    assert msg.startswith(f"{path}: row 'u': field 'sub_task': unknown task 'Juggling'; valid tasks: Art_Style")
    report = check_source(str(path))
    assert [(e.idx, e.field) for e in report.errors] == [("'u'", "sub_task"), ("'m'", "image_1")]
    assert f"{tmp_path / 'nope' / 'b.png'} does not exist" in str(report.errors[1])


def test_jsonl_bad_line_is_named_by_line_number(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"idx": "x", "sub_task": "Counting"\n')
    with pytest.raises(DataError, match=re.escape(f"{path}: row at line 1: invalid JSON")):
        load_source(str(path))


def test_skip_bad_returns_good_rows_and_logs_which(tmp_path, caplog):
    rows = [row("Counting", i, 1, 4) for i in range(5)]
    rows[1]["answer"] = "(Z)"
    rows[3]["image_1"] = {"bytes": b"junk", "path": "j.png"}
    write_task_parquet(tmp_path, "Counting", rows)
    with caplog.at_level(logging.INFO, logger="vtl.data"):
        data = load_source(str(tmp_path), tasks="CT", skip_bad=True)
    assert [s.idx for s in data["Counting"]] == ["val_Counting_0", "val_Counting_2", "val_Counting_4"]
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and warning[0].name == "vtl.data"
    assert "skipped 2 bad row(s)" in warning[0].getMessage()
    assert "'val_Counting_1'" in warning[0].getMessage() and "'val_Counting_3'" in warning[0].getMessage()


def test_check_source_collects_every_error_and_counts_letters(tmp_path):
    rows = [row("Relative_Reflectance", i, 1, 3, answer=f"({'ABC'[i % 3]})") for i in range(6)]
    rows[0]["choices"] = []
    rows[4]["image_1"] = None
    write_task_parquet(tmp_path, "Relative_Reflectance", rows)
    write_task_parquet(tmp_path, "Art_Style", [row("Art_Style", 0, 3), row("Art_Style", 1, 2)])
    report = check_source(str(tmp_path), tasks=["RR", "AS"])
    assert not report.ok
    assert [(e.idx, e.field) for e in report.errors] == [
        ("'val_Relative_Reflectance_0'", "choices"), ("'val_Relative_Reflectance_4'", "images"),
        ("'val_Art_Style_1'", "images"),
    ]
    assert dict(report.counts["Relative_Reflectance"]) == {"A": 1, "B": 1, "C": 2}  # rows 0 (A) and 4 (B) are bad
    assert report.counts["Art_Style"]["A"] == 1
    lines = report.table().splitlines()
    assert lines[0].split() == ["task", "rows", "A", "B", "C"]
    assert lines[2].split() == ["Relative_Reflectance", "4", "1", "1", "2"]
    assert lines[3].split() == ["Art_Style", "1", "1", "0", "-"]


def test_check_source_reports_a_missing_source_instead_of_raising(tmp_path):
    report = check_source(str(tmp_path / "absent"))
    assert not report.ok and "no such file or directory" in str(report.errors[0])
