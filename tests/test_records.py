"""vtl.records: the torn-last-line rule, durable appends, resume keys, atomic rewrite and the run-settings guard."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vtl.errors import VtlError
from vtl.records import (
    JsonlAppender,
    RecordError,
    RunSettingsError,
    append_jsonl,
    done_keys,
    guard_run_settings,
    numbered_records,
    read_jsonl,
    repair_tail,
    rewrite_jsonl,
    scan_jsonl,
    write_jsonl,
)


def _lines(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_torn_last_line_is_skipped_by_readers_and_cut_by_appenders(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_lines({"k": 1}) + '{"k": 2, "te')
    assert read_jsonl(path) == [{"k": 1}]
    with JsonlAppender(path) as sink:
        sink.append({"k": 3})
    assert path.read_text() == _lines({"k": 1}, {"k": 3})


def test_a_complete_last_record_without_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_lines({"k": 1}) + json.dumps({"k": 2}))  # e.g. written by an editor or "\n".join
    assert read_jsonl(path) == [{"k": 1}, {"k": 2}]
    assert repair_tail(path) == 0 and path.read_text() == _lines({"k": 1}, {"k": 2})
    append_jsonl(path, {"k": 3})
    assert read_jsonl(path) == [{"k": 1}, {"k": 2}, {"k": 3}]


def test_a_bad_line_elsewhere_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_lines({"k": 1}) + "\n" + "not json\n" + _lines({"k": 2}))
    with pytest.raises(RecordError, match=rf"{path}: line 3: invalid JSON") as info:
        read_jsonl(path)
    assert isinstance(info.value, VtlError)
    path.write_text(_lines({"k": 1}) + "[1, 2]\n")
    with pytest.raises(RecordError, match=rf"{path}: line 2: not a JSON object"):
        read_jsonl(path)


def test_scan_reports_bad_lines_and_the_tail_on_request(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_lines({"k": 1}) + "\n{bad\n" + '{"k": 2')
    skipped = list(scan_jsonl(path))
    assert [(line.number, line.record is None) for line in skipped] == [(1, False), (3, True)]
    reported = list(scan_jsonl(path, torn_tail="report"))
    assert [(line.number, line.torn) for line in reported] == [(1, False), (3, False), (4, True)]


def test_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_lines({"k": 1}) + "\n\n" + _lines({"k": 2}))
    assert [n for n, _ in numbered_records(path)] == [1, 4]


def test_done_keys_by_field_function_and_filter(tmp_path):
    path = tmp_path / "r.jsonl"
    assert done_keys(path, "id") == set()
    write_jsonl(path, [{"id": "a", "status": "ok"}, {"id": "b", "status": "error"}, {"other": 1}])
    assert done_keys(path, "id") == {"a", "b"}
    assert done_keys(path, "id", where=lambda r: r.get("status") != "error") == {"a"}
    assert done_keys(path, lambda r: (r.get("id"), r.get("status"))) == {("a", "ok"), ("b", "error"), (None, None)}


def test_done_keys_refuses_another_producer(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, [{"id": "a", "model": "m1", "v": 1}, {"id": "b", "model": "m2", "v": 1}])
    assert done_keys(path, "id", same={"v": 1}) == {"a", "b"}
    message = rf"{path}: line 2 was written by model='m2', not model='m1'; use another"
    with pytest.raises(RunSettingsError, match=message):
        done_keys(path, "id", same={"model": "m1", "v": 1}, hint="use another --out")


def test_rewrite_keeps_matching_records_atomically(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_lines({"attempt": 1, "i": 0}, {"attempt": 2, "i": 1}, {"attempt": 1, "i": 2}) + '{"attem')
    assert rewrite_jsonl(path, lambda r: r["attempt"] != 1) == 2
    assert path.read_text() == _lines({"attempt": 2, "i": 1})
    assert rewrite_jsonl(path, lambda r: True) == 0
    assert rewrite_jsonl(tmp_path / "absent.jsonl", lambda r: False) == 0
    assert not (tmp_path / "absent.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl"]  # no temp file left behind


def test_extend_is_one_group(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlAppender(path) as sink:
        sink.extend([{"e": 0, "t": "a"}, {"e": 0, "t": "b"}])
        sink.extend([])
    assert read_jsonl(path) == [{"e": 0, "t": "a"}, {"e": 0, "t": "b"}]


def test_guard_writes_then_refuses_other_settings(tmp_path):
    settings = tmp_path / "run" / "settings.json"
    assert guard_run_settings(settings, {"k": 10, "seed": 0, "arms": ("a",)}) is None
    assert json.loads(settings.read_text()) == {"k": 10, "seed": 0, "arms": ["a"]}
    assert guard_run_settings(settings, {"k": 10, "seed": 0, "arms": ["a"]}) == {"k": 10, "seed": 0, "arms": ["a"]}
    message = r"holds tuples made with a different k, seed: k 10 then, 5 now; seed 0 then, 1 now \(settings k, seed"
    with pytest.raises(RunSettingsError, match=message):
        guard_run_settings(settings, {"k": 5, "seed": 1, "arms": ["a"]}, what="tuples")
    assert json.loads(settings.read_text())["k"] == 10  # a refused run changes nothing


def test_guard_compares_chosen_keys_skips_unset_and_merges(tmp_path):
    settings = tmp_path / "config.json"
    guard_run_settings(settings, {"k": 2, "teacher": None, "arms": ["baseline"], "limit": 3}, keys=["k", "teacher"])
    merge = lambda before, now: {**now, "arms": sorted(set(before["arms"]) | set(now["arms"]))}  # noqa: E731
    guard_run_settings(settings, {"k": 2, "teacher": "t.jsonl", "arms": ["ours"], "limit": 9}, keys=["k", "teacher"],
                       skip_none=True, merge=merge)
    assert json.loads(settings.read_text()) == {"k": 2, "teacher": "t.jsonl", "arms": ["baseline", "ours"], "limit": 9}
    with pytest.raises(RunSettingsError, match="different teacher"):
        guard_run_settings(settings, {"k": 2, "teacher": "u.jsonl"}, keys=["k", "teacher"], skip_none=True)


def test_guard_compare_only(tmp_path):
    settings = tmp_path / "s.json"
    guard_run_settings(settings, {"a": 1}, write=False)
    assert not settings.exists()


def test_records_module_does_not_import_torch():
    code = "import sys, vtl.records, vtl.analysis.io; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
