"""`vtl vicl corpus`: one line per tuple, resumable after a kill at any moment, no duplicates, no lost lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vtl.cli import main
from vtl.records import read_jsonl
from vtl.vicl.lowlevel.pairs import load_tuples, write_tuples
from vtl.vicl.teaching.corpus import build_corpus
from vtl.vicl.teaching.teachers import AnalyticTeacher, TeacherFailure

FIELDS = {"tuple_id", "pair", "source", "teacher", "model", "prompt_version", "text", "task_mentions"}


@pytest.fixture(scope="module")
def tuples_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus_tuples")
    write_tuples(out, pairs=["Deblur→Dehaze", "Harmon→Style"], n_train=12, n_eval=2, image_size=32)
    return out


def test_corpus_lines_and_rerun_adds_nothing(tuples_dir, tmp_path):
    out = tmp_path / "corpus.jsonl"
    stats = build_corpus(tuples_dir, out, AnalyticTeacher(), split="train")
    rows = read_jsonl(out)
    assert stats.written == len(rows) == 24 and stats.failed == 0
    assert FIELDS <= set(rows[0]) and rows[0]["source"] == "teacher" and rows[0]["teacher"] == "analytic"
    assert all(r["split"] == "train" and r["task_mentions"] == [] for r in rows)
    again = build_corpus(tuples_dir, out, AnalyticTeacher(), split="train")
    assert again.written == 0 and again.already_done == 24
    assert read_jsonl(out) == rows


def test_partial_last_line_is_repaired_on_rerun(tuples_dir, tmp_path):
    out = tmp_path / "corpus.jsonl"
    build_corpus(tuples_dir, out, AnalyticTeacher(), split="eval")
    full = out.read_text()
    lines = full.splitlines(keepends=True)
    out.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a write cut short by a kill
    stats = build_corpus(tuples_dir, out, AnalyticTeacher(), split="eval")
    assert stats.written == 1 and out.read_text() == full


class _Flaky:
    name, model, prompt_version, batch_size = "flaky", "flaky-1", "v1", 4

    def describe(self, tuples):
        return [TeacherFailure("503") if i % 2 else f"Text for {t.id}." for i, t in enumerate(tuples)]


def test_failures_are_skipped_and_retried_later(tuples_dir, tmp_path):
    out = tmp_path / "c.jsonl"
    stats = build_corpus(tuples_dir, out, _Flaky(), split="eval")
    assert (stats.written, stats.failed) == (2, 2)
    with pytest.raises(ValueError, match="written by model 'flaky-1'"):
        build_corpus(tuples_dir, out, AnalyticTeacher(), split="eval")


def test_corpus_survives_being_killed(tuples_dir, tmp_path):
    """Kill the CLI mid-run (SIGKILL), rerun: every train tuple exactly once, every line valid JSON."""
    out = tmp_path / "killed.jsonl"
    cmd = [sys.executable, "-m", "vtl.cli", "vicl", "corpus", "--tuples", str(tuples_dir), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_lines = out.read_bytes().count(b"\n") if out.exists() else 0
    assert 0 < killed_lines < 24, "the kill should land mid-run"
    assert main(["vicl", "corpus", "--tuples", str(tuples_dir), "--out", str(out)]) == 0
    raw = out.read_text().splitlines()
    rows = [json.loads(line) for line in raw]
    ids = [r["tuple_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 24
    assert set(ids) == {t.id for t in load_tuples(tuples_dir, split="train")}
